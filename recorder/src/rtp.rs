//! The fixed RTP header (RFC 3550 §5.1), read without trusting the input.
//!
//! A borrowed view, not rtc-rtp's `Header::unmarshal`: that one allocates
//! the CSRC and extension lists for every packet and takes any version
//! number, and the recorder needs only the fixed fields and the payload.

/// The parts of an RTP packet the recorder uses. `payload` excludes the
/// header, CSRCs, header extension and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    /// Media clock ticks (the track's clock rate, e.g. 90 000 Hz for video).
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet shorter than its 12-byte header")]
    TooShort,
    #[error("RTP version {0} (only version 2 exists)")]
    Version(u8),
    #[error("RTP header (CSRCs, extension or padding) runs past the end of the packet")]
    Truncated,
}

impl<'a> RtpPacket<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < 12 {
            return Err(RtpError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut start = 12 + 4 * csrc_count;
        if extension {
            let ext = buf.get(start..start + 4).ok_or(RtpError::Truncated)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            start += 4 + 4 * words;
        }
        let mut end = buf.len();
        if padding {
            let pad = usize::from(*buf.last().ok_or(RtpError::Truncated)?);
            if pad == 0 {
                return Err(RtpError::Truncated);
            }
            end = end.checked_sub(pad).ok_or(RtpError::Truncated)?;
        }
        if start > end {
            return Err(RtpError::Truncated);
        }
        Ok(Self {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[start..end],
        })
    }
}

/// Writes a minimal RTP packet (no CSRC, no extension): for the client side
/// of tests and tools.
pub fn build(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.push(0x80);
    out.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let b = build(true, 96, 7, 90_000, 42, b"abc");
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (96, 7, 90_000, 42)
        );
        assert_eq!(p.payload, b"abc");
    }

    #[test]
    fn extension_and_padding_are_stripped() {
        let mut b = build(false, 111, 1, 2, 3, &[]);
        b[0] |= 0x30; // padding + extension
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        b.extend_from_slice(b"opus");
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        assert_eq!(RtpPacket::parse(&b).unwrap().payload, b"opus");
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        let mut b = build(false, 96, 1, 1, 1, &[]);
        b[0] |= 0x0f; // fifteen CSRCs that are not there
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::Truncated));
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RtpPacket::parse(&data);
        }
    }
}
