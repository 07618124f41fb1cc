//! Messages a participant's client sends to the signaling service.

use serde::{Deserialize, Serialize};

/// A kind of media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// One message from client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a new socket: the join token issued by the API.
    Join { version: u32, token: String },
    /// Judge or clerk admits a participant waiting in the lobby.
    Admit { participant_id: i64 },
    /// Judge or clerk removes a participant; the reason is shown to them.
    Remove { participant_id: i64, reason: String },
    /// Judge or clerk of a hearing stops (or restores) forwarding of one
    /// kind of a participant's media to everyone.
    Mute {
        participant_id: i64,
        media: MediaKind,
        muted: bool,
    },
    /// Judge extends a hearing by this many minutes (1..=240).
    Extend { minutes: u32 },
    /// Judge (hearing) or officer (visit) ends the session for everyone.
    End { reason: String },
    /// The participant leaves; the session goes on for the others.
    Leave,
    /// An SDP offer for this participant's media, sent once admitted. It
    /// carries the participant's own audio and video (unless receive-only)
    /// and `receive_slots` (from `welcome`) audio/video pairs for others.
    Offer { sdp: String },
    /// Keep-alive; answered by `pong`.
    Ping,
}
