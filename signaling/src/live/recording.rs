//! Recording a live session: when the policy decision records a session
//! (never a privileged one), its media room is opened with the recorder as a
//! member, and the SFU hands the recorder's link every packet the room's
//! rules let it receive. The recorder, reached over QUIC with mutual TLS,
//! refuses privileged sessions too, and audits every start and stop.
//!
//! Works with the SFU in this process; an SFU run apart (`parley sfu`) does
//! not record yet.

use parley_recorder::depacketize::Codec;
use parley_recorder::link::{LinkError, RecorderLink, RoomSender};
use parley_recorder::protocol::{MediaKind as TrackKind, Start, TrackInfo};
use parley_recorder::tls::TlsFiles;
use parley_sfu::engine::{RecordingTap, recording_track_id};
use parley_sfu::room::MediaKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Packets queued toward the recorder per room before dropping.
const QUEUE: usize = 4096;

/// Where the recorder listens and the link's certificates.
#[derive(Debug, Clone)]
pub struct RecorderAddress {
    pub addr: SocketAddr,
    pub tls: TlsFiles,
}

/// The link to the recorder: one QUIC connection, made on first use and
/// again after it fails.
pub struct Recording {
    address: RecorderAddress,
    link: Mutex<Option<RecorderLink>>,
}

/// A recorded room's stream, shared between the SFU's worker (which sends
/// packets) and the session task (which ends it).
#[derive(Clone)]
pub struct RoomRecording(Arc<RoomSender>);

impl RecordingTap for RoomRecording {
    fn send_rtp(&self, track_id: u32, received_at_us: u64, packet: &[u8]) -> bool {
        self.0.send_rtp(track_id, received_at_us, packet)
    }
}

impl RoomRecording {
    /// Ends the recording lawfully (`reason` goes into the manifest) once
    /// the SFU has let go of its handle; waits for the last segment.
    pub async fn end(self, reason: &str) -> Result<(), LinkError> {
        match Arc::try_unwrap(self.0) {
            Ok(sender) => sender.end(reason).await,
            Err(_) => Err(LinkError::Stream(
                "the media server still holds the recording".into(),
            )),
        }
    }
}

/// The tracks a session's recording declares: audio (Opus) and video
/// (VP8) of every booked participant who publishes.
pub fn tracks(publishers: &[i64]) -> Vec<TrackInfo> {
    publishers
        .iter()
        .flat_map(|p| {
            [
                recording_track_id(*p, MediaKind::Audio).map(|id| TrackInfo {
                    id,
                    kind: TrackKind::Audio,
                    codec: Codec::Opus,
                    clock_rate: 48_000,
                    channels: Some(2),
                }),
                recording_track_id(*p, MediaKind::Video).map(|id| TrackInfo {
                    id,
                    kind: TrackKind::Video,
                    codec: Codec::Vp8,
                    clock_rate: 90_000,
                    channels: None,
                }),
            ]
        })
        .flatten()
        .collect()
}

impl Recording {
    pub fn new(address: RecorderAddress) -> Self {
        Self {
            address,
            link: Mutex::new(None),
        }
    }

    /// Opens a room's recording stream (connecting first if need be).
    pub async fn open(&self, start: &Start) -> Result<RoomRecording, LinkError> {
        let mut link = self.link.lock().await;
        if link.is_none() {
            let tls = &self.address.tls;
            *link = Some(
                RecorderLink::connect(
                    self.address.addr,
                    &tls.ca_cert,
                    &tls.client_cert,
                    &tls.client_key,
                )
                .await?,
            );
        }
        let Some(connected) = link.as_ref() else {
            return Err(LinkError::Stream("no recorder link".into()));
        };
        match connected.open_room(start, QUEUE).await {
            Ok(sender) => Ok(RoomRecording(Arc::new(sender))),
            Err(e @ LinkError::Refused(_)) => Err(e),
            Err(e) => {
                // The connection may be gone: the next open reconnects.
                *link = None;
                Err(e)
            }
        }
    }
}
