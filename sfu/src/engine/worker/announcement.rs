//! The spoken notice played into a room before recording starts.

use super::*;

impl Worker {
    /// Plays the due frames of every room's announcement to each member's
    /// first audio slot, and starts the recording once one has ended.
    pub(super) fn play_announcements(&mut self, now: Instant) {
        let mut finished = Vec::new();
        let now_us = self.micros(now);
        for (room, state) in &mut self.rooms {
            let Some(a) = state.announcement.as_mut() else {
                continue;
            };
            while a.next_at <= now {
                let Some(frame) = a.frames.get(a.next).cloned() else {
                    finished.push(*room);
                    break;
                };
                let (seq, ts) = (a.next as u16, (a.next as u32).wrapping_mul(960));
                for key in state.peers.values() {
                    let Some(peer) = self.peers.get_mut(key).filter(|p| p.connected) else {
                        continue;
                    };
                    let Some(slot) = peer.slots.first_mut() else {
                        continue;
                    };
                    let out = &mut slot.audio;
                    let (seq, ts) = out.continuity.rewrite(ANNOUNCEMENT_SSRC, seq, ts, now_us);
                    let (sender_id, ssrc) = (out.sender, out.ssrc);
                    let known = out.leg_format(false);
                    let Some(leg) = known.or_else(|| {
                        let mut sender = peer.pc.rtp_sender(sender_id)?;
                        LegFormat::read(sender.get_parameters(), RtpCodecKind::Audio, false)
                    }) else {
                        continue;
                    };
                    if let Some(slot) = peer.slots.first_mut() {
                        slot.audio.remember(false, leg);
                    }
                    if self.downlink_estimation == DownlinkEstimation::FromFeedback {
                        peer.learn_transport_cc(&leg, now_us);
                    }
                    let payload_type = leg.payload_type;
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: a.next == 0,
                            payload_type,
                            sequence_number: seq,
                            timestamp: ts,
                            ssrc,
                            ..Default::default()
                        },
                        payload: frame.clone(),
                    };
                    let kept = crate::egress::history::Sent::of(&packet, now_us);
                    let written = match self.write_path {
                        WritePath::Checked => {
                            let mut packet = packet;
                            peer.number_for_feedback(&mut packet, now, false);
                            peer.touch();
                            peer.pc
                                .rtp_sender(sender_id)
                                .is_some_and(|mut sender| sender.write_rtp(now, packet).is_ok())
                        }
                        path => peer
                            .send_rtp(packet, now, path, &mut self.outbox, &self.counters)
                            .is_ok(),
                    };
                    if written {
                        self.counters
                            .announcement_packets
                            .fetch_add(1, Ordering::Relaxed);
                        if let Some(slot) = peer.slots.first_mut() {
                            crate::engine::feedback::sent(
                                &mut slot.audio,
                                kept,
                                ANNOUNCEMENT_SSRC,
                                now_us,
                            );
                        }
                    }
                }
                a.next += 1;
                a.next_at += ANNOUNCEMENT_FRAME;
            }
        }
        for room in finished {
            let Some(state) = self.rooms.get_mut(&room) else {
                continue;
            };
            if let Some(a) = state.announcement.take() {
                let joined = state.recording.is_some()
                    || state
                        .room
                        .join(RECORDER_MEMBER, crate::room::MemberKind::Recorder)
                        .is_ok();
                if joined {
                    state.recording = Some(Recording {
                        tap: a.then_record,
                        layers: HashMap::new(),
                    });
                }
            }
        }
    }

    /// When the next announcement frame is due, if one plays.
    pub(super) fn next_announcement(&self) -> Option<Instant> {
        self.rooms
            .values()
            .filter_map(|s| s.announcement.as_ref().map(|a| a.next_at))
            .min()
    }
}
