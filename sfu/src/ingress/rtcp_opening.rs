//! The opened read path for RTCP: the SFU decrypts what a peer sends about
//! its legs and its own streams (receiver reports, NACKs, keyframe
//! requests, transport-wide feedback, REMB, a publisher's sender reports)
//! itself, as it does the publishers' RTP (`super::opening`).
//!
//! Through the connection, each of these runs rtc's whole read pipeline
//! (ICE, DTLS and SRTP handlers, the interceptor chain, the track lookup)
//! only to reach the SFU's own handling of it; with browsers' transport-wide
//! feedback ten times a second per subscriber that was about a tenth of a
//! worker's time in 1:1 visits (docs/benchmarks.md). Here the SRTCP index
//! and its replay window are kept by an `rtc::srtp::Context` made from the
//! connection's remote master key, proven the same way: a candidate is
//! kept only if it authenticates a real RTCP packet from the peer.
//!
//! Pure apart from the decryption: no sockets, no clock.

use super::opening::{Open, OpenError};
use crate::egress::keys::Candidate;
use crate::srtp::{PROFILES, SrtpError};
use bytes::Bytes;
use rtc::rtcp::packet::Packet as RtcpPacket;
use rtc::srtp::context::Context;
use rtc::srtp::option::srtcp_replay_protection;

/// SRTCP indices remembered for replay protection, per SSRC (what rtc's
/// own sessions keep).
pub const REPLAY_WINDOW: usize = 64;

/// The RTCP packets one compound datagram carries, in order.
pub type Compound = Vec<Box<dyn RtcpPacket>>;

/// One connection's incoming RTCP decryptor, proven on a real packet.
pub struct RtcpOpener {
    /// rtc's SRTP context for the peer's remote key, with its SRTCP replay
    /// window (boxed once, by the opening that holds it).
    context: Context,
}

impl std::fmt::Debug for RtcpOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RtcpOpener")
    }
}

/// The SRTCP contexts `candidates` make under each profile whose key
/// length fits, with a replay window.
fn candidate_contexts(candidates: &[Candidate]) -> impl Iterator<Item = Context> + '_ {
    let provider = rtc::crypto::default_provider().ok();
    candidates.iter().flat_map(move |candidate| {
        let provider = provider.clone();
        PROFILES
            .into_iter()
            .filter(|profile| candidate.key.len() == profile.key_len())
            .filter_map(move |profile| {
                let provider = provider.as_ref()?;
                Context::new(
                    &candidate.key,
                    candidate.salt(profile.salt_len()),
                    profile,
                    None,
                    Some(srtcp_replay_protection(REPLAY_WINDOW)),
                    provider.crypto(),
                )
                .ok()
            })
    })
}

impl Open for RtcpOpener {
    type Output = Compound;

    fn prove(candidates: &[Candidate], datagram: &[u8]) -> Option<(Self, Compound)> {
        candidate_contexts(candidates)
            .map(|context| RtcpOpener { context })
            .find_map(|mut opener| {
                let packets = opener.open(datagram).ok()?;
                Some((opener, packets))
            })
    }

    /// Authenticates, decrypts and parses one SRTCP datagram; a replayed
    /// index is refused.
    fn open(&mut self, datagram: &[u8]) -> Result<Compound, OpenError> {
        let plain = self
            .context
            .decrypt_rtcp(datagram)
            .map_err(|_| SrtpError::Authentication)?;
        rtc::rtcp::packet::unmarshal(&mut Bytes::from(plain))
            .map_err(|e| SrtpError::Parse(e.to_string()))
    }
}

/// True for an RTCP datagram (RTP version 2, second byte 192–223, RFC 5761
/// §4), at least a header long.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 8 && (128..=191).contains(&datagram[0]) && (192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::opening::{Offered, Opening, PROOF_ATTEMPTS};
    use crate::test_support::{candidate, rtc_srtp};
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::shared::marshal::Marshal;

    fn compound() -> Vec<u8> {
        let rr = ReceiverReport {
            ssrc: 0x0a0b_0c0d,
            reports: vec![ReceptionReport {
                ssrc: 0x1111,
                fraction_lost: 12,
                ..Default::default()
            }],
            ..Default::default()
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0x0a0b_0c0d,
            media_ssrc: 0x2222,
        };
        let mut bytes = rr.marshal().unwrap().to_vec();
        bytes.extend_from_slice(&pli.marshal().unwrap());
        bytes
    }

    /// Only the peer's key is proven; later datagrams open to the packets
    /// sent, in order; a replayed or changed datagram is refused.
    #[test]
    fn only_the_peers_key_is_proven_and_replays_are_refused() {
        for profile in PROFILES {
            let mut peer = rtc_srtp(profile, 7, 9);
            let candidates = [
                candidate(7, 4, profile.salt_len()),
                candidate(3, 9, profile.salt_len()),
                candidate(7, 9, profile.salt_len()),
            ];
            let first = peer.encrypt_rtcp(&compound()).unwrap();
            assert!(is_rtcp(&first));
            let (mut opener, packets) =
                RtcpOpener::prove(&candidates, &first).expect("the peer's key is proven");
            assert_eq!(packets.len(), 2, "{profile:?}");
            let rr = packets[0]
                .as_any()
                .downcast_ref::<ReceiverReport>()
                .expect("a receiver report first");
            assert_eq!(rr.reports[0].fraction_lost, 12);
            let pli = packets[1]
                .as_any()
                .downcast_ref::<PictureLossIndication>()
                .expect("then the keyframe request");
            assert_eq!(pli.media_ssrc, 0x2222);

            let second = peer.encrypt_rtcp(&compound()).unwrap();
            assert_eq!(opener.open(&second).unwrap().len(), 2);
            assert!(opener.open(&second).is_err(), "a replay is refused");
            let mut changed = peer.encrypt_rtcp(&compound()).unwrap().to_vec();
            changed[10] ^= 1;
            assert!(opener.open(&changed).is_err(), "a changed byte is refused");
            assert!(
                RtcpOpener::prove(&candidates[..2], &first).is_none(),
                "no right key, no opener"
            );
        }
    }

    /// The opening's states: proven on the first datagram; a change of
    /// keys starts the proof again; datagrams no key authenticates leave
    /// the connection to rtc after [`PROOF_ATTEMPTS`]; no candidates yet is
    /// not a refusal.
    #[test]
    fn an_opening_proves_reproves_and_gives_up() {
        let profile = PROFILES[0];
        let mut peer = rtc_srtp(profile, 7, 9);
        let right = || (vec![candidate(7, 9, profile.salt_len())], 1);
        let mut opening: Opening<RtcpOpener> = Opening::default();
        let none = || (Vec::new(), 0);
        assert!(matches!(
            opening.offer(&peer.encrypt_rtcp(&compound()).unwrap(), 0, none),
            Offered::NotHere { gave_up: false }
        ));
        assert!(matches!(
            opening.offer(&peer.encrypt_rtcp(&compound()).unwrap(), 1, right),
            Offered::Proven(p) if p.len() == 2
        ));
        assert!(opening.is_opened());
        assert!(matches!(
            opening.offer(&peer.encrypt_rtcp(&compound()).unwrap(), 1, right),
            Offered::Opened(_)
        ));
        // New keys: proven again, against the new candidates.
        let mut renewed = rtc_srtp(profile, 5, 6);
        let new = || (vec![candidate(5, 6, profile.salt_len())], 2);
        assert!(matches!(
            opening.offer(&renewed.encrypt_rtcp(&compound()).unwrap(), 2, new),
            Offered::Proven(_)
        ));
        // Nothing authenticates: rtc keeps the connection's RTCP.
        let mut stranger = rtc_srtp(profile, 1, 1);
        let mut fresh: Opening<RtcpOpener> = Opening::default();
        for attempt in 1..=PROOF_ATTEMPTS {
            let offered = fresh.offer(&stranger.encrypt_rtcp(&compound()).unwrap(), 1, right);
            assert!(
                matches!(offered, Offered::NotHere { gave_up } if gave_up == (attempt == PROOF_ATTEMPTS)),
                "attempt {attempt}: {offered:?}"
            );
        }
        assert!(matches!(fresh, Opening::Unavailable));
    }

    #[test]
    fn tells_rtcp_from_rtp_and_stun() {
        assert!(is_rtcp(&compound()));
        let mut rtp = compound();
        rtp[1] = 96;
        assert!(!is_rtcp(&rtp), "RTP with payload type 96");
        assert!(!is_rtcp(&[0x00, 0x01, 0x00, 0x08, 0, 0, 0, 0]), "STUN");
        assert!(!is_rtcp(&compound()[..7]), "shorter than a header");
    }
}
