//! Retention: which recordings are past their retention period, legal
//! holds that keep them, and their destruction (data key first, then the
//! segments, then the directory).
//!
//! A recording whose manifest does not verify is never destroyed by a
//! sweep: it is reported, because it may be evidence of tampering.

use crate::fsutil;
use crate::keys::KeyStore;
use crate::manifest::Manifest;
use crate::recording::{self, KEY_FILE, RecordingError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const HOLD_FILE: &str = "legal-hold.json";

/// A legal hold: the recording is kept past its retention until released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    pub actor: String,
    pub reason: String,
    pub placed_at: String,
}

/// One recording as a sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepItem {
    /// Past retention, no hold: to be destroyed.
    Expired { id: String, manifest: Box<Manifest> },
    /// Past retention but held.
    Held { id: String, hold: LegalHold },
    /// Still within retention.
    Kept { id: String, expires_at_unix_ms: u64 },
    /// Its manifest does not verify: left alone and reported.
    Unreadable { id: String, problem: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("cannot list the recordings directory {path}: {source}")]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot destroy {path}: {source}")]
    Destroy {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no recording {0}")]
    NoRecording(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Recording(#[from] RecordingError),
}

/// The hold on a recording, if any (an unreadable hold file still holds).
pub fn hold_of(dir: &Path) -> Option<LegalHold> {
    let bytes = std::fs::read(dir.join(HOLD_FILE)).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap_or(LegalHold {
        actor: "unknown".into(),
        reason: "hold file present but unreadable".into(),
        placed_at: String::new(),
    }))
}

/// Places a legal hold on a recording.
pub fn place_hold(
    root: &Path,
    id: &str,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<LegalHold, RetentionError> {
    let dir = existing(root, id)?;
    let hold = LegalHold {
        actor: actor.into(),
        reason: reason.into(),
        placed_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    let path = dir.join(HOLD_FILE);
    fsutil::write_atomic(&path, &serde_json::to_vec_pretty(&hold).unwrap_or_default())
        .map_err(|source| RetentionError::Write { path, source })?;
    Ok(hold)
}

/// Releases a legal hold; `Ok(false)` if there was none.
pub fn release_hold(root: &Path, id: &str) -> Result<bool, RetentionError> {
    let dir = existing(root, id)?;
    let path = dir.join(HOLD_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            let _ = fsutil::sync_dir(&dir);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(RetentionError::Write { path, source }),
    }
}

fn existing(root: &Path, id: &str) -> Result<PathBuf, RetentionError> {
    let dir = recording::dir_of(root, id);
    if !crate::protocol::valid_recording_id(id) || !dir.join(crate::manifest::FILE).exists() {
        return Err(RetentionError::NoRecording(id.into()));
    }
    Ok(dir)
}

/// Classifies every recording under `root` at `now_unix_ms`, by id.
pub fn survey(
    root: &Path,
    keys: &KeyStore,
    now_unix_ms: u64,
) -> Result<Vec<SweepItem>, RetentionError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RetentionError::List {
                path: root.into(),
                source,
            });
        }
    };
    let mut items = Vec::new();
    for e in entries.flatten() {
        if !e.path().is_dir() {
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        let dir = e.path();
        let item = match recording::read_manifest(&dir, keys) {
            Err(err) => SweepItem::Unreadable {
                id,
                problem: err.to_string(),
            },
            Ok(m) if m.recording_id != id => SweepItem::Unreadable {
                problem: format!("its manifest names recording {}", m.recording_id),
                id,
            },
            Ok(m) => {
                let expires = m.expires_at_unix_ms();
                if expires > now_unix_ms {
                    SweepItem::Kept {
                        id,
                        expires_at_unix_ms: expires,
                    }
                } else if let Some(hold) = hold_of(&dir) {
                    SweepItem::Held { id, hold }
                } else {
                    SweepItem::Expired {
                        id,
                        manifest: Box::new(m),
                    }
                }
            }
        };
        items.push(item);
    }
    items.sort_by(|a, b| item_id(a).cmp(item_id(b)));
    Ok(items)
}

fn item_id(i: &SweepItem) -> &str {
    match i {
        SweepItem::Expired { id, .. }
        | SweepItem::Held { id, .. }
        | SweepItem::Kept { id, .. }
        | SweepItem::Unreadable { id, .. } => id,
    }
}

/// Destroys a recording: overwrites and deletes its wrapped data key (after
/// which no copy of the segments can be decrypted), then deletes the rest.
pub fn destroy(root: &Path, id: &str) -> Result<(), RetentionError> {
    let dir = existing(root, id)?;
    let key = dir.join(KEY_FILE);
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RetentionError::Destroy { path, source }
    };
    if let Ok(meta) = std::fs::metadata(&key) {
        let zeros = vec![0u8; meta.len() as usize];
        std::fs::write(&key, &zeros).map_err(err(&key))?;
        std::fs::File::open(&key)
            .and_then(|f| f.sync_all())
            .map_err(err(&key))?;
        std::fs::remove_file(&key).map_err(err(&key))?;
        fsutil::sync_dir(&dir).map_err(err(&dir))?;
    }
    std::fs::remove_dir_all(&dir).map_err(err(&dir))?;
    fsutil::sync_dir(root).map_err(err(root))?;
    Ok(())
}
