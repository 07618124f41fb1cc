//! Human review of a decision that ended someone's contact (CM/Rec(2024)5:
//! a person affected by a decision taken in a digital process may have it
//! reviewed by a human). What can be reviewed is read from the audit log,
//! so a review always points at the entry it questions:
//! - a participant removed from a hearing (`session.remove` naming them);
//! - a session ended by staff (`session.terminate`, not the scheduled end);
//! - a booking cancelled (`session.cancel`).
//!
//! Each participant asks at most once per session; a reviewer of the
//! facility upholds or overturns, with a reason the requester is shown. An
//! overturned visit grants one replacement visit outside the weekly quota.

use crate::store::audit::AuditEntry;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long after a session's scheduled end its participants may still ask
/// for a review with their join link, in days.
pub const REQUEST_WINDOW_DAYS: i64 = 30;

/// Longest statement a requester may add, in characters.
pub const MAX_STATEMENT_CHARS: usize = 2_000;

/// What kind of decision is questioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Staff ended the session for everyone.
    Termination,
    /// The court removed this participant.
    Removal,
    /// The booking was cancelled before it started.
    Cancellation,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Termination => "termination",
            Self::Removal => "removal",
            Self::Cancellation => "cancellation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Termination, Self::Removal, Self::Cancellation]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The decision a participant may ask to have reviewed: its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewableDecision {
    pub kind: DecisionKind,
    /// Sequence number of its audit entry.
    pub seq: i64,
    /// Who took it, as the audit log names them.
    pub actor: String,
    /// The reason they gave, as the participant was shown it.
    pub reason: String,
}

/// The decision that ended `participant_id`'s part in a session, from the
/// session's audit entries (oldest first): their own removal if they were
/// removed, else the session's termination by staff or its cancellation.
/// `None` when nothing was decided against them (the session ended at its
/// scheduled time, or has not ended).
pub fn decision_against(entries: &[AuditEntry], participant_id: i64) -> Option<ReviewableDecision> {
    let reason = |e: &AuditEntry, key: &str| {
        e.details
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let found = |kind, e: &AuditEntry, key| ReviewableDecision {
        kind,
        seq: e.seq,
        actor: e.actor.clone(),
        reason: reason(e, key),
    };
    let removal = entries.iter().find(|e| {
        e.action == "session.remove"
            && e.details.get("participant_id").and_then(|v| v.as_i64()) == Some(participant_id)
    });
    if let Some(e) = removal {
        return Some(found(DecisionKind::Removal, e, "reason"));
    }
    entries.iter().rev().find_map(|e| match e.action.as_str() {
        "session.terminate" if e.decision != "ScheduledEnd" && e.actor != "system" => {
            Some(found(DecisionKind::Termination, e, "message"))
        }
        "session.cancel" => Some(found(DecisionKind::Cancellation, e, "message")),
        _ => None,
    })
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The decision stands.
    Upheld,
    /// The decision was wrong; for a visit, a replacement is granted.
    Overturned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upheld => "upheld",
            Self::Overturned => "overturned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Upheld, Self::Overturned]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A request for review and, once decided, its outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Review {
    pub id: i64,
    pub session_id: i64,
    /// Who asked: a participant of the session.
    pub participant_id: i64,
    pub decision: DecisionKind,
    /// The audit entry of the decision under review.
    pub decision_seq: i64,
    /// Who took the decision, as the audit log names them.
    pub decision_actor: String,
    /// The reason given, as the participant was shown it.
    pub stated_reason: String,
    /// What the requester wrote.
    pub statement: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// `None` while the review is pending.
    pub outcome: Option<Outcome>,
    /// The reviewer's reason, shown to the requester.
    pub outcome_reason: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// An overturned visit grants one replacement visit outside the weekly
    /// quota: whether it may still be booked, and the booking once it is.
    pub replacement_available: bool,
    pub replacement_session_id: Option<i64>,
}

/// Whether an overturned review of a session of this kind grants a
/// replacement visit: visits only (a hearing is relisted by the court).
pub fn grants_replacement(kind: parley_policy::SessionKind, outcome: Outcome) -> bool {
    kind.is_visit() && outcome == Outcome::Overturned
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(
        seq: i64,
        actor: &str,
        action: &str,
        decision: &str,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            seq,
            at: String::new(),
            actor: actor.into(),
            session_id: Some(1),
            action: action.into(),
            decision: decision.into(),
            rules: Vec::new(),
            details,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_removal_of_this_participant_comes_first() {
        let log = [
            entry(
                1,
                "participant:1:judge",
                "session.remove",
                "removed",
                json!({"participant_id": 3, "reason": "Filming"}),
            ),
            entry(
                2,
                "participant:1:judge",
                "session.terminate",
                "EndedByStaff",
                json!({"message": "Adjourned"}),
            ),
        ];
        let d = decision_against(&log, 3).expect("removed");
        assert_eq!(
            (d.kind, d.seq, d.reason.as_str()),
            (DecisionKind::Removal, 1, "Filming")
        );
        let d = decision_against(&log, 2).expect("ended");
        assert_eq!(
            (d.kind, d.seq, d.reason.as_str()),
            (DecisionKind::Termination, 2, "Adjourned")
        );
        assert_eq!(d.actor, "participant:1:judge");
    }

    #[test]
    fn the_scheduled_end_and_a_live_session_are_not_reviewable() {
        let log = [
            entry(
                1,
                "participant:2:visitor",
                "session.join",
                "admitted",
                json!(null),
            ),
            entry(
                2,
                "system",
                "session.terminate",
                "ScheduledEnd",
                json!({"message": "time is up"}),
            ),
        ];
        assert_eq!(decision_against(&log, 2), None);
        assert_eq!(decision_against(&log[..1], 2), None);
    }

    #[test]
    fn a_cancellation_and_an_end_by_an_officer_are() {
        let cancelled = [entry(
            4,
            "officer:7:O",
            "session.cancel",
            "cancelled",
            json!({"message": "Lockdown"}),
        )];
        let d = decision_against(&cancelled, 9).expect("cancelled");
        assert_eq!(
            (d.kind, d.reason.as_str()),
            (DecisionKind::Cancellation, "Lockdown")
        );
        let ended = [entry(
            5,
            "officer:7:O",
            "session.terminate",
            "ended",
            json!({"message": "Security"}),
        )];
        assert_eq!(
            decision_against(&ended, 9).map(|d| d.kind),
            Some(DecisionKind::Termination)
        );
    }

    #[test]
    fn only_an_overturned_visit_grants_a_replacement() {
        use parley_policy::SessionKind as K;
        assert!(grants_replacement(K::SocialVisit, Outcome::Overturned));
        assert!(grants_replacement(K::LegalVisit, Outcome::Overturned));
        assert!(!grants_replacement(K::SocialVisit, Outcome::Upheld));
        assert!(!grants_replacement(K::CourtHearing, Outcome::Overturned));
    }

    #[test]
    fn names_round_trip() {
        for k in [
            DecisionKind::Termination,
            DecisionKind::Removal,
            DecisionKind::Cancellation,
        ] {
            assert_eq!(DecisionKind::parse(k.as_str()), Some(k));
        }
        for o in [Outcome::Upheld, Outcome::Overturned] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("maybe"), None);
    }
}
