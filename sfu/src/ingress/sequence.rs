//! Which of one incoming stream's packets arrived: the extended sequence
//! number (RFC 3550 §A.1, without the probation), a replay window of the
//! last [`WINDOW`] numbers, and the received and lost counts the uplink
//! figures are made of.
//!
//! The window is wider than SRTP's customary 64 so that a resend asked for
//! by NACK, which arrives a round trip after its neighbours (200 packets
//! later at 1 000 packets/s and 200 ms), is still taken.
//!
//! Pure: sequence numbers in, verdicts out.

/// Sequence numbers the replay window remembers.
pub const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;
const CYCLE: u64 = 1 << 16;

/// What a sequence number is, against what came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Not seen before (the newest, or a gap being filled).
    New,
    /// Already taken once.
    Duplicate,
    /// Older than the window: whether it came before cannot be told.
    TooOld,
}

/// One stream's arrivals.
#[derive(Debug, Clone)]
pub struct SequenceWindow {
    /// Highest extended sequence number taken; `None` before the first.
    highest: Option<u64>,
    /// The first extended sequence number taken.
    base: u64,
    /// Bit `n % WINDOW` set: extended number `n` taken (for the last
    /// [`WINDOW`] numbers up to `highest`).
    seen: [u64; WORDS],
    received: u64,
}

impl Default for SequenceWindow {
    fn default() -> Self {
        Self {
            highest: None,
            base: 0,
            seen: [0; WORDS],
            received: 0,
        }
    }
}

impl SequenceWindow {
    /// The extended number of `seq`: the one nearest the highest so far.
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            // Start one cycle up, so numbers just below the first still extend.
            return CYCLE + u64::from(seq);
        };
        let candidate = (highest & !(CYCLE - 1)) | u64::from(seq);
        if candidate + CYCLE / 2 < highest {
            candidate + CYCLE
        } else if candidate > highest + CYCLE / 2 && candidate >= CYCLE {
            candidate - CYCLE
        } else {
            candidate
        }
    }

    fn is_set(&self, n: u64) -> bool {
        let bit = n % WINDOW;
        self.seen[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, n: u64, on: bool) {
        let bit = n % WINDOW;
        let word = &mut self.seen[(bit / 64) as usize];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }

    /// The highest extended sequence number taken, counted from 0 (for a
    /// receiver report's "extended highest sequence number received").
    pub fn highest(&self) -> Option<u64> {
        self.highest.map(|h| h - CYCLE)
    }

    /// The extended number of `seq` (nearest the highest so far), counted
    /// as [`SequenceWindow::highest`] is.
    pub fn extended(&self, seq: u16) -> u64 {
        self.extend(seq).saturating_sub(CYCLE)
    }

    /// What `seq` would be, without taking it.
    pub fn check(&self, seq: u16) -> Arrival {
        let Some(highest) = self.highest else {
            return Arrival::New;
        };
        let n = self.extend(seq);
        if n > highest {
            Arrival::New
        } else if highest - n >= WINDOW {
            Arrival::TooOld
        } else if self.is_set(n) {
            Arrival::Duplicate
        } else {
            Arrival::New
        }
    }

    /// Takes `seq` if it is new; says what it was.
    pub fn on_packet(&mut self, seq: u16) -> Arrival {
        let arrival = self.check(seq);
        if arrival != Arrival::New {
            return arrival;
        }
        let n = self.extend(seq);
        match self.highest {
            None => {
                self.base = n;
                self.highest = Some(n);
            }
            Some(highest) if n > highest => {
                if n - highest >= WINDOW {
                    self.seen = [0; WORDS];
                } else {
                    for skipped in highest + 1..n {
                        self.set(skipped, false);
                    }
                }
                self.highest = Some(n);
            }
            Some(_) => {}
        }
        self.set(n, true);
        self.received += 1;
        arrival
    }

    /// Packets taken.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets the sequence numbers say were sent, from the first taken to
    /// the highest.
    pub fn expected(&self) -> u64 {
        self.highest.map_or(0, |h| h - self.base + 1)
    }

    /// Packets expected and never taken (0 if more arrived than expected:
    /// a packet from before the first).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_gaps_and_fills_them_when_a_resend_arrives() {
        let mut w = SequenceWindow::default();
        for seq in [10u16, 11, 13, 14] {
            assert_eq!(w.on_packet(seq), Arrival::New);
        }
        assert_eq!((w.expected(), w.received(), w.lost()), (5, 4, 1));
        assert_eq!(w.on_packet(12), Arrival::New, "the resend fills the gap");
        assert_eq!(w.lost(), 0);
        assert_eq!(w.on_packet(12), Arrival::Duplicate);
        assert_eq!(w.on_packet(14), Arrival::Duplicate);
        assert_eq!(w.received(), 5);
    }

    #[test]
    fn numbers_extend_from_zero_across_the_wrap() {
        let mut w = SequenceWindow::default();
        assert_eq!(w.highest(), None);
        w.on_packet(65_535);
        assert_eq!(w.highest(), Some(65_535));
        w.on_packet(2);
        assert_eq!(w.highest(), Some(65_538));
        assert_eq!(w.extended(65_534), 65_534);
        assert_eq!(w.extended(3), 65_539);
    }

    #[test]
    fn follows_the_wrap_at_65535() {
        let mut w = SequenceWindow::default();
        for seq in (65_530u16..=65_535).chain(0..5) {
            assert_eq!(w.on_packet(seq), Arrival::New, "seq {seq}");
        }
        assert_eq!((w.expected(), w.lost()), (11, 0));
        assert_eq!(w.on_packet(65_534), Arrival::Duplicate, "before the wrap");
        assert_eq!(w.on_packet(3), Arrival::Duplicate, "after the wrap");
    }

    #[test]
    fn a_number_older_than_the_window_is_refused_not_taken() {
        let mut w = SequenceWindow::default();
        w.on_packet(1);
        w.on_packet(2_000);
        assert_eq!(w.check(2_000 - WINDOW as u16), Arrival::TooOld);
        assert_eq!(w.on_packet(2_000 - WINDOW as u16 + 1), Arrival::New);
        assert_eq!(w.received(), 3);
    }

    #[test]
    fn a_jump_past_the_window_forgets_what_it_held() {
        let mut w = SequenceWindow::default();
        w.on_packet(100);
        // 100 + WINDOW shares 100's bit; it must read as new, not a replay.
        assert_eq!(w.on_packet(100 + WINDOW as u16), Arrival::New);
        assert_eq!(w.check(100 + WINDOW as u16), Arrival::Duplicate);
        assert_eq!(w.check(100), Arrival::TooOld);
    }

    #[test]
    fn a_packet_just_before_the_first_is_taken_and_counts_no_loss() {
        let mut w = SequenceWindow::default();
        w.on_packet(0);
        assert_eq!(w.on_packet(65_535), Arrival::New);
        assert_eq!(w.lost(), 0);
    }
}
