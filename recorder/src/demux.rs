//! Reads back the segments [`crate::mux`] writes, for export: tracks and
//! frames with their times. Anything else is refused with the byte offset.

use crate::depacketize::Codec;
use crate::ebml::{self, EbmlError, Element, Reader, id};

#[derive(Debug, Clone, PartialEq)]
pub struct DemuxedTrack {
    pub number: u64,
    pub codec: Codec,
    pub channels: u8,
    pub dimensions: Option<(u64, u64)>,
    pub codec_private: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxedFrame {
    pub track: u64,
    /// Milliseconds from the segment's start.
    pub time_ms: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Demuxed {
    pub webm: bool,
    pub duration_ms: f64,
    pub tracks: Vec<DemuxedTrack>,
    pub frames: Vec<DemuxedFrame>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemuxError {
    #[error(transparent)]
    Ebml(#[from] EbmlError),
    #[error("not a segment written by the recorder: {0}")]
    Layout(&'static str),
    #[error("track {0} has codec id {1:?}, which the recorder does not write")]
    Codec(u64, String),
}

pub fn demux(file: &[u8]) -> Result<Demuxed, DemuxError> {
    let mut top = Reader::new(file, 0);
    let header = top.next().ok_or(DemuxError::Layout("empty file"))??;
    if header.id != id::EBML {
        return Err(DemuxError::Layout("no EBML header"));
    }
    let doc_type = child(&header, id::DOC_TYPE)?.map(|e| e.body.to_vec());
    let segment_offset = top.offset();
    let segment = top.next().ok_or(DemuxError::Layout("no Segment"))??;
    if segment.id != id::SEGMENT {
        return Err(DemuxError::Layout("second element is not a Segment"));
    }
    let mut out = Demuxed {
        webm: doc_type.as_deref() == Some(b"webm"),
        duration_ms: 0.0,
        tracks: Vec::new(),
        frames: Vec::new(),
    };
    for el in Reader::new(segment.body, segment_offset) {
        let el = el?;
        match el.id {
            id::INFO => {
                out.duration_ms = child(&el, id::DURATION)?
                    .and_then(|d| d.float())
                    .unwrap_or(0.0);
            }
            id::TRACKS => {
                for entry in Reader::new(el.body, 0) {
                    let entry = entry?;
                    if entry.id == id::TRACK_ENTRY {
                        out.tracks.push(track(&entry)?);
                    }
                }
            }
            id::CLUSTER => cluster(&el, &mut out.frames)?,
            _ => {}
        }
    }
    Ok(out)
}

fn child<'a>(parent: &Element<'a>, want: u32) -> Result<Option<Element<'a>>, DemuxError> {
    for el in Reader::new(parent.body, 0) {
        let el = el?;
        if el.id == want {
            return Ok(Some(el));
        }
    }
    Ok(None)
}

fn uint_child(parent: &Element<'_>, want: u32) -> Result<Option<u64>, DemuxError> {
    Ok(child(parent, want)?.and_then(|e| e.uint()))
}

fn track(entry: &Element<'_>) -> Result<DemuxedTrack, DemuxError> {
    let number =
        uint_child(entry, id::TRACK_NUMBER)?.ok_or(DemuxError::Layout("track without a number"))?;
    let codec_id =
        child(entry, id::CODEC_ID)?.ok_or(DemuxError::Layout("track without a codec id"))?;
    let codec = crate::mux::codec_from_id(codec_id.body).ok_or_else(|| {
        DemuxError::Codec(number, String::from_utf8_lossy(codec_id.body).into_owned())
    })?;
    let dimensions = match child(entry, id::VIDEO)? {
        Some(v) => uint_child(&v, id::PIXEL_WIDTH)?.zip(uint_child(&v, id::PIXEL_HEIGHT)?),
        None => None,
    };
    let channels = match child(entry, id::AUDIO)? {
        Some(a) => uint_child(&a, id::CHANNELS)?.unwrap_or(1).min(255) as u8,
        None => 0,
    };
    Ok(DemuxedTrack {
        number,
        codec,
        channels,
        dimensions,
        codec_private: child(entry, id::CODEC_PRIVATE)?.map(|e| e.body.to_vec()),
    })
}

fn cluster(el: &Element<'_>, frames: &mut Vec<DemuxedFrame>) -> Result<(), DemuxError> {
    let start =
        uint_child(el, id::TIMESTAMP)?.ok_or(DemuxError::Layout("cluster without a timestamp"))?;
    for block in Reader::new(el.body, 0) {
        let block = block?;
        if block.id != id::SIMPLE_BLOCK {
            continue;
        }
        let (track, n) = ebml::read_track_number(block.body)
            .ok_or(DemuxError::Layout("block without a track number"))?;
        let head = block
            .body
            .get(n..n + 3)
            .ok_or(DemuxError::Layout("block header truncated"))?;
        let relative = i16::from_be_bytes([head[0], head[1]]);
        let time_ms = start
            .checked_add_signed(i64::from(relative))
            .ok_or(DemuxError::Layout("block before the start of the file"))?;
        frames.push(DemuxedFrame {
            track,
            time_ms,
            keyframe: head[2] & 0x80 != 0,
            data: block.body[n + 3..].to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_what_is_not_a_segment() {
        assert!(demux(&[]).is_err());
        let mut other = Vec::new();
        ebml::master(&mut other, id::SEGMENT, |_| {});
        assert_eq!(demux(&other), Err(DemuxError::Layout("no EBML header")));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = demux(&data);
        }
    }
}
