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
//! | `POST /v1/rooms/{room}/hearing` `{change: …}` | consultations, closing to observers, witness protection ([`parley_control::HearingChange`]) |
//! | `PUT /v1/rooms/{room}/recording` ([`parley_control::RecordingOrder`]) | plays the notice, then records the room |
//! | `DELETE /v1/rooms/{room}/recording` `{reason}` | stops recording and ends the recording |
//! | `GET /v1/rooms/{room}/downlinks` | each member's downlink ([`parley_control::Downlink`]) |
//! | `DELETE /v1/rooms/{room}` | closes the room |
//! | `GET /v1/events?after=N` | events after sequence `N`, waiting up to 20 s for one; without `after`, the current position at once; with the process's `boot` id |
//! | `GET /healthz`, `GET /metrics` | liveness, Prometheus text (no secret) |
//!
//! A refusal is a [`parley_control::MediaFailure`], `{code, message}`, with
//! the HTTP status of its code. The SFU decides alone what a token allows:
//! the API only relays what [`crate::plane::InProcessPlane`] takes.

pub mod client;
mod event_log;
mod plane_watch;
pub mod server;

pub use client::RemoteSfu;
pub use event_log::{EventLog, Sequenced};
pub use plane_watch::{PlaneWatch, Poll, Verdict};

use crate::engine::{DownlinkReport, SfuError};
use crate::room::{MediaKind, MemberKind};
use parley_control::{Downlink, FailureCode, MediaEvent, MediaFailure, MemberId, Muted, Standing};
use serde::{Deserialize, Serialize};

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
    pub protected_from: Option<Vec<MemberId>>,
}

impl JoinBody {
    pub fn new(token: String, offer: String, receive_slots: usize, standing: Standing) -> Self {
        Self {
            token,
            offer,
            receive_slots,
            muted_audio: standing.muted.audio,
            muted_video: standing.muted.video,
            consultation: standing.consultation,
            protected_from: standing.protected_from,
        }
    }

    /// The court's standing of the member, as sent.
    pub fn standing(&self) -> Standing {
        Standing {
            muted: Muted {
                audio: self.muted_audio,
                video: self.muted_video,
            },
            consultation: self.consultation,
            protected_from: self.protected_from.clone(),
        }
    }
}

/// Body of `PUT /v1/rooms/{room}/members/{member}/mute`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    pub media: MediaKind,
    pub muted: bool,
}

/// Body of `DELETE /v1/rooms/{room}/recording`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StopRecordingBody {
    /// Why the recording ends; written into its manifest.
    pub reason: String,
}

/// Answer to a join.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinReply {
    pub member: MemberId,
    /// `participant`, `observer` or `monitor`.
    pub kind: String,
    pub sdp: String,
}

impl From<&DownlinkReport> for Downlink {
    fn from(r: &DownlinkReport) -> Self {
        Self {
            member: r.member,
            estimate_bps: r.estimate_bps,
            source: r.source,
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
    pub events: Vec<MediaEvent>,
    /// The sequence number to ask after next time.
    pub next: u64,
    /// Events between the asked number and the first returned were
    /// forgotten (the caller was away too long).
    pub missed: u64,
    /// This SFU process's boot id (random, new at every start): a caller
    /// that sees it change knows the SFU restarted and holds no room.
    pub boot: String,
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
    /// A stable code for the refusal, the same in process and across the
    /// network.
    pub fn code(&self) -> FailureCode {
        match self {
            Self::Bind { .. } => FailureCode::BindFailed,
            Self::Room(_) => FailureCode::RoomRefused,
            Self::UnknownRoom(_) => FailureCode::UnknownRoom,
            Self::RoomExists(_) => FailureCode::RoomExists,
            Self::BadOffer(_) => FailureCode::BadOffer,
            Self::Engine(_) => FailureCode::EngineFailed,
            Self::Unavailable => FailureCode::Unavailable,
            Self::Token(_) => FailureCode::TokenRefused,
            Self::SessionMismatch { .. } => FailureCode::SessionMismatch,
        }
    }
}

impl From<SfuError> for MediaFailure {
    fn from(e: SfuError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}
