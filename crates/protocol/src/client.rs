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
    /// A line of captions typed by a judge, clerk or interpreter; relayed
    /// to every admitted participant as `caption`. Never stored.
    Caption { text: String },
    /// Judge, clerk, or defence counsel among them: these admitted
    /// participants (a defendant, their counsel, perhaps an interpreter)
    /// consult privately; their media goes only to each other.
    Consult { participant_ids: Vec<i64> },
    /// A member of the consultation (returning on request) or the judge or
    /// clerk (recalling them) ends it: its members return to the hearing.
    EndConsultation { consultation_id: u32 },
    /// Judge or clerk opens (`true`) or closes the hearing to observers.
    Observers { admitted: bool },
    /// Judge protects a witness: their video reaches no observer (nor the
    /// defendant, if asked) and `pseudonym` replaces their name for everyone
    /// but the court.
    Protect {
        participant_id: i64,
        pseudonym: String,
        hide_from_defendant: bool,
    },
    /// End-to-end encryption (once `e2ee` says it is on for this
    /// participant): this client's ECDH P-256 public key, base64url (no
    /// padding) of its 65-byte uncompressed point. The server passes it to
    /// the others the media is encrypted for, in `e2ee`.
    E2eeKey { public_key: String },
    /// This client's current SFrame sender key, wrapped for participant
    /// `to` under the key agreed from their two public keys: base64url,
    /// opaque to the server, which passes it to `to` alone as
    /// `e2ee_sender_key`. docs/security.md gives the construction.
    E2eeSenderKey { to: i64, wrapped: String },
    /// Keep-alive; answered by `pong`.
    Ping,
}
