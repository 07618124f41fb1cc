//! Synthetic media and shared setup for the recorder's integration tests.
#![allow(dead_code)]

use parley_policy::{Jurisdictions, SessionKind};
use parley_recorder::depacketize::Codec;
use parley_recorder::protocol::{MediaKind, Start, TrackInfo};
use parley_recorder::rtp;
use std::path::Path;

pub const VIDEO: u32 = 10;
pub const AUDIO: u32 = 11;
/// Frames per second of the synthetic video; a keyframe every second.
pub const FPS: u64 = 25;

pub fn jurisdictions() -> Jurisdictions {
    parley_policy::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/jurisdictions"))
        .unwrap()
}

pub fn start(id: &str, kind: SessionKind) -> Start {
    Start {
        recording_id: id.into(),
        session_id: 42,
        session_kind: kind,
        jurisdiction: "demo".into(),
        tracks: vec![
            TrackInfo {
                id: VIDEO,
                kind: MediaKind::Video,
                codec: Codec::Vp8,
                clock_rate: 90_000,
                channels: None,
            },
            TrackInfo {
                id: AUDIO,
                kind: MediaKind::Audio,
                codec: Codec::Opus,
                clock_rate: 48_000,
                channels: Some(2),
            },
        ],
    }
}

/// A VP8 frame: a keyframe carries the 320x240 header, a delta does not.
/// `fill` bytes of payload make it span several packets.
pub fn vp8_frame(key: bool, n: u64, fill: usize) -> Vec<u8> {
    let mut f = if key {
        vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]
    } else {
        vec![0x51, 0x42, 0x00]
    };
    f.extend((0..fill).map(|i| (i as u64 + n) as u8));
    f
}

/// One packet of the stream: (track id, receive time µs, RTP bytes).
pub type Packet = (u32, u64, Vec<u8>);

/// `seconds` of VP8 (FPS, keyframe each second, 2500-byte frames in 1000-
/// byte packets) and Opus (20 ms), interleaved by time, from `base_us`.
pub fn media(seconds: u64, base_us: u64) -> Vec<Packet> {
    let mut out = Vec::new();
    let mut vseq: u16 = 1000;
    let mut aseq: u16 = 5000;
    let end_ms = seconds * 1000;
    let mut next_video_ms = 0u64;
    let mut next_audio_ms = 0u64;
    let mut frame = 0u64;
    while next_video_ms < end_ms || next_audio_ms < end_ms {
        if next_video_ms <= next_audio_ms {
            let data = vp8_frame(frame.is_multiple_of(FPS), frame, 2500);
            let ts = (next_video_ms * 90) as u32;
            let chunks: Vec<&[u8]> = data.chunks(1000).collect();
            for (i, c) in chunks.iter().enumerate() {
                let mut payload = vec![if i == 0 { 0x10 } else { 0x00 }];
                payload.extend_from_slice(c);
                out.push((
                    VIDEO,
                    base_us + next_video_ms * 1000,
                    rtp::build(i + 1 == chunks.len(), 96, vseq, ts, 1, &payload),
                ));
                vseq = vseq.wrapping_add(1);
            }
            frame += 1;
            next_video_ms = frame * 1000 / FPS;
        } else {
            let ts = (next_audio_ms * 48) as u32;
            out.push((
                AUDIO,
                base_us + next_audio_ms * 1000,
                rtp::build(false, 111, aseq, ts, 2, &[0xfc, 0xff, 0xfe]),
            ));
            aseq = aseq.wrapping_add(1);
            next_audio_ms += 20;
        }
    }
    out
}

pub fn now_us() -> u64 {
    chrono::Utc::now().timestamp_micros() as u64
}

/// Flips one bit of the byte at `at` (negative: from the end).
pub fn flip(path: &Path, at: isize) {
    let mut b = std::fs::read(path).unwrap();
    let i = if at < 0 {
        (b.len() as isize + at) as usize
    } else {
        at as usize
    };
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

/// Runs ffprobe on `file`; fails the test with instructions if it is missing.
pub fn ffprobe(file: &Path) -> serde_json::Value {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!("ffprobe cannot run ({e}): the package ffmpeg is needed (Debian: apt-get install ffmpeg; scripts/test installs it)")
        });
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
