//! Keys at rest: one AES-256 key per jurisdiction (wraps the recordings'
//! data keys), one Ed25519 key that signs manifests, one random AES-256
//! data key per recording.
//!
//! Layout under the key directory (mode 0700, files 0600):
//! `jurisdictions/<id>.key` (64 hex digits), `manifest-signing.key` (64 hex
//! digits, the Ed25519 seed) and `manifest-signing.pub` (its public key, 64
//! hex digits: give this file to whoever must verify recordings).
//! Missing keys are generated on first use; existing ones are never replaced.

use crate::fsutil;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const SIGNING_KEY_FILE: &str = "manifest-signing.key";
/// The public half of the manifest signing key.
pub const VERIFYING_KEY_FILE: &str = "manifest-signing.pub";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot use the key directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not 64 hexadecimal digits (a 32-byte key); restore it from backup")]
    Malformed { path: PathBuf },
    #[error(
        "no key for jurisdiction `{0}` in the key directory: without it its recordings cannot be decrypted"
    )]
    NoJurisdictionKey(String),
    #[error("`{0}` is not a valid jurisdiction id (a-z, 0-9 and -)")]
    BadJurisdiction(String),
    #[error(
        "the data key of recording {0} does not unwrap with its jurisdiction's key (wrong key or altered key file)"
    )]
    Unwrap(String),
}

/// The key directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

/// A jurisdiction's key-encryption key (AES-256).
pub struct JurisdictionKey([u8; 32]);

/// A recording's data key (AES-256-GCM), random per recording.
pub struct RecordingKey([u8; 32]);

impl Drop for RecordingKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

impl Drop for JurisdictionKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

/// A data key encrypted under its jurisdiction's key: `key.json` in the
/// recording's directory. Deleting it destroys the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    pub jurisdiction: String,
    /// 12-byte AES-GCM nonce, hex.
    pub nonce: String,
    /// The encrypted data key and its tag, hex.
    pub wrapped: String,
}

pub use parley_recorder_link::protocol::valid_jurisdiction_id;

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

fn read_hex32(path: &Path) -> Result<Option<[u8; 32]>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut k = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut k)
                .map_err(|_| KeyError::Malformed { path: path.into() })?;
            Ok(Some(k))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Read {
            path: path.into(),
            source,
        }),
    }
}

fn write_hex(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    fsutil::write_atomic(path, format!("{}\n", hex::encode(bytes)).as_bytes()).map_err(|source| {
        KeyError::Write {
            path: path.into(),
            source,
        }
    })
}

impl KeyStore {
    /// Opens the key directory, creating it (mode 0700) if needed.
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        let jdir = dir.join("jurisdictions");
        fsutil::create_private_dir(&jdir).map_err(|source| KeyError::Dir {
            path: jdir.clone(),
            source,
        })?;
        Ok(Self { dir: dir.into() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn jurisdiction_path(&self, id: &str) -> Result<PathBuf, KeyError> {
        if !valid_jurisdiction_id(id) {
            return Err(KeyError::BadJurisdiction(id.into()));
        }
        Ok(self.dir.join("jurisdictions").join(format!("{id}.key")))
    }

    /// The jurisdiction's key, generated on first use.
    pub fn jurisdiction_key(&self, id: &str) -> Result<JurisdictionKey, KeyError> {
        let path = self.jurisdiction_path(id)?;
        if let Some(k) = read_hex32(&path)? {
            return Ok(JurisdictionKey(k));
        }
        let k = random32();
        write_hex(&path, &k)?;
        Ok(JurisdictionKey(k))
    }

    /// The jurisdiction's key; an error if it does not exist.
    pub fn existing_jurisdiction_key(&self, id: &str) -> Result<JurisdictionKey, KeyError> {
        let path = self.jurisdiction_path(id)?;
        read_hex32(&path)?
            .map(JurisdictionKey)
            .ok_or_else(|| KeyError::NoJurisdictionKey(id.into()))
    }

    /// The manifest signing key, generated (with its `.pub`) on first use.
    pub fn signing_key(&self) -> Result<SigningKey, KeyError> {
        let path = self.dir.join(SIGNING_KEY_FILE);
        let key = match read_hex32(&path)? {
            Some(seed) => SigningKey::from_bytes(&seed),
            None => {
                let seed = random32();
                write_hex(&path, &seed)?;
                SigningKey::from_bytes(&seed)
            }
        };
        let public = self.dir.join(VERIFYING_KEY_FILE);
        if read_hex32(&public)?.is_none() {
            write_hex(&public, key.verifying_key().as_bytes())?;
        }
        Ok(key)
    }

    /// The public key manifests are verified with.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        read_verifying_key(&self.dir.join(VERIFYING_KEY_FILE))
    }
}

/// Reads a manifest public key file (64 hex digits), e.g. a copy of
/// `manifest-signing.pub` handed to a court.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read_hex32(path)?.ok_or_else(|| KeyError::Read {
        path: path.into(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no manifest public key; the recorder writes it on first start",
        ),
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed { path: path.into() })
}

/// Additional data binding a wrapped key to its recording.
fn wrap_aad(recording_id: &str) -> Vec<u8> {
    [
        b"parley-recording-key\0".as_slice(),
        recording_id.as_bytes(),
    ]
    .concat()
}

impl RecordingKey {
    pub fn generate() -> Self {
        Self(random32())
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts this key under the jurisdiction's key.
    pub fn wrap(
        &self,
        jkey: &JurisdictionKey,
        jurisdiction: &str,
        recording_id: &str,
    ) -> WrappedKey {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new(&jkey.0.into());
        let aad = wrap_aad(recording_id);
        // Encryption under a valid key of a 32-byte message cannot fail.
        let wrapped = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &self.0,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        WrappedKey {
            jurisdiction: jurisdiction.into(),
            nonce: hex::encode(nonce),
            wrapped: hex::encode(wrapped),
        }
    }

    /// Decrypts a wrapped key; fails on a wrong key or altered bytes.
    pub fn unwrap(
        w: &WrappedKey,
        jkey: &JurisdictionKey,
        recording_id: &str,
    ) -> Result<Self, KeyError> {
        let bad = || KeyError::Unwrap(recording_id.into());
        let mut nonce = [0u8; 12];
        hex::decode_to_slice(&w.nonce, &mut nonce).map_err(|_| bad())?;
        let wrapped = hex::decode(&w.wrapped).map_err(|_| bad())?;
        let cipher = Aes256Gcm::new(&jkey.0.into());
        let aad = wrap_aad(recording_id);
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &wrapped,
                    aad: &aad,
                },
            )
            .map_err(|_| bad())?;
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_generated_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        let s1 = ks.signing_key().unwrap();
        let s2 = ks.signing_key().unwrap();
        assert_eq!(s1.to_bytes(), s2.to_bytes());
        assert_eq!(ks.verifying_key().unwrap(), s1.verifying_key());
        let j1 = ks.jurisdiction_key("demo").unwrap();
        let j2 = ks.existing_jurisdiction_key("demo").unwrap();
        assert_eq!(j1.0, j2.0);
        assert!(matches!(
            ks.existing_jurisdiction_key("other"),
            Err(KeyError::NoJurisdictionKey(_))
        ));
        assert!(matches!(
            ks.jurisdiction_key("../x"),
            Err(KeyError::BadJurisdiction(_))
        ));
    }

    #[test]
    fn wrap_binds_key_and_recording() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        let j = ks.jurisdiction_key("demo").unwrap();
        let other = ks.jurisdiction_key("other").unwrap();
        let k = RecordingKey::generate();
        let w = k.wrap(&j, "demo", "rec-1");
        assert_eq!(RecordingKey::unwrap(&w, &j, "rec-1").unwrap().0, k.0);
        assert!(RecordingKey::unwrap(&w, &other, "rec-1").is_err());
        assert!(RecordingKey::unwrap(&w, &j, "rec-2").is_err());
    }

    #[test]
    fn malformed_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("jurisdictions/demo.key"), "nope").unwrap();
        let e = ks.jurisdiction_key("demo").err().unwrap().to_string();
        assert!(e.contains("demo.key"), "{e}");
    }
}
