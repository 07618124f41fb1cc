//! H.264 RTP payloads (RFC 6184, packetization mode 1: single NAL unit,
//! STAP-A and FU-A packets): whether a packet begins a keyframe, for the
//! SFU's switching, and the joining of packets into length-prefixed
//! ("AVCC", 4-byte big-endian length) NAL units as Matroska stores them, for
//! the recorder.
//!
//! Input is hostile; any byte slice is answered. Keyframe detection answers
//! malformed payloads with `false` (a missed keyframe costs a wait, a false
//! one costs a broken picture); the depacketizer with an [`H264Error`].

use thiserror::Error;

/// NAL unit type of an IDR slice (ITU-T H.264 Table 7-1).
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// Payload type of a single-time aggregation packet (RFC 6184 §5.7.1).
pub const STAP_A: u8 = 24;
/// Payload type of a fragmentation unit (RFC 6184 §5.8).
pub const FU_A: u8 = 28;

/// The forbidden_zero_bit of a NAL unit header: set means the unit is corrupt.
const FORBIDDEN_BIT: u8 = 0x80;
const TYPE_MASK: u8 = 0x1f;
/// FU header: start of a fragmented NAL unit.
const FU_START: u8 = 0x80;
/// FU header: end of a fragmented NAL unit.
const FU_END: u8 = 0x40;

/// Why an H.264 RTP payload cannot be depacketized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum H264Error {
    #[error("empty payload")]
    Empty,
    #[error("reserved NAL unit type")]
    Reserved,
    #[error("STAP-B, MTAP and FU-B need interleaved mode, which is not negotiated")]
    Interleaved,
    #[error("empty STAP-A")]
    EmptyAggregate,
    #[error("STAP-A unit size runs past the packet")]
    SizeTruncated,
    #[error("STAP-A unit is empty or runs past the packet")]
    UnitTruncated,
    #[error("FU-A without its header")]
    NoFragmentHeader,
    #[error("FU-A continues a fragment whose start was lost")]
    StartLost,
}

/// Whether a NAL unit of this type begins a keyframe when it is whole: an IDR
/// slice, or the parameter sets that precede one.
fn starts_keyframe(nal_type: u8) -> bool {
    matches!(nal_type, NAL_IDR | NAL_SPS | NAL_PPS)
}

/// The NAL units of a STAP-A payload after its header: each a 16-bit
/// big-endian size, then that many bytes. A unit that is empty or runs past
/// the packet ends the walk with an error.
pub fn stap_a_units(mut units: &[u8]) -> impl Iterator<Item = Result<&[u8], H264Error>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || units.is_empty() {
            return None;
        }
        let Some((&[hi, lo], rest)) = units.split_first_chunk::<2>() else {
            failed = true;
            return Some(Err(H264Error::SizeTruncated));
        };
        let size = usize::from(u16::from_be_bytes([hi, lo]));
        if size == 0 || size > rest.len() {
            failed = true;
            return Some(Err(H264Error::UnitTruncated));
        }
        let (nal, rest) = rest.split_at(size);
        units = rest;
        Some(Ok(nal))
    })
}

/// Whether an H.264 RTP payload begins a keyframe:
///
/// - single NAL unit packet (types 1..=23): the NAL is an IDR slice, SPS or PPS;
/// - STAP-A: any aggregated NAL unit is an IDR slice, SPS or PPS, and every
///   aggregated unit's length fits the packet (otherwise `false`);
/// - FU-A: the start bit is set and the fragmented NAL unit is an IDR slice;
/// - anything else (empty, forbidden bit set, STAP-B, MTAP, FU-B, reserved
///   types): `false`.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    let Some((&header, rest)) = payload.split_first() else {
        return false;
    };
    if header & FORBIDDEN_BIT != 0 {
        return false;
    }
    match header & TYPE_MASK {
        t @ 1..=23 => starts_keyframe(t),
        STAP_A => stap_a_has_keyframe(rest),
        FU_A => match rest.first() {
            Some(&fu) => fu & FU_START != 0 && fu & TYPE_MASK == NAL_IDR,
            None => false,
        },
        _ => false,
    }
}

/// Whether a STAP-A (after its header) holds a unit that starts a keyframe;
/// `false` when any unit is malformed or has its forbidden bit set.
fn stap_a_has_keyframe(units: &[u8]) -> bool {
    let mut found = false;
    let mut any = false;
    for nal in stap_a_units(units) {
        // `stap_a_units` never yields an empty unit, so it has a header byte.
        let Ok(&[nal_header, ..]) = nal else {
            return false;
        };
        if nal_header & FORBIDDEN_BIT != 0 {
            return false;
        }
        any = true;
        found |= starts_keyframe(nal_header & TYPE_MASK);
    }
    any && found
}

/// Joins FU-A fragments across packets; other packet types pass through.
#[derive(Debug, Default)]
pub struct H264Depacketizer {
    /// The NAL unit being reassembled from FU-A fragments, header included.
    fragment: Option<Vec<u8>>,
}

impl H264Depacketizer {
    /// Forgets a half-reassembled fragment (after a loss or a new frame).
    pub fn reset(&mut self) {
        self.fragment = None;
    }

    /// Appends the complete NAL units in `payload` to `out`, each prefixed
    /// with its 4-byte length. On an error, `out` may hold the units of a
    /// STAP-A that came before the bad one: the caller drops the frame.
    pub fn push(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), H264Error> {
        let (&header, rest) = payload.split_first().ok_or(H264Error::Empty)?;
        match header & TYPE_MASK {
            0 | 30 | 31 => Err(H264Error::Reserved),
            25..=27 | 29 => Err(H264Error::Interleaved),
            STAP_A => {
                if rest.is_empty() {
                    return Err(H264Error::EmptyAggregate);
                }
                for nal in stap_a_units(rest) {
                    write_nal(out, nal?);
                }
                Ok(())
            }
            FU_A => {
                let (&fu, data) = rest.split_first().ok_or(H264Error::NoFragmentHeader)?;
                if fu & FU_START != 0 {
                    let mut nal = Vec::with_capacity(data.len() * 4 + 1);
                    nal.push((header & 0xe0) | (fu & TYPE_MASK));
                    self.fragment = Some(nal);
                }
                let nal = self.fragment.as_mut().ok_or(H264Error::StartLost)?;
                nal.extend_from_slice(data);
                if fu & FU_END != 0
                    && let Some(nal) = self.fragment.take()
                {
                    write_nal(out, &nal);
                }
                Ok(())
            }
            _ => {
                write_nal(out, payload);
                Ok(())
            }
        }
    }

    /// True while a FU-A fragment is open (its end not yet received).
    pub fn in_fragment(&self) -> bool {
        self.fragment.is_some()
    }
}

fn write_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    out.extend_from_slice(nal);
}

/// The NAL units of a length-prefixed access unit; stops at the first
/// malformed length.
pub fn nal_units(avcc: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = avcc;
    std::iter::from_fn(move || {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let nal = after.get(..len)?;
        rest = &after[len..];
        Some(nal)
    })
}

/// The type of a NAL unit (its header's low five bits), if it has a header.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|h| h & TYPE_MASK)
}

/// True when a length-prefixed access unit holds an IDR slice.
pub fn is_keyframe(avcc: &[u8]) -> bool {
    nal_units(avcc).any(|n| nal_type(n) == Some(NAL_IDR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A NAL header byte with NRI = 3.
    fn nal(t: u8) -> u8 {
        0x60 | t
    }

    #[test]
    fn single_nal_units() {
        assert!(is_keyframe_start(&[nal(NAL_IDR), 0x88, 0x84]));
        assert!(is_keyframe_start(&[nal(NAL_SPS), 0x42, 0xc0, 0x1f]));
        assert!(is_keyframe_start(&[nal(NAL_PPS), 0xce]));
        assert!(!is_keyframe_start(&[nal(1), 0x9a]));
        assert!(!is_keyframe_start(&[nal(6), 0x05]));
        assert!(!is_keyframe_start(&[]));
    }

    #[test]
    fn forbidden_bit_is_rejected() {
        assert!(!is_keyframe_start(&[0x80 | nal(NAL_IDR), 0x88]));
    }

    #[test]
    fn stap_a_with_sps_pps() {
        let p = [
            nal(STAP_A),
            0x00,
            0x03,
            nal(NAL_SPS),
            0x42,
            0xc0,
            0x00,
            0x02,
            nal(NAL_PPS),
            0xce,
        ];
        assert!(is_keyframe_start(&p));
    }

    #[test]
    fn stap_a_without_keyframe_units() {
        let p = [
            nal(STAP_A),
            0x00,
            0x02,
            nal(6),
            0x05,
            0x00,
            0x02,
            nal(1),
            0x9a,
        ];
        assert!(!is_keyframe_start(&p));
    }

    #[test]
    fn malformed_stap_a_is_not_a_keyframe() {
        // Second unit's size runs past the end.
        let p = [
            nal(STAP_A),
            0x00,
            0x02,
            nal(NAL_SPS),
            0x42,
            0x00,
            0x09,
            nal(1),
        ];
        assert!(!is_keyframe_start(&p));
        // Zero-sized unit.
        assert!(!is_keyframe_start(&[nal(STAP_A), 0x00, 0x00]));
        // Dangling size byte.
        assert!(!is_keyframe_start(&[
            nal(STAP_A),
            0x00,
            0x01,
            nal(NAL_IDR),
            0x00
        ]));
        // Empty aggregation.
        assert!(!is_keyframe_start(&[nal(STAP_A)]));
    }

    #[test]
    fn fu_a_start_of_idr() {
        assert!(is_keyframe_start(&[nal(FU_A), 0x80 | NAL_IDR, 0x88]));
        // Middle and end fragments of an IDR.
        assert!(!is_keyframe_start(&[nal(FU_A), NAL_IDR, 0x88]));
        assert!(!is_keyframe_start(&[nal(FU_A), 0x40 | NAL_IDR, 0x88]));
        // Start of a non-IDR slice.
        assert!(!is_keyframe_start(&[nal(FU_A), 0x80 | 1, 0x9a]));
        // No FU header.
        assert!(!is_keyframe_start(&[nal(FU_A)]));
    }

    #[test]
    fn other_packet_types_are_ignored() {
        for t in [0, 25, 26, 27, 29, 30, 31] {
            assert!(
                !is_keyframe_start(&[nal(t), 0x80 | NAL_IDR, 0, 0]),
                "type {t}"
            );
        }
    }

    fn units(avcc: &[u8]) -> Vec<Vec<u8>> {
        nal_units(avcc).map(|n| n.to_vec()).collect()
    }

    #[test]
    fn single_nal() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        d.push(&[0x65, 1, 2, 3], &mut out).unwrap();
        assert_eq!(units(&out), vec![vec![0x65, 1, 2, 3]]);
        assert!(is_keyframe(&out));
    }

    #[test]
    fn stap_a_splits_into_units() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        d.push(&[0x78, 0, 2, 0x67, 9, 0, 2, 0x68, 8], &mut out)
            .unwrap();
        assert_eq!(units(&out), vec![vec![0x67, 9], vec![0x68, 8]]);
        assert!(!is_keyframe(&out));
    }

    #[test]
    fn fu_a_reassembles_header_and_data() {
        let mut d = H264Depacketizer::default();
        let mut out = Vec::new();
        d.push(&[0x7c, 0x85, 1, 2], &mut out).unwrap(); // start, type 5
        assert!(d.in_fragment() && out.is_empty());
        d.push(&[0x7c, 0x05, 3], &mut out).unwrap();
        d.push(&[0x7c, 0x45, 4], &mut out).unwrap(); // end
        assert_eq!(units(&out), vec![vec![0x65, 1, 2, 3, 4]]);
        assert!(is_keyframe(&out));
    }

    #[test]
    fn fu_a_without_start_is_an_error() {
        let mut d = H264Depacketizer::default();
        assert!(d.push(&[0x7c, 0x05, 3], &mut Vec::new()).is_err());
        // rtc-rtp 0.21.1 accepts this end fragment and makes up a NAL unit.
        assert_eq!(
            d.push(&[0x7c, 0x45, 3, 4], &mut Vec::new()),
            Err(H264Error::StartLost)
        );
    }

    #[test]
    fn malformed_stap_a_is_an_error() {
        let mut d = H264Depacketizer::default();
        assert!(d.push(&[0x78, 0, 9, 1], &mut Vec::new()).is_err());
        assert!(d.push(&[0x78, 0], &mut Vec::new()).is_err());
        assert!(d.push(&[0x78], &mut Vec::new()).is_err());
        // A dangling size byte after the last unit (rtc-rtp 0.21.1 panics).
        assert_eq!(
            d.push(&[0x78, 0x00, 0x01, 0x67, 0x00], &mut Vec::new()),
            Err(H264Error::SizeTruncated)
        );
    }

    proptest! {
        #[test]
        fn depacketizer_never_panics(
            packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 0..8)
        ) {
            let mut d = H264Depacketizer::default();
            let mut out = Vec::new();
            for p in &packets {
                let _ = d.push(p, &mut out);
            }
            // Whatever was written is well-formed length-prefixed units.
            let total: usize = nal_units(&out).map(|n| 4 + n.len()).sum();
            prop_assert_eq!(total, out.len());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = is_keyframe_start(&bytes);
        }

        #[test]
        fn well_formed_stap_a(units in proptest::collection::vec(
            (0u8..24, proptest::collection::vec(any::<u8>(), 0..8)), 1..5)
        ) {
            let mut p = vec![nal(STAP_A)];
            for (t, body) in &units {
                p.extend_from_slice(&(body.len() as u16 + 1).to_be_bytes());
                p.push(nal(*t));
                p.extend_from_slice(body);
            }
            let expected = units.iter().any(|(t, _)| starts_keyframe(*t));
            prop_assert_eq!(is_keyframe_start(&p), expected);
        }
    }
}
