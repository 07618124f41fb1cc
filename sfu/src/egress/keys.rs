//! Getting a connection's SRTP master keys without forking `rtc`.
//!
//! rtc 0.21.1 keeps the SRTP contexts it builds after the DTLS handshake
//! private, but builds them with the connection's crypto provider, which a
//! `SettingEngine` sets per connection. [`KeyCapture`] is such a provider:
//! it does everything the default provider does, and keeps the key and the
//! input block of every AES block encryption. rtc's SRTP key derivation
//! (RFC 3711 §4.3, the AES-CM PRF) is the only caller of block encryption,
//! and its first block for each master key is the master salt followed by
//! zeros (label 0, counter 0), so the log holds every master key and salt
//! of the connection: the local pair and the remote pair of each handshake.
//!
//! Which pair is the local one is not assumed from the order of the calls:
//! `sealing` tries each candidate against a packet rtc encrypted itself and
//! keeps only the one whose output is identical, byte for byte. A change in
//! rtc that broke this would make every candidate fail the check, and the
//! SFU would keep sending through rtc (and count it); the test
//! `egress::keys::tests::the_capture_yields_the_key_rtc_encrypts_with`
//! fails first.
//!
//! Keys are overwritten with zeros when the capture is dropped (the peer
//! goes) and when a candidate is taken.

use rtc::crypto::{
    ActiveKeyExchange, AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CbcAlgorithm, CbcCipher,
    CryptoAlgorithm, CryptoError, HashAlgorithm, HmacAlgorithm, KeyExchangeAlgorithm, Mac,
    PublicKey, RTCCrypto, RTCCryptoProvider, RTCRandom, SignatureScheme, SigningKey, StreamCipher,
    StreamCipherAlgorithm,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Block encryptions remembered; a handshake makes about 8 (WebRTC peers
/// handshake once per connection).
const REMEMBERED: usize = 64;

/// A master key and the first block the key derivation encrypted with it.
#[derive(Clone)]
pub struct Candidate {
    pub key: Vec<u8>,
    /// The master salt, zero-padded to a block.
    pub block: [u8; 16],
}

impl Candidate {
    /// The master salt for a profile whose salt is `len` bytes.
    pub fn salt(&self, len: usize) -> &[u8] {
        &self.block[..len.min(16)]
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        zero(&mut self.key);
        zero(&mut self.block);
    }
}

fn zero(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, initialised byte of `bytes`; a
        // volatile write keeps the compiler from eliding the wipe.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

struct Log {
    seen: Vec<Candidate>,
}

/// The default crypto provider, keeping the AES block encryptions.
pub struct KeyCapture {
    inner: Arc<dyn RTCCryptoProvider>,
    crypto: Capturing,
}

struct Capturing {
    inner: Arc<dyn RTCCryptoProvider>,
    log: Mutex<Log>,
    /// Block encryptions seen in all (only grows): a change means new keys.
    /// Read on every sealed packet, so kept outside the lock.
    calls: AtomicU64,
}

impl KeyCapture {
    /// A capture over rtc's default provider.
    pub fn new() -> Result<Arc<Self>, CryptoError> {
        let inner = rtc::crypto::default_provider()?;
        Ok(Arc::new(Self {
            crypto: Capturing {
                inner: Arc::clone(&inner),
                log: Mutex::new(Log { seen: Vec::new() }),
                calls: AtomicU64::new(0),
            },
            inner,
        }))
    }

    /// Block encryptions so far: it changes when the connection derives new
    /// keys.
    pub fn calls(&self) -> u64 {
        self.crypto.calls.load(Ordering::Acquire)
    }

    /// Every distinct key seen, with the first block encrypted under it,
    /// newest first; and the number of block encryptions so far (it changes
    /// when the connection derives new keys).
    pub fn candidates(&self) -> (Vec<Candidate>, u64) {
        let Ok(log) = self.crypto.log.lock() else {
            return (Vec::new(), 0);
        };
        let mut out: Vec<Candidate> = Vec::new();
        for c in log.seen.iter().rev() {
            // Keep the *first* block of each key: scanning newest first, a
            // later entry for the same key replaces the one kept.
            if let Some(kept) = out.iter_mut().find(|k| k.key == c.key) {
                kept.block = c.block;
            } else {
                out.push(c.clone());
            }
        }
        (out, self.crypto.calls.load(Ordering::Acquire))
    }
}

impl RTCCryptoProvider for KeyCapture {
    fn name(&self) -> &'static str {
        "parley-key-capture"
    }
    fn crypto(&self) -> &dyn RTCCrypto {
        &self.crypto
    }
    fn random(&self) -> &dyn RTCRandom {
        self.inner.random()
    }
}

impl RTCCrypto for Capturing {
    fn supports(&self, algorithm: CryptoAlgorithm) -> bool {
        self.inner.crypto().supports(algorithm)
    }
    fn hash(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.crypto().hash(algorithm, data)
    }
    fn block_encrypt(
        &self,
        algorithm: BlockCipherAlgorithm,
        key: &[u8],
        block: &mut [u8],
    ) -> Result<(), CryptoError> {
        if let (Ok(mut log), Ok(input)) = (self.log.lock(), <[u8; 16]>::try_from(&*block)) {
            self.calls.fetch_add(1, Ordering::Release);
            if log.seen.len() == REMEMBERED {
                log.seen.remove(0);
            }
            log.seen.push(Candidate {
                key: key.to_vec(),
                block: input,
            });
        }
        self.inner.crypto().block_encrypt(algorithm, key, block)
    }
    fn new_hmac(&self, algorithm: HmacAlgorithm, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        self.inner.crypto().new_hmac(algorithm, key)
    }
    fn new_stream_cipher(
        &self,
        algorithm: StreamCipherAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn StreamCipher>, CryptoError> {
        self.inner.crypto().new_stream_cipher(algorithm, key)
    }
    fn new_aead(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn AeadCipher>, CryptoError> {
        self.inner.crypto().new_aead(algorithm, key)
    }
    fn new_cbc(
        &self,
        algorithm: CbcAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn CbcCipher>, CryptoError> {
        self.inner.crypto().new_cbc(algorithm, key)
    }
    fn start_key_exchange(
        &self,
        algorithm: KeyExchangeAlgorithm,
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        self.inner.crypto().start_key_exchange(algorithm)
    }
    fn generate_signing_key(
        &self,
        scheme: SignatureScheme,
    ) -> Result<Arc<dyn SigningKey>, CryptoError> {
        self.inner.crypto().generate_signing_key(scheme)
    }
    fn import_signing_key(
        &self,
        scheme: SignatureScheme,
        pkcs8_der: &[u8],
    ) -> Result<Arc<dyn SigningKey>, CryptoError> {
        self.inner.crypto().import_signing_key(scheme, pkcs8_der)
    }
    fn verify_signature(
        &self,
        scheme: SignatureScheme,
        public_key: PublicKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner
            .crypto()
            .verify_signature(scheme, public_key, message, signature)
    }
}
