//! The VP8 RTP payload descriptor (RFC 7741 §4.2) and the first byte of the
//! VP8 payload header (RFC 7741 §4.3, RFC 6386 §9.1).
//!
//! ```text
//!        0 1 2 3 4 5 6 7
//!       +-+-+-+-+-+-+-+-+
//!       |X|R|N|S|R| PID | (required)
//!       +-+-+-+-+-+-+-+-+
//!  X:   |I|L|T|K| RSV   | (optional)
//!       +-+-+-+-+-+-+-+-+
//!  I:   |M| PictureID   | (optional, 7 or 15 bits)
//!       +-+-+-+-+-+-+-+-+
//!       |   PictureID   | (present when M = 1)
//!       +-+-+-+-+-+-+-+-+
//!  L:   |   TL0PICIDX   | (optional)
//!       +-+-+-+-+-+-+-+-+
//!  T/K: |TID|Y| KEYIDX  | (optional)
//!       +-+-+-+-+-+-+-+-+
//! ```
//!
//! Input is hostile: every function here works on any byte slice and
//! reports malformed input as a [`Vp8Error`], never by panicking.

use thiserror::Error;

/// Why a VP8 RTP payload could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Vp8Error {
    /// The payload ends inside the descriptor: `needed` bytes were required
    /// and only `len` are present.
    #[error("VP8 payload descriptor truncated: need {needed} bytes, have {len}")]
    Truncated {
        /// Bytes the descriptor announces (at least).
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// The descriptor is complete but no VP8 payload byte follows it.
    #[error("VP8 payload descriptor is not followed by any payload")]
    NoPayload,
}

/// A parsed VP8 payload descriptor.
///
/// Invariants: `header_len` is in `1..=6` and strictly less than the payload
/// length; `partition_id <= 7`; a `picture_id` is `< 0x80` unless
/// `picture_id_15bit`, then `< 0x8000`; `temporal_id <= 3`;
/// `key_idx <= 31`; `layer_sync` is false unless `temporal_id` is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// S: this packet starts a VP8 partition.
    pub start_of_partition: bool,
    /// N: the frame may be discarded without affecting others.
    pub non_reference: bool,
    /// PID: index of the partition this packet belongs to (0..=7).
    pub partition_id: u8,
    /// PictureID (I bit), 7 or 15 bits wide.
    pub picture_id: Option<u16>,
    /// The picture id uses the 15-bit form (M = 1).
    pub picture_id_15bit: bool,
    /// TL0PICIDX (L bit).
    pub tl0_pic_idx: Option<u8>,
    /// TID (T bit): temporal layer index, 0..=3.
    pub temporal_id: Option<u8>,
    /// Y: layer sync; meaningful only with a `temporal_id`.
    pub layer_sync: bool,
    /// KEYIDX (K bit), 0..=31.
    pub key_idx: Option<u8>,
    /// Length of the descriptor in bytes: the VP8 payload starts here.
    pub header_len: usize,
    /// This packet begins a keyframe: S = 1, PID = 0 and the P bit of the
    /// first payload byte is 0.
    pub is_keyframe_start: bool,
}

const X_BIT: u8 = 0x80;
const N_BIT: u8 = 0x20;
const S_BIT: u8 = 0x10;
const PID_MASK: u8 = 0x07;
const I_BIT: u8 = 0x80;
const L_BIT: u8 = 0x40;
const T_BIT: u8 = 0x20;
const K_BIT: u8 = 0x10;
const M_BIT: u8 = 0x80;

/// Reads byte `at`, or reports how many bytes were needed.
fn byte(payload: &[u8], at: usize) -> Result<u8, Vp8Error> {
    payload.get(at).copied().ok_or(Vp8Error::Truncated {
        needed: at + 1,
        len: payload.len(),
    })
}

/// Parses the payload descriptor at the start of a VP8 RTP payload (the RTP
/// payload, after the RTP header and its extensions, without padding).
pub fn parse(payload: &[u8]) -> Result<Vp8Descriptor, Vp8Error> {
    let first = byte(payload, 0)?;
    let mut at = 1;
    let mut picture_id = None;
    let mut picture_id_15bit = false;
    let mut tl0_pic_idx = None;
    let mut temporal_id = None;
    let mut layer_sync = false;
    let mut key_idx = None;

    if first & X_BIT != 0 {
        let ext = byte(payload, at)?;
        at += 1;
        if ext & I_BIT != 0 {
            let hi = byte(payload, at)?;
            at += 1;
            if hi & M_BIT != 0 {
                let lo = byte(payload, at)?;
                at += 1;
                picture_id = Some(u16::from(hi & 0x7f) << 8 | u16::from(lo));
                picture_id_15bit = true;
            } else {
                picture_id = Some(u16::from(hi));
            }
        }
        if ext & L_BIT != 0 {
            tl0_pic_idx = Some(byte(payload, at)?);
            at += 1;
        }
        if ext & (T_BIT | K_BIT) != 0 {
            let tk = byte(payload, at)?;
            at += 1;
            if ext & T_BIT != 0 {
                temporal_id = Some(tk >> 6);
                layer_sync = tk & 0x20 != 0;
            }
            if ext & K_BIT != 0 {
                key_idx = Some(tk & 0x1f);
            }
        }
    }

    let frame = payload.get(at..).filter(|f| !f.is_empty());
    let frame = frame.ok_or(Vp8Error::NoPayload)?;
    let start_of_partition = first & S_BIT != 0;
    let partition_id = first & PID_MASK;
    Ok(Vp8Descriptor {
        start_of_partition,
        non_reference: first & N_BIT != 0,
        partition_id,
        picture_id,
        picture_id_15bit,
        tl0_pic_idx,
        temporal_id,
        layer_sync,
        key_idx,
        header_len: at,
        is_keyframe_start: start_of_partition && partition_id == 0 && is_keyframe(frame),
    })
}

impl Vp8Descriptor {
    /// This packet begins a frame: S = 1 and partition index 0.
    pub fn starts_frame(&self) -> bool {
        self.start_of_partition && self.partition_id == 0
    }

    /// The VP8 payload after the descriptor, from the packet `parse` read.
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet.get(self.header_len..).unwrap_or_default()
    }
}

/// True when a VP8 frame (or the first packet's payload of one) is a
/// keyframe: the P bit of the frame tag (RFC 6386 §9.1) is 0.
pub fn is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// First byte of a keyframe's VP8 payload header (P = 0, show_frame = 1).
    const KEY: u8 = 0x10;
    /// First byte of an interframe's VP8 payload header (P = 1).
    const INTER: u8 = 0x11;

    #[test]
    fn minimal_descriptor() {
        let d = parse(&[0x10, KEY, 0, 0]).unwrap();
        assert!(d.start_of_partition);
        assert_eq!(d.partition_id, 0);
        assert_eq!(d.header_len, 1);
        assert_eq!(d.picture_id, None);
        assert_eq!(d.tl0_pic_idx, None);
        assert_eq!(d.temporal_id, None);
        assert_eq!(d.key_idx, None);
        assert!(d.is_keyframe_start);
    }

    #[test]
    fn interframe_is_not_keyframe() {
        let d = parse(&[0x10, INTER]).unwrap();
        assert!(!d.is_keyframe_start);
    }

    #[test]
    fn continuation_packet_is_not_keyframe_start() {
        // S = 0: the middle of a keyframe, whose bytes look like anything.
        assert!(!parse(&[0x00, KEY]).unwrap().is_keyframe_start);
        // S = 1 but partition 1: not the frame's first partition.
        let d = parse(&[0x11, KEY]).unwrap();
        assert_eq!(d.partition_id, 1);
        assert!(!d.is_keyframe_start);
    }

    #[test]
    fn non_reference_bit() {
        assert!(parse(&[0x30, INTER]).unwrap().non_reference);
        assert!(!parse(&[0x10, INTER]).unwrap().non_reference);
    }

    #[test]
    fn seven_bit_picture_id() {
        let d = parse(&[0x90, 0x80, 0x55, KEY]).unwrap();
        assert_eq!(d.picture_id, Some(0x55));
        assert!(!d.picture_id_15bit);
        assert_eq!(d.header_len, 3);
        assert!(d.is_keyframe_start);
    }

    #[test]
    fn full_extension() {
        // X; I L T K; M + picture id 0x1234; TL0PICIDX 0x42; TID 2, Y, KEYIDX 5.
        let p = [0x90, 0xf0, 0x92, 0x34, 0x42, 0b1010_0101, INTER, 0xaa];
        let d = parse(&p).unwrap();
        assert_eq!(d.picture_id, Some(0x1234));
        assert!(d.picture_id_15bit);
        assert_eq!(d.tl0_pic_idx, Some(0x42));
        assert_eq!(d.temporal_id, Some(2));
        assert!(d.layer_sync);
        assert_eq!(d.key_idx, Some(5));
        assert_eq!(d.header_len, 6);
        assert!(!d.is_keyframe_start);
    }

    #[test]
    fn key_index_without_temporal_id() {
        // X; K only; T/K byte has TID bits set that must be ignored.
        let d = parse(&[0x90, 0x10, 0xff, KEY]).unwrap();
        assert_eq!(d.temporal_id, None);
        assert!(!d.layer_sync);
        assert_eq!(d.key_idx, Some(31));
        assert_eq!(d.header_len, 3);
    }

    #[test]
    fn temporal_id_without_key_index() {
        let d = parse(&[0x90, 0x20, 0x40, KEY]).unwrap();
        assert_eq!(d.temporal_id, Some(1));
        assert!(!d.layer_sync);
        assert_eq!(d.key_idx, None);
    }

    #[test]
    fn truncated_inputs_are_errors() {
        assert_eq!(parse(&[]), Err(Vp8Error::Truncated { needed: 1, len: 0 }));
        assert_eq!(
            parse(&[0x80]),
            Err(Vp8Error::Truncated { needed: 2, len: 1 })
        );
        assert_eq!(
            parse(&[0x80, 0x80]),
            Err(Vp8Error::Truncated { needed: 3, len: 2 })
        );
        assert_eq!(
            parse(&[0x80, 0x80, 0x80]),
            Err(Vp8Error::Truncated { needed: 4, len: 3 })
        );
        assert_eq!(
            parse(&[0x80, 0x40]),
            Err(Vp8Error::Truncated { needed: 3, len: 2 })
        );
        assert_eq!(
            parse(&[0x80, 0x20]),
            Err(Vp8Error::Truncated { needed: 3, len: 2 })
        );
        assert_eq!(parse(&[0x10]), Err(Vp8Error::NoPayload));
        assert_eq!(
            parse(&[0x90, 0xf0, 0x92, 0x34, 0x42, 0x00]),
            Err(Vp8Error::NoPayload)
        );
    }

    #[test]
    fn payload_follows_the_descriptor() {
        let p = [0x10, 0xaa, 0xbb];
        let d = parse(&p).unwrap();
        assert!(d.starts_frame());
        assert_eq!(d.payload(&p), &[0xaa, 0xbb]);
        // X=1 S=1 PID=0; I L T set; 15-bit picture id; TL0PICIDX; TID byte.
        let p = [0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0xcc];
        let d = parse(&p).unwrap();
        assert!(d.starts_frame());
        assert_eq!(d.payload(&p), &[0xcc]);
        assert!(!parse(&[0x00, 1]).unwrap().starts_frame());
        // S=1 but partition 1: not a frame start either.
        assert!(!parse(&[0x11, 1]).unwrap().starts_frame());
    }

    #[test]
    fn keyframe_bit() {
        assert!(is_keyframe(&[0x50, 0x01]));
        assert!(!is_keyframe(&[0x51]));
        assert!(!is_keyframe(&[]));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(d) = parse(&bytes) {
                prop_assert!(d.header_len >= 1 && d.header_len <= 6);
                prop_assert!(d.header_len < bytes.len());
                prop_assert!(d.partition_id <= 7);
                prop_assert!(d.temporal_id.is_none_or(|t| t <= 3));
                prop_assert!(d.key_idx.is_none_or(|k| k <= 31));
                prop_assert!(d.picture_id.is_none_or(|id| id < 0x8000));
            }
        }
    }
}
