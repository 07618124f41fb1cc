//! Whether a participant's connection is weak, for the badge the court and
//! staff see on their tile: their downlink cannot carry what they are sent
//! (video paused for them), or is estimated below [`WEAK_BELOW_BPS`]. Slow
//! to say so and slower to take it back, so the badge does not flicker.
//!
//! Pure: times in µs, handed in.

use super::debounce::Debounced;

/// Below this estimate (bits per second) a connection is weak: less than
/// the lowest simulcast layer (150 kbit/s) with its sound.
pub const WEAK_BELOW_BPS: u64 = 200_000;
/// Weak readings for this long make the connection weak, µs …
pub const WEAK_AFTER_US: u64 = 2_000_000;
/// … and good ones for this long make it good again.
pub const GOOD_AFTER_US: u64 = 5_000_000;

/// One connection's strength as shown.
#[derive(Debug, Clone)]
pub struct LinkStrength(Debounced);

impl Default for LinkStrength {
    fn default() -> Self {
        Self(Debounced::new(WEAK_AFTER_US, GOOD_AFTER_US))
    }
}

impl LinkStrength {
    pub fn weak(&self) -> bool {
        self.0.on()
    }

    /// A reading at `now_us` (`weak_now`: the connection looks weak now);
    /// returns the new state when it changes.
    pub fn update(&mut self, weak_now: bool, now_us: u64) -> Option<bool> {
        self.0.update(weak_now, now_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_after_two_seconds_good_after_five() {
        let mut s = LinkStrength::default();
        assert_eq!(s.update(true, 0), None);
        assert_eq!(s.update(true, 1_999_999), None);
        assert_eq!(s.update(true, 2_000_000), Some(true));
        assert_eq!(s.update(false, 2_100_000), None);
        assert_eq!(s.update(false, 7_099_999), None);
        assert_eq!(s.update(false, 7_100_000), Some(false));
    }

    #[test]
    fn a_short_dip_shows_nothing() {
        let mut s = LinkStrength::default();
        s.update(true, 0);
        s.update(false, 1_000_000);
        assert_eq!(s.update(true, 1_500_000), None);
        assert_eq!(s.update(true, 3_000_000), None);
        assert!(!s.weak());
    }
}
