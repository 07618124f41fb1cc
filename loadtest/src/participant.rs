//! One load client: joins a session over the signaling WebSocket, negotiates
//! WebRTC with the SFU through it (a real `parley_client::Client`),
//! publishes timestamped media and records what it receives.

use crate::light::{LightClient, LightEngine};
use crate::light_peer::LightError;
use crate::payload;
use crate::recorder::LatencyRecorder;
use crate::scenario::ClientKind;
use crate::scenario::MediaSpec;
use crate::schedule::{Outgoing, Schedule};
use crate::target::{Parley, TargetError};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parley_client::Client;
use parley_protocol::{ClientMessage, ParticipantState, ServerMessage};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio_tungstenite::tungstenite::Message;

/// Why a client could not join.
#[derive(Debug, Error)]
pub enum JoinError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("{who}: WebSocket {url}: {message}")]
    Socket {
        who: String,
        url: String,
        message: String,
    },
    #[error("{who}: Parley refused: {message}")]
    Refused { who: String, message: String },
    #[error("{who}: no `{waiting_for}` within {seconds} s")]
    Timeout {
        who: String,
        waiting_for: &'static str,
        seconds: u64,
    },
    #[error("{who}: WebRTC: {message}")]
    WebRtc { who: String, message: String },
}

/// How long each step of a join may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a lightweight client may take to connect after the answer (as
/// the async client's `accept`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Times of one join, ms from the token request.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct JoinTimes {
    pub welcome_ms: f64,
    pub answer_ms: f64,
    pub connected_ms: f64,
    /// Filled in from the recorder when the client leaves.
    pub first_media_ms: Option<f64>,
    pub first_keyframe_ms: Option<f64>,
}

/// Packets sent by one publisher: next sequence numbers (also the counts).
#[derive(Debug, Default)]
pub struct SentCounters {
    pub video: AtomicU32,
    pub audio: AtomicU32,
}

/// What one join needs.
pub struct JoinSpec {
    pub session: i64,
    pub participant: i64,
    /// Unique name, carried in payloads (at most 16 characters).
    pub name: String,
    pub publishes: bool,
    pub simulcast: bool,
    /// Admit lobby participants (the judge).
    pub admits: bool,
    /// REMB receive cap, bit/s (0: none).
    pub receive_cap_bps: u64,
    pub ssrc_base: u32,
}

/// A joined client.
pub struct Joined {
    pub name: String,
    pub media: MediaClient,
    pub recorder: Arc<LatencyRecorder>,
    pub sent: Arc<SentCounters>,
    pub times: JoinTimes,
    /// µs since the Unix epoch when the token was requested.
    pub started_us: u64,
    ws_out: tokio::sync::mpsc::UnboundedSender<ClientMessage>,
    reader: tokio::task::JoinHandle<()>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next message from the server; an `error` refuses the join.
async fn next_message(
    ws: &mut Ws,
    who: &str,
    waiting_for: &'static str,
) -> Result<ServerMessage, JoinError> {
    loop {
        let m = tokio::time::timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| JoinError::Timeout {
                who: who.to_string(),
                waiting_for,
                seconds: STEP_TIMEOUT.as_secs(),
            })?;
        match m {
            Some(Ok(Message::Text(t))) => {
                let message: ServerMessage =
                    serde_json::from_str(&t).map_err(|e| JoinError::Refused {
                        who: who.to_string(),
                        message: format!("a frame that is not a server message ({e}): {t}"),
                    })?;
                if let ServerMessage::Error { code, message } = &message {
                    return Err(JoinError::Refused {
                        who: who.to_string(),
                        message: format!("{code:?}: {message}"),
                    });
                }
                return Ok(message);
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err(JoinError::Refused {
                    who: who.to_string(),
                    message: format!("socket closed while waiting for `{waiting_for}`"),
                });
            }
            Some(Err(e)) => {
                return Err(JoinError::Refused {
                    who: who.to_string(),
                    message: e.to_string(),
                });
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// Skips messages until `wanted` picks one (`kind` names it for errors).
async fn until<T>(
    ws: &mut Ws,
    who: &str,
    kind: &'static str,
    wanted: impl Fn(ServerMessage) -> Option<T>,
) -> Result<T, JoinError> {
    loop {
        if let Some(found) = wanted(next_message(ws, who, kind).await?) {
            return Ok(found);
        }
    }
}

/// The SDP of an `answer`.
fn answer(message: ServerMessage) -> Option<String> {
    match message {
        ServerMessage::Answer { sdp } => Some(sdp),
        _ => None,
    }
}

async fn send(ws: &mut Ws, who: &str, message: &ClientMessage) -> Result<(), JoinError> {
    let text = serde_json::to_string(message).map_err(|e| JoinError::Refused {
        who: who.to_string(),
        message: format!("cannot encode {message:?}: {e}"),
    })?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| JoinError::Refused {
            who: who.to_string(),
            message: format!("cannot send on the WebSocket: {e}"),
        })
}

/// Joins: token → WebSocket `join` → `welcome` (→ `admitted` from the
/// lobby) → WebRTC offer → `answer` → connected. With `light`, the media
/// side is a [`LightClient`] on that engine (unless the client publishes
/// simulcast or caps its receive rate); else a `parley_client::Client`.
pub async fn join(
    parley: &Parley,
    spec: JoinSpec,
    recorder: Arc<LatencyRecorder>,
    light: Option<&LightEngine>,
) -> Result<Joined, JoinError> {
    let who = spec.name.clone();
    let t0 = Instant::now();
    let started_us = payload::now_us();
    let ms = |t: Instant| t.duration_since(t0).as_secs_f64() * 1e3;
    let token = parley.join_token(spec.session, spec.participant).await?;
    let url = parley.ws_url(spec.session);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(&url)
            .await
            .map_err(|e| JoinError::Socket {
                who: who.clone(),
                url: url.clone(),
                message: e.to_string(),
            })?;
    send(
        &mut ws,
        &who,
        &ClientMessage::Join {
            version: parley_protocol::PROTOCOL_VERSION,
            token,
        },
    )
    .await?;
    let (slots, state) = until(&mut ws, &who, "welcome", |m| match m {
        ServerMessage::Welcome {
            receive_slots,
            state,
            ..
        } => Some((receive_slots as usize, state)),
        _ => None,
    })
    .await?;
    let welcome_ms = ms(Instant::now());
    if state == ParticipantState::Lobby {
        until(&mut ws, &who, "admitted", |m| {
            matches!(m, ServerMessage::Admitted).then_some(())
        })
        .await?;
    }
    let webrtc = |e: anyhow::Error| JoinError::WebRtc {
        who: who.clone(),
        message: format!("{e:#}"),
    };
    let light_failed = |e: LightError| JoinError::WebRtc {
        who: who.clone(),
        message: e.to_string(),
    };
    // The lightweight client covers plain publishers and receivers; a
    // simulcast publisher or a capped receiver (REMB) keeps the async one.
    let light = light.filter(|_| !(spec.simulcast && spec.publishes) && spec.receive_cap_bps == 0);
    let (media, answer_ms) = match light {
        Some(engine) => {
            let (client, offer) = engine
                .open(
                    &spec.name,
                    spec.publishes,
                    slots,
                    spec.ssrc_base,
                    recorder.clone(),
                )
                .await
                .map_err(light_failed)?;
            send(&mut ws, &who, &ClientMessage::Offer { sdp: offer }).await?;
            let sdp = until(&mut ws, &who, "answer", answer).await?;
            let answer_ms = ms(Instant::now());
            tokio::time::timeout(CONNECT_TIMEOUT, client.accept(sdp))
                .await
                .map_err(|_| JoinError::Timeout {
                    who: who.clone(),
                    waiting_for: "connected",
                    seconds: CONNECT_TIMEOUT.as_secs(),
                })?
                .map_err(light_failed)?;
            (MediaClient::Light(Arc::new(client)), answer_ms)
        }
        None => {
            let mut client = if spec.simulcast && spec.publishes {
                Client::simulcast(&spec.name, slots, spec.ssrc_base).await
            } else {
                Client::new(&spec.name, spec.publishes, slots, spec.ssrc_base).await
            }
            .map_err(webrtc)?;
            let rec = recorder.clone();
            client.on_packet(Arc::new(move |p: &rtc::rtp::Packet| {
                rec.record(&p.payload, payload::now_us());
            }));
            if spec.receive_cap_bps > 0 {
                client.limit_receive(spec.receive_cap_bps);
            }
            let offer = client.offer().await.map_err(webrtc)?;
            send(&mut ws, &who, &ClientMessage::Offer { sdp: offer }).await?;
            let sdp = until(&mut ws, &who, "answer", answer).await?;
            let answer_ms = ms(Instant::now());
            client.accept(sdp).await.map_err(webrtc)?;
            (MediaClient::Async(Arc::new(client)), answer_ms)
        }
    };
    let connected_ms = ms(Instant::now());
    let (ws_out, mut outbox) = tokio::sync::mpsc::unbounded_channel::<ClientMessage>();
    let admits = spec.admits;
    let publisher = media.clone();
    // Keeps the socket read; the judge admits whoever waits in the lobby; a
    // simulcast publisher pauses the layers the SFU says nobody needs.
    let reader = tokio::spawn(async move {
        loop {
            tokio::select! {
                out = outbox.recv() => {
                    let Some(message) = out else { break };
                    let leaving = message == ClientMessage::Leave;
                    if send(&mut ws, "", &message).await.is_err() || leaving {
                        let _ = ws.close(None).await;
                        break;
                    }
                }
                m = ws.next() => {
                    let Some(Ok(Message::Text(t))) = m else {
                        if matches!(m, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { break }
                        continue;
                    };
                    let Ok(message) = serde_json::from_str::<ServerMessage>(&t) else { continue };
                    match message {
                        ServerMessage::PublishLayers { rids } => {
                            // Only the async client publishes simulcast.
                            if let MediaClient::Async(client) = &publisher {
                                let rids: Vec<&str> = rids.iter().map(String::as_str).collect();
                                client.send_only_layers(&rids);
                            }
                        }
                        ServerMessage::Roster { participants } if admits => {
                            for p in participants.iter().filter(|p| p.state == ParticipantState::Lobby) {
                                let admit = ClientMessage::Admit { participant_id: p.participant_id };
                                let _ = send(&mut ws, "", &admit).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    });
    Ok(Joined {
        name: spec.name,
        media,
        recorder,
        sent: Arc::default(),
        times: JoinTimes {
            welcome_ms,
            answer_ms,
            connected_ms,
            first_media_ms: None,
            first_keyframe_ms: None,
        },
        started_us,
        ws_out,
        reader,
    })
}

impl Joined {
    /// Sends `leave`, closes the socket and the peer connection.
    pub async fn leave(self) {
        let _ = self.ws_out.send(ClientMessage::Leave);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.reader).await;
        match &self.media {
            MediaClient::Async(client) => {
                let _ = client.pc.close().await;
            }
            MediaClient::Light(client) => client.close().await,
        }
    }
}

/// The WebRTC side of a joined client.
#[derive(Clone)]
pub enum MediaClient {
    /// webrtc-rs async client: one tokio-driven peer connection.
    Async(Arc<Client>),
    /// A peer connection on a lane of the lightweight engine.
    Light(Arc<LightClient>),
}

impl MediaClient {
    /// `"async"` or `"light"`.
    pub fn kind(&self) -> ClientKind {
        match self {
            MediaClient::Async(_) => ClientKind::Async,
            MediaClient::Light(_) => ClientKind::Light,
        }
    }

    /// Publishes `media` as `name` until `stop` is set or `until` passes;
    /// the task's result is the send log.
    pub fn start_publishing(
        &self,
        name: String,
        media: MediaSpec,
        sent: Arc<SentCounters>,
        stop: Arc<AtomicBool>,
        until: Instant,
    ) -> tokio::task::JoinHandle<SendLog> {
        match self {
            MediaClient::Async(client) => {
                tokio::spawn(publish(client.clone(), name, media, sent, stop, until))
            }
            MediaClient::Light(client) => {
                let log = client.publish(&name, media, sent, stop, until);
                tokio::spawn(async move {
                    let failed = || SendLog {
                        lateness: crate::recorder::latency_histogram(),
                        skipped: 0,
                        errors: 1,
                    };
                    match log {
                        Ok(log) => log.await.unwrap_or_else(|_| failed()),
                        Err(_) => failed(),
                    }
                })
            }
        }
    }
}

/// What a publisher's send loop measured.
#[derive(Debug)]
pub struct SendLog {
    /// How late each send was against its schedule, µs.
    pub lateness: Histogram<u64>,
    /// Send slots skipped because the loop was more than one interval late.
    pub skipped: u64,
    pub errors: u64,
}

/// Publishes audio and video on `client` with the pacing of `media` until
/// `stop` is set or `until` passes.
pub async fn publish(
    client: Arc<Client>,
    name: String,
    media: MediaSpec,
    sent: Arc<SentCounters>,
    stop: Arc<AtomicBool>,
    until: Instant,
) -> SendLog {
    let mut schedule = Schedule::new(&name, media, Instant::now());
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let due = schedule.due();
        if due > now {
            tokio::time::sleep_until(due.into()).await;
            continue;
        }
        let written = match schedule.next(now, &sent) {
            Some(Outgoing::Video {
                seq,
                timestamp,
                marker,
                payload,
            }) => client.write_video(seq, timestamp, marker, payload).await,
            Some(Outgoing::Audio {
                seq,
                timestamp,
                payload,
            }) => client.write_audio(seq, timestamp, payload).await,
            None => Ok(()),
        };
        if written.is_err() {
            schedule.failed();
        }
    }
    schedule.log
}
