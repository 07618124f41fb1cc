//! The opened read path: the SFU decrypts a publisher's RTP itself.
//!
//! Handing every incoming datagram to the peer connection runs it through
//! rtc's whole read pipeline: the ICE, DTLS and SRTP handlers, a replay
//! detector, the interceptor chain and the track lookup, with copies and
//! allocations at each step. In a 1:1 visit every packet is received once
//! and forwarded once, so that pipeline is most of the cost of a forward.
//!
//! Once a stream is known (rtc took its first packet and named its track),
//! the worker decrypts that stream's later packets with an SRTP context
//! (`crate::srtp`) made from the connection's remote master key (see
//! `crate::egress::keys`) and hands the packet straight to forwarding.
//! rtc still does ICE, DTLS, every RTCP packet, RTX and ICE-TCP.
//!
//! Which captured key is the remote one is proven, not assumed: a candidate
//! is kept only if it authenticates a real packet from the publisher (the
//! AEAD tag or the HMAC), which no other key can. If none does, the
//! connection stays on rtc's read path for good, and a metric counts it.
//!
//! Pure apart from the decryption: no sockets, no clock.

use crate::egress::keys::Candidate;
use crate::srtp::{SrtpContext, candidate_contexts};
use rtc::rtp::Packet;
use rtc::srtp::protection_profile::ProtectionProfile;

/// Why a datagram could not be opened.
pub type OpenError = crate::srtp::SrtpError;

/// One connection's incoming RTP decryptor, proven on a real packet.
#[derive(Debug)]
pub struct Opener {
    context: SrtpContext,
    profile: ProtectionProfile,
}

impl Opener {
    /// The opener whose key authenticates `datagram` (an SRTP packet the
    /// publisher sent), from `candidates`, with the packet it decrypts to;
    /// `None` if no candidate does.
    pub fn prove(candidates: &[Candidate], datagram: &[u8]) -> Option<(Opener, Packet)> {
        candidate_contexts(candidates)
            .map(|(profile, context)| Opener { context, profile })
            .find_map(|mut opener| {
                let packet = opener.open(datagram).ok()?;
                Some((opener, packet))
            })
    }

    /// The negotiated profile this opener decrypts with.
    pub fn profile(&self) -> ProtectionProfile {
        self.profile
    }

    /// Authenticates, decrypts and parses one SRTP datagram. Replays are
    /// the caller's to refuse (`super::sequence`): no window is kept here.
    pub fn open(&mut self, datagram: &[u8]) -> Result<Packet, OpenError> {
        self.context.open(datagram)
    }
}

impl Open for Opener {
    type Output = Packet;

    fn prove(candidates: &[Candidate], datagram: &[u8]) -> Option<(Self, Packet)> {
        Opener::prove(candidates, datagram)
    }

    fn open(&mut self, datagram: &[u8]) -> Result<Packet, OpenError> {
        Opener::open(self, datagram)
    }
}

/// A decryptor of one kind of datagram (SRTP or SRTCP) that must first be
/// proven on a real datagram from the peer.
pub trait Open: Sized {
    /// What a datagram opens to.
    type Output;
    /// The decryptor whose key authenticates `datagram`, from `candidates`,
    /// with what it opens to; `None` if no candidate does.
    fn prove(candidates: &[Candidate], datagram: &[u8]) -> Option<(Self, Self::Output)>;
    /// Authenticates and decrypts one datagram.
    fn open(&mut self, datagram: &[u8]) -> Result<Self::Output, OpenError>;
}

/// Datagrams tried as the proof before a connection is left to rtc: a
/// forged or damaged datagram does not decide alone.
pub const PROOF_ATTEMPTS: u8 = 3;

/// Where a connection stands with opening one kind of datagram from its
/// peer (its RTP with [`Opener`], its RTCP with
/// [`super::rtcp_opening::RtcpOpener`]).
#[derive(Debug)]
pub enum Opening<O = Opener> {
    /// Not proven yet: the next datagram offered is tried as the proof.
    /// `refused`: datagrams no candidate authenticated so far.
    Untried { refused: u8 },
    /// Proven: the peer's datagrams are decrypted here. `keys` is the
    /// capture's count of block encryptions when it was proven; a
    /// different count means the connection derived new keys.
    Opened { opener: Box<O>, keys: u64 },
    /// No candidate authenticated [`PROOF_ATTEMPTS`] datagrams: rtc keeps
    /// reading them.
    Unavailable,
}

impl<O> Default for Opening<O> {
    fn default() -> Self {
        Opening::Untried { refused: 0 }
    }
}

/// What became of one datagram offered to an [`Opening`].
#[derive(Debug)]
pub enum Offered<T> {
    /// It proved a key, and this is what it opened to.
    Proven(T),
    /// Opened with the key proven before.
    Opened(T),
    /// The proven key did not authenticate it: drop it.
    Refused(OpenError),
    /// Not opened here (no key proven, none could be, or the last proof
    /// attempt just failed, `gave_up`): the connection reads it.
    NotHere { gave_up: bool },
}

impl<O: Open> Opening<O> {
    /// True once a key is proven (and not since replaced).
    pub fn is_opened(&self) -> bool {
        matches!(self, Opening::Opened { .. })
    }

    /// Offers `datagram`: opened with the proven key, or tried as the proof
    /// against `candidates` (a function, so they are looked up only when a
    /// proof is due). `keys_now` is the capture's count of block
    /// encryptions: if it moved since the proof, the connection derived new
    /// keys and the proof starts again.
    pub fn offer(
        &mut self,
        datagram: &[u8],
        keys_now: u64,
        candidates: impl FnOnce() -> (Vec<Candidate>, u64),
    ) -> Offered<O::Output> {
        if let Opening::Opened { keys, .. } = self
            && *keys != keys_now
        {
            *self = Opening::default();
        }
        match self {
            Opening::Unavailable => Offered::NotHere { gave_up: false },
            Opening::Opened { opener, .. } => match opener.open(datagram) {
                Ok(out) => Offered::Opened(out),
                Err(e) => Offered::Refused(e),
            },
            Opening::Untried { refused } => {
                let (candidates, keys) = candidates();
                if candidates.is_empty() {
                    return Offered::NotHere { gave_up: false };
                }
                match O::prove(&candidates, datagram) {
                    Some((opener, out)) => {
                        *self = Opening::Opened {
                            opener: Box::new(opener),
                            keys,
                        };
                        Offered::Proven(out)
                    }
                    None => {
                        *refused += 1;
                        let gave_up = *refused >= PROOF_ATTEMPTS;
                        if gave_up {
                            *self = Opening::Unavailable;
                        }
                        Offered::NotHere { gave_up }
                    }
                }
            }
        }
    }
}

/// The SSRC and sequence number of an RTP datagram (its header travels in
/// clear); `None` for RTCP (RFC 5761 §4: second byte 192–223) and anything
/// that is not RTP version 2.
pub fn rtp_stream_of(datagram: &[u8]) -> Option<(u32, u16)> {
    if datagram.len() < 12
        || !(128..=191).contains(&datagram[0])
        || (192..=223).contains(&datagram[1])
    {
        return None;
    }
    let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
    let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
    Some((ssrc, seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::PROFILES;
    use crate::test_support::{candidate, rtc_seal, rtc_srtp, rtp};
    use bytes::Bytes;
    use rtc::shared::marshal::Marshal;

    fn packet(ssrc: u32, seq: u16) -> Packet {
        let mut p = rtp(ssrc, seq, 111, 200, 0x3c);
        p.header
            .set_extension(3, Bytes::from_static(&[0x01, 0x02]))
            .unwrap();
        p
    }

    /// Only the key the publisher seals with authenticates its packet; the
    /// opener then reads every later packet as sent, across the sequence
    /// number's wrap (the rollover counter moves on), and refuses a
    /// tampered one.
    #[test]
    fn only_the_publishers_key_is_proven_and_it_opens_across_the_wrap() {
        for profile in PROFILES {
            let mut sender = rtc_srtp(profile, 7, 9);
            let first = packet(0xfeed, 65_530);
            let candidates = [
                candidate(7, 4, profile.salt_len()),
                candidate(3, 9, profile.salt_len()),
                candidate(7, 9, profile.salt_len()),
            ];
            let datagram = rtc_seal(&mut sender, &first);
            let (mut opener, opened) =
                Opener::prove(&candidates, &datagram).expect("the publisher's key is proven");
            assert_eq!(opener.profile() as u16, profile as u16);
            assert_eq!(opened, first);
            for seq in (65_531u16..=65_535).chain(0..10) {
                let sent = packet(0xfeed, seq);
                let got = opener.open(&rtc_seal(&mut sender, &sent)).unwrap();
                assert_eq!(got, sent, "{profile:?} seq {seq}");
            }
            let mut tampered = rtc_seal(&mut sender, &packet(0xfeed, 10)).to_vec();
            let last = tampered.len() - 20;
            tampered[last] ^= 1;
            assert!(opener.open(&tampered).is_err(), "a changed byte is refused");
            assert!(
                Opener::prove(&candidates[..2], &datagram).is_none(),
                "no right key, no opener"
            );
        }
    }

    #[test]
    fn tells_rtp_from_rtcp_by_the_clear_header() {
        let bytes = packet(0x01020304, 513).marshal().unwrap();
        assert_eq!(rtp_stream_of(&bytes), Some((0x01020304, 513)));
        let mut rtcp = bytes.to_vec();
        rtcp[1] = 201;
        assert_eq!(rtp_stream_of(&rtcp), None, "a receiver report");
        assert_eq!(rtp_stream_of(&[0x00, 0x01, 0x00, 0x08]), None, "STUN");
        assert_eq!(rtp_stream_of(&bytes[..11]), None, "too short");
    }
}
