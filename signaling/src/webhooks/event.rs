//! Which audit entries are events for case systems, and what is sent.

use crate::store::audit::AuditEntry;
use serde::Serialize;
use utoipa::ToSchema;

/// The event types, from the audit actions (docs/protocol.md, audit log)
/// they are read from.
pub const TYPES: [(&str, Option<&str>, &str); 9] = [
    ("booking.decide", Some("accepted"), "booking.accepted"),
    ("hearing.schedule", None, "hearing.scheduled"),
    ("session.live", None, "session.started"),
    ("session.terminate", None, "session.ended"),
    ("session.cancel", None, "session.cancelled"),
    ("session.remove", None, "participant.removed"),
    ("recording_stopped", None, "recording.ready"),
    ("review.request", None, "review.requested"),
    ("review.decide", None, "review.decided"),
];

/// The event type of an audit entry of `action` with `decision`, if it is one.
pub fn type_of(action: &str, decision: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(a, d, _)| *a == action && d.is_none_or(|d| d == decision))
        .map(|(_, _, t)| *t)
}

/// What a webhook receives: one audit entry of one of its facility's
/// sessions, with the type of event it is. `id` is unique per
/// installation and increases: a receiver that has seen an id drops it
/// (a delivery may be repeated after a timeout), and one that sees a gap
/// can read the audit log from its last id.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookEvent {
    /// The audit entry's sequence number.
    pub id: i64,
    /// `booking.accepted`, `hearing.scheduled`, `session.started`,
    /// `session.ended` (at its time or by staff: see `decision` and
    /// `details.message`), `session.cancelled`, `participant.removed`,
    /// `recording.ready` (the recorder closed the session's recording
    /// lawfully: `details.recording_id`), `review.requested` or
    /// `review.decided`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was decided (RFC 3339, UTC).
    pub at: String,
    pub facility_id: i64,
    pub session_id: i64,
    /// Who decided, as the audit log names them.
    pub actor: String,
    pub decision: String,
    /// The policy rules that produced the decision.
    pub rules: Vec<String>,
    /// Reasons and ids, as in the audit entry.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The audit entry's hash: the receiver can check the event against
    /// `GET /v1/audit`.
    pub audit_hash: String,
}

/// The event an audit entry of `facility_id` is, if it is one.
pub fn from_entry(entry: &AuditEntry, facility_id: i64) -> Option<WebhookEvent> {
    let kind = type_of(&entry.action, &entry.decision)?;
    Some(WebhookEvent {
        id: entry.seq,
        kind: kind.to_string(),
        at: entry.at.clone(),
        facility_id,
        session_id: entry.session_id?,
        actor: entry.actor.clone(),
        decision: entry.decision.clone(),
        rules: entry.rules.clone(),
        details: entry.details.clone(),
        audit_hash: entry.hash.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, decision: &str, session: Option<i64>) -> AuditEntry {
        AuditEntry {
            seq: 9,
            at: "2030-03-04T10:00:00Z".into(),
            actor: "officer:3:O".into(),
            session_id: session,
            action: action.into(),
            decision: decision.into(),
            rules: vec!["demo/x".into()],
            details: serde_json::json!({"message": "Lockdown"}),
            prev_hash: "a".into(),
            hash: "b".into(),
        }
    }

    #[test]
    fn decisions_about_sessions_are_events_and_nothing_else_is() {
        let e = from_entry(&entry("session.terminate", "EndedByStaff", Some(4)), 2).expect("event");
        assert_eq!(e.kind, "session.ended");
        assert_eq!((e.id, e.facility_id, e.session_id), (9, 2, 4));
        assert_eq!(e.details["message"], "Lockdown");
        assert_eq!(e.audit_hash, "b");
        assert_eq!(
            from_entry(&entry("booking.decide", "accepted", Some(4)), 2).map(|e| e.kind),
            Some("booking.accepted".into())
        );
        assert_eq!(
            from_entry(&entry("recording_stopped", "allowed", Some(4)), 2).map(|e| e.kind),
            Some("recording.ready".into())
        );
        assert_eq!(
            from_entry(&entry("recording_interrupted", "interrupted", Some(4)), 2),
            None,
            "an interrupted recording is not ready"
        );
        for (action, decision) in [
            ("booking.decide", "refused"),
            ("session.join", "admitted"),
            ("session.token", "issued"),
            ("session.monitor", "allowed"),
        ] {
            assert_eq!(
                from_entry(&entry(action, decision, Some(4)), 2),
                None,
                "{action}"
            );
        }
        assert_eq!(
            from_entry(&entry("session.cancel", "cancelled", None), 2),
            None
        );
    }

    #[test]
    fn every_type_is_named_once() {
        let mut names: Vec<&str> = TYPES.iter().map(|(_, _, t)| *t).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TYPES.len());
    }
}
