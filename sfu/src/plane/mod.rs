//! The SFU of this process as a [`MediaPlane`]: the calls signaling makes
//! (and the control API relays), answered without blocking the caller, and
//! recording, which belongs to the media plane: the plane holds the
//! recorder link, plays the notice and ends each recording.

pub mod keeper;
pub mod notice;
pub mod recording;

use crate::engine::coalescing::Coalescing;
use crate::engine::{JoinAnswer, Sfu, SfuConfig, SfuError};
use keeper::{Keeper, Recorded, Recordings};
use parley_control::{
    Downlink, FailureCode, HearingChange, JoinRequest, LaunchMedia, MediaContext, MediaEvent,
    MediaFailure, MediaKind, MediaPlane, MemberId, RecordingOrder, RoomId, RoomPolicy,
};
use parley_recorder_link::link::LinkError;
use recording::{RecorderAddress, RecorderConnection};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

/// Where the SFU of this process listens and how its workers run.
#[derive(Debug, Clone)]
pub struct InProcessSettings {
    /// First worker's UDP address; worker `i` uses `port + i` (0: any free
    /// port).
    pub listen: SocketAddr,
    /// Address put in ICE candidates when behind a 1:1 NAT.
    pub advertised_ip: Option<IpAddr>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Also accept ICE over TCP on each worker's port number.
    pub ice_tcp: bool,
    /// How long a busy worker gathers packets before its next turn.
    pub coalescing: Coalescing,
}

/// The plane a launcher started, for the binary that composes the services
/// (to name its addresses, or to give it the recorder once that runs).
pub type Launched = Arc<OnceLock<Arc<InProcessPlane>>>;

/// The SFU of this process, with the recorder link once one is given.
pub struct InProcessPlane {
    sfu: Arc<Sfu>,
    recorder: OnceLock<Arc<RecorderConnection>>,
    /// Rooms being recorded, with their recorder stream.
    recordings: Recordings,
}

impl InProcessPlane {
    pub fn new(sfu: Arc<Sfu>) -> Self {
        Self {
            sfu,
            recorder: OnceLock::new(),
            recordings: Recordings::default(),
        }
    }

    /// A launcher that starts the SFU in this process with signaling's
    /// join-token key and clock, and the slot where the started plane is
    /// found.
    pub fn launcher(settings: InProcessSettings) -> (LaunchMedia, Launched) {
        let launched: Launched = Arc::new(OnceLock::new());
        let slot = launched.clone();
        let launch: LaunchMedia = Arc::new(move |context: MediaContext| {
            let sfu = Sfu::start(&SfuConfig {
                advertised_ip: settings.advertised_ip,
                ice_tcp: settings.ice_tcp,
                coalescing: settings.coalescing,
                ..SfuConfig::new(
                    settings.listen,
                    settings.workers,
                    context.tokens,
                    context.clock,
                )
            })
            .map_err(|e| e.to_string())?;
            let plane = Arc::new(Self::new(Arc::new(sfu)));
            if slot.set(plane.clone()).is_err() {
                return Err("this launcher started its media server already".into());
            }
            Ok(plane as Arc<dyn MediaPlane>)
        });
        (launch, launched)
    }

    pub fn sfu(&self) -> &Arc<Sfu> {
        &self.sfu
    }

    /// Sessions whose policy records them are sent to this recorder from
    /// now on. False if a recorder was given already (the first stays).
    pub fn set_recorder(&self, address: RecorderAddress) -> bool {
        self.recorder
            .set(Arc::new(RecorderConnection::new(address)))
            .is_ok()
    }

    /// The SFU's series in Prometheus text (the node's `/metrics`).
    pub fn metrics_text(&self) -> String {
        crate::engine::prometheus::render(&self.sfu.stats())
    }

    /// Answers a participant's offer: the member id and kind the token
    /// gave them, and the answer SDP.
    pub async fn join_answer(&self, request: JoinRequest) -> Result<JoinAnswer, MediaFailure> {
        self.call(move |sfu| sfu.join(request)).await
    }

    /// Runs a control call of the SFU (it waits for a worker for at most
    /// its timeout) on tokio's blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Sfu) -> Result<T, SfuError> + Send + 'static,
    ) -> Result<T, MediaFailure> {
        let sfu = self.sfu.clone();
        match tokio::task::spawn_blocking(move || f(&sfu)).await {
            Ok(result) => result.map_err(MediaFailure::from),
            Err(e) => Err(MediaFailure::new(
                FailureCode::EngineFailed,
                format!("media server task failed: {e}"),
            )),
        }
    }

    fn recordings(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<RoomId, Recorded>> {
        keeper::locked(&self.recordings)
    }
}

#[async_trait::async_trait]
impl MediaPlane for InProcessPlane {
    async fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), MediaFailure> {
        self.call(move |sfu| sfu.open_room(room, policy)).await
    }

    async fn join(&self, request: JoinRequest) -> Result<String, MediaFailure> {
        Ok(self.join_answer(request).await?.sdp)
    }

    async fn remove(&self, room: RoomId, member: MemberId) -> Result<(), MediaFailure> {
        self.call(move |sfu| sfu.remove(room, member)).await
    }

    async fn set_muted(
        &self,
        room: RoomId,
        member: MemberId,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), MediaFailure> {
        self.call(move |sfu| sfu.set_muted(room, member, media, muted))
            .await
    }

    async fn change_hearing(
        &self,
        room: RoomId,
        change: HearingChange,
    ) -> Result<(), MediaFailure> {
        self.call(move |sfu| sfu.change_hearing(room, change)).await
    }

    async fn start_recording(&self, order: RecordingOrder) -> Result<(), MediaFailure> {
        let room = order.room;
        let Some(recorder) = self.recorder.get() else {
            return Err(MediaFailure::new(
                FailureCode::NoRecorder,
                "no recorder runs beside this media server; the session goes on unrecorded",
            ));
        };
        if self.recordings().contains_key(&room) {
            return Ok(());
        }
        let start = parley_recorder_link::protocol::Start {
            recording_id: order.recording_id(),
            session_id: room,
            session_kind: order.session_kind,
            jurisdiction: order.jurisdiction.clone(),
            tracks: recording::tracks(&order.publishers),
        };
        let notice = recording::announcement(
            recorder.address().announcements.as_deref(),
            &order.jurisdiction,
            &order.languages,
        );
        let keeper = Keeper {
            sfu: self.sfu.clone(),
            recorder: recorder.clone(),
            recordings: self.recordings.clone(),
        };
        let stream = match recorder.open(&start).await {
            Ok(stream) => stream,
            Err(e @ LinkError::Refused(_)) => {
                return Err(MediaFailure::new(
                    FailureCode::RecorderFailed,
                    format!("the recorder did not start recording room {room}: {e}"),
                ));
            }
            Err(e) => {
                // Unreachable for now: the recording starts when it answers.
                self.recordings().insert(room, Recorded::Reconnecting);
                tokio::spawn(keeper.start_later(room, start, notice, e.to_string()));
                return Ok(());
            }
        };
        let tap = stream.clone();
        match self
            .call(move |sfu| sfu.start_recording_after(room, Box::new(tap), notice))
            .await
        {
            Ok(()) => {
                let breakage = stream.breakage();
                self.recordings().insert(room, Recorded::Streaming(stream));
                tokio::spawn(keeper.keep(room, start, breakage));
                Ok(())
            }
            Err(e) => {
                if let Err(end) = stream.end("the media server refused to record").await {
                    tracing::warn!(room, error = %end, "the refused recording did not end cleanly");
                }
                Err(e)
            }
        }
    }

    async fn stop_recording(&self, room: RoomId, reason: &str) -> Result<(), MediaFailure> {
        let Some(Recorded::Streaming(stream)) = self.recordings().remove(&room) else {
            // Not recorded, or its stream broke off and the recorder is not
            // back: nothing to end.
            return Ok(());
        };
        if let Err(e) = self.call(move |sfu| sfu.stop_recording(room)).await {
            tracing::warn!(room, error = %e, "the SFU did not stop recording the room");
        }
        stream.end(reason).await.map_err(|e| {
            MediaFailure::new(
                FailureCode::RecorderFailed,
                format!("the recording of room {room} did not end cleanly (its finished segments stand): {e}"),
            )
        })
    }

    async fn downlinks(&self, room: RoomId) -> Result<Vec<Downlink>, MediaFailure> {
        let reports = self.call(move |sfu| sfu.downlinks(room)).await?;
        Ok(reports.iter().map(Downlink::from).collect())
    }

    async fn close_room(&self, room: RoomId) -> Result<(), MediaFailure> {
        if let Err(e) = self.stop_recording(room, "the room was closed").await {
            tracing::warn!(room, error = %e, "recording not ended cleanly at close");
        }
        self.call(move |sfu| sfu.close_room(room)).await
    }

    /// A thread blocks on the SFU's channel and passes each event on; it
    /// ends when the SFU stops or the receiver is dropped.
    fn events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<MediaEvent>> {
        let events = self.sfu.take_events()?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("sfu-events".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            });
        match spawned {
            Ok(_) => Some(rx),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the media event thread; no media events");
                None
            }
        }
    }

    fn collector(&self) -> Option<Box<dyn prometheus::core::Collector>> {
        Some(Box::new(crate::engine::prometheus::SfuCollector::new(
            self.sfu.clone(),
        )))
    }

    fn describe(&self) -> String {
        let addrs: Vec<String> = self.sfu.udp_addrs().iter().map(|a| a.to_string()).collect();
        format!("UDP {}", addrs.join(", "))
    }
}
