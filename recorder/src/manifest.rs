//! The manifest of a recording: what it is, its tracks, and each segment
//! with the SHA-256 of its encrypted file and its timing, signed with the
//! recorder's Ed25519 key.
//!
//! `manifest.json` holds `{"manifest": {...}, "signature": {...}}`. The
//! signature covers the compact JSON serialization of `manifest` (fields in
//! declaration order, no maps), so any change to what it says, or any
//! unknown field added to it, fails verification.

use crate::protocol::TrackInfo;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use parley_policy::SessionKind;
use serde::{Deserialize, Serialize};

/// Version of the manifest layout.
pub const FORMAT: u32 = 1;
/// File name inside a recording's directory.
pub const FILE: &str = "manifest.json";

/// What the recorder asserts about a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub recording_id: String,
    pub session_id: i64,
    pub session_kind: SessionKind,
    pub jurisdiction: String,
    /// Days kept after the recording ends (from the jurisdiction's policy
    /// when the recording started).
    pub retention_days: u32,
    /// RFC 3339, UTC, milliseconds.
    pub started_at: String,
    pub started_at_unix_ms: u64,
    pub tracks: Vec<TrackInfo>,
    /// In sequence order, 1, 2, 3…
    pub segments: Vec<SegmentEntry>,
    /// Each time the recording went on after its stream broke off without
    /// a lawful stop, in order. Absent from manifests with none (so older
    /// manifests verify as they were signed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Set when the recording was stopped lawfully; absent while it runs or
    /// after a crash.
    pub ended: Option<Ending>,
}

/// One finished segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    pub sequence: u64,
    /// File name inside the recording's directory.
    pub file: String,
    /// `webm` or `matroska`.
    pub container: String,
    /// SHA-256 of the encrypted file, hex.
    pub sha256: String,
    /// Size of the encrypted file, bytes.
    pub bytes: u64,
    /// Milliseconds from the recording's start to the segment's first frame.
    pub start_ms: u64,
    /// Milliseconds from the recording's start to the end of its last frame.
    pub end_ms: u64,
    pub frames: u64,
}

/// A break in a recording: its stream broke off after segment
/// `after_segment`, and the recording went on at `resumed_at`. No media
/// between the end of that segment and the next segment's start was
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    /// The last segment before the break (0: none).
    pub after_segment: u64,
    /// When the recording went on: RFC 3339, UTC, milliseconds.
    pub resumed_at: String,
    pub resumed_at_unix_ms: u64,
    /// Why the stream broke off, as far as the recorder knows.
    pub reason: String,
}

/// How and when the recording stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ending {
    pub at: String,
    pub at_unix_ms: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    pub algorithm: String,
    /// The signer's Ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    pub manifest: Manifest,
    pub signature: SignatureBlock,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not a valid recorder manifest (altered or truncated): {0}")]
    Parse(String),
    #[error(
        "manifest signature is not Ed25519 or not well-formed hex: the signature block was altered"
    )]
    SignatureFormat,
    #[error("manifest was signed by key {found}, not by this recorder's key {expected}")]
    WrongSigner { found: String, expected: String },
    #[error(
        "manifest signature does not match its contents: the manifest was changed after the recorder signed it"
    )]
    BadSignature,
}

impl Manifest {
    /// The time after which the recording may be destroyed, in Unix ms:
    /// `retention_days` after its end (its last segment's end if it never
    /// ended lawfully).
    pub fn expires_at_unix_ms(&self) -> u64 {
        let end = match &self.ended {
            Some(e) => e.at_unix_ms,
            None => self.started_at_unix_ms + self.segments.last().map_or(0, |s| s.end_ms),
        };
        end + u64::from(self.retention_days) * 86_400_000
    }

    /// Signs the manifest and returns the file's bytes.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let signed = SignedManifest {
            manifest: self.clone(),
            signature: SignatureBlock {
                algorithm: "ed25519".into(),
                public_key: hex::encode(key.verifying_key().as_bytes()),
                value: hex::encode(key.sign(&body).to_bytes()),
            },
        };
        let mut out = serde_json::to_vec_pretty(&signed).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// Parses `manifest.json` and checks its signature against `key`.
pub fn verify(bytes: &[u8], key: &VerifyingKey) -> Result<Manifest, ManifestError> {
    let signed: SignedManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Parse(e.to_string()))?;
    let sig = &signed.signature;
    if sig.algorithm != "ed25519" {
        return Err(ManifestError::SignatureFormat);
    }
    let expected = hex::encode(key.as_bytes());
    if sig.public_key != expected {
        return Err(ManifestError::WrongSigner {
            found: sig.public_key.clone(),
            expected,
        });
    }
    let mut value = [0u8; 64];
    hex::decode_to_slice(&sig.value, &mut value).map_err(|_| ManifestError::SignatureFormat)?;
    let body =
        serde_json::to_vec(&signed.manifest).map_err(|e| ManifestError::Parse(e.to_string()))?;
    key.verify(&body, &Signature::from_bytes(&value))
        .map_err(|_| ManifestError::BadSignature)?;
    Ok(signed.manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            recording_id: "r".into(),
            session_id: 1,
            session_kind: SessionKind::CourtHearing,
            jurisdiction: "demo".into(),
            retention_days: 2,
            started_at: "2030-01-01T00:00:00.000Z".into(),
            started_at_unix_ms: 1_000,
            tracks: vec![],
            segments: vec![SegmentEntry {
                sequence: 1,
                file: "000001.webm.enc".into(),
                container: "webm".into(),
                sha256: "00".repeat(32),
                bytes: 10,
                start_ms: 0,
                end_ms: 5_000,
                frames: 3,
            }],
            gaps: Vec::new(),
            ended: None,
        }
    }

    #[test]
    fn signed_manifest_verifies_and_detects_changes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let bytes = manifest().sign(&key);
        assert_eq!(verify(&bytes, &key.verifying_key()).unwrap(), manifest());
        let text = String::from_utf8(bytes.clone()).unwrap();
        let changed = text.replace("\"end_ms\": 5000", "\"end_ms\": 5001");
        assert_ne!(changed, text);
        assert_eq!(
            verify(changed.as_bytes(), &key.verifying_key()),
            Err(ManifestError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(matches!(
            verify(&bytes, &other.verifying_key()),
            Err(ManifestError::WrongSigner { .. })
        ));
        assert!(matches!(
            verify(b"{", &key.verifying_key()),
            Err(ManifestError::Parse(_))
        ));
    }

    #[test]
    fn a_gap_is_signed_and_a_manifest_without_one_reads_as_before() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let plain = String::from_utf8(manifest().sign(&key)).unwrap();
        assert!(!plain.contains("gaps"), "no gap, no field: {plain}");
        let mut m = manifest();
        m.gaps.push(Gap {
            after_segment: 1,
            resumed_at: "2030-01-01T00:00:09.000Z".into(),
            resumed_at_unix_ms: 10_000,
            reason: "the recorder stopped".into(),
        });
        let bytes = m.sign(&key);
        assert_eq!(verify(&bytes, &key.verifying_key()).unwrap(), m);
        let text = String::from_utf8(bytes).unwrap();
        let hidden = text.replace("the recorder stopped", "nothing happened");
        assert_ne!(hidden, text);
        assert_eq!(
            verify(hidden.as_bytes(), &key.verifying_key()),
            Err(ManifestError::BadSignature),
            "a gap's reason cannot be changed"
        );
    }

    #[test]
    fn expiry_counts_from_the_end() {
        let mut m = manifest();
        assert_eq!(m.expires_at_unix_ms(), 1_000 + 5_000 + 2 * 86_400_000);
        m.ended = Some(Ending {
            at: String::new(),
            at_unix_ms: 10_000,
            reason: "end".into(),
        });
        assert_eq!(m.expires_at_unix_ms(), 10_000 + 2 * 86_400_000);
    }
}
