//! Cuts a recording into segments of about `segment_ms` each.
//!
//! Invariants: a segment begins with a keyframe of every video track that
//! has frames in it (frames of a video track before its first keyframe in
//! the segment are dropped and counted); with video, a cut happens at a
//! video keyframe once the segment is long enough, or at any frame once it
//! is twice as long (a sender that never sends keyframes still yields
//! segments; its video then resumes at its next keyframe). Size bounds
//! memory the same way: half of `max_bytes` counts as long enough, and
//! `max_bytes` forces a cut.

use crate::depacketize::Codec;
use crate::mux::{MuxTrack, SegmentMuxer};

/// Default largest segment, bytes of media (a segment is held in memory
/// until it is finished).
pub const MAX_SEGMENT_BYTES: usize = 64 << 20;

/// A segment ready to be sealed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedSegment {
    /// `webm` or `matroska`.
    pub container: &'static str,
    pub bytes: Vec<u8>,
    /// Milliseconds from the recording's start.
    pub start_ms: u64,
    pub end_ms: u64,
    pub frames: u64,
}

#[derive(Debug)]
struct Open {
    muxer: SegmentMuxer,
    start_ms: u64,
    /// Video tracks that have had their keyframe in this segment.
    keyed: Vec<u64>,
}

#[derive(Debug)]
pub struct Segmenter {
    tracks: Vec<MuxTrack>,
    segment_ms: u64,
    max_bytes: usize,
    open: Option<Open>,
    /// Start of the last finished segment: no segment starts before it.
    floor_ms: u64,
    dropped: u64,
}

impl Segmenter {
    /// `segment_ms`: target segment length in milliseconds (at least 1).
    pub fn new(tracks: Vec<MuxTrack>, segment_ms: u64) -> Self {
        Self {
            tracks,
            segment_ms: segment_ms.max(1),
            max_bytes: MAX_SEGMENT_BYTES,
            open: None,
            floor_ms: 0,
            dropped: 0,
        }
    }

    /// Sets the largest segment in bytes (default [`MAX_SEGMENT_BYTES`]).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// Video frames dropped while waiting for a keyframe at a segment start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn codec(&self, track: u64) -> Option<Codec> {
        self.tracks
            .iter()
            .find(|t| t.number == track)
            .map(|t| t.codec)
    }

    fn container(&self) -> &'static str {
        if self.tracks.iter().any(|t| t.codec == Codec::H264) {
            "matroska"
        } else {
            "webm"
        }
    }

    /// Adds a frame at `time_ms` from the recording's start; returns the
    /// segment this frame closed, if any. Frames of unknown tracks are ignored.
    pub fn push(
        &mut self,
        track: u64,
        time_ms: u64,
        keyframe: bool,
        data: &[u8],
    ) -> Option<FinishedSegment> {
        let codec = self.codec(track)?;
        let video = codec.is_video();
        let has_video = self.tracks.iter().any(|t| t.codec.is_video());
        let mut finished = None;
        if let Some(open) = &self.open {
            let elapsed = time_ms.saturating_sub(open.start_ms);
            let bytes = open.muxer.bytes();
            let long = elapsed >= self.segment_ms || bytes >= self.max_bytes / 2;
            let too_long = elapsed >= 2 * self.segment_ms || bytes >= self.max_bytes;
            let cut = too_long || (long && (!has_video || (video && keyframe)));
            if cut {
                finished = self.finish();
            }
        }
        let keyed = self.open.as_ref().is_some_and(|o| o.keyed.contains(&track));
        if video && !keyed && !keyframe {
            self.dropped += 1;
            return finished;
        }
        let floor = self.floor_ms;
        let open = self.open.get_or_insert_with(|| Open {
            muxer: SegmentMuxer::new(&self.tracks),
            start_ms: time_ms.max(floor),
            keyed: Vec::new(),
        });
        if video && !keyed {
            open.keyed.push(track);
        }
        let relative = time_ms.saturating_sub(open.start_ms);
        // The track exists (checked above), so the muxer accepts the frame.
        let _ = open.muxer.push(track, relative, keyframe, data);
        finished
    }

    /// Closes the open segment (end of recording or of the connection).
    pub fn finish(&mut self) -> Option<FinishedSegment> {
        let open = self.open.take()?;
        if open.muxer.frames() == 0 {
            return None;
        }
        self.floor_ms = open.start_ms;
        let frames = open.muxer.frames();
        let end_ms = open.start_ms + open.muxer.duration_ms();
        Some(FinishedSegment {
            container: self.container(),
            bytes: open.muxer.finish(),
            start_ms: open.start_ms,
            end_ms,
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demux;

    fn tracks() -> Vec<MuxTrack> {
        vec![
            MuxTrack {
                number: 1,
                codec: Codec::Vp8,
                channels: 0,
            },
            MuxTrack {
                number: 2,
                codec: Codec::Opus,
                channels: 2,
            },
        ]
    }

    #[test]
    fn cuts_at_keyframes_after_the_length() {
        let mut s = Segmenter::new(tracks(), 1_000);
        let mut out = Vec::new();
        for i in 0..100u64 {
            let t = i * 40;
            // A keyframe every 25 frames (1 s).
            out.extend(s.push(1, t, i % 25 == 0, &[if i % 25 == 0 { 0x50 } else { 0x51 }]));
            out.extend(s.push(2, t + 5, true, &[0xfc]));
        }
        out.extend(s.finish());
        assert_eq!(out.len(), 4);
        for (i, seg) in out.iter().enumerate() {
            assert_eq!(seg.start_ms, i as u64 * 1_000);
            let d = demux::demux(&seg.bytes).unwrap();
            let first_video = d.frames.iter().find(|f| f.track == 1).unwrap();
            assert!(first_video.keyframe, "segment {i} starts with a keyframe");
            assert_eq!(d.frames.first().unwrap().time_ms, 0);
        }
        assert_eq!(s.dropped(), 0);
    }

    #[test]
    fn without_keyframes_cuts_at_twice_the_length_and_waits_for_one() {
        let mut s = Segmenter::new(tracks(), 1_000);
        let mut out = Vec::new();
        out.extend(s.push(1, 0, true, &[0x50]));
        for i in 1..60u64 {
            out.extend(s.push(1, i * 40, false, &[0x51]));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].start_ms, 0);
        // The deltas after the cut cannot start a segment: dropped.
        assert_eq!(s.dropped(), 59 - 50 + 1);
        out.extend(s.push(1, 2_400, true, &[0x50]));
        let last = s.finish().unwrap();
        assert_eq!(last.start_ms, 2_400);
    }

    #[test]
    fn size_bounds_a_segment_too() {
        let mut s = Segmenter::new(tracks(), 3_600_000).with_max_bytes(10_000);
        let mut out = Vec::new();
        for i in 0..100u64 {
            out.extend(s.push(
                1,
                i * 40,
                i % 10 == 0,
                &[if i % 10 == 0 { 0x50 } else { 0x51 }; 500],
            ));
        }
        assert!(
            out.len() >= 4,
            "{} segments of an hour-long target",
            out.len()
        );
        assert!(out.iter().all(|seg| seg.bytes.len() < 12_000));
    }

    #[test]
    fn h264_tracks_make_matroska() {
        let mut s = Segmenter::new(
            vec![MuxTrack {
                number: 1,
                codec: Codec::H264,
                channels: 0,
            }],
            1_000,
        );
        assert!(s.push(1, 0, true, &[0, 0, 0, 1, 0x65]).is_none());
        assert_eq!(s.finish().unwrap().container, "matroska");
        assert!(s.finish().is_none());
    }
}
