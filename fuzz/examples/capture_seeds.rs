//! Writes the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) from real
//! traffic and real files: the datagrams a webrtc-rs client sent a live
//! SFU, the offers of each client kind of the tests, the jurisdiction
//! files in `config/`, the frames of docs/protocol.md, genuine join
//! tokens, and a recorder stream of the test client's VP8, H.264 and Opus.
//!
//! Run from the repository root: `cargo run --manifest-path
//! fuzz/Cargo.toml --example capture_seeds`. Files are named by their content
//! (FNV-1a), so a rerun adds only what is new.

use chrono::{DateTime, Duration as Span, Utc};
use parley_client::{VideoCodec, payload_for};
use parley_fuzz::LiveCall;
use parley_grants::{JoinGrant, JoinTokens};
use parley_policy::{Role, SessionKind};
use parley_recorder::protocol::{Codec, MediaKind, Message, Start, TrackInfo, encode};
use std::path::{Path, PathBuf};

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write_seeds(target: &str, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    let dir = PathBuf::from("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir)?;
    for seed in seeds {
        std::fs::write(dir.join(format!("{:016x}", fnv1a(seed))), seed)?;
    }
    println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    Ok(())
}

/// The `{"type": …}` frames quoted in docs/protocol.md.
fn documented_frames(doc: &str) -> Vec<Vec<u8>> {
    doc.split('`')
        .filter(|s| s.starts_with("{\"type\"") && s.ends_with('}'))
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

fn jurisdiction_files(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(std::fs::read(path)?);
        }
    }
    Ok(files)
}

/// Tokens for session 1 (and one for session 2) valid at the join_token
/// target's fixed clock, made with the key it checks with.
fn genuine_tokens() -> Vec<Vec<u8>> {
    let tokens = JoinTokens::new(&[7u8; parley_grants::KEY_BYTES], 5).expect("a 32-byte key");
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a time");
    [
        (1, 1, Role::Visitor, SessionKind::SocialVisit),
        (1, 2, Role::Detainee, SessionKind::SocialVisit),
        (1, 3, Role::Judge, SessionKind::CourtHearing),
        (1, 4, Role::Counsel, SessionKind::LegalVisit),
        (2, 5, Role::Visitor, SessionKind::SocialVisit),
    ]
    .into_iter()
    .filter_map(|(session_id, participant_id, role, kind)| {
        tokens
            .issue(
                &JoinGrant {
                    session_id,
                    participant_id,
                    role,
                    kind,
                    not_before: now - Span::minutes(1),
                    expires_at: now + Span::hours(1),
                },
                now,
            )
            .ok()
            .map(String::into_bytes)
    })
    .collect()
}

fn rtp(pt: u8, seq: u16, timestamp: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A recorder stream: a Start with VP8, H.264 and Opus tracks, then two
/// seconds of the test client's media, then an End; one seed per video
/// codec, and one of the whole.
fn recorder_streams() -> Vec<Vec<u8>> {
    let track = |id, kind, codec, clock_rate| TrackInfo {
        id,
        kind,
        codec,
        clock_rate,
        channels: None,
    };
    let start = Message::Start(Start {
        recording_id: "fuzz-seed".into(),
        session_id: 1,
        session_kind: SessionKind::CourtHearing,
        jurisdiction: "demo".into(),
        tracks: vec![
            track(1, MediaKind::Video, Codec::Vp8, 90_000),
            track(2, MediaKind::Video, Codec::H264, 90_000),
            track(3, MediaKind::Audio, Codec::Opus, 48_000),
        ],
    });
    let media = |id: u32, seq: u16| -> Vec<u8> {
        let (pt, kind, codec, ticks) = match id {
            1 => (96, "video", VideoCodec::Vp8, 3_000),
            2 => (102, "video", VideoCodec::H264, 3_000),
            _ => (111, "audio", VideoCodec::Vp8, 960),
        };
        let payload = payload_for(kind, "seed", seq, codec);
        let packet = rtp(pt, seq, u32::from(seq) * ticks, id, true, &payload);
        encode(&Message::Rtp {
            track_id: id,
            received_at_us: 1_800_000_000_000_000 + u64::from(seq) * 20_000,
            packet,
        })
    };
    let end = encode(&Message::End {
        reason: "session ended".into(),
    });
    let stream = |ids: &[u32]| {
        let mut s = encode(&start);
        for seq in 0..100u16 {
            for id in ids {
                s.extend(media(*id, seq));
            }
        }
        s.extend_from_slice(&end);
        s
    };
    vec![stream(&[1, 3]), stream(&[2, 3]), stream(&[1, 2, 3])]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let call = LiveCall::start();
    write_seeds("media_datagram", &call.captured())?;
    let offers: Vec<Vec<u8>> = call
        .real_offers()
        .into_iter()
        .map(String::into_bytes)
        .collect();
    write_seeds("sdp_offer", &offers)?;
    write_seeds(
        "signaling_frame",
        &documented_frames(&std::fs::read_to_string("docs/protocol.md")?),
    )?;
    write_seeds(
        "jurisdiction_toml",
        &jurisdiction_files(Path::new("config/jurisdictions"))?,
    )?;
    write_seeds("join_token", &genuine_tokens())?;
    write_seeds("recorder_stream", &recorder_streams())?;
    Ok(())
}
