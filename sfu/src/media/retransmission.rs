//! A per-track buffer of recently sent RTP packets, to answer NACKs
//! (RFC 4585 §6.2.1), and the expansion of a generic NACK into the sequence
//! numbers it asks for.
//!
//! Packets are keyed by their 16-bit RTP sequence number. The buffer is a
//! ring of `capacity` slots (a power of two, so that the slot of a sequence
//! number is continuous across the 65535 → 0 wrap); each slot remembers the
//! sequence number it holds and when it was stored, so a lookup never
//! returns a packet stored under another sequence number, nor one older than
//! `max_age_us`. Memory is bounded by `capacity × max_packet_len`, and slots
//! reuse their allocation.
//!
//! Time is a caller-supplied monotonic clock in microseconds.

use thiserror::Error;

/// Largest ring: half the sequence number space, so that "newer" in serial
/// arithmetic is well defined between any two slots' contents.
pub const MAX_CAPACITY: usize = 1 << 15;

/// Buffer sizing and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmissionConfig {
    /// Number of packets kept; rounded up to a power of two and clamped to
    /// `1..=MAX_CAPACITY`.
    pub capacity: usize,
    /// Oldest packet (in µs since it was stored) still worth retransmitting.
    pub max_age_us: u64,
    /// Largest packet accepted, in bytes.
    pub max_packet_len: usize,
}

impl Default for RetransmissionConfig {
    /// 512 packets, 1 s, 1500 bytes.
    fn default() -> Self {
        Self {
            capacity: 512,
            max_age_us: 1_000_000,
            max_packet_len: 1500,
        }
    }
}

/// Why a packet was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InsertError {
    /// The packet exceeds [`RetransmissionConfig::max_packet_len`].
    #[error("packet of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Packet length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// Its slot holds a newer, still fresh packet (this one arrived late).
    #[error("slot holds newer packet {newer}")]
    Superseded {
        /// Sequence number of the packet kept in the slot.
        newer: u16,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    seq: u16,
    stored_at_us: u64,
    packet: Vec<u8>,
    occupied: bool,
}

/// Ring of recently sent packets of one track, keyed by sequence number.
#[derive(Debug, Clone)]
pub struct RetransmissionBuffer {
    slots: Vec<Slot>,
    mask: usize,
    max_age_us: u64,
    max_packet_len: usize,
}

/// Whether `a` is after `b` in 16-bit serial arithmetic (RFC 1982).
fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl RetransmissionBuffer {
    /// An empty buffer. See [`RetransmissionConfig`] for how the capacity is
    /// adjusted.
    pub fn new(config: RetransmissionConfig) -> Self {
        let capacity = config.capacity.clamp(1, MAX_CAPACITY).next_power_of_two();
        let empty = Slot {
            seq: 0,
            stored_at_us: 0,
            packet: Vec::new(),
            occupied: false,
        };
        Self {
            slots: vec![empty; capacity],
            mask: capacity - 1,
            max_age_us: config.max_age_us,
            max_packet_len: config.max_packet_len,
        }
    }

    /// Number of slots (a power of two).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn index(&self, seq: u16) -> usize {
        usize::from(seq) & self.mask
    }

    fn fresh(&self, slot: &Slot, now_us: u64) -> bool {
        slot.occupied && now_us.saturating_sub(slot.stored_at_us) <= self.max_age_us
    }

    /// Stores a copy of `packet` (the whole RTP packet as sent) under `seq`.
    ///
    /// The packet replaces its slot's content if the slot is empty, expired,
    /// holds the same sequence number, or holds an older one; a late packet
    /// whose slot already holds a newer fresh packet is refused.
    pub fn insert(&mut self, seq: u16, packet: &[u8], now_us: u64) -> Result<(), InsertError> {
        if packet.len() > self.max_packet_len {
            return Err(InsertError::TooLarge {
                len: packet.len(),
                max: self.max_packet_len,
            });
        }
        let index = self.index(seq);
        let fresh = self.slots.get(index).is_some_and(|s| self.fresh(s, now_us));
        let Some(slot) = self.slots.get_mut(index) else {
            // Unreachable: `index` is masked to the slot count.
            return Ok(());
        };
        if fresh && slot.seq != seq && !seq_newer(seq, slot.seq) {
            return Err(InsertError::Superseded { newer: slot.seq });
        }
        slot.seq = seq;
        slot.stored_at_us = now_us;
        slot.occupied = true;
        slot.packet.clear();
        slot.packet.extend_from_slice(packet);
        Ok(())
    }

    /// The packet stored under `seq`, if it is still held and at most
    /// `max_age_us` old at `now_us`.
    pub fn get(&self, seq: u16, now_us: u64) -> Option<&[u8]> {
        let slot = self.slots.get(self.index(seq))?;
        (slot.seq == seq && self.fresh(slot, now_us)).then_some(slot.packet.as_slice())
    }

    /// The packets a generic NACK asks for that can be retransmitted, in the
    /// NACK's order, as `(sequence number, packet)`.
    pub fn answer_nack(
        &self,
        pid: u16,
        blp: u16,
        now_us: u64,
    ) -> impl Iterator<Item = (u16, &[u8])> + '_ {
        nack_seqs(pid, blp).filter_map(move |seq| self.get(seq, now_us).map(|p| (seq, p)))
    }

    /// Forgets every packet (keeps the allocations).
    pub fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.occupied = false;
            slot.packet.clear();
        }
    }
}

/// The sequence numbers one generic NACK item asks for (RFC 4585 §6.2.1):
/// `pid`, then `pid + i + 1` for every bit `i` (least significant first) set
/// in the bitmask `blp`, wrapping at 2^16. Between 1 and 17 items, ascending
/// in serial order.
pub fn nack_seqs(pid: u16, blp: u16) -> impl Iterator<Item = u16> {
    std::iter::once(pid).chain(
        (0..16u16)
            .filter(move |i| blp & (1 << i) != 0)
            .map(move |i| pid.wrapping_add(i + 1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buffer(capacity: usize, max_age_us: u64) -> RetransmissionBuffer {
        RetransmissionBuffer::new(RetransmissionConfig {
            capacity,
            max_age_us,
            max_packet_len: 1500,
        })
    }

    #[test]
    fn stores_and_returns() {
        let mut b = RetransmissionBuffer::new(RetransmissionConfig::default());
        assert_eq!(b.capacity(), 512);
        b.insert(10, b"ten", 0).unwrap();
        b.insert(11, b"eleven", 10).unwrap();
        assert_eq!(b.get(10, 100), Some(&b"ten"[..]));
        assert_eq!(b.get(11, 100), Some(&b"eleven"[..]));
        assert_eq!(b.get(12, 100), None);
    }

    #[test]
    fn capacity_is_rounded_and_clamped() {
        assert_eq!(buffer(500, 1).capacity(), 512);
        assert_eq!(buffer(0, 1).capacity(), 1);
        assert_eq!(buffer(usize::MAX, 1).capacity(), MAX_CAPACITY);
    }

    #[test]
    fn expires_after_max_age() {
        let mut b = buffer(16, 1_000_000);
        b.insert(1, b"a", 5_000_000).unwrap();
        assert!(b.get(1, 6_000_000).is_some());
        assert!(b.get(1, 6_000_001).is_none());
        // A clock that seems to run backwards does not make packets stale.
        assert!(b.get(1, 0).is_some());
    }

    #[test]
    fn newer_seq_overwrites_slot() {
        let mut b = buffer(4, 1_000_000);
        b.insert(1, b"one", 0).unwrap();
        b.insert(5, b"five", 1).unwrap();
        assert_eq!(b.get(1, 2), None);
        assert_eq!(b.get(5, 2), Some(&b"five"[..]));
        // The late packet 1 does not evict the newer 5.
        assert_eq!(
            b.insert(1, b"one", 3),
            Err(InsertError::Superseded { newer: 5 })
        );
        assert_eq!(b.get(5, 4), Some(&b"five"[..]));
        // Unless 5 has expired.
        b.insert(1, b"one", 2_000_000).unwrap();
        assert_eq!(b.get(1, 2_000_000), Some(&b"one"[..]));
    }

    #[test]
    fn same_seq_replaces() {
        let mut b = buffer(4, 1_000_000);
        b.insert(7, b"old", 0).unwrap();
        b.insert(7, b"new", 1).unwrap();
        assert_eq!(b.get(7, 1), Some(&b"new"[..]));
    }

    #[test]
    fn wraps_around_65535() {
        let mut b = buffer(8, 1_000_000);
        for (t, seq) in (65530..=65535u16).chain(0..=5).enumerate() {
            b.insert(seq, &seq.to_be_bytes(), t as u64).unwrap();
        }
        // The last 8 sent: 65534, 65535, 0..=5.
        for seq in [65534u16, 65535, 0, 1, 2, 3, 4, 5] {
            assert_eq!(b.get(seq, 20), Some(&seq.to_be_bytes()[..]), "seq {seq}");
        }
        for seq in 65530..=65533u16 {
            assert_eq!(b.get(seq, 20), None, "seq {seq}");
        }
        // A late 65533 (older than 5 in serial order) is refused.
        assert!(b.insert(65533, b"late", 21).is_err());
    }

    #[test]
    fn too_large_is_refused() {
        let mut b = RetransmissionBuffer::new(RetransmissionConfig {
            max_packet_len: 4,
            ..RetransmissionConfig::default()
        });
        assert_eq!(
            b.insert(1, &[0; 5], 0),
            Err(InsertError::TooLarge { len: 5, max: 4 })
        );
        assert_eq!(b.get(1, 0), None);
    }

    #[test]
    fn clear_forgets() {
        let mut b = buffer(4, 1_000_000);
        b.insert(1, b"x", 0).unwrap();
        b.clear();
        assert_eq!(b.get(1, 0), None);
        // And an old sequence number can be stored again.
        b.insert(0, b"y", 0).unwrap();
        assert_eq!(b.get(0, 0), Some(&b"y"[..]));
    }

    #[test]
    fn nack_expansion() {
        assert_eq!(nack_seqs(100, 0).collect::<Vec<_>>(), vec![100]);
        assert_eq!(
            nack_seqs(100, 0b1000_0000_0000_0101).collect::<Vec<_>>(),
            vec![100, 101, 103, 116]
        );
        assert_eq!(
            nack_seqs(65534, 0b111).collect::<Vec<_>>(),
            vec![65534, 65535, 0, 1]
        );
        assert_eq!(nack_seqs(0, u16::MAX).count(), 17);
    }

    #[test]
    fn answers_nack_with_held_packets() {
        let mut b = buffer(64, 1_000_000);
        for seq in [65535u16, 0, 2] {
            b.insert(seq, &seq.to_be_bytes(), 0).unwrap();
        }
        let answered: Vec<u16> = b.answer_nack(65535, 0b111, 10).map(|(s, _)| s).collect();
        assert_eq!(answered, vec![65535, 0, 2]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u16),
        Get(u16, u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Sequence numbers near the wrap and time steps in µs.
        let seq = prop_oneof![65500u16..=65535, 0u16..40, any::<u16>()];
        prop_oneof![
            (seq.clone(), 0u16..2000).prop_map(|(s, dt)| Op::Insert(s, dt)),
            (seq, 0u16..2000).prop_map(|(s, dt)| Op::Get(s, dt)),
        ]
    }

    proptest! {
        #[test]
        fn get_returns_only_what_was_stored_under_that_seq(
            capacity in 1usize..40,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let max_age = 50_000;
            let mut b = buffer(capacity, max_age);
            let mut now = 0u64;
            // Latest successful insert per sequence number.
            let mut stored: std::collections::HashMap<u16, (Vec<u8>, u64)> = Default::default();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(seq, dt) => {
                        now += u64::from(dt);
                        // Packet bytes name the sequence number and the insert.
                        let mut packet = seq.to_be_bytes().to_vec();
                        packet.extend_from_slice(&(n as u32).to_be_bytes());
                        if b.insert(seq, &packet, now).is_ok() {
                            stored.insert(seq, (packet, now));
                        }
                    }
                    Op::Get(seq, dt) => {
                        now += u64::from(dt);
                        if let Some(p) = b.get(seq, now) {
                            let (expected, at) = stored.get(&seq).expect("returned a packet never stored under this seq");
                            prop_assert_eq!(p, expected.as_slice());
                            prop_assert!(now - at <= max_age);
                        }
                    }
                }
            }
        }
    }
}
