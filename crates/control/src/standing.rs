//! What a court decides about a member, and a member's request to join.

use crate::room::{ConsultationId, MemberId, RoomId};
use serde::{Deserialize, Serialize};

/// Which of a member's media is not forwarded (a court's mute).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    pub audio: bool,
    pub video: bool,
}

/// What a court decided about a member that holds from their first packet:
/// mutes, consultation, witness protection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub muted: Muted,
    /// The consultation the member joins straight into.
    pub consultation: Option<ConsultationId>,
    /// Witness protection: their video hidden from observers, monitors and
    /// these members.
    pub protected_from: Option<Vec<MemberId>>,
}

/// A participant's request to join a room's media. Who they are and what
/// they may do comes from their join token, which the SFU checks itself;
/// not from the caller.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub room: RoomId,
    /// The join token signaling issued for this room.
    pub token: String,
    /// The client's SDP offer.
    pub offer: String,
    /// How many other publishers this member can receive (pairs of audio
    /// and video transceivers in the offer besides its own), at most
    /// [`crate::MAX_RECEIVE_SLOTS`].
    pub receive_slots: usize,
    /// The court's standing of the member from the first packet on.
    pub standing: Standing,
}

/// A court's change to how a hearing's media is forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum HearingChange {
    /// These participants consult privately: their media goes only to
    /// each other.
    OpenConsultation {
        consultation: ConsultationId,
        members: Vec<MemberId>,
    },
    /// They return to the hearing.
    CloseConsultation { consultation: ConsultationId },
    /// Open (true) or close the hearing to observers.
    Observers { admitted: bool },
    /// Hide a witness's video from observers, monitors and `hidden_from`;
    /// `None` lifts the protection.
    Protect {
        member: MemberId,
        hidden_from: Option<Vec<MemberId>>,
    },
}

impl HearingChange {
    /// The members whose media this change moves: they reconnect their
    /// media if the media plane cannot apply it.
    pub fn members(&self) -> Vec<MemberId> {
        match self {
            Self::OpenConsultation { members, .. } => members.clone(),
            Self::Protect { member, .. } => vec![*member],
            Self::CloseConsultation { .. } | Self::Observers { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hearing_changes_are_tagged_on_the_wire_and_refuse_unknown_fields() {
        let change = HearingChange::Protect {
            member: 4,
            hidden_from: Some(vec![2]),
        };
        let text = serde_json::to_string(&change).expect("json");
        assert_eq!(text, r#"{"change":"protect","member":4,"hidden_from":[2]}"#);
        assert_eq!(
            serde_json::from_str::<HearingChange>(&text).expect("back"),
            change
        );
        assert!(
            serde_json::from_str::<HearingChange>(
                r#"{"change":"observers","admitted":true,"x":0}"#
            )
            .is_err()
        );
        assert_eq!(change.members(), [4]);
        assert!(
            HearingChange::Observers { admitted: false }
                .members()
                .is_empty()
        );
    }
}
