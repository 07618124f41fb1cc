//! A caller of a remote SFU's control API: the [`MediaPlane`] signaling
//! uses when the SFU runs as its own process (`parley sfu`).

use super::{EventsReply, JoinBody, JoinReply, MuteBody, PlaneWatch, Poll, StopRecordingBody};
use parley_control::{
    Downlink, FailureCode, HearingChange, JoinRequest, LaunchMedia, MediaEvent, MediaFailure,
    MediaKind, MediaPlane, MemberId, RecordingOrder, RoomId, RoomPolicy,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a control call may take before it counts as failed (event
/// polls wait up to 20 s on the server, so they get longer; starting a
/// recording connects to the recorder first).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_TIMEOUT: Duration = Duration::from_secs(30);
const RECORDING_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before polling the events again after a failure.
const EVENT_RETRY: Duration = Duration::from_secs(1);

/// A remote SFU, by the base URL of its control API.
#[derive(Debug, Clone)]
pub struct RemoteSfu {
    base: String,
    secret: String,
    http: reqwest::Client,
    events_taken: Arc<AtomicBool>,
}

impl RemoteSfu {
    /// `base`: e.g. `http://10.0.0.5:7801`; `secret`: the bearer secret
    /// ([`parley_grants::control_secret`] of the shared join-token key).
    pub fn new(base: &str, secret: String) -> Result<Self, MediaFailure> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(MediaFailure::new(
                FailureCode::Unreachable,
                format!("the control URL {base} must start with http:// or https://"),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| MediaFailure::new(FailureCode::Unreachable, format!("{base}: {e}")))?;
        Ok(Self {
            base,
            secret,
            http,
            events_taken: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts signaling's media plane as this remote SFU, with the control
    /// secret signaling derives from its join-token key.
    pub fn launcher(base: String) -> LaunchMedia {
        Arc::new(move |context: parley_control::MediaContext| {
            let remote = Self::new(&base, context.control_secret).map_err(|e| e.to_string())?;
            Ok(Arc::new(remote) as Arc<dyn MediaPlane>)
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Answers a participant's offer; the member id and kind the SFU gave.
    pub async fn join_reply(&self, request: JoinRequest) -> Result<JoinReply, MediaFailure> {
        let room = request.room;
        let body = JoinBody::new(
            request.token,
            request.offer,
            request.receive_slots,
            request.standing,
        );
        let response = self
            .send(
                self.http
                    .post(format!("{}/v1/rooms/{room}/joins", self.base))
                    .json(&body),
                CALL_TIMEOUT,
            )
            .await?;
        self.decode(response).await
    }

    /// Events after `after`, waiting up to 20 s for one; `None` answers at
    /// once with the current position (`next`) and no events. With the
    /// `boot` id of the process the caller knew, a new process answers at
    /// once.
    pub async fn events_after(
        &self,
        after: Option<u64>,
        boot: Option<&str>,
    ) -> Result<EventsReply, MediaFailure> {
        let mut request = self.http.get(format!("{}/v1/events", self.base));
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        if let Some(boot) = boot {
            request = request.query(&[("boot", boot)]);
        }
        let response = self.send(request, POLL_TIMEOUT).await?;
        self.decode(response).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, MediaFailure> {
        let response = request
            .bearer_auth(&self.secret)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                MediaFailure::new(
                    FailureCode::Unreachable,
                    format!("cannot reach the media server at {}: {e}", self.base),
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Result<MediaFailure, _> = response.json().await;
        Err(body.unwrap_or_else(|e| {
            MediaFailure::new(
                FailureCode::BadReply,
                format!(
                    "the media server at {} answered status {status} without an error body: {e}",
                    self.base
                ),
            )
        }))
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, MediaFailure> {
        response.json().await.map_err(|e| {
            MediaFailure::new(
                FailureCode::BadReply,
                format!(
                    "the media server at {} answered something unexpected: {e}",
                    self.base
                ),
            )
        })
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<(), MediaFailure> {
        self.send(request, timeout).await.map(drop)
    }

    /// Long-polls the events into `sink`; after a failure, waits a second
    /// and picks up where it left off (events the SFU forgot meanwhile are
    /// logged). Raises [`MediaEvent::PlaneDown`] when the SFU stops
    /// answering and [`MediaEvent::PlaneRestarted`] when a new process
    /// answers ([`PlaneWatch`]). Ends when the receiver is dropped.
    async fn follow(self, sink: tokio::sync::mpsc::UnboundedSender<MediaEvent>) {
        let mut after: Option<u64> = None;
        let mut watch = PlaneWatch::new();
        while !sink.is_closed() {
            let reply = self.events_after(after, watch.boot()).await;
            let verdict = watch.observe(match &reply {
                Ok(reply) => Poll::Answered { boot: &reply.boot },
                Err(_) => Poll::Failed,
            });
            if let Some(event) = verdict.event {
                tracing::warn!(
                    sfu = self.base,
                    ?event,
                    "the media server went or came back"
                );
                if sink.send(event).is_err() {
                    return;
                }
            }
            match reply {
                Ok(_) if verdict.restart_from_zero => after = Some(0),
                Ok(reply) => {
                    if reply.missed > 0 {
                        tracing::warn!(
                            missed = reply.missed,
                            sfu = self.base,
                            "media events were lost while signaling was away"
                        );
                    }
                    after = Some(reply.next);
                    for event in reply.events {
                        if sink.send(event).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the media server's events; retrying");
                    tokio::time::sleep(EVENT_RETRY).await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl MediaPlane for RemoteSfu {
    async fn open_room(&self, room: RoomId, policy: RoomPolicy) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .put(format!("{}/v1/rooms/{room}", self.base))
                .json(&policy),
            CALL_TIMEOUT,
        )
        .await
    }

    async fn join(&self, request: JoinRequest) -> Result<String, MediaFailure> {
        Ok(self.join_reply(request).await?.sdp)
    }

    async fn remove(&self, room: RoomId, member: MemberId) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .delete(format!("{}/v1/rooms/{room}/members/{member}", self.base)),
            CALL_TIMEOUT,
        )
        .await
    }

    async fn set_muted(
        &self,
        room: RoomId,
        member: MemberId,
        media: MediaKind,
        muted: bool,
    ) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .put(format!(
                    "{}/v1/rooms/{room}/members/{member}/mute",
                    self.base
                ))
                .json(&MuteBody { media, muted }),
            CALL_TIMEOUT,
        )
        .await
    }

    async fn change_hearing(
        &self,
        room: RoomId,
        change: HearingChange,
    ) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .post(format!("{}/v1/rooms/{room}/hearing", self.base))
                .json(&change),
            CALL_TIMEOUT,
        )
        .await
    }

    async fn start_recording(&self, order: RecordingOrder) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .put(format!("{}/v1/rooms/{}/recording", self.base, order.room))
                .json(&order),
            RECORDING_TIMEOUT,
        )
        .await
    }

    async fn stop_recording(&self, room: RoomId, reason: &str) -> Result<(), MediaFailure> {
        self.call(
            self.http
                .delete(format!("{}/v1/rooms/{room}/recording", self.base))
                .json(&StopRecordingBody {
                    reason: reason.to_string(),
                }),
            RECORDING_TIMEOUT,
        )
        .await
    }

    async fn downlinks(&self, room: RoomId) -> Result<Vec<Downlink>, MediaFailure> {
        let response = self
            .send(
                self.http
                    .get(format!("{}/v1/rooms/{room}/downlinks", self.base)),
                CALL_TIMEOUT,
            )
            .await?;
        self.decode(response).await
    }

    async fn close_room(&self, room: RoomId) -> Result<(), MediaFailure> {
        self.call(
            self.http.delete(format!("{}/v1/rooms/{room}", self.base)),
            RECORDING_TIMEOUT,
        )
        .await
    }

    /// Long-polls the SFU's events on a task of the current tokio runtime.
    fn events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<MediaEvent>> {
        if self.events_taken.swap(true, Ordering::SeqCst) {
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(self.clone().follow(tx));
        Some(rx)
    }

    fn collector(&self) -> Option<Box<dyn prometheus::core::Collector>> {
        None
    }

    fn describe(&self) -> String {
        format!("SFU at {} (parley sfu)", self.base)
    }
}
