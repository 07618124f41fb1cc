//! What the unit tests of the SFU's own SRTP and RTCP build their input
//! from: RTP packets, captured-key candidates and rtc's SRTP context as the
//! reference the SFU's output is compared with.

use crate::egress::keys::Candidate;
use bytes::{Bytes, BytesMut};
use rtc::rtp::Packet;
use rtc::shared::marshal::Marshal;
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

/// An RTP packet of `payload_len` bytes of `fill` (timestamp: 3 000 ticks a
/// sequence number, as 30 fps video on the 90 kHz clock).
pub fn rtp(ssrc: u32, seq: u16, payload_type: u8, payload_len: usize, fill: u8) -> Packet {
    let mut p = Packet {
        payload: Bytes::from(vec![fill; payload_len]),
        ..Default::default()
    };
    p.header.version = 2;
    p.header.payload_type = payload_type;
    p.header.ssrc = ssrc;
    p.header.sequence_number = seq;
    p.header.timestamp = u32::from(seq).wrapping_mul(3_000);
    p
}

/// A captured candidate: a 16-byte key of `key`, and a salt of `salt_len`
/// bytes of `salt`.
pub fn candidate(key: u8, salt: u8, salt_len: usize) -> Candidate {
    let mut block = [0u8; 16];
    block[..salt_len].fill(salt);
    Candidate {
        key: vec![key; 16],
        block,
    }
}

/// rtc's own SRTP context for `profile`, with a 16-byte key of `key` and a
/// salt of `salt`.
pub fn rtc_srtp(profile: ProtectionProfile, key: u8, salt: u8) -> Context {
    let crypto = rtc::crypto::default_provider().expect("rtc's crypto provider");
    Context::new(
        &[key; 16],
        &vec![salt; profile.salt_len()],
        profile,
        None,
        None,
        crypto.crypto(),
    )
    .expect("an rtc SRTP context")
}

/// What rtc's context makes of `packet`.
pub fn rtc_seal(context: &mut Context, packet: &Packet) -> BytesMut {
    context
        .encrypt_rtp_with_header(&packet.marshal().expect("marshal"), &packet.header)
        .expect("rtc seals")
}
