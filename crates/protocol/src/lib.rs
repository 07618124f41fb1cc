//! Parley's live-session protocol: the JSON messages exchanged over the
//! per-participant WebSocket `/v1/sessions/{id}/ws`.
//!
//! Every message is one JSON object with a `type` tag. The first message a
//! client sends is [`ClientMessage::Join`], which carries the protocol version
//! it speaks ([`PROTOCOL_VERSION`]); the server answers [`ServerMessage::Welcome`]
//! or [`ServerMessage::Error`] and closes. Unknown fields and unknown message
//! types are refused with an error naming what was wrong; they change nothing.
//!
//! `docs/protocol.md` documents the flow; this crate is its source of truth.

mod client;
mod frame;
mod server;

pub use client::{ClientMessage, MediaKind};
pub use frame::{
    ClientFrame, CloseCode, FrameError, MAX_REQUEST_ID_BYTES, RequestId, decode_frame, encode_reply,
};
pub use server::{
    EndReason, ErrorCode, LiveParticipant, ParticipantState, PeerKey, RecordingNotice,
    ServerMessage,
};

/// The protocol version this crate speaks. A client that joins with another
/// version is refused with [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame a server accepts from a client, in bytes (an SDP
/// offer with many receive slots runs to tens of KiB).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// Messages a client may send on one socket at once; after those, at most
/// [`MESSAGES_PER_SECOND`]. A person's clicks and a client's offers stay
/// far below; a socket that goes past is closed ([`CloseCode::TooFast`]).
pub const MESSAGE_BURST: u32 = 60;
/// Messages a second a client may send on one socket once its
/// [`MESSAGE_BURST`] is spent.
pub const MESSAGES_PER_SECOND: u32 = 10;

/// Why a client message could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message is {0} bytes; the limit is {MAX_CLIENT_MESSAGE_BYTES} bytes")]
    TooLarge(usize),
    #[error("message is not a valid protocol message: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("{0}")]
    BadId(String),
}

/// Parses one client text frame, refusing oversized or malformed input;
/// the request id, if any, is dropped (see [`decode_frame`]).
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    decode_frame(text).map(|f| f.message).map_err(|e| e.error)
}

/// Serializes a server message to its JSON text frame.
pub fn encode_server(message: &ServerMessage) -> String {
    // Serializing these plain data types cannot fail: no maps with non-string
    // keys, no custom serializers that error.
    serde_json::to_string(message).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","code":"internal","message":"encoding failed: {e}"}}"#)
    })
}

#[cfg(test)]
mod tests;
