//! Export: verify, decrypt every segment, and join them into one playable
//! file (WebM, or Matroska with H.264) whose times are the recording's.
//! A recording that does not verify is never exported.

use crate::demux::{self, DemuxError};
use crate::fsutil;
use crate::keys::KeyStore;
use crate::mux::{MuxTrack, SegmentMuxer};
use crate::recording::{self, RecordingError};
use crate::seal::{self, SealError};
use crate::verify::{self, VerifyError};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    pub container: &'static str,
    pub segments: usize,
    pub frames: u64,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the recording does not verify, so it is not exported: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error("cannot read the recorder's public key: {0}")]
    Key(#[from] crate::keys::KeyError),
    #[error("segment {sequence}: {source}")]
    Decrypt { sequence: u64, source: SealError },
    #[error("segment {sequence} decrypts but is not a readable segment: {source}")]
    Demux { sequence: u64, source: DemuxError },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Exports the recording in `dir` to `out`.
pub fn export(dir: &Path, keys: &KeyStore, out: &Path) -> Result<ExportReport, ExportError> {
    let report = verify::verify(dir, &keys.verifying_key()?)?;
    let m = report.manifest;
    let key = recording::read_key(dir, keys, &m.recording_id)?;
    let tracks: Vec<MuxTrack> = crate::session::mux_tracks(&m.tracks);
    let mut muxer = SegmentMuxer::new(&tracks);
    for s in &m.segments {
        let path = dir.join(&s.file);
        let sealed = std::fs::read(&path).map_err(|source| ExportError::Read { path, source })?;
        let plain = seal::open(&key, &m.recording_id, s.sequence, &sealed).map_err(|source| {
            ExportError::Decrypt {
                sequence: s.sequence,
                source,
            }
        })?;
        let d = demux::demux(&plain).map_err(|source| ExportError::Demux {
            sequence: s.sequence,
            source,
        })?;
        for f in d.frames {
            // Tracks were checked against the manifest when the segment was written.
            let _ = muxer.push(f.track, s.start_ms + f.time_ms, f.keyframe, &f.data);
        }
    }
    let frames = muxer.frames();
    let duration_ms = muxer.duration_ms();
    let container = if tracks
        .iter()
        .any(|t| t.codec == crate::depacketize::Codec::H264)
    {
        "matroska"
    } else {
        "webm"
    };
    let bytes = muxer.finish();
    fsutil::write_atomic(out, &bytes).map_err(|source| ExportError::Write {
        path: out.into(),
        source,
    })?;
    Ok(ExportReport {
        container,
        segments: m.segments.len(),
        frames,
        duration_ms,
    })
}
