//! How fast one live-session socket may send: a token bucket of
//! [`MESSAGE_BURST`] messages, refilled at [`MESSAGES_PER_SECOND`]. Every
//! client message costs a task round trip and may cost an audit row or a
//! media-server call, so a socket past its rate is closed
//! (`CloseCode::TooFast`). Pure: every instant is handed in.

use parley_protocol::{MESSAGE_BURST, MESSAGES_PER_SECOND};
use std::time::Instant;

/// Thousandths of a message, so refills need no floating point.
const MILLI: u64 = 1000;

/// One socket's allowance.
#[derive(Debug, Clone, Copy)]
pub struct MessageRate {
    /// Allowance left, in thousandths of a message.
    milli: u64,
    at: Instant,
}

impl MessageRate {
    /// A full allowance at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            milli: u64::from(MESSAGE_BURST) * MILLI,
            at: now,
        }
    }

    /// Takes one message at `now`; false when the allowance is spent.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed_us =
            u64::try_from(now.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX);
        let gained = elapsed_us.saturating_mul(u64::from(MESSAGES_PER_SECOND) * MILLI) / 1_000_000;
        if gained > 0 {
            self.milli = self
                .milli
                .saturating_add(gained)
                .min(u64::from(MESSAGE_BURST) * MILLI);
            self.at = now;
        }
        if self.milli < MILLI {
            return false;
        }
        self.milli -= MILLI;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(start);
        for _ in 0..MESSAGE_BURST {
            assert!(rate.take(start));
        }
        assert!(!rate.take(start), "the burst is spent");
        let tick = Duration::from_millis(1000 / u64::from(MESSAGES_PER_SECOND));
        assert!(!rate.take(start + tick / 2));
        assert!(
            rate.take(start + tick),
            "one more after a tenth of a second"
        );
        assert!(!rate.take(start + tick));
    }

    #[test]
    fn a_person_clicking_never_runs_out() {
        let start = Instant::now();
        let mut rate = MessageRate::new(start);
        // Two messages a second for an hour.
        for i in 0..7_200u64 {
            assert!(rate.take(start + Duration::from_millis(500 * i)));
        }
    }
}
