//! What the media plane tells the control plane.

use crate::room::{MemberId, RoomId};
use serde::{Deserialize, Serialize};

/// One event from the media plane, in process and on the wire (tagged by
/// `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaEvent {
    /// The loudest participant of a room changed (RFC 6464 levels, held at
    /// least 1.5 s so it does not flap).
    ActiveSpeaker { room: RoomId, member: MemberId },
    /// A member's peer connection failed or closed; the SFU dropped it.
    MediaLost { room: RoomId, member: MemberId },
    /// A simulcast publisher should send only these layers (`rids`, low to
    /// high: `q`, `h`, `f`): nobody needs the others. Sent again whenever
    /// the set changes.
    PublishLayers {
        room: RoomId,
        member: MemberId,
        rids: Vec<String>,
    },
    /// `source`'s video to `member` paused because `member`'s downlink
    /// cannot carry it with the audio, or resumed (`paused: false`).
    /// Audio goes on.
    VideoPaused {
        room: RoomId,
        member: MemberId,
        source: MemberId,
        paused: bool,
    },
    /// `member`'s connection became weak, or good again.
    ConnectionStrength {
        room: RoomId,
        member: MemberId,
        weak: bool,
    },
    /// The room's recording broke off (the recorder stopped or cannot be
    /// reached, or refused to go on): the media goes on unrecorded while
    /// the media server tries again. `reason` says what broke it.
    RecordingInterrupted { room: RoomId, reason: String },
    /// The room's recording goes on again after [`Self::RecordingInterrupted`]
    /// (the recorder writes the gap into the recording's manifest).
    RecordingResumed { room: RoomId },
    /// A media server running apart stopped answering (killed, crashed or
    /// cut off): every room on it may have lost its media. Sent once per
    /// outage, by the caller of its control API, never by an SFU.
    PlaneDown,
    /// A media server running apart answers again as a new process (a new
    /// boot id): it holds no room, peer connection or recording any more.
    /// Sent by the caller of its control API, never by an SFU.
    PlaneRestarted,
}

impl MediaEvent {
    /// The room (session) the event concerns; `None` for an event about
    /// the media server itself, which concerns every room on it.
    pub fn room(&self) -> Option<RoomId> {
        match self {
            Self::ActiveSpeaker { room, .. }
            | Self::MediaLost { room, .. }
            | Self::PublishLayers { room, .. }
            | Self::VideoPaused { room, .. }
            | Self::ConnectionStrength { room, .. }
            | Self::RecordingInterrupted { room, .. }
            | Self::RecordingResumed { room } => Some(*room),
            Self::PlaneDown | Self::PlaneRestarted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_type_on_the_wire() {
        let e = MediaEvent::PublishLayers {
            room: 1,
            member: 2,
            rids: vec!["q".into(), "h".into()],
        };
        let text = serde_json::to_string(&e).expect("json");
        assert_eq!(
            text,
            r#"{"type":"publish_layers","room":1,"member":2,"rids":["q","h"]}"#
        );
        assert_eq!(serde_json::from_str::<MediaEvent>(&text).expect("back"), e);
        assert_eq!(e.room(), Some(1));
        let lost = MediaEvent::MediaLost { room: 7, member: 3 };
        assert_eq!(lost.room(), Some(7));
        let restarted = serde_json::to_string(&MediaEvent::PlaneRestarted).expect("json");
        assert_eq!(restarted, r#"{"type":"plane_restarted"}"#);
        assert_eq!(MediaEvent::PlaneRestarted.room(), None);
    }
}
