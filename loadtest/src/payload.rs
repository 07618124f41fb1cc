//! Synthetic media payloads that keep real frame structure and carry their
//! send time.
//!
//! Video: a VP8 payload descriptor (RFC 7741: X=1, I=1, 15-bit picture id,
//! S=1 on the first packet of a frame), then on a frame's first packet the
//! VP8 frame tag (keyframe with start code and 320×240, or interframe),
//! then the text `|video|<sender>|<seq>|<send µs>|`, padded. Audio: an Opus
//! TOC byte, then `|audio|<sender>|<seq>|<send µs>|`, padded. A simulcast
//! layer's kind reads `video-q`, `video-h` or `video-f` after the SFU.

use std::time::{SystemTime, UNIX_EPOCH};

/// Smallest video payload: descriptor, keyframe header and a tag with a
/// 16-character name, in bytes.
pub const MIN_VIDEO_BYTES: usize = 80;
/// Smallest audio payload, in bytes.
pub const MIN_AUDIO_BYTES: usize = 60;

/// Microseconds since the Unix epoch (same machine: senders and receivers
/// share this clock).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Where a video packet sits in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePos {
    /// Frame number (its picture id is this modulo 2^15).
    pub frame: u32,
    /// First packet of the frame (S=1, carries the frame tag).
    pub first: bool,
    /// The frame is a keyframe.
    pub keyframe: bool,
}

/// A video payload of `size` bytes (at least the header and tag).
pub fn video(sender: &str, seq: u32, sent_us: u64, pos: FramePos, size: usize) -> Vec<u8> {
    let pid = (pos.frame & 0x7fff) as u16;
    let mut p = vec![
        0x80 | if pos.first { 0x10 } else { 0 },
        0x80,
        0x80 | (pid >> 8) as u8,
        (pid & 0xff) as u8,
    ];
    if pos.first {
        if pos.keyframe {
            p.extend_from_slice(&[0x50, 0x2e, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
        } else {
            p.extend_from_slice(&[0x51, 0x2e, 0x00]);
        }
    }
    p.extend_from_slice(format!("|video|{sender}|{seq}|{sent_us}|").as_bytes());
    p.resize(size.max(p.len()), 0x55);
    p
}

/// An audio payload of `size` bytes (at least the TOC and tag).
pub fn audio(sender: &str, seq: u32, sent_us: u64, size: usize) -> Vec<u8> {
    let mut p = vec![0xf8];
    p.extend_from_slice(format!("|audio|{sender}|{seq}|{sent_us}|").as_bytes());
    p.resize(size.max(p.len()), 0x55);
    p
}

/// What a received payload says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `audio`, `video`, or `video-<rid>` for a simulcast layer.
    pub kind: String,
    pub sender: String,
    pub seq: u32,
    /// Send time, µs since the Unix epoch.
    pub sent_us: u64,
    /// The packet starts a VP8 keyframe.
    pub keyframe: bool,
}

/// Reads the stamp of a payload made by [`video`] or [`audio`]; `None` for
/// anything else.
pub fn parse(payload: &[u8]) -> Option<Stamp> {
    let start = (0..payload.len()).find(|&i| {
        payload[i] == b'|'
            && (payload[i + 1..].starts_with(b"audio|") || payload[i + 1..].starts_with(b"video"))
    })?;
    let keyframe =
        payload.len() > 4 && payload[0] & 0x10 != 0 && payload[4] & 0x01 == 0 && start > 4;
    let mut fields = payload[start + 1..].split(|&b| b == b'|');
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    let kind = text(fields.next()?)?;
    let sender = text(fields.next()?)?;
    let seq = text(fields.next()?)?.parse().ok()?;
    let sent_us = text(fields.next()?)?.parse().ok()?;
    // The field after the stamp must be closed by '|'.
    fields.next()?;
    let keyframe = keyframe && kind.starts_with("video");
    Some(Stamp {
        kind,
        sender,
        seq,
        sent_us,
        keyframe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_keyframe_reads_back() {
        let pos = FramePos {
            frame: 7,
            first: true,
            keyframe: true,
        };
        let p = video("v1-home", 42, 1_234_567, pos, 1000);
        assert_eq!(p.len(), 1000);
        let s = parse(&p).expect("stamp");
        assert_eq!(
            (
                s.kind.as_str(),
                s.sender.as_str(),
                s.seq,
                s.sent_us,
                s.keyframe
            ),
            ("video", "v1-home", 42, 1_234_567, true)
        );
    }

    #[test]
    fn continuation_and_interframes_are_not_keyframes() {
        for pos in [
            FramePos {
                frame: 1,
                first: false,
                keyframe: true,
            },
            FramePos {
                frame: 1,
                first: true,
                keyframe: false,
            },
        ] {
            let s = parse(&video("a", 1, 2, pos, 200)).expect("stamp");
            assert!(!s.keyframe, "{pos:?}");
        }
    }

    #[test]
    fn audio_reads_back_and_junk_does_not() {
        let s = parse(&audio("a", 9, 10, 120)).expect("stamp");
        assert_eq!((s.kind.as_str(), s.seq, s.keyframe), ("audio", 9, false));
        assert_eq!(parse(b"\xf8|audio|a|x|1|"), None);
        assert_eq!(parse(b"no stamp"), None);
        assert_eq!(parse(b"|video|a|1|2"), None, "unterminated stamp");
    }

    proptest! {
        #[test]
        fn any_frame_position_reads_back(frame in any::<u32>(), seq in any::<u32>(), us in any::<u64>(), first: bool, key: bool, size in 0usize..1200) {
            let pos = FramePos { frame, first, keyframe: key };
            let s = parse(&video("p-1", seq, us, pos, size)).expect("stamp");
            prop_assert_eq!(s.seq, seq);
            prop_assert_eq!(s.sent_us, us);
            prop_assert_eq!(s.keyframe, first && key);
        }
    }
}
