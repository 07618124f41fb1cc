//! A recording on disk: one directory per recording id under the
//! recordings root, holding the wrapped data key (`key.json`), the signed
//! manifest (`manifest.json`), the encrypted segments (`000001.webm.enc`…)
//! and, when one applies, `legal-hold.json`.
//!
//! Invariants: a segment file is complete and fsynced before the manifest
//! names it; the manifest is replaced atomically; so after a crash every
//! segment the manifest lists verifies, and a file it does not list is an
//! unfinished write. A privileged session kind never creates a directory.

use crate::fsutil;
use crate::keys::{KeyError, KeyStore, RecordingKey, WrappedKey};
use crate::manifest::{self, Ending, Gap, Manifest, ManifestError, SegmentEntry};
use crate::protocol::Start;
use crate::seal;
use crate::segmenter::FinishedSegment;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::SigningKey;
use parley_policy::SessionKind;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "key.json";

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{kind} sessions are privileged and are never recorded")]
    Privileged { kind: SessionKind },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{path} is not a wrapped data key: {detail}")]
    KeyFile { path: PathBuf, detail: String },
    #[error(
        "recording {id} already exists for {existing}; a reconnect must send the same session, jurisdiction and tracks"
    )]
    Mismatch { id: String, existing: String },
    #[error("recording {id} ended at {at}; start a new recording id")]
    Ended { id: String, at: String },
}

/// The directory of recording `id` under `root`.
pub fn dir_of(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// File name of segment `sequence`.
pub fn segment_file(sequence: u64, container: &str) -> String {
    let ext = if container == "webm" { "webm" } else { "mkv" };
    format!("{sequence:06}.{ext}.enc")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn unix_ms(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

/// Reads and unwraps a recording's data key.
pub fn read_key(
    dir: &Path,
    keys: &KeyStore,
    recording_id: &str,
) -> Result<RecordingKey, RecordingError> {
    let path = dir.join(KEY_FILE);
    let bytes = std::fs::read(&path).map_err(|source| RecordingError::Read {
        path: path.clone(),
        source,
    })?;
    let wrapped: WrappedKey =
        serde_json::from_slice(&bytes).map_err(|e| RecordingError::KeyFile {
            path: path.clone(),
            detail: e.to_string(),
        })?;
    let jkey = keys.existing_jurisdiction_key(&wrapped.jurisdiction)?;
    Ok(RecordingKey::unwrap(&wrapped, &jkey, recording_id)?)
}

/// Reads and verifies a recording's manifest.
pub fn read_manifest(dir: &Path, keys: &KeyStore) -> Result<Manifest, RecordingError> {
    let path = dir.join(manifest::FILE);
    let bytes = std::fs::read(&path).map_err(|source| RecordingError::Read {
        path: path.clone(),
        source,
    })?;
    manifest::verify(&bytes, &keys.verifying_key()?)
        .map_err(|source| RecordingError::Manifest { path, source })
}

/// Writes one recording's segments and manifest.
pub struct RecordingWriter {
    dir: PathBuf,
    manifest: Manifest,
    key: RecordingKey,
    signer: SigningKey,
}

impl RecordingWriter {
    /// Creates the recording, or continues it (next segment) if a manifest
    /// for the same session already exists, e.g. after a restart.
    pub fn open(
        root: &Path,
        keys: &KeyStore,
        start: &Start,
        retention_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Self, RecordingError> {
        // Invariant 1, checked before anything touches the disk.
        if start.session_kind.is_privileged() {
            return Err(RecordingError::Privileged {
                kind: start.session_kind,
            });
        }
        let signer = keys.signing_key()?;
        let dir = dir_of(root, &start.recording_id);
        let manifest_path = dir.join(manifest::FILE);
        if manifest_path.exists() {
            let manifest = read_manifest(&dir, keys)?;
            let same = manifest.session_id == start.session_id
                && manifest.session_kind == start.session_kind
                && manifest.jurisdiction == start.jurisdiction
                && manifest.tracks == start.tracks;
            if !same {
                return Err(RecordingError::Mismatch {
                    id: start.recording_id.clone(),
                    existing: format!(
                        "session {} ({}, {})",
                        manifest.session_id, manifest.session_kind, manifest.jurisdiction
                    ),
                });
            }
            if let Some(e) = &manifest.ended {
                return Err(RecordingError::Ended {
                    id: start.recording_id.clone(),
                    at: e.at.clone(),
                });
            }
            let key = read_key(&dir, keys, &start.recording_id)?;
            remove_unfinished(&dir, &manifest);
            return Ok(Self {
                dir,
                manifest,
                key,
                signer,
            });
        }
        fsutil::create_private_dir(&dir).map_err(|source| RecordingError::Write {
            path: dir.clone(),
            source,
        })?;
        let key = RecordingKey::generate();
        let jkey = keys.jurisdiction_key(&start.jurisdiction)?;
        let wrapped = key.wrap(&jkey, &start.jurisdiction, &start.recording_id);
        let key_path = dir.join(KEY_FILE);
        let key_json = serde_json::to_vec_pretty(&wrapped).unwrap_or_default();
        fsutil::write_atomic(&key_path, &key_json).map_err(|source| RecordingError::Write {
            path: key_path,
            source,
        })?;
        let manifest = Manifest {
            format: manifest::FORMAT,
            recording_id: start.recording_id.clone(),
            session_id: start.session_id,
            session_kind: start.session_kind,
            jurisdiction: start.jurisdiction.clone(),
            retention_days,
            started_at: rfc3339(now),
            started_at_unix_ms: unix_ms(now),
            tracks: start.tracks.clone(),
            segments: Vec::new(),
            gaps: Vec::new(),
            ended: None,
        };
        let mut w = Self {
            dir,
            manifest,
            key,
            signer,
        };
        w.write_manifest()?;
        Ok(w)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_manifest(&mut self) -> Result<(), RecordingError> {
        let path = self.dir.join(manifest::FILE);
        let bytes = self.manifest.sign(&self.signer);
        fsutil::write_atomic(&path, &bytes).map_err(|source| RecordingError::Write { path, source })
    }

    /// Encrypts and stores a finished segment, then lists it in the
    /// manifest. Returns its entry.
    pub fn write_segment(
        &mut self,
        segment: &FinishedSegment,
    ) -> Result<SegmentEntry, RecordingError> {
        let sequence = self.manifest.segments.len() as u64 + 1;
        let file = segment_file(sequence, segment.container);
        let sealed = seal::seal(
            &self.key,
            &self.manifest.recording_id,
            sequence,
            &segment.bytes,
        );
        let path = self.dir.join(&file);
        fsutil::write_atomic(&path, &sealed)
            .map_err(|source| RecordingError::Write { path, source })?;
        let entry = SegmentEntry {
            sequence,
            file,
            container: segment.container.into(),
            sha256: hex::encode(Sha256::digest(&sealed)),
            bytes: sealed.len() as u64,
            start_ms: segment.start_ms,
            end_ms: segment.end_ms,
            frames: segment.frames,
        };
        self.manifest.segments.push(entry.clone());
        self.write_manifest()?;
        Ok(entry)
    }

    /// Records that the recording goes on after its stream broke off for
    /// `reason`, after the segments it has.
    pub fn record_gap(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), RecordingError> {
        self.manifest.gaps.push(Gap {
            after_segment: self.manifest.segments.len() as u64,
            resumed_at: rfc3339(now),
            resumed_at_unix_ms: unix_ms(now),
            reason: reason.into(),
        });
        self.write_manifest()
    }

    /// Records a lawful stop; the recording can no longer be continued.
    pub fn end(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), RecordingError> {
        self.manifest.ended = Some(Ending {
            at: rfc3339(now),
            at_unix_ms: unix_ms(now),
            reason: reason.into(),
        });
        self.write_manifest()
    }
}

/// Suffix given to a segment file the manifest never listed (a crash came
/// between writing it and signing the manifest): kept, but not part of the
/// signed record.
pub const UNLISTED_SUFFIX: &str = ".unlisted";

/// Tidies what a crash interrupted before continuing: temp files are
/// deleted (never complete), a segment file the manifest does not list is
/// renamed `….unlisted` so the next segment can take its name.
fn remove_unfinished(dir: &Path, manifest: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let listed = manifest.segments.iter().any(|s| s.file == name);
        if fsutil::is_temp_name(&name) {
            let _ = std::fs::remove_file(e.path());
        } else if name.ends_with(".enc") && !listed {
            let _ = std::fs::rename(e.path(), dir.join(format!("{name}{UNLISTED_SUFFIX}")));
        }
    }
}
