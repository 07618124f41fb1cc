//! The packets last sent on a leg, by sequence number, for retransmission.
//!
//! A fixed ring of [`CAPACITY`] entries indexed by the low bits of the
//! sequence number: recording is O(1) with no allocation once warm, and an
//! entry is found only if it is still the one sent under that number (not
//! one [`CAPACITY`] packets older). Entries older than [`MAX_AGE_US`] are not
//! resent: by then the receiver's jitter buffer has given up on them.

use bytes::Bytes;
use rtc::rtp::Packet;
use rtc::rtp::header::Header;

/// Entries kept per leg: more than [`MAX_AGE_US`] of anything up to 500
/// packets a second (a 4 Mbit/s video layer), 10 s of audio. Each keeps its
/// payload alive, so this bounds the memory a leg holds too.
pub const CAPACITY: usize = 512;
/// Oldest packet worth resending, µs after it was first sent.
pub const MAX_AGE_US: u64 = 1_000_000;

/// One packet as it went out on the leg (its SSRC, sequence number,
/// payload type, timestamp, marker and payload), and when.
///
/// Its header extensions are not kept: a resend is numbered for
/// transport-wide feedback anew, and nothing else the SFU writes matters
/// to a repaired video frame (audio, the only kind with another extension,
/// is not resent by browsers). So an entry is about 64 bytes with no
/// allocation of its own; the whole packet was over twice that, with a
/// list to free, and recording it cost a cache miss or two per forwarded
/// packet (docs/benchmarks.md).
#[derive(Debug, Clone)]
pub struct Sent {
    payload: Bytes,
    ssrc: u32,
    timestamp: u32,
    sequence_number: u16,
    payload_type: u8,
    marker: bool,
    padding: bool,
    /// Times it was sent again.
    pub resent: u8,
    /// When it was first sent, µs on the worker's clock.
    pub sent_us: u64,
    /// When it was last sent again, µs.
    pub resent_us: u64,
}

impl Sent {
    /// What is kept of `packet`, sent at `now_us`.
    pub fn of(packet: &Packet, now_us: u64) -> Self {
        let h = &packet.header;
        Self {
            payload: packet.payload.clone(),
            ssrc: h.ssrc,
            timestamp: h.timestamp,
            sequence_number: h.sequence_number,
            payload_type: h.payload_type,
            marker: h.marker,
            padding: h.padding,
            resent: 0,
            sent_us: now_us,
            resent_us: 0,
        }
    }

    /// The packet again, as it went out, without header extensions.
    pub fn packet(&self) -> Packet {
        Packet {
            header: Header {
                version: 2,
                padding: self.padding,
                marker: self.marker,
                payload_type: self.payload_type,
                sequence_number: self.sequence_number,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                ..Header::default()
            },
            payload: self.payload.clone(),
        }
    }

    pub fn sequence_number(&self) -> u16 {
        self.sequence_number
    }

    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// RTP timestamp, in the leg's clock.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Payload bytes.
    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }
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
    /// Keeps `sent` (see [`Sent::of`]) to resend.
    pub fn record(&mut self, sent: Sent) {
        let seq = sent.sequence_number;
        self.newest = Some(seq);
        self.ring[slot(seq)] = Some(sent);
    }

    /// The packet recorded `back` packets before the newest, whatever its
    /// age, if still kept (what a probe resends: its content does not
    /// matter, its size does).
    pub fn recent(&self, back: u16) -> Option<&Sent> {
        let seq = self.newest?.wrapping_sub(back);
        self.ring[slot(seq)]
            .as_ref()
            .filter(|s| s.sequence_number == seq)
    }

    /// The packet sent under `seq`, if it is still kept and young enough
    /// to resend at `now_us`.
    pub fn lookup(&mut self, seq: u16, now_us: u64) -> Result<&mut Sent, Miss> {
        let entry = self.ring[slot(seq)]
            .as_mut()
            .filter(|s| s.sequence_number == seq)
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
            h.record(Sent::of(&packet(seq), 1_000));
        }
        for seq in 0u16..300 {
            h.record(Sent::of(&packet(seq), 2_000));
        }
        // The sequence number wrapped: both sides of it are kept.
        assert_eq!(h.lookup(65_535, 2_000).unwrap().sequence_number(), 65_535);
        assert_eq!(
            h.lookup(299, 2_000).unwrap().packet().payload[0],
            299u16 as u8
        );
        // 65 300 shared its ring slot with 276, which came later.
        assert_eq!(h.lookup(65_300, 2_000).unwrap_err(), Miss::Unknown);
        assert_eq!(h.lookup(276, 2_000).unwrap().sequence_number(), 276);
        assert_eq!(h.lookup(300, 2_000).unwrap_err(), Miss::Unknown);
    }

    #[test]
    fn recent_packets_counted_back_from_the_newest() {
        let mut h = SendHistory::default();
        assert!(h.recent(0).is_none());
        for seq in 65_530u16..=65_535 {
            h.record(Sent::of(&packet(seq), 0));
        }
        h.record(Sent::of(&packet(0), 0));
        assert_eq!(h.recent(0).unwrap().sequence_number(), 0);
        assert_eq!(h.recent(1).unwrap().sequence_number(), 65_535);
        assert_eq!(h.recent(6).unwrap().sequence_number(), 65_530);
        assert!(h.recent(7).is_none(), "never sent");
    }

    /// A resend is the packet as it went out, less its header extensions.
    #[test]
    fn a_kept_packet_comes_back_as_sent_without_extensions() {
        let mut sent = packet(4_321);
        sent.header.version = 2;
        sent.header.ssrc = 0xfeed;
        sent.header.timestamp = 90_000;
        sent.header.payload_type = 96;
        sent.header.marker = true;
        sent.header
            .set_extension(5, Bytes::from_static(&[0, 7]))
            .unwrap();
        let mut h = SendHistory::default();
        h.record(Sent::of(&sent, 10));
        let again = h.lookup(4_321, 10).unwrap().packet();
        sent.header.extension = false;
        sent.header.extension_profile = 0;
        sent.header.extensions.clear();
        sent.header.extensions_padding = 0;
        assert_eq!(again, sent);
        assert!(
            std::mem::size_of::<Option<Sent>>() <= 64,
            "{}",
            std::mem::size_of::<Option<Sent>>()
        );
    }

    #[test]
    fn old_packets_are_not_resent() {
        let mut h = SendHistory::default();
        h.record(Sent::of(&packet(7), 0));
        assert!(h.lookup(7, MAX_AGE_US).is_ok());
        assert_eq!(h.lookup(7, MAX_AGE_US + 1).unwrap_err(), Miss::TooOld);
    }
}
