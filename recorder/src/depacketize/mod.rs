//! From RTP packets to whole frames: VP8 (RFC 7741), H.264 (RFC 6184) and
//! Opus (RFC 7587).
//!
//! Invariant: a frame is emitted only when every packet of it arrived in
//! sequence. A new SSRC, or a sequence number far from the expected one
//! (more than [`MAX_MISORDER`] behind or [`MAX_DROPOUT`] ahead), is a new
//! stream (a publisher that reconnected): the track starts over and video
//! waits for a keyframe. After a lost packet a video track emits nothing until its next
//! keyframe, so the recording has a gap and never a frame that a decoder
//! would have to conceal (or crash on).

pub use parley_codec::{h264, vp8};

use crate::rtp::RtpPacket;

/// Packets behind the expected sequence number still taken as late
/// packets of the same stream.
pub const MAX_MISORDER: i16 = 100;
/// Packets ahead of the expected sequence number still taken as a loss in
/// the same stream.
pub const MAX_DROPOUT: i16 = 3000;

pub use parley_recorder_link::protocol::Codec;

/// Why one packet's payload cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    #[error("bad VP8 payload: {0}")]
    Vp8(#[from] vp8::Vp8Error),
    #[error("VP8 frame does not begin with its first partition")]
    Vp8NotFrameStart,
    #[error("bad H.264 payload: {0}")]
    H264(#[from] h264::H264Error),
}

/// One complete frame (VP8 frame, H.264 access unit in length-prefixed
/// form, or Opus packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// RTP timestamp, in the track's clock rate.
    pub rtp_timestamp: u32,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// Counters a person reads to judge a recording's quality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblyStats {
    pub frames: u64,
    /// Frames dropped because a packet was lost or malformed, or because
    /// they followed a loss before the next keyframe.
    pub frames_dropped: u64,
    /// Packets that arrived after a newer one (late or duplicated), ignored.
    pub packets_late: u64,
    pub packets_malformed: u64,
    /// Times the track started over (new SSRC or a sequence jump).
    pub restarts: u64,
}

/// Builds frames of one track from its RTP packets, in arrival order.
#[derive(Debug)]
pub struct FrameAssembler {
    codec: Codec,
    ssrc: Option<u32>,
    next_sequence: Option<u16>,
    /// RTP timestamp of the frame being built, if any.
    current: Option<u32>,
    data: Vec<u8>,
    /// The frame being built lost a packet or had a bad one.
    broken: bool,
    /// Video only: drop frames until a keyframe (start, or after a loss).
    need_keyframe: bool,
    h264: h264::H264Depacketizer,
    stats: AssemblyStats,
}

impl FrameAssembler {
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            ssrc: None,
            next_sequence: None,
            current: None,
            data: Vec::new(),
            broken: false,
            need_keyframe: codec.is_video(),
            h264: h264::H264Depacketizer::default(),
            stats: AssemblyStats::default(),
        }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn stats(&self) -> AssemblyStats {
        self.stats
    }

    /// Feeds one packet; returns the frame it completes, if any.
    pub fn push(&mut self, packet: &RtpPacket<'_>) -> Option<Frame> {
        if self.ssrc.is_some_and(|s| s != packet.ssrc) {
            self.restart();
        }
        self.ssrc = Some(packet.ssrc);
        if let Some(expected) = self.next_sequence {
            let ahead = packet.sequence.wrapping_sub(expected) as i16;
            if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&ahead) {
                self.restart();
            } else if ahead < 0 {
                self.stats.packets_late += 1;
                return None;
            } else if ahead > 0 {
                self.lose();
            }
        }
        // After a gap between frames an H.264 frame may have lost its first
        // NAL units, which nothing in the payload reveals (VP8 has its S bit).
        let lost_start = self.broken && self.current.is_none() && self.codec == Codec::H264;
        self.next_sequence = Some(packet.sequence.wrapping_add(1));
        if self.codec == Codec::Opus {
            return self.emit_opus(packet);
        }
        if self.current != Some(packet.timestamp) {
            if self.current.is_some() {
                // The previous frame never saw its marker: it is incomplete.
                self.abandon();
            }
            self.begin(packet.timestamp);
            self.broken = lost_start;
        }
        if let Err(_e) = self.append(packet.payload) {
            self.stats.packets_malformed += 1;
            self.broken = true;
        }
        if packet.marker {
            return self.finish();
        }
        None
    }

    fn emit_opus(&mut self, packet: &RtpPacket<'_>) -> Option<Frame> {
        if packet.payload.is_empty() {
            self.stats.packets_malformed += 1;
            self.stats.frames_dropped += 1;
            return None;
        }
        self.stats.frames += 1;
        Some(Frame {
            rtp_timestamp: packet.timestamp,
            keyframe: true,
            data: packet.payload.to_vec(),
        })
    }

    fn begin(&mut self, timestamp: u32) {
        self.current = Some(timestamp);
        self.data.clear();
        self.broken = false;
        self.h264.reset();
    }

    /// A packet was lost: the frame in progress will be dropped and video
    /// waits for a keyframe.
    fn lose(&mut self) {
        self.broken = true;
        if self.codec.is_video() {
            self.need_keyframe = true;
        }
    }

    /// A new stream on this track: forget the old one's state.
    fn restart(&mut self) {
        self.stats.restarts += 1;
        self.abandon();
        self.next_sequence = None;
        self.broken = false;
    }

    /// The frame in progress never saw its marker: drop it.
    fn abandon(&mut self) {
        if self.current.take().is_some() {
            self.stats.frames_dropped += 1;
        }
        self.data.clear();
        self.h264.reset();
        if self.codec.is_video() {
            self.need_keyframe = true;
        }
    }

    fn append(&mut self, payload: &[u8]) -> Result<(), DepacketizeError> {
        match self.codec {
            Codec::Vp8 => {
                let d = vp8::parse(payload)?;
                if self.data.is_empty() && !d.starts_frame() {
                    return Err(DepacketizeError::Vp8NotFrameStart);
                }
                self.data.extend_from_slice(d.payload(payload));
                Ok(())
            }
            Codec::H264 => Ok(self.h264.push(payload, &mut self.data)?),
            Codec::Opus => Ok(()),
        }
    }

    fn finish(&mut self) -> Option<Frame> {
        let timestamp = self.current.take()?;
        let complete = !self.broken && !self.data.is_empty() && !self.h264.in_fragment();
        let data = std::mem::take(&mut self.data);
        self.broken = false;
        if !complete {
            self.stats.frames_dropped += 1;
            self.need_keyframe = true;
            return None;
        }
        let keyframe = match self.codec {
            Codec::Vp8 => vp8::is_keyframe(&data),
            Codec::H264 => h264::is_keyframe(&data),
            Codec::Opus => true,
        };
        if self.need_keyframe && !keyframe {
            self.stats.frames_dropped += 1;
            return None;
        }
        self.need_keyframe = false;
        self.stats.frames += 1;
        Some(Frame {
            rtp_timestamp: timestamp,
            keyframe,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp;
    use proptest::prelude::*;

    fn vp8_packets(seq: u16, ts: u32, key: bool, parts: usize) -> Vec<Vec<u8>> {
        (0..parts)
            .map(|i| {
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }];
                if i == 0 {
                    payload.push(if key { 0x50 } else { 0x51 });
                }
                payload.extend_from_slice(&[i as u8; 10]);
                rtp::build(i + 1 == parts, 96, seq + i as u16, ts, 1, &payload)
            })
            .collect()
    }

    fn feed(a: &mut FrameAssembler, packets: &[Vec<u8>]) -> Vec<Frame> {
        packets
            .iter()
            .filter_map(|p| a.push(&RtpPacket::parse(p).unwrap()))
            .collect()
    }

    #[test]
    fn vp8_frames_assemble_in_order() {
        let mut a = FrameAssembler::new(Codec::Vp8);
        let mut packets = vp8_packets(10, 0, true, 3);
        packets.extend(vp8_packets(13, 3000, false, 2));
        let frames = feed(&mut a, &packets);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        assert_eq!(frames[0].data.len(), 1 + 30);
        assert_eq!(frames[1].rtp_timestamp, 3000);
    }

    #[test]
    fn video_waits_for_a_keyframe_at_start() {
        let mut a = FrameAssembler::new(Codec::Vp8);
        let mut packets = vp8_packets(1, 0, false, 2);
        packets.extend(vp8_packets(3, 3000, true, 2));
        let frames = feed(&mut a, &packets);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].keyframe);
        assert_eq!(a.stats().frames_dropped, 1);
    }

    #[test]
    fn a_lost_packet_drops_frames_until_the_next_keyframe() {
        let mut a = FrameAssembler::new(Codec::Vp8);
        let mut packets = vp8_packets(1, 0, true, 2); // 1,2
        let mut lossy = vp8_packets(3, 3000, false, 3); // 3,4,5
        lossy.remove(1); // lose 4
        packets.extend(lossy);
        packets.extend(vp8_packets(6, 6000, false, 1)); // delta after loss
        packets.extend(vp8_packets(7, 9000, true, 2)); // keyframe
        let frames = feed(&mut a, &packets);
        let ts: Vec<u32> = frames.iter().map(|f| f.rtp_timestamp).collect();
        assert_eq!(ts, vec![0, 9000]);
        assert_eq!(a.stats().frames_dropped, 2);
    }

    #[test]
    fn late_packets_are_ignored() {
        let mut a = FrameAssembler::new(Codec::Opus);
        let p1 = rtp::build(false, 111, 5, 960, 1, &[1]);
        let p0 = rtp::build(false, 111, 4, 0, 1, &[1]);
        assert!(a.push(&RtpPacket::parse(&p1).unwrap()).is_some());
        assert!(a.push(&RtpPacket::parse(&p0).unwrap()).is_none());
        assert_eq!(a.stats().packets_late, 1);
    }

    #[test]
    fn h264_fu_a_access_unit() {
        let mut a = FrameAssembler::new(Codec::H264);
        let packets = vec![
            rtp::build(false, 102, 1, 0, 1, &[0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 2]),
            rtp::build(false, 102, 2, 0, 1, &[0x7c, 0x85, 9]),
            rtp::build(true, 102, 3, 0, 1, &[0x7c, 0x45, 9]),
        ];
        let frames = feed(&mut a, &packets);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].keyframe);
        assert_eq!(h264::nal_units(&frames[0].data).count(), 3);
    }

    #[test]
    fn h264_after_a_gap_between_frames_waits_for_the_next_keyframe() {
        let mut a = FrameAssembler::new(Codec::H264);
        let packets = vec![
            rtp::build(true, 102, 1, 0, 1, &[0x65, 1]), // IDR
            // seq 2 (the first NAL unit of the next access unit) is lost.
            rtp::build(true, 102, 3, 3000, 1, &[0x65, 2]), // looks whole, may not be
            rtp::build(true, 102, 4, 6000, 1, &[0x41, 3]), // delta: needs a keyframe
            rtp::build(true, 102, 5, 9000, 1, &[0x65, 4]), // IDR after the gap
        ];
        let ts: Vec<u32> = feed(&mut a, &packets)
            .iter()
            .map(|f| f.rtp_timestamp)
            .collect();
        assert_eq!(ts, vec![0, 9000]);
    }

    #[test]
    fn a_new_ssrc_or_a_sequence_jump_starts_the_track_over() {
        let mut a = FrameAssembler::new(Codec::Vp8);
        let mut packets = vp8_packets(60_000, 0, true, 2);
        // The publisher reconnects: new SSRC, new sequence and timestamp base.
        let mut restarted = vp8_packets(5, 777, true, 2);
        for p in &mut restarted {
            p[8..12].copy_from_slice(&9u32.to_be_bytes());
        }
        packets.extend(restarted);
        // Same SSRC, sequence far behind: a restart too, not 'late'.
        packets.extend(vp8_packets(100, 5000, true, 1));
        let frames = feed(&mut a, &packets);
        assert_eq!(
            frames.iter().map(|f| f.rtp_timestamp).collect::<Vec<_>>(),
            vec![0, 777, 5000]
        );
        assert_eq!(a.stats().restarts, 2);
        assert_eq!(a.stats().packets_late, 0);
    }

    proptest! {
        #[test]
        fn hostile_packets_never_panic(
            codec in prop_oneof![Just(Codec::Vp8), Just(Codec::H264), Just(Codec::Opus)],
            packets in proptest::collection::vec(
                (any::<bool>(), any::<u16>(), 0u32..4, proptest::collection::vec(any::<u8>(), 0..40)),
                0..60,
            ),
        ) {
            let mut a = FrameAssembler::new(codec);
            for (marker, seq, ts, payload) in packets {
                let p = rtp::build(marker, 96, seq, ts, 1, &payload);
                if let Some(f) = a.push(&RtpPacket::parse(&p).unwrap()) {
                    prop_assert!(!f.data.is_empty());
                }
            }
        }
    }
}
