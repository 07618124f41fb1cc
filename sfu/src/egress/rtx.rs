//! Resends on a repair stream (RTX, RFC 4588) for the subscriber legs that
//! negotiated one: the packet a NACK asked for goes out again on the leg's
//! repair SSRC, under the repair payload type and the repair stream's own
//! sequence numbers, with the original sequence number (OSN) in the first
//! two bytes of its payload. The receiver then knows a repair from new
//! media: its jitter buffer and loss counts see the original packet, and
//! its bandwidth estimate sees a resend. Legs without it get the packet
//! again as it was, on the media SSRC.
//!
//! Pure: no sockets, no clock.

use bytes::{BufMut, BytesMut};
use rtc::rtp::Packet;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters;

/// A leg's negotiated repair stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairStream {
    pub payload_type: u8,
    pub ssrc: u32,
}

impl RepairStream {
    /// The repair stream for media on `media_payload_type`: the negotiated
    /// RTX format whose `apt` names it, on the repair SSRC the SFU announced
    /// (`ssrc`). `None` if either is missing.
    pub fn negotiated(
        codecs: &[RTCRtpCodecParameters],
        media_payload_type: u8,
        ssrc: Option<u32>,
    ) -> Option<Self> {
        let payload_type = codecs
            .iter()
            .filter(|c| parley_media::is_rtx(&c.rtp_codec.mime_type))
            .find(|c| {
                associated_payload_type(&c.rtp_codec.sdp_fmtp_line) == Some(media_payload_type)
            })?
            .payload_type;
        Some(Self {
            payload_type,
            ssrc: ssrc?,
        })
    }
}

/// The `apt` of an RTX format's parameters (`apt=96`, or with more
/// parameters such as `apt=96;rtx-time=3000`, RFC 4588 §8.1).
fn associated_payload_type(fmtp: &str) -> Option<u8> {
    fmtp.split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("apt"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// Numbers one leg's repair packets: a sequence of its own, from a random
/// start, one per repair sent.
#[derive(Debug, Clone)]
pub struct RepairNumbering {
    next: u16,
}

impl RepairNumbering {
    pub fn starting_at(first: u16) -> Self {
        Self { next: first }
    }

    /// The repair packet that carries `original` (as first sent on the
    /// leg) on `stream`: same timestamp, marker and extensions; the
    /// original sequence number, then the original payload.
    pub fn repair(&mut self, original: &Packet, stream: RepairStream) -> Packet {
        let mut payload = BytesMut::with_capacity(2 + original.payload.len());
        payload.put_u16(original.header.sequence_number);
        payload.put_slice(&original.payload);
        let mut header = original.header.clone();
        header.ssrc = stream.ssrc;
        header.payload_type = stream.payload_type;
        header.sequence_number = self.next;
        header.padding = false;
        self.next = self.next.wrapping_add(1);
        Packet {
            header,
            payload: payload.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::rtp;

    fn codecs() -> Vec<RTCRtpCodecParameters> {
        vec![
            parley_media::vp8(),
            parley_media::rtx(97, 96),
            parley_media::h264(),
            parley_media::rtx(103, 102),
        ]
    }

    #[test]
    fn the_repair_format_is_the_one_whose_apt_names_the_media() {
        let c = codecs();
        assert_eq!(
            RepairStream::negotiated(&c, 96, Some(7)),
            Some(RepairStream {
                payload_type: 97,
                ssrc: 7
            })
        );
        assert_eq!(
            RepairStream::negotiated(&c, 102, Some(7)).map(|r| r.payload_type),
            Some(103)
        );
        assert_eq!(RepairStream::negotiated(&c, 111, Some(7)), None);
        assert_eq!(RepairStream::negotiated(&c, 96, None), None);
        assert_eq!(
            RepairStream::negotiated(&[parley_media::vp8()], 96, Some(7)),
            None
        );
        let mut with_time = parley_media::rtx(99, 96);
        with_time.rtp_codec.sdp_fmtp_line = "rtx-time=3000; apt=96".into();
        assert_eq!(
            RepairStream::negotiated(&[with_time], 96, Some(7)).map(|r| r.payload_type),
            Some(99)
        );
    }

    #[test]
    fn a_repair_carries_the_original_number_and_payload_on_its_own_numbering() {
        let stream = RepairStream {
            payload_type: 97,
            ssrc: 0xfeed,
        };
        let mut numbering = RepairNumbering::starting_at(65_535);
        let mut original = rtp(0xabc, 4_242, 96, 100, 0x5a);
        original.header.marker = true;
        original.header.padding = true;
        let _ = original
            .header
            .set_extension(3, bytes::Bytes::from_static(&[1, 2]));
        let first = numbering.repair(&original, stream);
        let second = numbering.repair(&rtp(0xabc, 9, 96, 10, 1), stream);
        assert_eq!(first.header.ssrc, 0xfeed);
        assert_eq!(first.header.payload_type, 97);
        assert_eq!(first.header.sequence_number, 65_535);
        assert_eq!(second.header.sequence_number, 0, "wraps");
        assert_eq!(first.header.timestamp, original.header.timestamp);
        assert!(first.header.marker);
        assert!(!first.header.padding);
        assert_eq!(
            first.header.get_extension(3).as_deref(),
            Some(&[1u8, 2][..])
        );
        assert_eq!(&first.payload[..2], &4_242u16.to_be_bytes());
        assert_eq!(&first.payload[2..], &original.payload[..]);
        assert_eq!(&second.payload[..2], &9u16.to_be_bytes());
    }
}
