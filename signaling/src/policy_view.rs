//! Applies the pure policy to stored sessions: the recording/monitoring
//! decision for a session's actual participants, and the notice people see.

use crate::model::Session;
use chrono::{DateTime, Utc};
use parley_control::RoomPolicy;
use parley_policy::{Decision, Jurisdiction, Participant, RecordingDecision, decide};
use parley_protocol::RecordingNotice;

/// The decision for `session` as booked, at `now`.
pub fn decide_for(j: &Jurisdiction, session: &Session, now: DateTime<Utc>) -> Decision {
    let participants: Vec<Participant> = session
        .participants
        .iter()
        .map(|p| Participant {
            role: p.role,
            consented_to_recording: p.consented_to_recording,
        })
        .collect();
    decide(j, session.kind, &participants, now)
}

/// What participants are told before any media could be recorded.
pub fn notice(decision: &Decision) -> RecordingNotice {
    RecordingNotice {
        recorded: decision.recording == RecordingDecision::Record,
        monitored: decision.monitoring,
        announcements: decision
            .announcements
            .iter()
            .map(|a| (a.language.clone(), a.text.clone()))
            .collect(),
        why: decision.explain(),
    }
}

/// The media room's flags, from the policy decision. The SFU corrects a
/// privileged room whatever it is told (never recorded, never monitored).
pub fn room_policy(decision: &Decision) -> RoomPolicy {
    RoomPolicy {
        privileged: decision.kind.is_privileged(),
        recorded: decision.recording == RecordingDecision::Record,
        monitoring_allowed: decision.monitoring,
    }
}
