//! The SFU's network control API, for an SFU that runs as its own process
//! (`parley sfu`) apart from signaling. HTTP/JSON under `/v1`, every call
//! with `Authorization: Bearer <secret>`, the secret derived from the
//! join-token key both sides hold ([`parley_grants::control_secret`]).
//!
//! | Call | Does |
//! |---|---|
//! | `PUT /v1/rooms/{room}` `{privileged, recorded, monitoring_allowed}` | opens a room |
//! | `POST /v1/rooms/{room}/joins` `{token, offer, receive_slots}` | verifies the token, answers the offer |
//! | `DELETE /v1/rooms/{room}/members/{member}` | stops a member's media |
//! | `PUT /v1/rooms/{room}/members/{member}/mute` `{media, muted}` | a court's mute |
//! | `POST /v1/rooms/{room}/hearing` `{change: …}` | consultations, closing to observers, witness protection ([`crate::engine::HearingChange`]) |
//! | `DELETE /v1/rooms/{room}` | closes the room |
//! | `GET /v1/events?after=N` | events after sequence `N`, waiting up to 20 s for one; without `after`, the current position at once |
//! | `GET /healthz`, `GET /metrics` | liveness, Prometheus text (no secret) |
//!
//! A refusal is `{code, message}` with the codes of [`SfuError::code`]. The
//! SFU decides alone what a token allows: the API only relays what the
//! in-process calls of [`crate::engine::Sfu`] take.

pub mod client;
mod event_log;
pub mod server;

pub use client::{ControlError, RemoteSfu, Standing};
pub use event_log::{EventLog, Sequenced};

use crate::engine::{SfuError, SfuEvent};
use crate::media::simulcast::LayerId;
use crate::room::{MemberKind, RoomPolicy};
use serde::{Deserialize, Serialize};

/// Body of `PUT /v1/rooms/{room}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoomPolicyBody {
    pub privileged: bool,
    pub recorded: bool,
    pub monitoring_allowed: bool,
}

impl From<RoomPolicy> for RoomPolicyBody {
    fn from(p: RoomPolicy) -> Self {
        Self {
            privileged: p.privileged,
            recorded: p.recorded,
            monitoring_allowed: p.monitoring_allowed,
        }
    }
}

impl From<RoomPolicyBody> for RoomPolicy {
    fn from(p: RoomPolicyBody) -> Self {
        Self {
            privileged: p.privileged,
            recorded: p.recorded,
            monitoring_allowed: p.monitoring_allowed,
        }
    }
}

/// Body of `POST /v1/rooms/{room}/joins`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub token: String,
    pub offer: String,
    pub receive_slots: usize,
    /// The court muted this member's audio (not forwarded from the start).
    #[serde(default)]
    pub muted_audio: bool,
    #[serde(default)]
    pub muted_video: bool,
    /// The consultation the member joins straight into.
    #[serde(default)]
    pub consultation: Option<u32>,
    /// Witness protection: video hidden from observers, monitors and these.
    #[serde(default)]
    pub protected_from: Option<Vec<i64>>,
}

/// Body of `PUT /v1/rooms/{room}/members/{member}/mute`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    /// `audio` or `video`.
    pub media: MediaName,
    pub muted: bool,
}

/// A kind of media on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MediaName {
    Audio,
    Video,
}

impl From<MediaName> for crate::room::MediaKind {
    fn from(m: MediaName) -> Self {
        match m {
            MediaName::Audio => Self::Audio,
            MediaName::Video => Self::Video,
        }
    }
}

impl From<crate::room::MediaKind> for MediaName {
    fn from(m: crate::room::MediaKind) -> Self {
        match m {
            crate::room::MediaKind::Audio => Self::Audio,
            crate::room::MediaKind::Video => Self::Video,
        }
    }
}

/// Answer to a join.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinReply {
    pub member: i64,
    /// `participant`, `observer` or `monitor`.
    pub kind: String,
    pub sdp: String,
}

/// A refusal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// One event on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    ActiveSpeaker {
        room: i64,
        member: i64,
    },
    MediaLost {
        room: i64,
        member: i64,
    },
    /// `rids`: the simulcast layers to send, low to high (`q`, `h`, `f`).
    PublishLayers {
        room: i64,
        member: i64,
        rids: Vec<String>,
    },
    /// `source`'s video to `member` paused (or resumed): `member`'s
    /// downlink cannot carry it with the audio.
    VideoPaused {
        room: i64,
        member: i64,
        source: i64,
        paused: bool,
    },
    /// `member`'s connection became weak, or good again.
    ConnectionStrength {
        room: i64,
        member: i64,
        weak: bool,
    },
}

impl From<&SfuEvent> for EventBody {
    fn from(e: &SfuEvent) -> Self {
        match *e {
            SfuEvent::ActiveSpeaker { room, member } => Self::ActiveSpeaker { room, member },
            SfuEvent::MediaLost { room, member } => Self::MediaLost { room, member },
            SfuEvent::PublishLayers {
                room,
                member,
                layers,
            } => Self::PublishLayers {
                room,
                member,
                rids: layers.iter().map(|l| l.rid().to_string()).collect(),
            },
            SfuEvent::VideoPaused {
                room,
                member,
                source,
                paused,
            } => Self::VideoPaused {
                room,
                member,
                source,
                paused,
            },
            SfuEvent::ConnectionStrength { room, member, weak } => {
                Self::ConnectionStrength { room, member, weak }
            }
        }
    }
}

impl From<EventBody> for SfuEvent {
    fn from(e: EventBody) -> Self {
        match e {
            EventBody::ActiveSpeaker { room, member } => Self::ActiveSpeaker { room, member },
            EventBody::MediaLost { room, member } => Self::MediaLost { room, member },
            EventBody::PublishLayers { room, member, rids } => Self::PublishLayers {
                room,
                member,
                layers: rids.iter().filter_map(|r| LayerId::from_rid(r)).collect(),
            },
            EventBody::VideoPaused {
                room,
                member,
                source,
                paused,
            } => Self::VideoPaused {
                room,
                member,
                source,
                paused,
            },
            EventBody::ConnectionStrength { room, member, weak } => {
                Self::ConnectionStrength { room, member, weak }
            }
        }
    }
}

/// One member's downlink on the wire (`GET /v1/rooms/{room}/downlinks`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DownlinkBody {
    pub member: i64,
    /// What its downlink is estimated to carry, bits per second.
    pub estimate_bps: u64,
    /// `transport_feedback`, `remb` or `assumed`.
    pub source: String,
    /// Transport-wide feedback packets read from it.
    pub feedback_reports: u64,
    /// The loss its feedback reports, in tenths of a per cent.
    pub loss_permille: Option<u16>,
    /// Members whose video is paused for it.
    pub paused: Vec<i64>,
    /// As a single-layer publisher, the receive limit last sent to it.
    pub publisher_limit_bps: Option<u64>,
    /// Its connection is shown as weak.
    pub weak: bool,
    /// What it sent the SFU over the last second (payload bits per second)
    /// and the share of that lost on the way (tenths of a per cent).
    #[serde(default)]
    pub uplink_bps: u64,
    #[serde(default)]
    pub uplink_loss_permille: u16,
}

impl From<&crate::engine::DownlinkReport> for DownlinkBody {
    fn from(r: &crate::engine::DownlinkReport) -> Self {
        use crate::engine::EstimateSource;
        Self {
            member: r.member,
            estimate_bps: r.estimate_bps,
            source: match r.source {
                EstimateSource::TransportFeedback => "transport_feedback",
                EstimateSource::Remb => "remb",
                EstimateSource::Assumed => "assumed",
            }
            .to_string(),
            feedback_reports: r.feedback.reports,
            loss_permille: r.loss_permille,
            paused: r.paused.clone(),
            publisher_limit_bps: r.publisher_limit_bps,
            weak: r.weak,
            uplink_bps: r.uplink_bps,
            uplink_loss_permille: r.uplink_loss_permille,
        }
    }
}

/// Answer to `GET /v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventsReply {
    /// Events after the asked sequence number, oldest first.
    pub events: Vec<EventBody>,
    /// The sequence number to ask after next time.
    pub next: u64,
    /// Events between the asked number and the first returned were
    /// forgotten (the caller was away too long).
    pub missed: u64,
}

/// The wire name of a member kind.
pub fn kind_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Participant => "participant",
        MemberKind::Observer => "observer",
        MemberKind::Monitor => "monitor",
        MemberKind::Recorder => "recorder",
    }
}

impl SfuError {
    /// A stable code for the refusal, for callers across the network.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind_failed",
            Self::Room(_) => "room_refused",
            Self::UnknownRoom(_) => "unknown_room",
            Self::RoomExists(_) => "room_exists",
            Self::BadOffer(_) => "bad_offer",
            Self::Engine(_) => "engine_failed",
            Self::Unavailable => "unavailable",
            Self::Token(_) => "token_refused",
            Self::SessionMismatch { .. } => "session_mismatch",
        }
    }

    /// The HTTP status the control API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownRoom(_) => 404,
            Self::RoomExists(_) => 409,
            Self::BadOffer(_) => 400,
            Self::Room(_) | Self::Token(_) | Self::SessionMismatch { .. } => 403,
            Self::Unavailable => 503,
            Self::Bind { .. } | Self::Engine(_) => 500,
        }
    }
}
