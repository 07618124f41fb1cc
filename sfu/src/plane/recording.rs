//! Recording a room: the media plane holds the link to the recorder (QUIC,
//! mutual TLS), opens a room's stream, and hands it every packet the room's
//! rules let the recorder receive. The room never admits the recorder to a
//! privileged session, and the recorder refuses one too and audits every
//! start and stop.

use crate::engine::{RecordingTap, recording_track_id};
use crate::room::MediaKind;
use parley_recorder_link::link::{LinkError, RecorderLink, RoomSender};
use parley_recorder_link::protocol::{Codec, MediaKind as TrackKind, Start, TrackInfo};
use parley_recorder_link::tls::TlsFiles;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Packets queued toward the recorder per room before dropping.
const QUEUE: usize = 4096;

/// Where the recorder listens, the link's certificates, and where the
/// spoken notices are (`<dir>/<jurisdiction>/<language>.wav`).
#[derive(Debug, Clone)]
pub struct RecorderAddress {
    pub addr: SocketAddr,
    pub tls: TlsFiles,
    pub announcements: Option<PathBuf>,
}

/// The link to the recorder: one QUIC connection, made on first use and
/// again after it fails.
pub struct RecorderConnection {
    address: RecorderAddress,
    link: Mutex<Option<RecorderLink>>,
}

/// A recorded room's stream, shared between the SFU's worker (which sends
/// packets) and the media plane (which ends it).
#[derive(Clone)]
pub struct RoomRecording(Arc<RoomSender>);

impl RecordingTap for RoomRecording {
    fn send_rtp(&self, track_id: u32, received_at_us: u64, packet: &[u8]) -> bool {
        self.0.send_rtp(track_id, received_at_us, packet)
    }
}

impl RoomRecording {
    /// Tells when this stream breaks off rather than ends.
    pub fn breakage(&self) -> parley_recorder_link::link::Breakage {
        self.0.breakage()
    }

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

/// The tracks a room's recording declares: audio (Opus) and video (VP8) of
/// every booked participant who publishes.
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

/// The spoken notice of `jurisdiction`: its `languages` one after the
/// other, as 20 ms Opus frames. Languages without audio are left out
/// (logged); no audio at all gives no frames (the banner alone then tells
/// people).
pub fn announcement(
    dir: Option<&Path>,
    jurisdiction: &str,
    languages: &[String],
) -> Vec<bytes::Bytes> {
    let Some(dir) = dir else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    for language in languages {
        match super::notice::load_for(dir, jurisdiction, language) {
            Ok(a) => frames.extend(a.frames.into_iter().map(bytes::Bytes::from)),
            Err(e) => {
                tracing::warn!(%jurisdiction, %language, error = %e, "no spoken notice in this language")
            }
        }
    }
    frames
}

impl RecorderConnection {
    pub fn new(address: RecorderAddress) -> Self {
        Self {
            address,
            link: Mutex::new(None),
        }
    }

    pub fn address(&self) -> &RecorderAddress {
        &self.address
    }

    /// Opens a room's recording stream (connecting first if need be).
    pub async fn open(&self, start: &Start) -> Result<RoomRecording, LinkError> {
        let mut link = self.link.lock().await;
        if link.as_ref().is_none_or(RecorderLink::is_closed) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_notice_is_english_then_french_in_20_ms_frames() {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let demo = parley_policy::load_file(&config.join("jurisdictions/demo.toml")).expect("demo");
        let notices = config.join("announcements");
        let frames = announcement(Some(&notices), &demo.id, &demo.languages);
        // en.wav (12.3 s) and fr.wav (12.7 s), padded to whole frames.
        assert!(
            (1240..=1260).contains(&frames.len()),
            "{} frames",
            frames.len()
        );
        assert!(frames.iter().all(|f| !f.is_empty() && f.len() < 1500));
        // A jurisdiction without audio gets no frames, not an error.
        let eng = parley_policy::load_file(&config.join("jurisdictions/eng-wales.toml"))
            .expect("eng-wales");
        assert!(announcement(Some(&notices), &eng.id, &eng.languages).is_empty());
        assert!(announcement(None, &demo.id, &demo.languages).is_empty());
    }

    #[test]
    fn tracks_are_audio_and_video_of_each_publisher() {
        let t = tracks(&[3, 8]);
        assert_eq!(t.iter().map(|t| t.id).collect::<Vec<_>>(), [6, 7, 16, 17]);
        assert_eq!(t[0].codec, Codec::Opus);
        assert_eq!(t[1].codec, Codec::Vp8);
    }
}
