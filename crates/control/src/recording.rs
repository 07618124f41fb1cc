//! What signaling asks of the media plane when a session is recorded.

use crate::room::{MemberId, RoomId};
use parley_policy::SessionKind;
use serde::{Deserialize, Serialize};

/// "Record this room, with this notice, for this jurisdiction." The media plane
/// opens the recorder's stream, plays the jurisdiction's spoken notice to
/// the room in `languages`, then sends the recorder every packet the room's
/// rules let it receive. Never sent for a privileged session; the SFU's
/// room and the recorder both refuse one anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingOrder {
    pub room: RoomId,
    pub session_kind: SessionKind,
    /// The jurisdiction whose rule records the session (its key seals the
    /// recording).
    pub jurisdiction: String,
    /// Languages of the spoken notice, in the order they are played.
    pub languages: Vec<String>,
    /// The booked participants who publish: each gets an audio and a video
    /// track.
    pub publishers: Vec<MemberId>,
}

impl RecordingOrder {
    /// The recording's id at the recorder: one per session.
    pub fn recording_id(&self) -> String {
        format!("session-{}", self.room)
    }
}
