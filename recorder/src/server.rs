//! The recorder's QUIC endpoint: one connection per SFU, one bidirectional
//! stream per recorded room. Each stream's frames feed a [`RoomRecorder`].
//!
//! A stream that ends without `End` (SFU restart, network loss) closes the
//! current segment and leaves the recording open: the same recording id on
//! a new stream continues it in a new segment.

use crate::audit::{AuditSink, RecordingEvent};
use crate::claim::Claims;
use crate::keys::KeyStore;
use crate::protocol::Start;
use crate::protocol::{self, Message};
use crate::session::{RoomRecorder, RoomSettings};
use crate::tls::{self, TlsFiles};
use parley_policy::Jurisdictions;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How the recorder runs.
#[derive(Clone)]
pub struct RecorderConfig {
    /// UDP address of the QUIC endpoint.
    pub listen: SocketAddr,
    /// Where recordings are written (one directory each).
    pub recordings_dir: PathBuf,
    /// Jurisdiction keys and the manifest signing key.
    pub keys_dir: PathBuf,
    /// CA, recorder and SFU certificates (generated if absent).
    pub tls_dir: PathBuf,
    /// Target segment length, seconds.
    pub segment_seconds: u64,
    pub jurisdictions: Jurisdictions,
    /// The audit log recording decisions go to (invariant 4).
    pub audit: Arc<dyn AuditSink>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("cannot listen on {addr} (UDP): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running recorder.
pub struct Recorder {
    endpoint: quinn::Endpoint,
    pub addr: SocketAddr,
    pub tls: TlsFiles,
    pub task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"recorder stopping");
        self.task.abort();
        self.endpoint.wait_idle().await;
    }
}

struct Shared {
    settings: RoomSettings,
    keys: KeyStore,
    jurisdictions: Jurisdictions,
    audit: Arc<dyn AuditSink>,
    /// Recording ids being written by a stream.
    claims: Claims,
    /// Recording ids whose stream broke off (no lawful stop) in this
    /// process, and why, until they go on.
    broken_off: Mutex<HashMap<String, String>>,
}

impl Shared {
    /// Remembers why recording `id`'s stream broke off, for its gap.
    fn broke_off(&self, id: &str, reason: &str) {
        self.broken_off
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), reason.to_string());
    }
}

/// Why a recording goes on after a break, when its stream broke off while
/// this recorder ran.
const STREAM_BROKE_OFF: &str = "the media server's stream broke off without a stop (the media server stopped, or the network between them failed)";
/// Why, when it did not: the recorder itself was not running.
const RECORDER_STOPPED: &str =
    "the recorder stopped (a crash or a restart) while the recording ran";

/// Starts the recorder: certificates and keys (generated on first start),
/// then the QUIC endpoint.
pub async fn start(config: RecorderConfig) -> Result<Recorder, ServerError> {
    let files = tls::ensure(&config.tls_dir)?;
    let server_config = tls::server_config(&files.ca_cert, &files.server_cert, &files.server_key)?;
    let keys = KeyStore::open(&config.keys_dir)?;
    keys.signing_key()?;
    let endpoint = quinn::Endpoint::server(server_config, config.listen).map_err(|source| {
        ServerError::Bind {
            addr: config.listen,
            source,
        }
    })?;
    let addr = endpoint.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let shared = Arc::new(Shared {
        settings: RoomSettings {
            recordings_dir: config.recordings_dir.clone(),
            segment_ms: config.segment_seconds.max(1) * 1000,
        },
        keys,
        jurisdictions: config.jurisdictions,
        audit: config.audit,
        claims: Claims::default(),
        broken_off: Mutex::default(),
    });
    let accept = endpoint.clone();
    let task = tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                match incoming.await {
                    Ok(conn) => serve_connection(conn, shared).await,
                    Err(e) => tracing::warn!("recorder: refused a connection: {e}"),
                }
            });
        }
    });
    tracing::info!(%addr, "recorder listening (QUIC, mutual TLS)");
    Ok(Recorder {
        endpoint,
        addr,
        tls: files,
        task,
    })
}

async fn serve_connection(conn: quinn::Connection, shared: Arc<Shared>) {
    let peer = conn.remote_address();
    let conn_id = conn.stable_id();
    tracing::info!(%peer, "recorder: SFU connected");
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_room(send, recv, conn_id, &shared).await {
                        tracing::warn!(%peer, "recorder: room stream: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::info!(%peer, "recorder: SFU connection closed: {e}");
                return;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("reading: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("writing: {0}")]
    Write(#[from] quinn::WriteError),
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    #[error("the first frame must be Start")]
    NoStart,
    #[error(transparent)]
    Room(#[from] crate::session::RoomError),
    #[error("the storage thread failed: {0}")]
    Storage(String),
}

/// Reads one frame; `None` at a clean end of stream.
async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Option<Message>, StreamError> {
    let mut header = [0u8; 5];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let (kind, len) = protocol::parse_header(header)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(Some(protocol::decode(kind, &body)?))
}

fn now_us() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0)
}

/// Frames queued between a room's stream and its storage thread; when full,
/// reading the stream waits (QUIC flow control then slows the SFU, whose
/// link drops and counts).
const ROOM_QUEUE: usize = 1024;

/// What the stream hands to the room's storage thread.
enum RoomInput {
    Rtp {
        track_id: u32,
        received_at_us: u64,
        packet: Vec<u8>,
    },
}

/// Admission: policy, then the audit entry, then the recording's files.
/// Returns the room, or the reason given to the SFU.
async fn open_room(start: &Start, shared: &Arc<Shared>) -> Result<RoomRecorder, String> {
    let retention_days =
        crate::session::admit(start, &shared.jurisdictions).map_err(|r| r.to_string())?;
    let dir = crate::recording::dir_of(&shared.settings.recordings_dir, &start.recording_id);
    let existing = crate::recording::read_manifest(&dir, &shared.keys).ok();
    if let Some(ended) = existing.as_ref().and_then(|m| m.ended.as_ref()) {
        // Refused before anything is audited as started.
        return Err(crate::recording::RecordingError::Ended {
            id: start.recording_id.clone(),
            at: ended.at.clone(),
        }
        .to_string());
    }
    let gap = existing.is_some().then(|| {
        let mut broken = shared.broken_off.lock().unwrap_or_else(|p| p.into_inner());
        broken
            .remove(&start.recording_id)
            .unwrap_or_else(|| RECORDER_STOPPED.to_string())
    });
    let started = match &gap {
        None => RecordingEvent::Started {
            start: start.clone(),
            retention_days,
        },
        Some(reason) => RecordingEvent::Resumed {
            start: start.clone(),
            retention_days,
            reason: reason.clone(),
        },
    };
    shared
        .audit
        .record(&started)
        .await
        .map_err(|e| format!("the audit log cannot be written ({e}); nothing is recorded"))?;
    let (shared2, start2) = (shared.clone(), start.clone());
    tokio::task::spawn_blocking(move || {
        let now = chrono::Utc::now();
        let mut room = RoomRecorder::start(
            &shared2.settings,
            &shared2.keys,
            &shared2.jurisdictions,
            &start2,
            now,
        )
        .map_err(|e| e.to_string())?;
        if let Some(reason) = gap {
            room.record_gap(&reason, now).map_err(|e| e.to_string())?;
        }
        Ok(room)
    })
    .await
    .map_err(|e| format!("the recorder failed while opening the recording: {e}"))?
}

async fn serve_room(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    connection: usize,
    shared: &Arc<Shared>,
) -> Result<(), StreamError> {
    let start = match read_frame(&mut recv).await? {
        Some(Message::Start(s)) => s,
        _ => return Err(StreamError::NoStart),
    };
    let claim = shared.claims.take(&start.recording_id, connection).await;
    let room = match &claim {
        Err(refused) => Err(refused.to_string()),
        Ok(_) => open_room(&start, shared).await,
    };
    let room = match room {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(recording = %start.recording_id, session = start.session_id, "recorder: refused: {reason}");
            let refused = RecordingEvent::Refused {
                start: start.clone(),
                reason: reason.clone(),
            };
            if let Err(e) = shared.audit.record(&refused).await {
                tracing::error!("recorder: cannot audit a refusal: {e}");
            }
            send.write_all(&protocol::encode(&Message::Refused { reason }))
                .await?;
            let _ = send.finish();
            return Ok(());
        }
    };
    tracing::info!(recording = %start.recording_id, session = start.session_id, "recorder: recording");
    send.write_all(&protocol::encode(&Message::Accepted))
        .await?;

    // Storage (depacketizing, muxing, encryption, fsync) runs on a blocking
    // thread so a slow disk never stalls the async runtime.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RoomInput>(ROOM_QUEUE);
    let storage = tokio::task::spawn_blocking(move || {
        let mut room = room;
        while let Some(RoomInput::Rtp {
            track_id,
            received_at_us,
            packet,
        }) = rx.blocking_recv()
        {
            room.on_rtp(track_id, received_at_us, now_us(), &packet)?;
        }
        Ok::<_, crate::session::RoomError>(room)
    });
    let mut ending: Option<String> = None;
    let stop = claim.as_ref().map(|c| c.stop.clone()).ok();
    let taken_over = async {
        match &stop {
            Some(stop) => stop.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(taken_over);
    let result = loop {
        let frame = tokio::select! {
            frame = read_frame(&mut recv) => frame,
            // Storage stopped (its error is reported below): no need to
            // wait for the next frame to notice.
            () = tx.closed() => break Ok(()),
            () = &mut taken_over => {
                tracing::warn!(recording = %start.recording_id, "recorder: stream stopped: another connection took the recording over");
                break Ok(());
            }
        };
        match frame {
            Ok(Some(Message::Rtp {
                track_id,
                received_at_us,
                packet,
            })) => {
                let input = RoomInput::Rtp {
                    track_id,
                    received_at_us,
                    packet,
                };
                if tx.send(input).await.is_err() {
                    break Ok(()); // storage stopped; its error is reported below
                }
            }
            Ok(Some(Message::End { reason })) => {
                ending = Some(reason);
                break Ok(());
            }
            Ok(Some(_)) => break Err(StreamError::NoStart),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(tx);
    let stored = match storage.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let room = match stored {
        Ok(room) => room,
        Err(reason) => {
            // The open segment is lost; every segment the manifest lists
            // is whole (a failed write leaves no file behind).
            let reason = format!("the recorder could not store the media: {reason}");
            tracing::error!(recording = %start.recording_id, "recorder: {reason}");
            shared.broke_off(&start.recording_id, &reason);
            let failed = RecordingEvent::Failed {
                start: start.clone(),
                reason: reason.clone(),
            };
            if let Err(e) = shared.audit.record(&failed).await {
                tracing::error!(recording = %start.recording_id, "recorder: cannot audit a storage failure: {e}");
            }
            return Err(StreamError::Storage(reason));
        }
    };
    let stats = room.stats();
    let segments = room.manifest().segments.len();
    let event = match &ending {
        Some(reason) => RecordingEvent::Stopped {
            start: start.clone(),
            reason: reason.clone(),
            segments,
        },
        None => {
            shared.broke_off(&start.recording_id, STREAM_BROKE_OFF);
            RecordingEvent::Interrupted {
                start: start.clone(),
                segments,
            }
        }
    };
    if let Err(e) = shared.audit.record(&event).await {
        tracing::error!(recording = %start.recording_id, "recorder: cannot audit the end of a recording: {e}");
    }
    // Whatever happened to the stream, the frames received so far are kept.
    let closing = ending.clone();
    let manifest =
        tokio::task::spawn_blocking(move || room.close(closing.as_deref(), chrono::Utc::now()))
            .await
            .map_err(|e| StreamError::Storage(e.to_string()))??;
    tracing::info!(
        recording = %manifest.recording_id,
        segments = manifest.segments.len(),
        packets = stats.packets,
        frames_dropped = stats.frames_dropped,
        ended = ending.is_some(),
        "recorder: room stream closed"
    );
    drop(claim);
    let _ = send.finish();
    result
}
