//! Whether a packet a subscriber asked for again (NACK, RFC 4585) is sent
//! again, so that repairs never swamp the link they repair.
//!
//! On a congested link a receiver keeps asking for the same packets, and a
//! sender that answers every request sends more the worse the link gets
//! (the field measurements saw 7 Mbit/s of resends to a 250 kbit/s
//! family). Three bounds:
//!
//! - a packet is resent at most [`MAX_RESENDS`] times;
//! - not again within one round trip of its last resend (the receiver
//!   could not have seen it yet), at least [`MIN_GAP_US`];
//! - resent bytes stay within [`SHARE`] of the bytes the leg forwards, with
//!   a burst of [`BURST_BYTES`] (a token bucket filled by forwarding).

use super::history::Sent;

/// Most times one packet is sent again.
pub const MAX_RESENDS: u8 = 3;
/// Shortest time between two resends of one packet, µs.
pub const MIN_GAP_US: u64 = 20_000;
/// Round trip assumed before one is measured, µs.
pub const DEFAULT_RTT_US: u64 = 100_000;
/// Resent bytes per forwarded byte, at most.
pub const SHARE: f64 = 0.5;
/// Most resent bytes in one burst.
pub const BURST_BYTES: f64 = 64_000.0;

/// The verdict on one requested packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Send it again.
    Yes,
    /// It was resent less than a round trip ago.
    TooSoon,
    /// It was already resent [`MAX_RESENDS`] times.
    GaveUp,
    /// The leg's resend budget is spent.
    OverBudget,
}

/// One leg's resend allowance.
#[derive(Debug, Clone)]
pub struct RetransmitBudget {
    tokens: f64,
}

impl Default for RetransmitBudget {
    fn default() -> Self {
        Self {
            tokens: BURST_BYTES,
        }
    }
}

impl RetransmitBudget {
    /// `bytes` were forwarded on the leg: part of them may be resent.
    pub fn on_forwarded(&mut self, bytes: usize) {
        self.tokens = (self.tokens + bytes as f64 * SHARE).min(BURST_BYTES);
    }

    /// Decides on `sent` at `now_us`, with the leg's round trip `rtt_us`
    /// (if measured); on [`Resend::Yes`] the resend is counted against the
    /// packet and the budget.
    pub fn decide(&mut self, sent: &mut Sent, rtt_us: Option<u64>, now_us: u64) -> Resend {
        if sent.resent >= MAX_RESENDS {
            return Resend::GaveUp;
        }
        let gap = rtt_us.unwrap_or(DEFAULT_RTT_US).max(MIN_GAP_US);
        if sent.resent > 0 && now_us.saturating_sub(sent.resent_us) < gap {
            return Resend::TooSoon;
        }
        let size = sent.payload_len() as f64;
        if size > self.tokens {
            return Resend::OverBudget;
        }
        self.tokens -= size;
        sent.resent += 1;
        sent.resent_us = now_us;
        Resend::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn sent(size: usize) -> Sent {
        let packet = rtc::rtp::Packet {
            payload: Bytes::from(vec![0u8; size]),
            ..Default::default()
        };
        Sent::of(&packet, 0)
    }

    #[test]
    fn a_packet_is_resent_once_per_round_trip_and_at_most_three_times() {
        let mut b = RetransmitBudget::default();
        let mut p = sent(1_000);
        assert_eq!(b.decide(&mut p, Some(50_000), 10_000), Resend::Yes);
        assert_eq!(b.decide(&mut p, Some(50_000), 40_000), Resend::TooSoon);
        assert_eq!(b.decide(&mut p, Some(50_000), 60_000), Resend::Yes);
        assert_eq!(b.decide(&mut p, Some(50_000), 110_000), Resend::Yes);
        assert_eq!(b.decide(&mut p, Some(50_000), 500_000), Resend::GaveUp);
    }

    #[test]
    fn resends_stay_within_half_of_what_is_forwarded() {
        let mut b = RetransmitBudget::default();
        // The burst allowance goes first.
        let mut granted = 0;
        while b.decide(&mut sent(1_000), None, 0) == Resend::Yes {
            granted += 1;
        }
        assert_eq!(granted, 64);
        assert_eq!(b.decide(&mut sent(1_000), None, 0), Resend::OverBudget);
        b.on_forwarded(10_000);
        for _ in 0..5 {
            assert_eq!(b.decide(&mut sent(1_000), None, 0), Resend::Yes);
        }
        assert_eq!(b.decide(&mut sent(1_000), None, 0), Resend::OverBudget);
    }

    proptest! {
        /// Whatever is forwarded and asked for, resent bytes never exceed
        /// the burst plus half of the forwarded bytes.
        #[test]
        fn resent_bytes_are_bounded(
            steps in proptest::collection::vec((any::<bool>(), 1usize..1_400), 1..400),
        ) {
            let mut b = RetransmitBudget::default();
            let (mut forwarded, mut resent) = (0usize, 0usize);
            for (i, (forward, size)) in steps.into_iter().enumerate() {
                if forward {
                    b.on_forwarded(size);
                    forwarded += size;
                } else if b.decide(&mut sent(size), None, i as u64 * 1_000) == Resend::Yes {
                    resent += size;
                }
            }
            prop_assert!(resent as f64 <= BURST_BYTES + forwarded as f64 * SHARE + 1e-6);
        }
    }
}
