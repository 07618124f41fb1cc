//! Spending each subscriber's downlink: its estimate handed out again as
//! time passes (so a pause waits its second and a resume its two), the
//! pauses and resumes announced, a weak connection announced for the badge
//! on its tile, and a single-layer publisher asked (by REMB) to send no
//! more video than its subscribers' downlinks carry.

use super::*;
use crate::media::video_budget::{MIN_VIDEO_BPS, PauseChange};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;

/// A publisher's receive limit is sent again at least this often, µs …
const REMB_REFRESH_US: u64 = 1_000_000;
/// … and at once when it moves by more than this share (percent).
const REMB_CHANGE_PERCENT: u64 = 10;

impl Worker {
    /// Hands out each connected peer's estimate again, announces whose
    /// video was paused or resumed for whom, and asks for a keyframe for
    /// each resumed picture.
    pub(super) fn spend_estimates(&mut self, now: Instant, now_us: u64) {
        let mut changes = Vec::new();
        let mut strengths = Vec::new();
        for peer in self.peers.values_mut().filter(|p| p.connected) {
            peer.share_estimate(now_us);
            for (source, change) in peer.pause_changes.drain(..) {
                changes.push((peer.room, peer.member, source, change));
            }
            let weak_now = peer.looks_weak();
            if let Some(weak) = peer.strength.update(weak_now, now_us) {
                strengths.push((peer.room, peer.member, weak));
            }
        }
        for (room, member, weak) in strengths {
            let _ = self
                .events
                .send(MediaEvent::ConnectionStrength { room, member, weak });
        }
        for (room, member, source, change) in changes {
            let paused = change == PauseChange::Paused;
            let counter = if paused {
                &self.counters.video_pauses
            } else {
                &self.counters.video_resumes
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let _ = self.events.send(MediaEvent::VideoPaused {
                room,
                member,
                source,
                paused,
            });
            if !paused && self.keyframes.on_request((room, source), now_us) {
                self.request_keyframe(room, source, now);
            }
        }
    }

    /// Tells each room's peers who its active speaker is, whose video their
    /// downlinks serve first.
    /// Tells each publisher the worst loss its audio meets on the way to
    /// any subscriber (from their receiver reports), for the receiver
    /// reports it is sent: libwebrtc sets its Opus encoder's expected loss
    /// from them, and Opus then adds in-band FEC (negotiated as
    /// `useinbandfec=1`), so the weakest listener's audio survives single
    /// losses. Video keeps reporting the uplink's own loss.
    pub(super) fn tell_publishers_audio_loss(&mut self) {
        let mut worst: Vec<(PeerKey, u8)> = Vec::new();
        for state in self.rooms.values() {
            for (&publisher, &key) in &state.peers {
                let loss = state
                    .peers
                    .values()
                    .filter(|&&other| other != key)
                    .filter_map(|other| self.peers.get(other))
                    .flat_map(|p| p.slots.iter())
                    .filter(|slot| slot.source == Some(publisher))
                    .filter_map(|slot| slot.audio.reports.fraction_lost())
                    .max()
                    .unwrap_or(0);
                worst.push((key, loss));
            }
        }
        for (key, loss) in worst {
            if let Some(peer) = self.peers.get_mut(&key) {
                peer.uplink_feedback.set_audio_loss_downstream(loss);
            }
        }
    }

    pub(super) fn tell_speakers(&mut self) {
        for state in self.rooms.values() {
            for key in state.peers.values() {
                if let Some(peer) = self.peers.get_mut(key) {
                    peer.speaker = state.announced;
                }
            }
        }
    }

    /// Asks each publisher whose video is one layer (no simulcast) to send
    /// no more than the smallest video share its subscribers' downlinks
    /// give it (subscribers it is paused for do not count; nobody else
    /// watching, or the room recording it, leaves it unlimited). REMB, which
    /// browsers honour as a cap on their send rate.
    pub(super) fn limit_single_layer_publishers(&mut self, now: Instant, now_us: u64) {
        let mut limits = Vec::new();
        for (key, publisher) in &self.peers {
            if !publisher.connected || publisher.layer_rates.is_simulcast() {
                continue;
            }
            let Some(video) = publisher
                .inbound
                .values()
                .find(|i| i.kind == RtpCodecKind::Video)
                .map(|i| (i.receiver, i.ssrc))
            else {
                continue;
            };
            let Some(state) = self.rooms.get(&publisher.room) else {
                continue;
            };
            if state.recording.is_some() {
                continue;
            }
            let smallest = state
                .peers
                .values()
                .filter_map(|k| self.peers.get(k))
                .filter_map(|p| p.slots.iter().find(|s| s.source == Some(publisher.member)))
                .filter(|s| !s.pause.paused())
                .filter_map(|s| s.video_share_bps)
                .min();
            if let Some(limit) = smallest {
                limits.push((*key, video, limit.max(MIN_VIDEO_BPS)));
            }
        }
        for (key, (receiver, ssrc), limit) in limits {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            let due = peer.remb_sent.is_none_or(|(sent, at)| {
                now_us.saturating_sub(at) >= REMB_REFRESH_US
                    || sent.abs_diff(limit) * 100 > sent * REMB_CHANGE_PERCENT
            });
            if !due {
                continue;
            }
            let Some(mut r) = peer.pc.rtp_receiver(receiver) else {
                continue;
            };
            let remb = ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 0,
                bitrate: limit as f32,
                ssrcs: vec![ssrc],
            };
            if r.write_rtcp(now, vec![Box::new(remb)]).is_ok() {
                peer.remb_sent = Some((limit, now_us));
                peer.touch();
                self.counters.remb_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
