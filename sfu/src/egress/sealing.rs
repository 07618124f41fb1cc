//! The sealed write path: the SFU encrypts a subscriber's RTP itself.
//!
//! Forwarding through the peer connection (`WritePath::Direct`) runs every
//! packet through rtc's write pipeline: interceptors, a re-parse and copy in
//! the SRTP handler, the ICE handler. The sealed path builds the packet once,
//! encrypts it with an `rtc::srtp::Context` made from the connection's own
//! local master key (see [`super::keys`]) and hands the datagram straight to
//! the worker's `sendmmsg` batch. rtc still does ICE, DTLS, RTCP (sender
//! reports go through it, so SRTCP keeps its own index) and everything that
//! arrives.
//!
//! A connection starts unsealed. Its first forwarded RTP packet goes through
//! rtc as before; the datagram rtc produced is the reference. Each captured
//! key, under each profile Parley offers, encrypts the same packet; the one
//! that gives the very same bytes becomes the connection's sealer, and from
//! then on rtc never encrypts RTP for that connection again, so no SSRC has
//! two encryptors and no nonce is used twice (a resend of a packet encrypts
//! the same plaintext under the same index, giving the same bytes). If no
//! candidate matches, the connection stays on rtc's path for good.
//!
//! Pure apart from the encryption: no sockets, no clock.

use super::keys::Candidate;
use crate::srtp::{SrtpContext, candidate_contexts};
use bytes::BytesMut;
use rtc::rtp::Packet;
use rtc::srtp::protection_profile::ProtectionProfile;

/// Why a packet could not be sealed.
pub type SealError = crate::srtp::SrtpError;

/// One connection's RTP encryptor, proven against rtc's own output.
#[derive(Debug)]
pub struct Sealer {
    context: SrtpContext,
    profile: ProtectionProfile,
}

impl Sealer {
    /// The sealer whose encryption of `packet` is exactly `expected` (the
    /// datagram rtc sent for it), from `candidates`; `None` if none is.
    pub fn prove(candidates: &[Candidate], packet: &Packet, expected: &[u8]) -> Option<Sealer> {
        candidate_contexts(candidates)
            .map(|(profile, context)| Sealer { context, profile })
            .find_map(|mut sealer| {
                let same = sealer
                    .seal(packet)
                    .is_ok_and(|sealed| sealed.as_ref() == expected);
                same.then_some(sealer)
            })
    }

    /// The negotiated profile this sealer encrypts with.
    pub fn profile(&self) -> ProtectionProfile {
        self.profile
    }

    /// Encrypts `packet` into a datagram.
    pub fn seal(&mut self, packet: &Packet) -> Result<BytesMut, SealError> {
        self.context.seal(packet)
    }
}

/// Where a connection stands with sealing.
#[derive(Debug, Default)]
pub enum Sealing {
    /// Not tried yet: the next RTP packet goes through rtc and is the
    /// reference.
    #[default]
    Untried,
    /// Proven: the connection's RTP is sealed here. `keys` is the capture's
    /// count of block encryptions when it was proven; a different count
    /// means the connection derived new keys.
    Sealed { sealer: Box<Sealer>, keys: u64 },
    /// No candidate matched: rtc keeps encrypting this connection's RTP.
    Unavailable,
}

/// Whether `datagram` is the RTP packet with this SSRC and sequence number
/// (its header travels in clear).
pub fn is_rtp_of(datagram: &[u8], ssrc: u32, seq: u16) -> bool {
    datagram.len() >= 12
        && (128..=191).contains(&datagram[0])
        && !(192..=223).contains(&datagram[1])
        && datagram[2..4] == seq.to_be_bytes()
        && datagram[8..12] == ssrc.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::PROFILES;
    use crate::test_support::{candidate, rtc_seal, rtc_srtp, rtp};
    use rtc::shared::marshal::Marshal;

    fn packet(ssrc: u32, seq: u16) -> Packet {
        rtp(ssrc, seq, 96, 300, 0x5a)
    }

    /// Only the candidate rtc really encrypts with passes the proof, under
    /// the profile it uses, and its output then matches rtc's byte for byte
    /// across the sequence number's wrap (the rollover counter moves on).
    #[test]
    fn only_the_key_rtc_uses_is_proven_and_it_keeps_matching_across_the_wrap() {
        for profile in PROFILES {
            let mut rtc_side = rtc_srtp(profile, 7, 9);
            let first = packet(0xabc, 65_530);
            let expected = rtc_seal(&mut rtc_side, &first);
            let candidates = [
                candidate(3, 9, profile.salt_len()),
                candidate(7, 4, profile.salt_len()),
                candidate(7, 9, profile.salt_len()),
            ];
            let mut sealer = Sealer::prove(&candidates, &first, &expected).expect("proven");
            assert_eq!(sealer.profile() as u16, profile as u16);
            for seq in (65_531u16..=65_535).chain(0..10) {
                let p = packet(0xabc, seq);
                let want = rtc_seal(&mut rtc_side, &p);
                assert_eq!(sealer.seal(&p).unwrap(), want, "{profile:?} seq {seq}");
            }
            assert!(
                Sealer::prove(&candidates[..2], &first, &expected).is_none(),
                "no right key, no sealer"
            );
        }
    }

    #[test]
    fn finds_its_packet_by_the_clear_header() {
        let p = packet(0x01020304, 513);
        let bytes = p.marshal().unwrap();
        assert!(is_rtp_of(&bytes, 0x01020304, 513));
        assert!(!is_rtp_of(&bytes, 0x01020304, 512));
        assert!(!is_rtp_of(&bytes, 0x01020305, 513));
        let mut rtcp = bytes.to_vec();
        rtcp[1] = 200;
        assert!(!is_rtp_of(&rtcp, 0x01020304, 513));
    }
}
