//! Probe clusters on subscribers' downlinks (see
//! `crate::egress::downlink::probe`): one starts, in housekeeping, for a
//! peer whose video is paused for want of bandwidth, and goes out paced on
//! every turn of the loop as resends of the peer's recent video on its RTX
//! streams (duplicates the browser discards, counted by its transport-wide
//! feedback all the same). A peer without an RTX stream, or with no video
//! sent yet, is not probed.

use super::*;
use rtc::shared::marshal::MarshalSize;

impl Worker {
    /// Starts a probe on each connected peer that wants more than its
    /// estimate and has something to probe with.
    pub(super) fn start_probes(&mut self, now: Instant) {
        for (key, peer) in self.peers.iter_mut().filter(|(_, p)| p.connected) {
            let wanted = peer.resume_needs_bps().filter(|_| can_probe(peer));
            if peer.downlink.consider_probe(now, wanted) {
                peer.probe_cursor = 0;
                self.probing.push(*key);
                self.counters.probes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends what the running clusters are due by `now`.
    pub(super) fn send_probes(&mut self, now: Instant) {
        if self.probing.is_empty() {
            return;
        }
        let mut probing = std::mem::take(&mut self.probing);
        probing.retain(|key| {
            let Some(peer) = self.peers.get_mut(key) else {
                return false;
            };
            let mut due = peer.downlink.probe_due(now);
            while due > 0 {
                let Some(packet) = probe_packet(peer, peer.probe_cursor) else {
                    break;
                };
                peer.probe_cursor = peer.probe_cursor.wrapping_add(1);
                let bytes = (packet.header.marshal_size() + packet.payload.len()) as u64;
                if peer
                    .send_probe(
                        packet,
                        now,
                        self.write_path,
                        &mut self.outbox,
                        &self.counters,
                    )
                    .is_err()
                {
                    break;
                }
                self.counters
                    .probe_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                due = due.saturating_sub(bytes);
            }
            peer.downlink.probing()
        });
        self.probing = probing;
    }

    /// When the next probe packets are due, if a cluster is being sent (the
    /// loop wakes at least this often while one is).
    pub(super) fn next_probe_at(&self, now: Instant) -> Option<Instant> {
        (!self.probing.is_empty()).then_some(now + PROBE_PACING)
    }
}

/// How often a cluster being sent is topped up.
const PROBE_PACING: Duration = Duration::from_millis(5);

/// Whether a video leg of `peer` has an RTX stream and a packet to resend
/// on it (only looks: building a resend would take a repair number).
fn can_probe(peer: &Peer) -> bool {
    peer.slots.iter().any(|slot| {
        slot.video.history.recent(0).is_some_and(|sent| {
            slot.video
                .format_of(sent.payload_type())
                .is_some_and(|f| f.rtx.is_some())
        })
    })
}

/// The `back`-th most recent video packet a leg of `peer` sent, as a
/// resend on that leg's RTX stream (cycling back to the newest when the
/// history runs out); `None` if no video leg has an RTX stream and
/// history.
fn probe_packet(peer: &mut Peer, back: u16) -> Option<rtc::rtp::Packet> {
    for attempt in [back, 0] {
        for slot in peer.slots.iter_mut() {
            let out = &mut slot.video;
            let Some(sent) = out.history.recent(attempt) else {
                continue;
            };
            let Some(stream) = out.format_of(sent.payload_type()).and_then(|f| f.rtx) else {
                continue;
            };
            let packet = sent.packet();
            return Some(out.repairs.repair(&packet, stream));
        }
    }
    None
}
