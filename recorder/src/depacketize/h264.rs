//! H.264 RTP payload (RFC 6184, packetization mode 1): single NAL units,
//! STAP-A aggregates and FU-A fragments, turned into length-prefixed
//! ("AVCC", 4-byte big-endian length) NAL units as Matroska stores them.

use super::DepacketizeError;

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
/// NAL unit types (ITU-T H.264 Table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

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
    /// with its 4-byte length.
    pub fn push(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), DepacketizeError> {
        let header = *payload
            .first()
            .ok_or(DepacketizeError::H264("empty payload"))?;
        match header & 0x1f {
            0 | 30 | 31 => Err(DepacketizeError::H264("reserved NAL unit type")),
            25..=27 | 29 => Err(DepacketizeError::H264(
                "STAP-B, MTAP and FU-B need interleaved mode, which is not negotiated",
            )),
            STAP_A => {
                let mut rest = &payload[1..];
                if rest.is_empty() {
                    return Err(DepacketizeError::H264("empty STAP-A"));
                }
                while !rest.is_empty() {
                    let size = rest
                        .get(..2)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                        .ok_or(DepacketizeError::H264("STAP-A size runs past the packet"))?;
                    let nal = rest
                        .get(2..2 + size)
                        .filter(|n| !n.is_empty())
                        .ok_or(DepacketizeError::H264("STAP-A unit runs past the packet"))?;
                    write_nal(out, nal);
                    rest = &rest[2 + size..];
                }
                Ok(())
            }
            FU_A => {
                let fu = *payload
                    .get(1)
                    .ok_or(DepacketizeError::H264("FU-A without its header"))?;
                let data = &payload[2..];
                let start = fu & 0x80 != 0;
                let end = fu & 0x40 != 0;
                if start {
                    let mut nal = Vec::with_capacity(data.len() * 4 + 1);
                    nal.push((header & 0xe0) | (fu & 0x1f));
                    self.fragment = Some(nal);
                }
                let nal = self.fragment.as_mut().ok_or(DepacketizeError::H264(
                    "FU-A continues a fragment whose start was lost",
                ))?;
                nal.extend_from_slice(data);
                if end && let Some(nal) = self.fragment.take() {
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
        let len = rest.get(..4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let nal = rest.get(4..4usize.checked_add(len)?)?;
        rest = &rest[4 + len..];
        Some(nal)
    })
}

/// True when the access unit holds an IDR slice.
pub fn is_keyframe(avcc: &[u8]) -> bool {
    nal_units(avcc).any(|n| n.first().is_some_and(|h| h & 0x1f == NAL_IDR))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn malformed_stap_a_is_an_error() {
        let mut d = H264Depacketizer::default();
        assert!(d.push(&[0x78, 0, 9, 1], &mut Vec::new()).is_err());
        assert!(d.push(&[0x78, 0], &mut Vec::new()).is_err());
        assert!(d.push(&[0x78], &mut Vec::new()).is_err());
    }
}
