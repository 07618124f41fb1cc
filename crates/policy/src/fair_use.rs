//! Fair use of booked time: what a visit gets back when its media fails
//! (`[fair_use]` in a jurisdiction file).
//!
//! A visit's outage runs from the media server's first report that a
//! participant's media was lost until it has answered a new offer from
//! every participant it lost. [`FairUse::given_back`] says how much of it
//! the visit gets back: the outage, if it lasted at least
//! `min_outage_seconds`, and never more in all than `cap_minutes`; the mode
//! says how (a later end, or a credit towards another visit).

use chrono::TimeDelta;
use serde::Serialize;

/// What a jurisdiction does about time lost to media failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FairUseMode {
    /// Nothing: the visit ends at its booked time.
    Off,
    /// The visit's clock stops while its media is lost: its end moves
    /// later by the outage, up to the cap.
    PauseClock,
    /// The visit keeps its end; the time lost is credited to the detainee
    /// as another visit, booked outside the weekly quota.
    Credit,
}

/// A jurisdiction's fair-use rule. Invariants (enforced by the loader):
/// `1 <= cap_minutes <= 60`, `min_outage_seconds <= 300`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FairUse {
    pub mode: FairUseMode,
    /// Most minutes one visit is extended by, in all.
    pub cap_minutes: u32,
    /// Outages shorter than this (seconds) are not given back: a blip.
    pub min_outage_seconds: u32,
}

/// Highest `cap_minutes`.
pub const MAX_CAP_MINUTES: u32 = 60;
/// Highest `min_outage_seconds`.
pub const MAX_MIN_OUTAGE_SECONDS: u32 = 300;

impl Default for FairUse {
    /// Off: the file has no `[fair_use]`.
    fn default() -> Self {
        Self {
            mode: FairUseMode::Off,
            cap_minutes: 10,
            min_outage_seconds: 20,
        }
    }
}

impl FairUse {
    /// How much of an `outage` a visit gets back when `given` has been
    /// given back already: whole seconds, zero when off, for a blip, or
    /// once the cap is reached.
    pub fn given_back(&self, outage: TimeDelta, given: TimeDelta) -> TimeDelta {
        if self.mode == FairUseMode::Off
            || outage < TimeDelta::seconds(i64::from(self.min_outage_seconds))
        {
            return TimeDelta::zero();
        }
        let left = TimeDelta::minutes(i64::from(self.cap_minutes)) - given;
        let whole = TimeDelta::seconds(outage.num_seconds());
        whole.min(left).max(TimeDelta::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(cap: u32, min: u32) -> FairUse {
        FairUse {
            mode: FairUseMode::PauseClock,
            cap_minutes: cap,
            min_outage_seconds: min,
        }
    }

    #[test]
    fn the_outage_is_given_back_in_whole_seconds_up_to_the_cap() {
        let f = pause(10, 20);
        let s = TimeDelta::seconds;
        assert_eq!(f.given_back(TimeDelta::milliseconds(95_700), s(0)), s(95));
        assert_eq!(f.given_back(s(19), s(0)), s(0), "a blip");
        assert_eq!(f.given_back(s(20), s(0)), s(20));
        assert_eq!(
            f.given_back(s(400), s(300)),
            s(300),
            "what is left of 10 min"
        );
        assert_eq!(f.given_back(s(60), s(600)), s(0), "the cap is spent");
        assert_eq!(f.given_back(s(60), s(700)), s(0));
        let credit = FairUse {
            mode: FairUseMode::Credit,
            ..f
        };
        assert_eq!(credit.given_back(s(95), s(0)), s(95));
        let off = FairUse::default();
        assert_eq!(off.mode, FairUseMode::Off);
        assert_eq!(off.given_back(s(600), s(0)), s(0));
    }
}
