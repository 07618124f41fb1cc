//! A segment's encryption at rest: AES-256-GCM under the recording's data
//! key. File layout: the 8-byte magic `PRLYSEG1`, a random 12-byte nonce,
//! then the ciphertext with its 16-byte tag. The additional data binds the
//! ciphertext to its recording id and sequence number, so a segment cannot
//! be moved to another recording or position and still decrypt.

use crate::keys::RecordingKey;
use aes_gcm::Nonce;
use aes_gcm::aead::{Aead, Payload};
use rand::RngCore;

const MAGIC: &[u8; 8] = b"PRLYSEG1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not an encrypted recorder segment (bad magic or too short)")]
    Format,
    #[error("segment does not decrypt: wrong key, or its bytes were altered")]
    Authentication,
}

fn aad(recording_id: &str, sequence: u64) -> Vec<u8> {
    let mut a = b"parley-segment\0".to_vec();
    a.extend_from_slice(recording_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&sequence.to_be_bytes());
    a
}

/// Encrypts a segment file's bytes.
pub fn seal(key: &RecordingKey, recording_id: &str, sequence: u64, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let aad = aad(recording_id, sequence);
    // AES-GCM encryption fails only past 64 GiB per message.
    let ct = key
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts what [`seal`] wrote.
pub fn open(
    key: &RecordingKey,
    recording_id: &str,
    sequence: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    if sealed.len() < MAGIC.len() + 12 + 16 || &sealed[..8] != MAGIC {
        return Err(SealError::Format);
    }
    let aad = aad(recording_id, sequence);
    let nonce: [u8; 12] = sealed[8..20].try_into().map_err(|_| SealError::Format)?;
    key.cipher()
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &sealed[20..],
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = RecordingKey::generate();
        let s = seal(&k, "r1", 3, b"segment");
        assert_eq!(open(&k, "r1", 3, &s).unwrap(), b"segment");
        assert_eq!(open(&k, "r1", 4, &s), Err(SealError::Authentication));
        assert_eq!(open(&k, "r2", 3, &s), Err(SealError::Authentication));
        assert_eq!(
            open(&RecordingKey::generate(), "r1", 3, &s),
            Err(SealError::Authentication)
        );
        let mut flipped = s.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(open(&k, "r1", 3, &flipped), Err(SealError::Authentication));
        assert_eq!(open(&k, "r1", 3, b"short"), Err(SealError::Format));
    }
}
