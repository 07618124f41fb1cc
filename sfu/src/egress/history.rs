//! The packets last sent on a leg, by sequence number, for retransmission.
//!
//! A fixed ring of [`CAPACITY`] entries indexed by the low bits of the
//! sequence number: recording is O(1) with no allocation once warm, and an
//! entry is found only if it is still the one sent under that number (not
//! one [`CAPACITY`] packets older). Entries older than [`MAX_AGE_US`] are not
//! resent: by then the receiver's jitter buffer has given up on them.

use rtc::rtp::Packet;

/// Entries kept per leg: more than [`MAX_AGE_US`] of anything up to 500
/// packets a second (a 4 Mbit/s video layer), 10 s of audio. Each keeps its
/// payload alive, so this bounds the memory a leg holds too.
pub const CAPACITY: usize = 512;
/// Oldest packet worth resending, µs after it was first sent.
pub const MAX_AGE_US: u64 = 1_000_000;

/// One packet as it went out (the leg's SSRC, sequence number, payload type
/// and extensions), and when.
#[derive(Debug, Clone)]
pub struct Sent {
    pub packet: Packet,
    /// When it was first sent, µs on the worker's clock.
    pub sent_us: u64,
    /// Times it was sent again.
    pub resent: u8,
    /// When it was last sent again, µs.
    pub resent_us: u64,
}

/// Why a packet asked for again cannot be resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Never sent, or overwritten by a newer packet.
    Unknown,
    /// Sent more than [`MAX_AGE_US`] ago.
    TooOld,
}

/// The packets last sent on one leg.
#[derive(Debug)]
pub struct SendHistory {
    ring: Vec<Option<Sent>>,
    /// The sequence number last recorded.
    newest: Option<u16>,
}

impl Default for SendHistory {
    fn default() -> Self {
        Self {
            ring: (0..CAPACITY).map(|_| None).collect(),
            newest: None,
        }
    }
}

fn slot(seq: u16) -> usize {
    usize::from(seq) % CAPACITY
}

impl SendHistory {
    /// Keeps `packet`, sent at `now_us`.
    pub fn record(&mut self, packet: Packet, now_us: u64) {
        let at = slot(packet.header.sequence_number);
        self.newest = Some(packet.header.sequence_number);
        self.ring[at] = Some(Sent {
            packet,
            sent_us: now_us,
            resent: 0,
            resent_us: 0,
        });
    }

    /// The packet recorded `back` packets before the newest, whatever its
    /// age, if still kept (what a probe resends: its content does not
    /// matter, its size does).
    pub fn recent(&self, back: u16) -> Option<&Packet> {
        let seq = self.newest?.wrapping_sub(back);
        self.ring[slot(seq)]
            .as_ref()
            .map(|s| &s.packet)
            .filter(|p| p.header.sequence_number == seq)
    }

    /// The packet sent under `seq`, if it is still kept and young enough
    /// to resend at `now_us`.
    pub fn lookup(&mut self, seq: u16, now_us: u64) -> Result<&mut Sent, Miss> {
        let entry = self.ring[slot(seq)]
            .as_mut()
            .filter(|s| s.packet.header.sequence_number == seq)
            .ok_or(Miss::Unknown)?;
        if now_us.saturating_sub(entry.sent_us) > MAX_AGE_US {
            return Err(Miss::TooOld);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn packet(seq: u16) -> Packet {
        let mut p = Packet {
            payload: Bytes::from(vec![seq as u8; 10]),
            ..Default::default()
        };
        p.header.sequence_number = seq;
        p
    }

    #[test]
    fn finds_what_was_sent_and_only_that() {
        let mut h = SendHistory::default();
        for seq in 65_300u16..=65_535 {
            h.record(packet(seq), 1_000);
        }
        for seq in 0u16..300 {
            h.record(packet(seq), 2_000);
        }
        // The sequence number wrapped: both sides of it are kept.
        assert_eq!(
            h.lookup(65_535, 2_000)
                .unwrap()
                .packet
                .header
                .sequence_number,
            65_535
        );
        assert_eq!(
            h.lookup(299, 2_000).unwrap().packet.payload[0],
            299u16 as u8
        );
        // 65 300 shared its ring slot with 276, which came later.
        assert_eq!(h.lookup(65_300, 2_000).unwrap_err(), Miss::Unknown);
        assert_eq!(
            h.lookup(276, 2_000).unwrap().packet.header.sequence_number,
            276
        );
        assert_eq!(h.lookup(300, 2_000).unwrap_err(), Miss::Unknown);
    }

    #[test]
    fn recent_packets_counted_back_from_the_newest() {
        let mut h = SendHistory::default();
        assert!(h.recent(0).is_none());
        for seq in 65_530u16..=65_535 {
            h.record(packet(seq), 0);
        }
        h.record(packet(0), 0);
        assert_eq!(h.recent(0).unwrap().header.sequence_number, 0);
        assert_eq!(h.recent(1).unwrap().header.sequence_number, 65_535);
        assert_eq!(h.recent(6).unwrap().header.sequence_number, 65_530);
        assert!(h.recent(7).is_none(), "never sent");
    }

    #[test]
    fn old_packets_are_not_resent() {
        let mut h = SendHistory::default();
        h.record(packet(7), 0);
        assert!(h.lookup(7, MAX_AGE_US).is_ok());
        assert_eq!(h.lookup(7, MAX_AGE_US + 1).unwrap_err(), Miss::TooOld);
    }
}
