//! Request ids and close codes: how a client matches replies to its
//! requests, and why the server closed a socket.

use crate::{ClientMessage, DecodeError, EndReason, ErrorCode, MAX_CLIENT_MESSAGE_BYTES};
use serde::{Deserialize, Serialize};

/// Longest text request id, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 64;

/// A client's label for one request: any message may carry `"id"`, a
/// non-negative integer or a string of 1 to [`MAX_REQUEST_ID_BYTES`] bytes.
/// The server's reply to that request (`welcome`, `answer`, `pong`, or an
/// `error`) carries the same `id` back, so a client can match replies that
/// arrive out of order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(u64),
    Text(String),
}

impl RequestId {
    fn from_json(value: serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(RequestId::Number)
                .ok_or_else(|| format!("`id` {n} is not a non-negative integer")),
            serde_json::Value::String(s) if !s.is_empty() && s.len() <= MAX_REQUEST_ID_BYTES => {
                Ok(RequestId::Text(s))
            }
            serde_json::Value::String(s) => Err(format!(
                "`id` is {} bytes; give 1 to {MAX_REQUEST_ID_BYTES}",
                s.len()
            )),
            other => Err(format!(
                "`id` must be an integer or a string, not {}",
                json_kind(&other)
            )),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// One client text frame: the message and the request id it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub id: Option<RequestId>,
    pub message: ClientMessage,
}

/// A frame that could not be understood, with its request id if that much
/// could be read (the `error` reply echoes it).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct FrameError {
    pub id: Option<RequestId>,
    pub error: DecodeError,
}

/// Parses one client text frame, refusing oversized or malformed input.
pub fn decode_frame(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_CLIENT_MESSAGE_BYTES {
        return Err(FrameError {
            id: None,
            error: DecodeError::TooLarge(text.len()),
        });
    }
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| FrameError {
        id: None,
        error: DecodeError::Invalid(e),
    })?;
    let id = match value.as_object_mut().and_then(|o| o.remove("id")) {
        None => None,
        Some(raw) => Some(RequestId::from_json(raw).map_err(|detail| FrameError {
            id: None,
            error: DecodeError::BadId(detail),
        })?),
    };
    let message = serde_json::from_value(value).map_err(|e| FrameError {
        id: id.clone(),
        error: DecodeError::Invalid(e),
    })?;
    Ok(ClientFrame { id, message })
}

/// Serializes a server message, with `id` when it replies to a request
/// that carried one.
pub fn encode_reply(message: &crate::ServerMessage, id: Option<&RequestId>) -> String {
    let text = crate::encode_server(message);
    let Some(id) = id else {
        return text;
    };
    // Every server message is a JSON object: `id` goes last, the message's
    // own fields keep their order.
    match (text.strip_suffix('}'), serde_json::to_string(id)) {
        (Some(body), Ok(id)) if body.len() > 1 => format!("{body},\"id\":{id}}}"),
        _ => text,
    }
}

/// Why the server closed a socket: the WebSocket close frame's status code
/// (RFC 6455 §7.4; 4000–4999 are the application's) and reason text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// The client sent `leave`.
    Left,
    /// The join was refused with this error (the `error` frame before the
    /// close says why).
    JoinRefused(ErrorCode),
    /// The same participant joined from another window or device.
    Replaced,
    /// The session, or this participant's part in it, is over (the `ended`
    /// frame before the close says why).
    Ended(EndReason),
    /// The client did not read its messages fast enough; its queue filled.
    TooSlow,
    /// The client sent messages faster than a socket may
    /// ([`crate::MESSAGE_BURST`] at once, [`crate::MESSAGES_PER_SECOND`]
    /// after).
    TooFast,
}

impl CloseCode {
    /// The status code in the close frame.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Left => 1000,
            CloseCode::JoinRefused(code) => match code {
                ErrorCode::BadMessage => 4000,
                ErrorCode::NotJoined => 4001,
                ErrorCode::UnsupportedVersion => 4002,
                ErrorCode::InvalidToken => 4003,
                ErrorCode::WrongSession => 4004,
                ErrorCode::Forbidden => 4005,
                ErrorCode::SessionOver => 4006,
                ErrorCode::Internal => 4007,
                ErrorCode::AlreadyJoined
                | ErrorCode::UnknownParticipant
                | ErrorCode::MediaRefused => 4009,
            },
            CloseCode::Replaced => 4008,
            CloseCode::Ended(reason) => match reason {
                EndReason::ScheduledEnd => 4010,
                EndReason::EndedByStaff => 4011,
                EndReason::Removed => 4012,
                EndReason::Cancelled => 4013,
            },
            CloseCode::TooSlow => 4020,
            CloseCode::TooFast => 4021,
        }
    }

    /// The reason text in the close frame (ASCII, well under RFC 6455's
    /// 123 bytes).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Left => "left",
            CloseCode::JoinRefused(code) => match code {
                ErrorCode::BadMessage => "bad_message",
                ErrorCode::NotJoined => "not_joined",
                ErrorCode::UnsupportedVersion => "unsupported_version",
                ErrorCode::InvalidToken => "invalid_token",
                ErrorCode::WrongSession => "wrong_session",
                ErrorCode::Forbidden => "forbidden",
                ErrorCode::SessionOver => "session_over",
                ErrorCode::Internal => "internal",
                ErrorCode::AlreadyJoined
                | ErrorCode::UnknownParticipant
                | ErrorCode::MediaRefused => "join_refused",
            },
            CloseCode::Replaced => "replaced",
            CloseCode::Ended(reason) => match reason {
                EndReason::ScheduledEnd => "scheduled_end",
                EndReason::EndedByStaff => "ended_by_staff",
                EndReason::Removed => "removed",
                EndReason::Cancelled => "cancelled",
            },
            CloseCode::TooSlow => "too_slow",
            CloseCode::TooFast => "too_fast",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_off_the_message_and_back_on_the_reply() {
        let f = decode_frame(r#"{"type":"ping","id":"a1"}"#).unwrap();
        assert_eq!(f.id, Some(RequestId::Text("a1".into())));
        assert_eq!(f.message, ClientMessage::Ping);
        let f = decode_frame(r#"{"id":7,"type":"ping"}"#).unwrap();
        assert_eq!(f.id, Some(RequestId::Number(7)));
        let f = decode_frame(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(f.id, None);
        assert_eq!(
            encode_reply(&crate::ServerMessage::Pong, Some(&RequestId::Number(7))),
            r#"{"type":"pong","id":7}"#
        );
        assert_eq!(
            encode_reply(&crate::ServerMessage::Pong, None),
            r#"{"type":"pong"}"#
        );
    }

    #[test]
    fn bad_ids_are_refused_and_bad_messages_keep_their_id() {
        for bad in [
            r#"{"type":"ping","id":-1}"#,
            r#"{"type":"ping","id":1.5}"#,
            r#"{"type":"ping","id":""}"#,
            r#"{"type":"ping","id":[1]}"#,
            r#"{"type":"ping","id":null}"#,
        ] {
            let e = decode_frame(bad).unwrap_err();
            assert!(matches!(e.error, DecodeError::BadId(_)), "{bad}: {e}");
        }
        let long = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(65));
        assert!(matches!(
            decode_frame(&long).unwrap_err().error,
            DecodeError::BadId(_)
        ));
        let e = decode_frame(r#"{"type":"admit","id":"r9","participant_id":"x"}"#).unwrap_err();
        assert_eq!(e.id, Some(RequestId::Text("r9".into())));
    }

    #[test]
    fn close_codes_are_distinct_and_in_the_application_range() {
        let all = [
            CloseCode::JoinRefused(ErrorCode::BadMessage),
            CloseCode::JoinRefused(ErrorCode::NotJoined),
            CloseCode::JoinRefused(ErrorCode::UnsupportedVersion),
            CloseCode::JoinRefused(ErrorCode::InvalidToken),
            CloseCode::JoinRefused(ErrorCode::WrongSession),
            CloseCode::JoinRefused(ErrorCode::Forbidden),
            CloseCode::JoinRefused(ErrorCode::SessionOver),
            CloseCode::JoinRefused(ErrorCode::Internal),
            CloseCode::Replaced,
            CloseCode::Ended(EndReason::ScheduledEnd),
            CloseCode::Ended(EndReason::EndedByStaff),
            CloseCode::Ended(EndReason::Removed),
            CloseCode::Ended(EndReason::Cancelled),
            CloseCode::TooSlow,
            CloseCode::TooFast,
        ];
        let codes: std::collections::BTreeSet<u16> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| (4000..5000).contains(c)));
        assert!(
            all.iter()
                .all(|c| !c.reason().is_empty() && c.reason().len() < 123)
        );
        assert_eq!(CloseCode::Left.code(), 1000);
    }
}
