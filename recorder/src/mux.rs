//! Matroska segments: one self-contained file per segment (its own EBML
//! header, track list and clusters), WebM when every track is VP8 or Opus,
//! Matroska when there is H.264.
//!
//! Invariants: times are milliseconds (TimestampScale 1 000 000 ns) from
//! the segment's own start; the segment's first video frame is a keyframe
//! (the [`crate::segmenter`] cuts only there) and every video keyframe opens
//! a cluster, so a player can start at any cluster.

use crate::depacketize::{Codec, h264};
use crate::ebml::{self, id};

/// Matroska track number (1-based) and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxTrack {
    pub number: u64,
    pub codec: Codec,
    /// Audio channels (Opus in WebRTC is negotiated as 2).
    pub channels: u8,
}

/// Opus encoder delay written in OpusHead and CodecDelay: 312 samples at
/// 48 kHz (libopus's 6.5 ms look-ahead), in samples.
const OPUS_PRE_SKIP: u16 = 312;
/// Assumed length of the last frame of a track when computing a duration, ms.
const LAST_FRAME_MS: u64 = 20;
/// A cluster's blocks hold times relative to it in an i16; stay well below.
const MAX_CLUSTER_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MuxError {
    #[error("frame for track {0}, which the segment does not declare")]
    UnknownTrack(u64),
}

#[derive(Debug)]
struct TrackState {
    spec: MuxTrack,
    /// The first keyframe, from which H.264 parameters and VP8 dimensions are read.
    first_keyframe: Option<Vec<u8>>,
}

/// Builds one segment in memory; [`SegmentMuxer::finish`] returns the file.
#[derive(Debug)]
pub struct SegmentMuxer {
    tracks: Vec<TrackState>,
    clusters: Vec<u8>,
    cluster: Option<(u64, Vec<u8>)>,
    end_ms: u64,
    frames: u64,
}

impl SegmentMuxer {
    pub fn new(tracks: &[MuxTrack]) -> Self {
        Self {
            tracks: tracks
                .iter()
                .map(|&spec| TrackState {
                    spec,
                    first_keyframe: None,
                })
                .collect(),
            clusters: Vec::new(),
            cluster: None,
            end_ms: 0,
            frames: 0,
        }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes of media written so far (the file is a few hundred bytes more).
    pub fn bytes(&self) -> usize {
        self.clusters.len() + self.cluster.as_ref().map_or(0, |(_, b)| b.len())
    }

    /// Milliseconds from the segment's start to the end of its last frame.
    pub fn duration_ms(&self) -> u64 {
        self.end_ms
    }

    /// Adds a frame at `time_ms` from the segment's start.
    pub fn push(
        &mut self,
        track: u64,
        time_ms: u64,
        keyframe: bool,
        data: &[u8],
    ) -> Result<(), MuxError> {
        let state = self
            .tracks
            .iter_mut()
            .find(|t| t.spec.number == track)
            .ok_or(MuxError::UnknownTrack(track))?;
        let video = state.spec.codec.is_video();
        if keyframe && state.first_keyframe.is_none() {
            state.first_keyframe = Some(data.to_vec());
        }
        let new_cluster = match &self.cluster {
            None => true,
            Some((start, body)) => {
                (video && keyframe && !body.is_empty())
                    || time_ms < *start
                    || time_ms - start > MAX_CLUSTER_MS
            }
        };
        if new_cluster {
            self.close_cluster();
            self.cluster = Some((time_ms, Vec::new()));
        }
        if let Some((start, body)) = &mut self.cluster {
            let relative = (time_ms - *start) as i16;
            ebml::master(body, id::SIMPLE_BLOCK, |b| {
                ebml::write_size(b, track); // track number as a vint
                b.extend_from_slice(&relative.to_be_bytes());
                b.push(if keyframe { 0x80 } else { 0 });
                b.extend_from_slice(data);
            });
        }
        self.end_ms = self.end_ms.max(time_ms + LAST_FRAME_MS);
        self.frames += 1;
        Ok(())
    }

    fn close_cluster(&mut self) {
        if let Some((start, body)) = self.cluster.take() {
            ebml::master(&mut self.clusters, id::CLUSTER, |c| {
                ebml::uint(c, id::TIMESTAMP, start);
                c.extend_from_slice(&body);
            });
        }
    }

    /// The complete file.
    pub fn finish(mut self) -> Vec<u8> {
        self.close_cluster();
        let webm = self.tracks.iter().all(|t| t.spec.codec != Codec::H264);
        let mut out = Vec::with_capacity(self.clusters.len() + 512);
        ebml::master(&mut out, id::EBML, |h| {
            ebml::uint(h, id::EBML_VERSION, 1);
            ebml::uint(h, id::EBML_READ_VERSION, 1);
            ebml::uint(h, id::EBML_MAX_ID_LENGTH, 4);
            ebml::uint(h, id::EBML_MAX_SIZE_LENGTH, 8);
            ebml::string(h, id::DOC_TYPE, if webm { "webm" } else { "matroska" });
            ebml::uint(h, id::DOC_TYPE_VERSION, 4);
            ebml::uint(h, id::DOC_TYPE_READ_VERSION, 2);
        });
        ebml::master(&mut out, id::SEGMENT, |s| {
            ebml::master(s, id::INFO, |i| {
                ebml::uint(i, id::TIMESTAMP_SCALE, 1_000_000);
                ebml::float(i, id::DURATION, self.end_ms as f64);
                ebml::string(i, id::MUXING_APP, "parley-recorder");
                ebml::string(i, id::WRITING_APP, "parley-recorder");
            });
            ebml::master(s, id::TRACKS, |t| {
                for track in &self.tracks {
                    write_track(t, track);
                }
            });
            s.extend_from_slice(&self.clusters);
        });
        out
    }
}

fn write_track(out: &mut Vec<u8>, track: &TrackState) {
    let spec = track.spec;
    ebml::master(out, id::TRACK_ENTRY, |e| {
        ebml::uint(e, id::TRACK_NUMBER, spec.number);
        ebml::uint(e, id::TRACK_UID, spec.number);
        ebml::uint(e, id::TRACK_TYPE, if spec.codec.is_video() { 1 } else { 2 });
        ebml::uint(e, id::FLAG_LACING, 0);
        ebml::string(e, id::CODEC_ID, codec_id(spec.codec));
        match spec.codec {
            Codec::Vp8 => {
                if let Some((w, h)) = track.first_keyframe.as_deref().and_then(vp8_dimensions) {
                    ebml::master(e, id::VIDEO, |v| {
                        ebml::uint(v, id::PIXEL_WIDTH, w.into());
                        ebml::uint(v, id::PIXEL_HEIGHT, h.into());
                    });
                }
            }
            Codec::H264 => {
                if let Some(avcc) = track.first_keyframe.as_deref().and_then(avc_config) {
                    ebml::bytes(e, id::CODEC_PRIVATE, &avcc);
                }
            }
            Codec::Opus => {
                ebml::bytes(e, id::CODEC_PRIVATE, &opus_head(spec.channels));
                ebml::uint(
                    e,
                    id::CODEC_DELAY,
                    u64::from(OPUS_PRE_SKIP) * 1_000_000_000 / 48_000,
                );
                ebml::uint(e, id::SEEK_PRE_ROLL, 80_000_000);
                ebml::master(e, id::AUDIO, |a| {
                    ebml::float(a, id::SAMPLING_FREQUENCY, 48_000.0);
                    ebml::uint(a, id::CHANNELS, spec.channels.into());
                });
            }
        }
    });
}

/// The Matroska codec id of a codec.
pub fn codec_id(codec: Codec) -> &'static str {
    match codec {
        Codec::Vp8 => "V_VP8",
        Codec::H264 => "V_MPEG4/ISO/AVC",
        Codec::Opus => "A_OPUS",
    }
}

/// The codec of a Matroska codec id the recorder writes.
pub fn codec_from_id(id: &[u8]) -> Option<Codec> {
    [Codec::Vp8, Codec::H264, Codec::Opus]
        .into_iter()
        .find(|c| codec_id(*c).as_bytes() == id)
}

/// Width and height from a VP8 keyframe header (RFC 6386 §9.1), in pixels.
pub fn vp8_dimensions(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    (w > 0 && h > 0).then_some((w, h))
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.2.4.1) from the
/// SPS and PPS found in a keyframe; `None` without both.
pub fn avc_config(access_unit: &[u8]) -> Option<Vec<u8>> {
    let sps = h264::nal_units(access_unit).find(|n| h264::nal_type(n) == Some(h264::NAL_SPS))?;
    let pps = h264::nal_units(access_unit).find(|n| h264::nal_type(n) == Some(h264::NAL_PPS))?;
    if sps.len() < 4 {
        return None;
    }
    let mut out = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    out.extend_from_slice(&u16::try_from(sps.len()).ok()?.to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&u16::try_from(pps.len()).ok()?.to_be_bytes());
    out.extend_from_slice(pps);
    Some(out)
}

/// The Opus identification header (RFC 7845 §5.1) Matroska stores as CodecPrivate.
pub fn opus_head(channels: u8) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&OPUS_PRE_SKIP.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demux;

    fn vp8_key() -> Vec<u8> {
        vec![
            0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 7, 7,
        ]
    }

    #[test]
    fn segment_round_trips_through_the_reader() {
        let tracks = [
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
        ];
        let mut m = SegmentMuxer::new(&tracks);
        m.push(1, 0, true, &vp8_key()).unwrap();
        m.push(2, 5, true, &[0xfc, 1]).unwrap();
        m.push(1, 33, false, &[0x51, 9]).unwrap();
        m.push(1, 40_000, true, &vp8_key()).unwrap();
        assert_eq!(m.push(3, 1, true, &[1]), Err(MuxError::UnknownTrack(3)));
        let file = m.finish();
        let d = demux::demux(&file).unwrap();
        assert!(d.webm);
        assert_eq!(d.tracks.len(), 2);
        assert_eq!(d.tracks[0].codec, Codec::Vp8);
        assert_eq!(d.tracks[0].dimensions, Some((320, 240)));
        assert_eq!(d.tracks[1].channels, 2);
        let times: Vec<_> = d
            .frames
            .iter()
            .map(|f| (f.track, f.time_ms, f.keyframe))
            .collect();
        assert_eq!(
            times,
            vec![
                (1, 0, true),
                (2, 5, true),
                (1, 33, false),
                (1, 40_000, true)
            ]
        );
        assert_eq!(d.frames[2].data, vec![0x51, 9]);
        assert_eq!(d.duration_ms, 40_020.0);
    }

    #[test]
    fn h264_makes_matroska_with_avc_config() {
        let tracks = [MuxTrack {
            number: 1,
            codec: Codec::H264,
            channels: 0,
        }];
        let mut m = SegmentMuxer::new(&tracks);
        let mut au = Vec::new();
        for nal in [
            &[0x67u8, 0x42, 0xc0, 0x1f, 0xaa][..],
            &[0x68, 0xce],
            &[0x65, 1, 2],
        ] {
            au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            au.extend_from_slice(nal);
        }
        m.push(1, 0, true, &au).unwrap();
        let d = demux::demux(&m.finish()).unwrap();
        assert!(!d.webm);
        assert_eq!(d.tracks[0].codec, Codec::H264);
        let private = d.tracks[0].codec_private.clone().unwrap();
        assert_eq!(&private[..4], &[1, 0x42, 0xc0, 0x1f]);
    }

    #[test]
    fn dimensions_need_a_keyframe_start_code() {
        assert_eq!(vp8_dimensions(&vp8_key()), Some((320, 240)));
        assert_eq!(vp8_dimensions(&[0x50; 10]), None);
    }
}
