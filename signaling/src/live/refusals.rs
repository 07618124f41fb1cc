//! How many refused joins of one session go into the audit log each minute.
//!
//! A refused join that presented a token (forged, expired, for another
//! session or participant, after a removal) is audited: it is an attempt on
//! a session, and the people on it and the reviewers should be able to see
//! it. Anyone can send tokens, so the entries are bounded: at most
//! [`AUDITED_PER_MINUTE`] per session and minute. Every refusal is still
//! counted in `parley_ws_rejected_total`.

use std::collections::HashMap;

/// Refused joins audited per session in one minute (UTC, whole minutes).
pub const AUDITED_PER_MINUTE: u32 = 20;

/// Per-session counts for the current minute; earlier minutes are dropped,
/// so it holds at most the sessions refused within one minute.
#[derive(Debug, Default)]
pub struct RefusalBudget {
    minute: i64,
    audited: HashMap<i64, u32>,
}

impl RefusalBudget {
    /// Whether a refusal of `session_id` at `unix_seconds` is audited.
    pub fn admit(&mut self, session_id: i64, unix_seconds: i64) -> bool {
        let minute = unix_seconds.div_euclid(60);
        if minute != self.minute {
            self.minute = minute;
            self.audited.clear();
        }
        let n = self.audited.entry(session_id).or_insert(0);
        if *n >= AUDITED_PER_MINUTE {
            return false;
        }
        *n += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_has_its_own_budget_per_minute() {
        let mut b = RefusalBudget::default();
        let t = 1_900_000_040; // 20 s into a minute
        for _ in 0..AUDITED_PER_MINUTE {
            assert!(b.admit(7, t));
        }
        assert!(!b.admit(7, t + 39), "the 21st in the same minute");
        assert!(b.admit(8, t + 39), "another session is not held back");
        assert!(b.admit(7, t + 40), "a new minute starts again");
        assert_eq!(b.audited.len(), 1, "the old minute was dropped");
    }
}
