//! The media plane as signaling calls it.

use crate::downlink::Downlink;
use crate::event::MediaEvent;
use crate::failure::MediaFailure;
use crate::recording::RecordingOrder;
use crate::room::{MediaKind, MemberId, RoomId, RoomPolicy};
use crate::standing::{HearingChange, JoinRequest};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The wall clock join tokens are checked against.
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A media server: the SFU in this process, or one running apart reached
/// over its control API. Both take the same calls and refuse with the same
/// [`crate::FailureCode`]s; the SFU checks every join token itself either
/// way. Calls answer asynchronously and never block the caller's thread.
#[async_trait::async_trait]
pub trait MediaPlane: Send + Sync {
    /// Opens a room with its policy; [`crate::FailureCode::RoomExists`] if
    /// it is open already.
    async fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), MediaFailure>;

    /// Hands the SFU a participant's offer and token; returns the answer SDP.
    async fn join(&self, request: JoinRequest) -> Result<String, MediaFailure>;

    /// Stops forwarding to and from a member.
    async fn remove(&self, room: RoomId, member: MemberId) -> Result<(), MediaFailure>;

    /// A court's mute (or unmute) of one kind of a member's media.
    async fn set_muted(
        &self,
        room: RoomId,
        member: MemberId,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), MediaFailure>;

    /// Consultations, closing to observers, witness protection.
    async fn change_hearing(&self, room: RoomId, change: HearingChange)
    -> Result<(), MediaFailure>;

    /// Opens the recorder's stream for the room, plays the spoken notice,
    /// then records. The room must be open.
    async fn start_recording(&self, order: RecordingOrder) -> Result<(), MediaFailure>;

    /// Stops recording the room and ends the recording lawfully (`reason`
    /// goes into its manifest), waiting for the last segment. A room not
    /// being recorded is no error.
    async fn stop_recording(&self, room: RoomId, reason: &str) -> Result<(), MediaFailure>;

    /// Each member's downlink in the room.
    async fn downlinks(&self, room: RoomId) -> Result<Vec<Downlink>, MediaFailure>;

    /// Closes the room: every peer connection of it ends (a recording still
    /// running is ended first).
    async fn close_room(&self, room: RoomId) -> Result<(), MediaFailure>;

    /// The media plane's events, for as long as it runs. The first call
    /// gets them; later calls get `None`.
    fn events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<MediaEvent>>;

    /// The SFU's series for the caller's Prometheus registry, collected at
    /// each scrape (`None` for an SFU running apart, which serves its own
    /// `/metrics`).
    fn collector(&self) -> Option<Box<dyn prometheus::core::Collector>>;

    /// Where the media flows, for the operator: the UDP addresses of the
    /// SFU in this process, or the control URL of one running apart.
    fn describe(&self) -> String;
}

/// What signaling hands the media plane it starts: the join-token key's
/// checker, the secret of the SFU control API, and the wall clock.
#[derive(Clone)]
pub struct MediaContext {
    pub tokens: parley_grants::JoinTokens,
    /// Bearer secret of a remote SFU's control API
    /// ([`parley_grants::control_secret`] of the join-token key).
    pub control_secret: String,
    pub clock: WallClock,
}

/// Starts a media plane once signaling has its keys and clock. The binary
/// that composes the services provides it; signaling never names an SFU.
pub type LaunchMedia =
    Arc<dyn Fn(MediaContext) -> Result<Arc<dyn MediaPlane>, String> + Send + Sync>;
