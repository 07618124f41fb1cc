//! Real VP8 (libvpx) and H.264 (libx264) from ffmpeg, packetized into RTP
//! here (VP8 descriptors; H.264 single NAL units, STAP-A and FU-A), recorded
//! and exported: ffmpeg must decode every frame of the export.

mod common;

use chrono::Utc;
use common::*;
use parley_policy::SessionKind;
use parley_recorder::depacketize::Codec;
use parley_recorder::keys::KeyStore;
use parley_recorder::protocol::{MediaKind, Start, TrackInfo};
use parley_recorder::session::{RoomRecorder, RoomSettings};
use parley_recorder::{export, recording, rtp};
use std::path::Path;
use std::process::Command;

const FRAMES: usize = 75; // 3 s at 25 fps
const MTU: usize = 900;

fn ffmpeg_encode(dir: &Path, codec: &str, format: &str, file: &str) -> Vec<u8> {
    let out = dir.join(file);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v"])
        .arg(FRAMES.to_string())
        .args(["-pix_fmt", "yuv420p", "-c:v", codec, "-g", "25", "-bf", "0", "-f", format])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("ffmpeg cannot run ({e}): the package ffmpeg is needed (Debian: apt-get install ffmpeg; scripts/test installs it)"));
    assert!(
        status.success(),
        "ffmpeg could not encode test video with {codec}"
    );
    std::fs::read(out).unwrap()
}

/// Frames of an IVF file (32-byte header, then 12-byte frame headers).
fn ivf_frames(ivf: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= ivf.len() {
        let size = u32::from_le_bytes(ivf[at..at + 4].try_into().unwrap()) as usize;
        frames.push(ivf[at + 12..at + 12 + size].to_vec());
        at += 12 + size;
    }
    frames
}

/// NAL units of an Annex-B stream, grouped into access units (one slice
/// per picture: each VCL unit closes an access unit).
fn annexb_access_units(stream: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |n| n - 3);
        while end > s && stream[end - 1] == 0 {
            end -= 1;
        }
        units.push(stream[s..end].to_vec());
    }
    let mut aus = Vec::new();
    let mut current = Vec::new();
    for nal in units {
        let t = nal[0] & 0x1f;
        current.push(nal);
        if t == 1 || t == 5 {
            aus.push(std::mem::take(&mut current));
        }
    }
    aus
}

fn vp8_rtp(frames: &[Vec<u8>], base_us: u64) -> Vec<Packet> {
    let mut seq = 0u16;
    let mut out = Vec::new();
    for (n, f) in frames.iter().enumerate() {
        let chunks: Vec<&[u8]> = f.chunks(MTU).collect();
        for (i, c) in chunks.iter().enumerate() {
            let mut p = vec![if i == 0 { 0x10 } else { 0 }];
            p.extend_from_slice(c);
            out.push((
                VIDEO,
                base_us + n as u64 * 40_000,
                rtp::build(i + 1 == chunks.len(), 96, seq, (n * 3600) as u32, 1, &p),
            ));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

fn h264_rtp(aus: &[Vec<Vec<u8>>], base_us: u64) -> Vec<Packet> {
    let mut seq = 0u16;
    let mut out = Vec::new();
    for (n, au) in aus.iter().enumerate() {
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        // Parameter sets and SEI travel together in one STAP-A.
        let small: Vec<&Vec<u8>> = au
            .iter()
            .filter(|u| !matches!(u[0] & 0x1f, 1 | 5))
            .collect();
        if !small.is_empty() {
            let mut stap = vec![0x78];
            for u in &small {
                stap.extend_from_slice(&(u.len() as u16).to_be_bytes());
                stap.extend_from_slice(u);
            }
            payloads.push(stap);
        }
        for u in au.iter().filter(|u| matches!(u[0] & 0x1f, 1 | 5)) {
            if u.len() <= MTU {
                payloads.push(u.clone());
            } else {
                let chunks: Vec<&[u8]> = u[1..].chunks(MTU).collect();
                for (i, c) in chunks.iter().enumerate() {
                    let s = if i == 0 { 0x80 } else { 0 };
                    let e = if i + 1 == chunks.len() { 0x40 } else { 0 };
                    let mut p = vec![(u[0] & 0xe0) | 28, s | e | (u[0] & 0x1f)];
                    p.extend_from_slice(c);
                    payloads.push(p);
                }
            }
        }
        let count = payloads.len();
        for (i, p) in payloads.into_iter().enumerate() {
            out.push((
                VIDEO,
                base_us + n as u64 * 40_000,
                rtp::build(i + 1 == count, 102, seq, (n * 3600) as u32, 1, &p),
            ));
            seq = seq.wrapping_add(1);
        }
    }
    out
}

fn record_and_export(dir: &Path, codec: Codec, packets: Vec<Packet>, out: &Path) {
    let keys = KeyStore::open(&dir.join("keys")).unwrap();
    let settings = RoomSettings {
        recordings_dir: dir.join("recordings"),
        segment_ms: 1_000,
    };
    let start = Start {
        recording_id: "real".into(),
        session_id: 1,
        session_kind: SessionKind::CourtHearing,
        jurisdiction: "demo".into(),
        tracks: vec![TrackInfo {
            id: VIDEO,
            kind: MediaKind::Video,
            codec,
            clock_rate: 90_000,
            channels: None,
        }],
    };
    let mut room =
        RoomRecorder::start(&settings, &keys, &jurisdictions(), &start, Utc::now()).unwrap();
    for (track, t, p) in packets {
        room.on_rtp(track, t, t, &p).unwrap();
    }
    let m = room.close(Some("end"), Utc::now()).unwrap();
    assert!(m.segments.len() >= 2, "{} segments", m.segments.len());
    export::export(
        &recording::dir_of(&settings.recordings_dir, "real"),
        &keys,
        out,
    )
    .unwrap();
}

/// Frames ffprobe decodes from the first video stream, and its codec.
fn decoded(file: &Path) -> (String, u64, u64, u64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-print_format",
            "json",
            "-show_streams",
        ])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe cannot run ({e}): the package ffmpeg is needed (Debian: apt-get install ffmpeg; scripts/test installs it)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap().to_string(),
        s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        s["width"].as_u64().unwrap_or(0),
        s["height"].as_u64().unwrap_or(0),
    )
}

#[test]
fn real_vp8_survives_recording_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = ivf_frames(&ffmpeg_encode(tmp.path(), "libvpx", "ivf", "in.ivf"));
    assert_eq!(frames.len(), FRAMES);
    let out = tmp.path().join("out.webm");
    record_and_export(tmp.path(), Codec::Vp8, vp8_rtp(&frames, now_us()), &out);
    assert_eq!(decoded(&out), ("vp8".to_string(), FRAMES as u64, 320, 240));
}

#[test]
fn real_h264_survives_recording_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let aus = annexb_access_units(&ffmpeg_encode(tmp.path(), "libx264", "h264", "in.h264"));
    assert_eq!(aus.len(), FRAMES);
    let out = tmp.path().join("out.mkv");
    record_and_export(tmp.path(), Codec::H264, h264_rtp(&aus, now_us()), &out);
    let (codec, frames, w, h) = decoded(&out);
    assert_eq!((codec.as_str(), frames), ("h264", FRAMES as u64));
    assert_eq!(
        (w, h),
        (320, 240),
        "picture size from the stream's parameter sets"
    );
}
