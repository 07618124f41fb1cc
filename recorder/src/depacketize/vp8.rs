//! VP8 RTP payload (RFC 7741 §4.2): the payload descriptor in front of each
//! packet's share of a frame.

use super::DepacketizeError;

/// One packet's VP8 payload, descriptor removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Payload<'a> {
    /// S=1 and partition index 0: this packet begins a frame.
    pub starts_frame: bool,
    pub data: &'a [u8],
}

/// Reads the payload descriptor (1 to 6 bytes) and returns what follows it.
pub fn parse(payload: &[u8]) -> Result<Vp8Payload<'_>, DepacketizeError> {
    let short = DepacketizeError::Vp8("payload descriptor runs past the end of the packet");
    let first = *payload.first().ok_or(short)?;
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut at = 1;
    if extended {
        let x = *payload.get(at).ok_or(short)?;
        at += 1;
        if x & 0x80 != 0 {
            // I: picture id, 7 or 15 bits (M bit).
            let pid = *payload.get(at).ok_or(short)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // L: TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // T or K: TID/Y/KEYIDX
        }
    }
    let data = payload.get(at..).ok_or(short)?;
    Ok(Vp8Payload {
        starts_frame: start && partition == 0,
        data,
    })
}

/// True when a whole VP8 frame is a keyframe: the P bit of the frame tag
/// (RFC 6386 §9.1) is 0.
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_descriptor() {
        let p = parse(&[0x10, 0xaa, 0xbb]).unwrap();
        assert!(p.starts_frame);
        assert_eq!(p.data, &[0xaa, 0xbb]);
    }

    #[test]
    fn extended_descriptor_with_long_picture_id_tl0_and_tid() {
        // X=1 S=1 PID=0; I L T set; 15-bit picture id; TL0PICIDX; TID byte.
        let p = parse(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0xcc]).unwrap();
        assert!(p.starts_frame);
        assert_eq!(p.data, &[0xcc]);
    }

    #[test]
    fn continuation_is_not_a_start() {
        let p = parse(&[0x00, 1]).unwrap();
        assert!(!p.starts_frame);
        // S=1 but partition 1: not a frame start either.
        assert!(!parse(&[0x11, 1]).unwrap().starts_frame);
    }

    #[test]
    fn truncated_descriptor_is_an_error() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x90]).is_err());
        assert!(parse(&[0x90, 0x80]).is_err());
    }

    #[test]
    fn keyframe_bit() {
        assert!(is_keyframe(&[0x50, 0x01]));
        assert!(!is_keyframe(&[0x51]));
        assert!(!is_keyframe(&[]));
    }
}
