//! Messages the signaling service sends to a participant's client.

use chrono::{DateTime, Utc};
use parley_policy::{E2eeMode, Role, SessionKind};
use serde::{Deserialize, Serialize};

/// Where a participant stands in a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantState {
    /// Connected but not yet let in: before a visit starts, or until a judge
    /// or clerk admits them to a hearing. Receives no media.
    Lobby,
    /// In the session.
    Admitted,
}

/// A participant as others see them. Hidden monitors are never listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveParticipant {
    pub participant_id: i64,
    pub name: String,
    pub role: Role,
    pub state: ParticipantState,
    /// The court stopped forwarding this participant's audio.
    #[serde(default)]
    pub muted_audio: bool,
    /// The court stopped forwarding this participant's video.
    #[serde(default)]
    pub muted_video: bool,
    /// The consultation this participant is in (out of the hearing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consultation_id: Option<u32>,
    /// Under witness protection (shown to the court only; others see the
    /// pseudonym as `name`).
    #[serde(default)]
    pub protected: bool,
    /// Their connection is weak: the SFU paused video to them, or their
    /// link carries less than a small picture and its sound.
    #[serde(default)]
    pub weak_connection: bool,
}

/// What participants are told about recording and monitoring before any of
/// their media could reach a recorder (invariant 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingNotice {
    pub recorded: bool,
    pub monitored: bool,
    /// `(language, text)` in the jurisdiction's language order.
    pub announcements: Vec<(String, String)>,
    /// Plain-language explanation with the rule ids that produced it.
    pub why: String,
}

/// A participant's public key for end-to-end encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    pub participant_id: i64,
    /// Base64url of an uncompressed P-256 point, as the participant sent it.
    pub public_key: String,
}

/// Why a session, or one participant's part in it, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The scheduled end was reached.
    ScheduledEnd,
    /// A judge, officer or administrator ended it; see the message.
    EndedByStaff,
    /// This participant was removed; see the message.
    Removed,
    /// The booking was cancelled.
    Cancelled,
}

/// Machine-readable error codes; each comes with a human message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    UnsupportedVersion,
    BadMessage,
    NotJoined,
    AlreadyJoined,
    InvalidToken,
    WrongSession,
    Forbidden,
    UnknownParticipant,
    SessionOver,
    /// The media server refused the offer or is unavailable; see the message.
    MediaRefused,
    Internal,
}

/// One message from server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to a valid `join`.
    Welcome {
        version: u32,
        session_id: i64,
        kind: SessionKind,
        participant_id: i64,
        role: Role,
        state: ParticipantState,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        notice: RecordingNotice,
        /// How many other publishers this participant receives: the number
        /// of receive slots (audio/video transceiver pairs) its offer needs.
        receive_slots: u32,
    },
    /// The SFU's SDP answer to `offer`.
    Answer {
        sdp: String,
    },
    /// The participant now speaking (loudest for at least 1.5 s), from the
    /// audio levels their client sends.
    ActiveSpeaker {
        participant_id: i64,
    },
    /// Send only these simulcast layers (rids `q`, `h`, `f`, low to high);
    /// pause the others until a later `publish_layers` names them again.
    /// Nobody receives the paused ones, so sending them wastes the uplink.
    PublishLayers {
        rids: Vec<String>,
    },
    /// The video of `participant_id` is paused for this participant
    /// (`paused: true`) because this participant's connection cannot carry
    /// it with the audio, or resumed because it can again. The audio goes on
    /// throughout; nothing needs to be sent back. `reason` is
    /// `weak_connection`.
    VideoPaused {
        participant_id: i64,
        paused: bool,
        reason: String,
    },
    /// This participant's media connection to the SFU failed or closed;
    /// send a new `offer` to restore it (the session goes on).
    MediaLost {
        message: String,
    },
    /// The session's recording broke off (`interrupted: true`; the media
    /// goes on unrecorded while the media server opens the recording
    /// again) or goes on again (`false`; the gap is kept in the
    /// recording's manifest). Sent to everyone admitted, who were told the
    /// session is recorded.
    Recording {
        interrupted: bool,
        message: String,
    },
    /// The visible participants and their states, sent on every change.
    Roster {
        participants: Vec<LiveParticipant>,
    },
    /// This participant has been let in.
    Admitted,
    /// The scheduled end moved: a judge extended the hearing, or (with
    /// `lost_seconds`) a visit's clock stopped while its media was lost
    /// (the jurisdiction's fair-use rule).
    Extended {
        ends_at: DateTime<Utc>,
        /// Seconds of lost media the visit was given back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lost_seconds: Option<u32>,
    },
    /// A visit's media was lost and is back; the jurisdiction credits the
    /// time lost (its fair-use rule): another visit of that length can be
    /// booked outside the weekly quota. The end does not move.
    TimeCredited {
        /// Seconds credited.
        seconds: u32,
    },
    /// Countdown warning before the scheduled end.
    Warning {
        minutes_left: u32,
        ends_at: DateTime<Utc>,
    },
    /// The session (or this participant's part in it) is over; the socket
    /// closes after this message.
    Ended {
        reason: EndReason,
        message: String,
    },
    /// A line of captions from a judge, clerk or interpreter, sent to every
    /// admitted participant (the author too).
    Caption {
        participant_id: i64,
        role: Role,
        text: String,
    },
    /// A consultation opened (`open`) or ended; sent to everyone, so the
    /// court sees who stepped out and the members know where they are.
    Consultation {
        consultation_id: u32,
        participant_ids: Vec<i64>,
        open: bool,
    },
    /// The court opened or closed the hearing to observers.
    Observers {
        admitted: bool,
    },
    /// End-to-end encryption of this participant's media, sent when it
    /// turns on (a legal visit or a consultation under an `[e2ee]` rule
    /// that is not `off`), whenever the people it covers or their keys
    /// change, and when it turns off (the consultation ended). `keys`:
    /// the others' public keys (send each an `e2ee_sender_key`);
    /// `without_key`: the others it covers who sent no key (yet). Under
    /// `offered` the clients encrypt only while `without_key` is empty.
    E2ee {
        mode: E2eeMode,
        keys: Vec<PeerKey>,
        without_key: Vec<i64>,
    },
    /// Participant `from`'s SFrame sender key, wrapped for this
    /// participant (see `e2ee_sender_key` from a client).
    E2eeSenderKey {
        from: i64,
        wrapped: String,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}
