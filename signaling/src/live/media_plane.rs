//! The media server as the live sessions see it: the SFU in this process,
//! or an SFU running as its own process reached over its control API
//! (`parley_sfu::control`). Both take the same calls and refuse with the
//! same codes; the SFU checks every join token itself either way.

use super::LiveHub;
use parley_sfu::control::{ControlError, RemoteSfu};
use parley_sfu::engine::{HearingChange, JoinRequest, RoomId, Sfu, SfuError, SfuEvent};
use parley_sfu::room::{MediaKind, RoomPolicy};
use std::sync::Arc;
use std::time::Duration;

/// Pause before polling a remote SFU's events again after a failure.
const EVENT_RETRY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub enum MediaPlane {
    InProcess(Arc<Sfu>),
    Remote(RemoteSfu),
}

/// Why a media call failed: the SFU's refusal code when it refused, and a
/// message for the participant or the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaFailure {
    pub code: Option<String>,
    pub message: String,
}

impl From<SfuError> for MediaFailure {
    fn from(e: SfuError) -> Self {
        Self {
            code: Some(e.code().to_string()),
            message: e.to_string(),
        }
    }
}

impl From<ControlError> for MediaFailure {
    fn from(e: ControlError) -> Self {
        Self {
            code: e.code().map(str::to_string),
            message: match &e {
                ControlError::Refused { message, .. } => message.clone(),
                _ => e.to_string(),
            },
        }
    }
}

impl MediaFailure {
    /// The room was open already (harmless when opening it again).
    pub fn is_room_exists(&self) -> bool {
        self.code.as_deref() == Some("room_exists")
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SfuError> + Send + 'static,
) -> Result<T, MediaFailure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(MediaFailure::from),
        Err(e) => Err(MediaFailure {
            code: None,
            message: format!("media server task failed: {e}"),
        }),
    }
}

impl MediaPlane {
    pub async fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.open_room(room, policy)).await
            }
            Self::Remote(r) => Ok(r.open_room(room, policy).await?),
        }
    }

    /// Hands the SFU a participant's offer and token; returns the answer SDP.
    pub async fn join(&self, request: JoinRequest) -> Result<String, MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.join(request)).await.map(|a| a.sdp)
            }
            Self::Remote(r) => Ok(r
                .join(
                    request.room,
                    request.token,
                    request.offer,
                    request.receive_slots,
                    parley_sfu::control::Standing {
                        muted: request.muted,
                        consultation: request.consultation,
                        protected_from: request.protected_from,
                    },
                )
                .await?
                .sdp),
        }
    }

    pub async fn remove(&self, room: RoomId, member: i64) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.remove(room, member)).await
            }
            Self::Remote(r) => Ok(r.remove(room, member).await?),
        }
    }

    pub async fn set_muted(
        &self,
        room: RoomId,
        member: i64,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.set_muted(room, member, media, muted)).await
            }
            Self::Remote(r) => Ok(r.set_muted(room, member, media, muted).await?),
        }
    }

    pub async fn change_hearing(
        &self,
        room: RoomId,
        change: HearingChange,
    ) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.change_hearing(room, change)).await
            }
            Self::Remote(r) => Ok(r.change_hearing(room, &change).await?),
        }
    }

    /// Plays the spoken `notice`, then sends the room's media to the
    /// recorder through `tap` (the SFU in this process only).
    pub async fn start_recording(
        &self,
        room: RoomId,
        tap: super::recording::RoomRecording,
        notice: Vec<bytes::Bytes>,
    ) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.start_recording_after(room, Box::new(tap), notice)).await
            }
            Self::Remote(r) => Err(MediaFailure {
                code: Some("not_supported".into()),
                message: format!("the SFU at {} runs apart and cannot record yet", r.url()),
            }),
        }
    }

    pub async fn stop_recording(&self, room: RoomId) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.stop_recording(room)).await
            }
            Self::Remote(_) => Ok(()),
        }
    }

    /// Each member's downlink in `room`, as the media server sees it.
    pub async fn downlinks(
        &self,
        room: RoomId,
    ) -> Result<Vec<parley_sfu::control::DownlinkBody>, MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                let reports = blocking(move || sfu.downlinks(room)).await?;
                Ok(reports
                    .iter()
                    .map(parley_sfu::control::DownlinkBody::from)
                    .collect())
            }
            Self::Remote(r) => Ok(r.downlinks(room).await?),
        }
    }

    pub async fn close_room(&self, room: RoomId) -> Result<(), MediaFailure> {
        match self {
            Self::InProcess(sfu) => {
                let sfu = sfu.clone();
                blocking(move || sfu.close_room(room)).await
            }
            Self::Remote(r) => Ok(r.close_room(room).await?),
        }
    }

    /// Passes the media server's events (active speaker, lost media) to the
    /// live sessions for as long as the process runs.
    pub fn follow_events(&self, live: LiveHub) {
        match self {
            Self::InProcess(sfu) => {
                if let Some(events) = sfu.take_events() {
                    follow_in_process(events, live);
                }
            }
            Self::Remote(r) => {
                tokio::spawn(follow_remote(r.clone(), live));
            }
        }
    }
}

async fn deliver(live: &LiveHub, event: SfuEvent) {
    match event {
        SfuEvent::ActiveSpeaker { room, member } => live.active_speaker(room, member).await,
        SfuEvent::MediaLost { room, member } => live.media_lost(room, member).await,
        SfuEvent::PublishLayers {
            room,
            member,
            layers,
        } => {
            let rids = layers.iter().map(|l| l.rid().to_string()).collect();
            live.publish_layers(room, member, rids).await
        }
        SfuEvent::VideoPaused {
            room,
            member,
            source,
            paused,
        } => live.video_paused(room, member, source, paused).await,
        SfuEvent::ConnectionStrength { room, member, weak } => {
            live.connection_strength(room, member, weak).await
        }
    }
}

/// A thread blocks on the SFU's channel and hands each event to a task on
/// the runtime. Both end when the SFU stops.
fn follow_in_process(events: std::sync::mpsc::Receiver<SfuEvent>, live: LiveHub) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("sfu-events".into())
        .spawn(move || {
            while let Ok(event) = events.recv() {
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the media event thread; no active-speaker events");
        return;
    }
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            deliver(&live, event).await;
        }
    });
}

/// Long-polls a remote SFU's events; after a failure, waits a second and
/// picks up where it left off (events the SFU forgot meanwhile are logged).
async fn follow_remote(sfu: RemoteSfu, live: LiveHub) {
    let mut after: Option<u64> = None;
    loop {
        match sfu.events(after).await {
            Ok(reply) => {
                if reply.missed > 0 {
                    tracing::warn!(
                        missed = reply.missed,
                        sfu = sfu.url(),
                        "media events were lost while signaling was away"
                    );
                }
                after = Some(reply.next);
                for event in reply.events {
                    deliver(&live, event.into()).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the media server's events; retrying");
                tokio::time::sleep(EVENT_RETRY).await;
            }
        }
    }
}
