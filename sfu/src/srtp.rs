//! SRTP for one direction of one connection, as the SFU's own read and
//! write paths use it ([`SrtpContext`]): AEAD_AES_128_GCM (RFC 7714) here,
//! sealing and opening in place ([`GcmSrtp`]), and AES_CM_128_HMAC_SHA1_80
//! through `rtc::srtp::Context`.
//!
//! `rtc::srtp::Context` does the same, but per packet it looks the SSRC up
//! in a SipHash map, copies the packet into a new buffer and, for the
//! sealed path, is handed a packet already copied once by `marshal`: about
//! a tenth of the SFU's worker time in a 1:1 visit (docs/benchmarks.md).
//! Here the packet is written once into a buffer with room for the tag,
//! sealed where it lies, and a connection's few SSRCs are found by a scan.
//!
//! The session key and salt come from the master key and salt by the
//! AES-CM key derivation of RFC 3711 §4.3 (labels 0 and 2), computed with
//! rtc's own crypto provider; the rollover counter follows rtc's own
//! estimate of RFC 3711 Appendix A exactly, so that both sides agree on
//! every packet's index: the tests compare the output with
//! `rtc::srtp::Context`'s byte for byte, across the wrap and out of order.
//!
//! Pure apart from the encryption: no sockets, no clock.

use crate::egress::keys::Candidate;
use bytes::{BufMut, BytesMut};
use rtc::crypto::{AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CryptoError};
use rtc::rtp::Packet;
use rtc::shared::marshal::{Marshal, MarshalSize, Unmarshal};
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

/// Master and session key length, bytes (AES-128).
pub const KEY_LEN: usize = 16;
/// Master and session salt length, bytes (RFC 7714 §12).
pub const SALT_LEN: usize = 12;
/// Authentication tag, bytes.
pub const TAG_LEN: usize = 16;
/// Fixed RTP header, bytes.
const RTP_HEADER: usize = 12;
const LABEL_SRTP_ENCRYPTION: u8 = 0x00;
const LABEL_SRTP_SALT: u8 = 0x02;
const SEQ_MEDIAN: u16 = 1 << 15;

/// The profiles the SFU offers, most preferred first.
pub const PROFILES: [ProtectionProfile; 2] = [
    ProtectionProfile::AeadAes128Gcm,
    ProtectionProfile::Aes128CmHmacSha1_80,
];

/// Every context the captured `candidates` make under the profiles whose
/// key length fits: what a proof tries, in order.
pub fn candidate_contexts(
    candidates: &[Candidate],
) -> impl Iterator<Item = (ProtectionProfile, SrtpContext)> + '_ {
    candidates.iter().flat_map(|candidate| {
        PROFILES
            .into_iter()
            .filter(|profile| candidate.key.len() == profile.key_len())
            .filter_map(|profile| {
                SrtpContext::new(profile, &candidate.key, &candidate.block)
                    .ok()
                    .map(|context| (profile, context))
            })
    })
}

/// One direction's SRTP, by the profile the connection negotiated.
pub enum SrtpContext {
    Gcm(GcmSrtp),
    /// AES counter mode with HMAC-SHA1, through rtc's context.
    CounterMode(Box<Context>),
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SrtpContext::Gcm(_) => "SrtpContext::Gcm",
            SrtpContext::CounterMode(_) => "SrtpContext::CounterMode",
        })
    }
}

impl SrtpContext {
    /// A context for `profile` from a master key and a master salt (as long
    /// as the profile's, or longer: the rest is ignored).
    pub fn new(profile: ProtectionProfile, key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        let salt = salt.get(..profile.salt_len()).ok_or(SrtpError::Malformed)?;
        match profile {
            ProtectionProfile::AeadAes128Gcm => Ok(SrtpContext::Gcm(GcmSrtp::new(key, salt)?)),
            _ => {
                let provider = rtc::crypto::default_provider()
                    .map_err(|e| SrtpError::Crypto(e.to_string()))?;
                Context::new(key, salt, profile, None, None, provider.crypto())
                    .map(|c| SrtpContext::CounterMode(Box::new(c)))
                    .map_err(|e| SrtpError::Crypto(e.to_string()))
            }
        }
    }

    /// Encrypts `packet` into a datagram.
    pub fn seal(&mut self, packet: &Packet) -> Result<BytesMut, SrtpError> {
        match self {
            SrtpContext::Gcm(gcm) => gcm.seal(packet),
            SrtpContext::CounterMode(context) => {
                let plain = packet
                    .marshal()
                    .map_err(|e| SrtpError::Marshal(e.to_string()))?;
                context
                    .encrypt_rtp_with_header(&plain, &packet.header)
                    .map_err(|e| SrtpError::Crypto(e.to_string()))
            }
        }
    }

    /// Authenticates, decrypts and parses one datagram.
    pub fn open(&mut self, datagram: &[u8]) -> Result<Packet, SrtpError> {
        match self {
            SrtpContext::Gcm(gcm) => gcm.open(datagram),
            SrtpContext::CounterMode(context) => {
                let plain = context
                    .decrypt_rtp(datagram)
                    .map_err(|_| SrtpError::Authentication)?;
                Packet::unmarshal(&mut plain.freeze()).map_err(|e| SrtpError::Parse(e.to_string()))
            }
        }
    }
}

/// Why a packet could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SrtpError {
    #[error("the key could not be set up: {0}")]
    Crypto(String),
    #[error("the RTP packet could not be serialized: {0}")]
    Marshal(String),
    #[error("the datagram is too short or not RTP")]
    Malformed,
    #[error("authentication failed")]
    Authentication,
    #[error("the decrypted RTP packet could not be parsed: {0}")]
    Parse(String),
}

/// One SSRC's packet index (rollover counter and sequence number), kept as
/// rtc keeps it: the index follows every packet sealed or opened, older
/// ones included.
#[derive(Debug, Clone, Copy, Default)]
struct Rollover {
    index: u64,
    started: bool,
}

impl Rollover {
    /// The rollover counter for `seq`, and how far the index moves.
    fn guess(&self, seq: u16) -> (u32, i64) {
        if !self.started {
            return (0, 0);
        }
        let local_roc = (self.index >> 16) as u32;
        let local_seq = self.index as u16;
        let diff = i64::from(seq) - i64::from(local_seq);
        if self.index <= u64::from(SEQ_MEDIAN) {
            return (local_roc, diff);
        }
        if local_seq < SEQ_MEDIAN {
            if diff > i64::from(SEQ_MEDIAN) {
                return (local_roc.wrapping_sub(1), diff - (1 << 16));
            }
        } else if local_seq - SEQ_MEDIAN > seq {
            return (local_roc.wrapping_add(1), diff + (1 << 16));
        }
        (local_roc, diff)
    }

    fn update(&mut self, seq: u16, diff: i64) {
        if self.started {
            self.index = self.index.wrapping_add_signed(diff);
        } else {
            self.index |= u64::from(seq);
            self.started = true;
        }
    }
}

/// One direction's AES-GCM SRTP context.
pub struct GcmSrtp {
    cipher: Box<dyn AeadCipher>,
    salt: [u8; SALT_LEN],
    /// A connection's few SSRCs and their indexes.
    streams: Vec<(u32, Rollover)>,
}

impl std::fmt::Debug for GcmSrtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmSrtp")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// RFC 3711 §4.3.3: AES-CM of the master salt with the label xored in.
fn derive(
    crypto: &dyn rtc::crypto::RTCCrypto,
    master_key: &[u8],
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let mut block = [0u8; 16];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        block.fill(0);
        block[..master_salt.len()].copy_from_slice(master_salt);
        block[7] ^= label;
        block[14..].copy_from_slice(&(i as u16).to_be_bytes());
        crypto.block_encrypt(BlockCipherAlgorithm::Aes128, master_key, &mut block)?;
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    block.fill(0);
    Ok(())
}

/// The length of an RTP header as it lies in `datagram` (fixed part,
/// CSRCs and extension).
fn header_len(datagram: &[u8]) -> Option<usize> {
    let first = *datagram.first()?;
    let mut len = RTP_HEADER + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let words = datagram.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= datagram.len()).then_some(len)
}

impl GcmSrtp {
    /// A context from a master key and salt (16 and 12 bytes).
    pub fn new(master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        if master_key.len() != KEY_LEN || master_salt.len() != SALT_LEN {
            return Err(SrtpError::Crypto(format!(
                "AES-128-GCM takes a {KEY_LEN}-byte key and a {SALT_LEN}-byte salt, not {} and {}",
                master_key.len(),
                master_salt.len()
            )));
        }
        let provider =
            rtc::crypto::default_provider().map_err(|e| SrtpError::Crypto(e.to_string()))?;
        let crypto = provider.crypto();
        let fail = |e: CryptoError| SrtpError::Crypto(e.to_string());
        let mut key = [0u8; KEY_LEN];
        derive(
            crypto,
            master_key,
            master_salt,
            LABEL_SRTP_ENCRYPTION,
            &mut key,
        )
        .map_err(fail)?;
        let mut salt = [0u8; SALT_LEN];
        derive(crypto, master_key, master_salt, LABEL_SRTP_SALT, &mut salt).map_err(fail)?;
        let cipher = crypto.new_aead(AeadAlgorithm::Aes128Gcm, &key);
        key.fill(0);
        let cipher = cipher.map_err(fail)?;
        if cipher.tag_len() != TAG_LEN {
            return Err(SrtpError::Crypto(format!(
                "the provider's AES-GCM tag is {} bytes, not {TAG_LEN}",
                cipher.tag_len()
            )));
        }
        Ok(Self {
            cipher,
            salt,
            streams: Vec::new(),
        })
    }

    fn rollover(&mut self, ssrc: u32) -> &mut Rollover {
        let at = match self.streams.iter().position(|(s, _)| *s == ssrc) {
            Some(at) => at,
            None => {
                self.streams.push((ssrc, Rollover::default()));
                self.streams.len() - 1
            }
        };
        &mut self.streams[at].1
    }

    /// RFC 7714 §8.1: the salt xored with SSRC, rollover counter and
    /// sequence number.
    fn nonce(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&roc.to_be_bytes());
        iv[10..12].copy_from_slice(&seq.to_be_bytes());
        for (v, s) in iv.iter_mut().zip(self.salt) {
            *v ^= s;
        }
        iv
    }

    /// Encrypts `packet` into a datagram: the header in clear (and
    /// authenticated), the payload encrypted, the tag after it.
    pub fn seal(&mut self, packet: &Packet) -> Result<BytesMut, SrtpError> {
        let header_len = packet.header.marshal_size();
        let mut out = BytesMut::with_capacity(packet.marshal_size() + TAG_LEN);
        out.resize(packet.marshal_size(), 0);
        packet
            .marshal_to(&mut out)
            .map_err(|e| SrtpError::Marshal(e.to_string()))?;
        let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
        let rollover = self.rollover(ssrc);
        let (roc, diff) = rollover.guess(seq);
        let nonce = self.nonce(ssrc, roc, seq);
        let mut tag = [0u8; TAG_LEN];
        let (aad, payload) = out.split_at_mut(header_len);
        self.cipher
            .seal_in_place(&nonce, aad, payload, &mut tag)
            .map_err(|e| SrtpError::Crypto(e.to_string()))?;
        out.put_slice(&tag);
        self.rollover(ssrc).update(seq, diff);
        Ok(out)
    }

    /// Authenticates and decrypts one datagram, and parses the packet.
    /// Replays are the caller's to refuse: no window is kept here.
    pub fn open(&mut self, datagram: &[u8]) -> Result<Packet, SrtpError> {
        let header_len = header_len(datagram).ok_or(SrtpError::Malformed)?;
        if datagram.len() < header_len + TAG_LEN {
            return Err(SrtpError::Malformed);
        }
        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        let (roc, diff) = self.rollover(ssrc).guess(seq);
        let nonce = self.nonce(ssrc, roc, seq);
        let tag_at = datagram.len() - TAG_LEN;
        let mut plain = BytesMut::from(&datagram[..tag_at]);
        let (aad, payload) = plain.split_at_mut(header_len);
        self.cipher
            .open_in_place(&nonce, aad, payload, &datagram[tag_at..])
            .map_err(|_| SrtpError::Authentication)?;
        self.rollover(ssrc).update(seq, diff);
        let mut plain = plain.freeze();
        Packet::unmarshal(&mut plain).map_err(|e| SrtpError::Parse(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rtc_seal, rtc_srtp, rtp};
    use bytes::Bytes;
    use proptest::prelude::*;

    const KEY: [u8; 16] = [0x11; 16];
    const SALT: [u8; 12] = [0x5a; 12];

    fn packet(ssrc: u32, seq: u16, extension: bool) -> Packet {
        let mut p = rtp(ssrc, seq, 96, 120, seq as u8);
        if extension {
            p.header
                .set_extension(3, Bytes::from_static(&[1, 2, 3]))
                .unwrap();
        }
        p
    }

    fn rtc_context() -> Context {
        rtc_srtp(ProtectionProfile::AeadAes128Gcm, KEY[0], SALT[0])
    }

    /// Seals as rtc does and opens what rtc sealed, byte for byte, for a
    /// sequence of (SSRC, sequence number) pairs.
    fn agrees_with_rtc(order: &[(u32, u16)]) {
        let (mut ours, mut theirs) = (GcmSrtp::new(&KEY, &SALT).unwrap(), rtc_context());
        let (mut reader, mut rtc_sender) = (GcmSrtp::new(&KEY, &SALT).unwrap(), rtc_context());
        for (i, &(ssrc, seq)) in order.iter().enumerate() {
            let p = packet(ssrc, seq, i % 2 == 0);
            let want = rtc_seal(&mut theirs, &p);
            assert_eq!(
                ours.seal(&p).unwrap(),
                want,
                "sealing ssrc {ssrc} seq {seq}"
            );
            let sent = rtc_seal(&mut rtc_sender, &p);
            assert_eq!(
                reader.open(&sent).unwrap(),
                p,
                "opening ssrc {ssrc} seq {seq}"
            );
        }
    }

    #[test]
    fn matches_rtc_across_the_wrap_on_two_streams() {
        let mut order = Vec::new();
        for seq in (65_500u16..=65_535).chain(0..40) {
            order.push((1, seq));
            order.push((2, seq.wrapping_add(30_000)));
        }
        // A resend from before the wrap, after it.
        order.push((1, 65_530));
        order.push((1, 41));
        agrees_with_rtc(&order);
    }

    #[test]
    fn a_changed_byte_or_the_wrong_key_is_refused() {
        let mut sender = rtc_context();
        let p = packet(9, 1, true);
        let sent = rtc_seal(&mut sender, &p);
        let mut tampered = sent.to_vec();
        tampered[20] ^= 0x01;
        let mut reader = GcmSrtp::new(&KEY, &SALT).unwrap();
        assert!(matches!(
            reader.open(&tampered),
            Err(SrtpError::Authentication)
        ));
        let mut stranger = GcmSrtp::new(&[0x22; 16], &SALT).unwrap();
        assert!(matches!(
            stranger.open(&sent),
            Err(SrtpError::Authentication)
        ));
        assert!(matches!(
            reader.open(&sent[..20]),
            Err(SrtpError::Malformed)
        ));
        assert_eq!(reader.open(&sent).unwrap(), p);
    }

    proptest! {
        /// Any walk of sequence numbers (steps forward and back, across the
        /// wrap) is sealed and opened exactly as rtc does.
        #[test]
        fn any_walk_matches_rtc(start in any::<u16>(), steps in proptest::collection::vec(-200i32..2_000, 1..200)) {
            let mut seq = start;
            let mut order = vec![(7u32, seq)];
            for step in steps {
                seq = (i32::from(seq) + step).rem_euclid(65_536) as u16;
                order.push((7, seq));
            }
            agrees_with_rtc(&order);
        }
    }
}
