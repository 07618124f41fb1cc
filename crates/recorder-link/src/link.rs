//! The SFU's side of the recorder link: one QUIC connection with the SFU's
//! client certificate, one stream per recorded room.
//!
//! [`RoomSender::send_rtp`] never blocks the caller (the SFU's media loop):
//! packets go into a bounded queue that a task writes to the stream; when
//! the queue is full the packet is dropped and counted.

use crate::protocol::{self, Message, Start};
use crate::tls::{self, SERVER_NAME};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot open a UDP socket for the recorder link: {0}")]
    Socket(std::io::Error),
    #[error("cannot connect to the recorder at {addr}: {detail}")]
    Connect { addr: SocketAddr, detail: String },
    #[error("recorder link: {0}")]
    Stream(String),
    #[error("the recorder refused to record: {0}")]
    Refused(String),
}

fn stream_err(e: impl std::fmt::Display) -> LinkError {
    LinkError::Stream(e.to_string())
}

/// A connection to the recorder.
pub struct RecorderLink {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
}

impl RecorderLink {
    /// Connects with the client certificate `cert`/`key`, trusting only `ca`.
    pub async fn connect(
        addr: SocketAddr,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, LinkError> {
        let config = tls::client_config(ca, cert, key)?;
        let bind: SocketAddr = if addr.is_ipv6() {
            "[::]:0"
                .parse()
                .map_err(|_| LinkError::Socket(std::io::ErrorKind::InvalidInput.into()))?
        } else {
            "0.0.0.0:0"
                .parse()
                .map_err(|_| LinkError::Socket(std::io::ErrorKind::InvalidInput.into()))?
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(LinkError::Socket)?;
        endpoint.set_default_client_config(config);
        let connect_err = |detail: String| LinkError::Connect { addr, detail };
        let connection = endpoint
            .connect(addr, SERVER_NAME)
            .map_err(|e| connect_err(e.to_string()))?
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        Ok(Self {
            endpoint,
            connection,
        })
    }

    /// Opens a room's stream, sends `start` and waits for the recorder's
    /// answer. `queue` is the number of packets buffered before dropping.
    pub async fn open_room(&self, start: &Start, queue: usize) -> Result<RoomSender, LinkError> {
        let (mut send, mut recv) = self.connection.open_bi().await.map_err(stream_err)?;
        send.write_all(&protocol::encode(&Message::Start(start.clone())))
            .await
            .map_err(stream_err)?;
        let mut header = [0u8; 5];
        recv.read_exact(&mut header).await.map_err(stream_err)?;
        let (kind, len) = protocol::parse_header(header).map_err(stream_err)?;
        let mut body = vec![0u8; len];
        recv.read_exact(&mut body).await.map_err(stream_err)?;
        match protocol::decode(kind, &body).map_err(stream_err)? {
            Message::Accepted => {}
            Message::Refused { reason } => return Err(LinkError::Refused(reason)),
            other => return Err(stream_err(format!("unexpected answer to Start: {other:?}"))),
        }
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(queue.max(1));
        let (broke, broken) = watch::channel(None);
        let connection = self.connection.clone();
        let task = tokio::spawn(async move {
            let written = async {
                // One wait for the connection's end, for every frame.
                let closed = connection.closed();
                tokio::pin!(closed);
                loop {
                    let frame = tokio::select! {
                        frame = rx.recv() => frame,
                        gone = &mut closed => return Err(stream_err(gone)),
                    };
                    let Some(frame) = frame else { break };
                    send.write_all(&frame).await.map_err(stream_err)?;
                }
                send.finish().map_err(stream_err)?;
                // The recorder finishes its side once the last segment is stored.
                recv.read_to_end(1024).await.map_err(stream_err)?;
                Ok(())
            }
            .await;
            if let Err(e) = &written {
                broke.send_replace(Some(e.to_string()));
            }
            written
        });
        Ok(RoomSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            task,
            broken,
        })
    }

    /// Whether the connection is over (closed, timed out or refused):
    /// another must be made.
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// Closes the connection (every room stream with it).
    pub async fn close(self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

/// A recorded room's stream.
pub struct RoomSender {
    tx: mpsc::Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Result<(), LinkError>>,
    broken: watch::Receiver<Option<String>>,
}

/// Tells when a room's stream broke off (the recorder stopped, refused to
/// go on, or the link failed) rather than ended.
pub struct Breakage(watch::Receiver<Option<String>>);

impl Breakage {
    /// Waits until the stream breaks off: what broke it. `None` once the
    /// stream is over without breaking (it was ended or finished).
    pub async fn wait(&mut self) -> Option<String> {
        match self.0.wait_for(Option::is_some).await {
            Ok(cause) => cause.clone(),
            Err(_) => None,
        }
    }
}

impl RoomSender {
    /// Queues one RTP packet; never waits. Returns false (and counts it) if
    /// the queue is full or the stream is gone.
    pub fn send_rtp(&self, track_id: u32, received_at_us: u64, packet: &[u8]) -> bool {
        let frame = protocol::encode(&Message::Rtp {
            track_id,
            received_at_us,
            packet: packet.to_vec(),
        });
        let ok = self.tx.try_send(frame).is_ok();
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Tells when this stream breaks off.
    pub fn breakage(&self) -> Breakage {
        Breakage(self.broken.clone())
    }

    /// Packets dropped because the queue was full or the stream closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Ends the recording lawfully (`reason` goes into the manifest) and
    /// waits until the recorder has stored the last segment.
    pub async fn end(self, reason: &str) -> Result<(), LinkError> {
        let frame = protocol::encode(&Message::End {
            reason: reason.into(),
        });
        self.tx.send(frame).await.map_err(stream_err)?;
        self.finish().await
    }

    /// Closes the stream without ending the recording (it can be continued)
    /// and waits until the recorder has stored the last segment.
    pub async fn finish(self) -> Result<(), LinkError> {
        drop(self.tx);
        self.task.await.map_err(stream_err)?
    }
}
