//! Why the media plane refused or failed a call.

use serde::{Deserialize, Serialize};

/// A stable code for a refusal, the same in process and across the
/// network (`code` of the control API's error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The SFU could not open a media socket.
    BindFailed,
    /// The room's rules refused the change (privileged room, not a member…).
    RoomRefused,
    UnknownRoom,
    /// The room was open already (harmless when opening it again).
    RoomExists,
    BadOffer,
    EngineFailed,
    /// The SFU's worker did not answer in time.
    Unavailable,
    TokenRefused,
    /// The token is for another kind of session than the room.
    SessionMismatch,
    /// The media plane has no recorder to send a recording to.
    NoRecorder,
    /// The recorder refused or failed the recording.
    RecorderFailed,
    /// The media server could not be reached.
    Unreachable,
    /// The media server answered something unexpected.
    BadReply,
    /// The control API's bearer secret was missing or wrong.
    Unauthorized,
    /// The control API could not read the request.
    BadRequest,
    /// No such control API endpoint.
    NotFound,
}

impl FailureCode {
    /// The code's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BindFailed => "bind_failed",
            Self::RoomRefused => "room_refused",
            Self::UnknownRoom => "unknown_room",
            Self::RoomExists => "room_exists",
            Self::BadOffer => "bad_offer",
            Self::EngineFailed => "engine_failed",
            Self::Unavailable => "unavailable",
            Self::TokenRefused => "token_refused",
            Self::SessionMismatch => "session_mismatch",
            Self::NoRecorder => "no_recorder",
            Self::RecorderFailed => "recorder_failed",
            Self::Unreachable => "unreachable",
            Self::BadReply => "bad_reply",
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
        }
    }

    /// The HTTP status the control API answers a refusal with.
    pub fn status(self) -> u16 {
        match self {
            Self::UnknownRoom | Self::NotFound => 404,
            Self::RoomExists => 409,
            Self::BadOffer | Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::RoomRefused | Self::TokenRefused | Self::SessionMismatch => 403,
            Self::Unavailable | Self::NoRecorder | Self::Unreachable => 503,
            Self::RecorderFailed | Self::BadReply => 502,
            Self::BindFailed | Self::EngineFailed => 500,
        }
    }
}

/// A refused or failed media call: its code and a message for the
/// participant or the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct MediaFailure {
    pub code: FailureCode,
    pub message: String,
}

impl MediaFailure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The room was open already (harmless when opening it again).
    pub fn is_room_exists(&self) -> bool {
        self.code == FailureCode::RoomExists
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_their_wire_names() {
        for code in [
            FailureCode::BindFailed,
            FailureCode::RoomRefused,
            FailureCode::UnknownRoom,
            FailureCode::RoomExists,
            FailureCode::BadOffer,
            FailureCode::EngineFailed,
            FailureCode::Unavailable,
            FailureCode::TokenRefused,
            FailureCode::SessionMismatch,
            FailureCode::NoRecorder,
            FailureCode::RecorderFailed,
            FailureCode::Unreachable,
            FailureCode::BadReply,
            FailureCode::Unauthorized,
            FailureCode::BadRequest,
            FailureCode::NotFound,
        ] {
            let wire = serde_json::to_string(&code).expect("json");
            assert_eq!(wire, format!("\"{}\"", code.as_str()));
            assert!((400..600).contains(&code.status()));
        }
        let f = MediaFailure::new(FailureCode::RoomExists, "room 3 is already open");
        assert!(f.is_room_exists());
        assert_eq!(f.to_string(), "room 3 is already open");
    }
}
