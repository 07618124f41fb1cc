//! Keyframe detection for H.264 RTP payloads (RFC 6184, packetization modes
//! 0 and 1: single NAL unit, STAP-A and FU-A packets).
//!
//! Only what forwarding needs: whether a packet begins a keyframe, so that a
//! subscriber can be switched onto a stream there. Input is hostile; any byte
//! slice is answered, malformed ones with `false` (a missed keyframe costs a
//! wait, a false one costs a broken picture).

/// NAL unit type of an IDR slice.
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

/// Whether a NAL unit of this type begins a keyframe when it is whole: an IDR
/// slice, or the parameter sets that precede one.
fn starts_keyframe(nal_type: u8) -> bool {
    matches!(nal_type, NAL_IDR | NAL_SPS | NAL_PPS)
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

/// Walks the aggregation units of a STAP-A payload (after its header):
/// a 16-bit big-endian size, then that many bytes of NAL unit.
fn stap_a_has_keyframe(mut units: &[u8]) -> bool {
    let mut found = false;
    if units.is_empty() {
        return false;
    }
    while !units.is_empty() {
        let Some((&[hi, lo], rest)) = units.split_first_chunk::<2>() else {
            return false;
        };
        let size = usize::from(u16::from_be_bytes([hi, lo]));
        if size == 0 || size > rest.len() {
            return false;
        }
        let (nal, rest) = rest.split_at(size);
        // `size > 0`, so the NAL has a header byte.
        if let Some(&nal_header) = nal.first() {
            if nal_header & FORBIDDEN_BIT != 0 {
                return false;
            }
            found |= starts_keyframe(nal_header & TYPE_MASK);
        }
        units = rest;
    }
    found
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

    proptest! {
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
