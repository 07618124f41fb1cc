//! A minimal EBML (RFC 8794) writer and reader: just what Matroska segments
//! need. Element ids are written as given (they carry their own length
//! marker); sizes use the shortest variable-length integer.
//!
//! No muxer crate fits: `webm` binds C++ libwebm and has no H.264 codec id,
//! `matroska` only reads, and `webm-iterable` is a tag stream that leaves the
//! layout (clusters, blocks, codec private data) to the caller anyway.

/// Matroska element ids used by the recorder.
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

fn write_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Writes `size` as an EBML variable-length integer of the fewest bytes.
pub fn write_size(out: &mut Vec<u8>, size: u64) {
    // A length of n bytes holds values up to 2^(7n) - 2 (all ones is "unknown").
    let n = (1..=8u32)
        .find(|n| size < (1u64 << (7 * n)) - 1)
        .unwrap_or(8);
    let marked = size | (1u64 << (7 * n));
    out.extend_from_slice(&marked.to_be_bytes()[8 - n as usize..]);
}

pub fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    write_id(out, id);
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    write_size(out, (8 - skip) as u64);
    out.extend_from_slice(&bytes[skip..]);
}

pub fn float(out: &mut Vec<u8>, id: u32, value: f64) {
    write_id(out, id);
    write_size(out, 8);
    out.extend_from_slice(&value.to_be_bytes());
}

pub fn bytes(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    write_id(out, id);
    write_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

pub fn string(out: &mut Vec<u8>, id: u32, s: &str) {
    bytes(out, id, s.as_bytes());
}

/// Writes a master element whose children `body` writes.
pub fn master(out: &mut Vec<u8>, id: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    bytes(out, id, &inner);
}

/// Why bytes are not the EBML the recorder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EbmlError {
    #[error("element header at byte {0} is truncated or invalid")]
    Header(usize),
    #[error("element at byte {0} claims more bytes than its parent holds")]
    Overrun(usize),
}

/// One element found by [`Reader`]: its id and its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub id: u32,
    pub body: &'a [u8],
}

impl Element<'_> {
    /// The body as an unsigned integer (at most 8 bytes).
    pub fn uint(&self) -> Option<u64> {
        (self.body.len() <= 8).then(|| self.body.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    pub fn float(&self) -> Option<f64> {
        match self.body.len() {
            4 => Some(f64::from(f32::from_be_bytes(self.body.try_into().ok()?))),
            8 => Some(f64::from_be_bytes(self.body.try_into().ok()?)),
            _ => None,
        }
    }
}

/// Iterates over the sibling elements in a buffer. Unknown sizes are
/// refused: the recorder always writes known sizes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole file, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Byte offset (in the whole file) of the next element.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }
}

/// Reads a variable-length integer; `keep_marker` for ids.
fn read_vint(buf: &[u8], keep_marker: bool) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || buf.len() < len {
        return None;
    }
    let mut v = if keep_marker {
        u64::from(first)
    } else {
        u64::from(first) & ((1u64 << (8 - len)) - 1)
    };
    for b in &buf[1..len] {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// Reads a track number as written in a block header.
pub fn read_track_number(buf: &[u8]) -> Option<(u64, usize)> {
    read_vint(buf, false)
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Element<'a>, EbmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.offset();
        let rest = &self.buf[self.pos..];
        let result = (|| {
            let (id, id_len) = read_vint(rest, true)
                .filter(|(_, l)| *l <= 4)
                .ok_or(EbmlError::Header(at))?;
            let (size, size_len) =
                read_vint(&rest[id_len..], false).ok_or(EbmlError::Header(at))?;
            let start = id_len + size_len;
            let end = usize::try_from(size)
                .ok()
                .and_then(|s| start.checked_add(s))
                .filter(|e| *e <= rest.len())
                .ok_or(EbmlError::Overrun(at))?;
            Ok((
                Element {
                    id: id as u32,
                    body: &rest[start..end],
                },
                end,
            ))
        })();
        match result {
            Ok((el, len)) => {
                self.pos += len;
                Some(Ok(el))
            }
            Err(e) => {
                self.pos = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_use_the_fewest_bytes() {
        let enc = |n| {
            let mut v = Vec::new();
            write_size(&mut v, n);
            v
        };
        assert_eq!(enc(0), vec![0x80]);
        assert_eq!(enc(126), vec![0xfe]);
        assert_eq!(enc(127), vec![0x40, 0x7f]); // 0xff would mean "unknown"
        assert_eq!(enc(300), vec![0x41, 0x2c]);
    }

    #[test]
    fn nested_elements_round_trip() {
        let mut out = Vec::new();
        master(&mut out, id::SEGMENT, |s| {
            uint(s, id::TIMESTAMP_SCALE, 1_000_000);
            float(s, id::DURATION, 1.5);
            string(s, id::CODEC_ID, "V_VP8");
        });
        let mut top = Reader::new(&out, 0);
        let seg = top.next().unwrap().unwrap();
        assert_eq!(seg.id, id::SEGMENT);
        assert!(top.next().is_none());
        let kids: Vec<_> = Reader::new(seg.body, 0).map(|e| e.unwrap()).collect();
        assert_eq!(kids[0].id, id::TIMESTAMP_SCALE);
        assert_eq!(kids[0].uint(), Some(1_000_000));
        assert_eq!(kids[1].float(), Some(1.5));
        assert_eq!(kids[2].body, b"V_VP8");
    }

    #[test]
    fn overrun_is_an_error() {
        let out = [0xA3, 0x85, 1, 2];
        assert_eq!(
            Reader::new(&out, 10).next(),
            Some(Err(EbmlError::Overrun(10)))
        );
    }

    proptest! {
        #[test]
        fn reading_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            for el in Reader::new(&data, 0).flatten() {
                let _ = el.uint();
                let _ = el.float();
                for _ in Reader::new(el.body, 0) {}
            }
        }

        #[test]
        fn any_size_round_trips(n in 0u64..(1u64 << 56) - 1) {
            let mut v = Vec::new();
            write_size(&mut v, n);
            prop_assert_eq!(read_vint(&v, false), Some((n, v.len())));
        }
    }
}
