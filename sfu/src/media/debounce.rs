//! A yes/no that changes only after the readings have disagreed with it
//! for long enough, each way: what keeps a pause or a badge from
//! flickering on a link that wavers.
//!
//! Pure: times in µs, handed in.

/// A debounced yes/no, starting at no.
#[derive(Debug, Clone)]
pub struct Debounced {
    on: bool,
    /// Readings of yes for this long turn it on, µs …
    on_after_us: u64,
    /// … and readings of no for this long turn it off.
    off_after_us: u64,
    /// Since when the readings have disagreed with it, µs.
    disagrees_since: Option<u64>,
}

impl Debounced {
    pub fn new(on_after_us: u64, off_after_us: u64) -> Self {
        Self {
            on: false,
            on_after_us,
            off_after_us,
            disagrees_since: None,
        }
    }

    pub fn on(&self) -> bool {
        self.on
    }

    /// Turns it off at once (what the readings would have done after
    /// their wait was shown some other way); true if it was on.
    pub fn clear(&mut self) -> bool {
        self.disagrees_since = None;
        std::mem::replace(&mut self.on, false)
    }

    /// A reading at `now_us`; returns the new state when it changes.
    pub fn update(&mut self, reading: bool, now_us: u64) -> Option<bool> {
        if reading == self.on {
            self.disagrees_since = None;
            return None;
        }
        let since = *self.disagrees_since.get_or_insert(now_us);
        let wait = if self.on {
            self.off_after_us
        } else {
            self.on_after_us
        };
        if now_us.saturating_sub(since) < wait {
            return None;
        }
        self.disagrees_since = None;
        self.on = reading;
        Some(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_only_after_holding_each_way() {
        let mut d = Debounced::new(1_000, 3_000);
        assert_eq!(d.update(true, 0), None);
        assert_eq!(d.update(false, 500), None, "a dip resets the wait");
        assert_eq!(d.update(true, 600), None);
        assert_eq!(d.update(true, 1_599), None);
        assert_eq!(d.update(true, 1_600), Some(true));
        assert_eq!(d.update(false, 2_000), None);
        assert_eq!(d.update(false, 4_999), None);
        assert_eq!(d.update(false, 5_000), Some(false));
        assert!(!d.on());
    }
}
