//! Rooms as both planes name them.

use serde::{Deserialize, Serialize};

/// Identifies a room: the signaling session id.
pub type RoomId = i64;

/// Identifies a member of a room (the signaling participant id; recorders
/// and monitors get ids from the same space).
pub type MemberId = i64;

/// Identifies a consultation within a room.
pub type ConsultationId = u32;

/// Most other publishers one member can receive (pairs of audio and video
/// transceivers in an offer besides its own).
pub const MAX_RECEIVE_SLOTS: usize = 32;

/// A kind of media a member publishes (`audio` or `video` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// A room's policy flags, from the signaling service's decision. Fixed when
/// the room opens.
///
/// Invariant (enforced by the SFU's room, whatever the caller asks): a
/// privileged room is never recorded and never monitored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomPolicy {
    /// Legal visit or consultation: never recorded, never monitored.
    pub privileged: bool,
    /// The official record is being taken.
    pub recorded: bool,
    /// Staff may watch and listen live.
    pub monitoring_allowed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_kinds_and_policies_keep_their_wire_names() {
        assert_eq!(
            serde_json::to_string(&MediaKind::Video).expect("json"),
            "\"video\""
        );
        let policy: RoomPolicy = serde_json::from_str(
            r#"{"privileged":false,"recorded":true,"monitoring_allowed":false}"#,
        )
        .expect("policy");
        assert!(policy.recorded && !policy.privileged);
        let unknown = serde_json::from_str::<RoomPolicy>(
            r#"{"privileged":false,"recorded":true,"monitoring_allowed":false,"x":1}"#,
        );
        assert!(unknown.is_err(), "an unknown field is refused");
    }
}
