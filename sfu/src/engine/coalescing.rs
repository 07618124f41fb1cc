//! Coalescing a worker's turns under load.
//!
//! Without it a busy worker wakes for every few datagrams: each turn pays a
//! sleep and a wake-up, a `poll`, a `recvmmsg` and a `sendmmsg` for three or
//! four packets. With a window `w`, a turn that woke at `t` is followed by a
//! rest until `t + w` before the worker waits on its socket again, so what
//! arrived meanwhile is read, forwarded and sent in one turn.
//!
//! Invariants: a packet waits at most `w` longer than it would have; a
//! worker whose last wake-up is older than `w` (every worker at low rates)
//! never rests, so the first datagram after a quiet spell still wakes it at
//! once; a rest never runs past the next timer.

use std::time::{Duration, Instant};

/// Rests shorter than this are skipped: a sleep costs a wake-up of its own,
/// and the kernel's default timer slack is 50 µs.
pub const SHORTEST_REST: Duration = Duration::from_micros(50);

/// Longest window accepted, in µs: 5 ms, one pacing interval of a browser's
/// sender; beyond it the delay would be felt before the CPU is saved.
pub const LONGEST_WINDOW_US: u64 = 5_000;

/// The default window, in µs: off. One millisecond saves about a tenth of
/// a worker's CPU in 1:1 visits, but a family's video came back later
/// after a weak link recovered in more of the runs with it than without
/// (docs/benchmarks.md, "Coalesced turns"); until that is understood,
/// operators turn it on knowingly.
pub const DEFAULT_WINDOW_US: u64 = 0;

/// The window a worker's turns are coalesced over (zero: never rest).
/// Read from configuration as a number of µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "u64")]
pub struct Coalescing {
    window: Duration,
}

impl Default for Coalescing {
    fn default() -> Self {
        Self {
            window: Duration::from_micros(DEFAULT_WINDOW_US),
        }
    }
}

impl Coalescing {
    /// No coalescing: a turn on every wake-up.
    pub const OFF: Self = Self {
        window: Duration::ZERO,
    };

    /// A window of `window_us` µs, at most [`LONGEST_WINDOW_US`].
    pub fn new(window_us: u64) -> Result<Self, WindowTooLong> {
        if window_us > LONGEST_WINDOW_US {
            return Err(WindowTooLong(window_us));
        }
        Ok(Self {
            window: Duration::from_micros(window_us),
        })
    }

    /// The window, in µs.
    pub fn window_us(&self) -> u64 {
        u64::try_from(self.window.as_micros()).unwrap_or(u64::MAX)
    }

    /// How long to rest before waiting on the socket, for a turn that woke
    /// at `woke`, at `now`, with the next timer due at `next_due`.
    pub fn rest(&self, woke: Instant, now: Instant, next_due: Instant) -> Option<Duration> {
        let until = (woke + self.window).min(next_due);
        let rest = until.saturating_duration_since(now);
        (rest >= SHORTEST_REST).then_some(rest)
    }
}

impl TryFrom<u64> for Coalescing {
    type Error = WindowTooLong;

    fn try_from(window_us: u64) -> Result<Self, Self::Error> {
        Self::new(window_us)
    }
}

/// A window longer than [`LONGEST_WINDOW_US`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a coalescing window of {0} µs is too long: at most {LONGEST_WINDOW_US} µs (0, the default, turns it off)"
)]
pub struct WindowTooLong(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_busy_worker_rests_out_the_rest_of_its_window() {
        let c = Coalescing::new(1_000).unwrap();
        let woke = Instant::now();
        let now = woke + Duration::from_micros(300);
        assert_eq!(
            c.rest(woke, now, woke + 10 * MS),
            Some(Duration::from_micros(700))
        );
    }

    #[test]
    fn a_worker_whose_turn_outlasted_the_window_does_not_rest() {
        let c = Coalescing::new(1_000).unwrap();
        let woke = Instant::now();
        assert_eq!(c.rest(woke, woke + 2 * MS, woke + 10 * MS), None);
        assert_eq!(c.rest(woke, woke + MS, woke + 10 * MS), None);
    }

    #[test]
    fn a_rest_ends_at_the_next_timer() {
        let c = Coalescing::new(1_000).unwrap();
        let woke = Instant::now();
        let due = woke + Duration::from_micros(400);
        assert_eq!(
            c.rest(woke, woke + Duration::from_micros(100), due),
            Some(Duration::from_micros(300))
        );
        assert_eq!(c.rest(woke, woke + Duration::from_micros(500), due), None);
    }

    #[test]
    fn rests_too_short_to_pay_for_a_sleep_are_skipped() {
        let c = Coalescing::new(1_000).unwrap();
        let woke = Instant::now();
        let now = woke + Duration::from_micros(980);
        assert_eq!(c.rest(woke, now, woke + 10 * MS), None);
    }

    #[test]
    fn a_zero_window_never_rests() {
        let c = Coalescing::new(0).unwrap();
        let woke = Instant::now();
        assert_eq!(c.rest(woke, woke, woke + 10 * MS), None);
        assert_eq!(Coalescing::OFF, c);
        assert_eq!(Coalescing::default().window_us(), DEFAULT_WINDOW_US);
    }

    #[test]
    fn a_window_past_five_milliseconds_is_refused_with_the_limit() {
        let e = Coalescing::new(5_001).unwrap_err();
        assert!(e.to_string().contains("5001 µs"), "{e}");
        assert!(e.to_string().contains("at most 5000 µs"), "{e}");
        assert_eq!(Coalescing::new(5_000).unwrap().window_us(), 5_000);
    }
}
