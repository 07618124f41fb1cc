//! Checks a recording without decrypting it: the manifest's signature
//! (with the recorder's public key only), each listed segment's presence,
//! size and SHA-256, and the continuity of sequence numbers and times.
//! Anyone holding `manifest-signing.pub` can run it; no data key is needed.

use crate::fsutil;
use crate::manifest::{self, Manifest, ManifestError};
use crate::recording::{UNLISTED_SUFFIX, segment_file};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A recording that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub manifest: Manifest,
    /// Things a reader should know that are not tampering: media gaps
    /// between segments, files left by an interrupted write.
    pub notes: Vec<String>,
}

/// What is wrong with a recording. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error(
        "{path}: the manifest names recording {found}, not the directory's {expected}: it was moved or swapped"
    )]
    WrongRecording {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: segment {sequence} is missing: it was deleted or renamed")]
    MissingSegment { path: PathBuf, sequence: u64 },
    #[error(
        "{path}: segment {sequence} was altered: its SHA-256 is {found}, the signed manifest says {expected}"
    )]
    Hash {
        path: PathBuf,
        sequence: u64,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: segment {sequence} is {found} bytes, the signed manifest says {expected}: it was truncated or extended"
    )]
    Size {
        path: PathBuf,
        sequence: u64,
        expected: u64,
        found: u64,
    },
    #[error("{path}: broken continuity: {detail}")]
    Continuity { path: PathBuf, detail: String },
}

/// Verifies the recording in `dir` against the recorder's public key.
pub fn verify(dir: &Path, key: &VerifyingKey) -> Result<VerifyReport, VerifyError> {
    let manifest_path = dir.join(manifest::FILE);
    let bytes = std::fs::read(&manifest_path).map_err(|source| VerifyError::Read {
        path: manifest_path.clone(),
        source,
    })?;
    let m = manifest::verify(&bytes, key).map_err(|source| VerifyError::Manifest {
        path: manifest_path.clone(),
        source,
    })?;
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if m.recording_id != dir_name {
        return Err(VerifyError::WrongRecording {
            path: manifest_path,
            expected: dir_name,
            found: m.recording_id,
        });
    }
    let mut notes = Vec::new();
    let mut previous: Option<&manifest::SegmentEntry> = None;
    for (i, s) in m.segments.iter().enumerate() {
        let continuity = |detail: String| VerifyError::Continuity {
            path: manifest_path.clone(),
            detail,
        };
        let expected_seq = i as u64 + 1;
        if s.sequence != expected_seq {
            return Err(continuity(format!(
                "entry {expected_seq} has sequence number {}",
                s.sequence
            )));
        }
        if s.file != segment_file(s.sequence, &s.container) {
            return Err(continuity(format!(
                "segment {} names file {:?}",
                s.sequence, s.file
            )));
        }
        if s.end_ms < s.start_ms {
            return Err(continuity(format!(
                "segment {} ends before it starts",
                s.sequence
            )));
        }
        for gap in m.gaps.iter().filter(|g| g.after_segment == s.sequence - 1) {
            notes.push(format!(
                "interrupted after segment {}; recording again from {}: {}",
                gap.after_segment, gap.resumed_at, gap.reason
            ));
        }
        if let Some(p) = previous {
            if s.start_ms < p.start_ms {
                return Err(continuity(format!(
                    "segment {} starts at {} ms, before segment {} ({} ms)",
                    s.sequence, s.start_ms, p.sequence, p.start_ms
                )));
            }
            if s.start_ms > p.end_ms + 1_000 {
                notes.push(format!(
                    "no media for {:.1} s between segments {} and {} (at {:.1} s)",
                    (s.start_ms - p.end_ms) as f64 / 1000.0,
                    p.sequence,
                    s.sequence,
                    p.end_ms as f64 / 1000.0
                ));
            }
        }
        let path = dir.join(&s.file);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VerifyError::MissingSegment {
                    path,
                    sequence: s.sequence,
                });
            }
            Err(source) => return Err(VerifyError::Read { path, source }),
        };
        if data.len() as u64 != s.bytes {
            return Err(VerifyError::Size {
                path,
                sequence: s.sequence,
                expected: s.bytes,
                found: data.len() as u64,
            });
        }
        let found = hex::encode(Sha256::digest(&data));
        if found != s.sha256 {
            return Err(VerifyError::Hash {
                path,
                sequence: s.sequence,
                expected: s.sha256.clone(),
                found,
            });
        }
        previous = Some(s);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut extra: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.ends_with(".enc") || n.ends_with(UNLISTED_SUFFIX) || fsutil::is_temp_name(n))
                    && !m.segments.iter().any(|s| &s.file == n)
            })
            .collect();
        extra.sort();
        for n in extra {
            notes.push(format!(
                "{n} is not listed in the signed manifest (a write interrupted by a crash); it is not part of the record"
            ));
        }
    }
    if m.ended.is_none() {
        notes.push("the recording has no lawful end in its manifest: it is still running, or the recorder stopped without ending it".into());
    }
    Ok(VerifyReport { manifest: m, notes })
}
