//! What the recorder reads from the SFU over QUIC: frames
//! (`parley_recorder::protocol`), then RTP through the depacketizers, the
//! segmenter and the muxer, and each finished segment read back by the
//! recorder's own demuxer.
//!
//! Properties: a frame that decodes encodes back to the same bytes (a
//! Start to the same message); every segment the recorder writes from
//! whatever arrived is one its demuxer reads, with as many frames as it
//! was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_recorder::demux::demux;
use parley_recorder::depacketize::FrameAssembler;
use parley_recorder::protocol::{Message, decode, encode, parse_header};
use parley_recorder::rtp::RtpPacket;
use parley_recorder::segmenter::{FinishedSegment, Segmenter};
use parley_recorder::session::mux_tracks;

/// Segment length, and the size at which a segment is cut, kept small so
/// that short inputs finish segments.
const SEGMENT_MS: u64 = 200;
const SEGMENT_BYTES: usize = 16 * 1024;

struct Room {
    /// Track id, its muxer number, its clock rate and its assembler.
    tracks: Vec<(u32, u64, u32, FrameAssembler)>,
    segmenter: Segmenter,
}

fn read_back(segment: &FinishedSegment) {
    let file = demux(&segment.bytes).expect("the demuxer reads every segment the recorder writes");
    assert_eq!(
        file.frames.len() as u64,
        segment.frames,
        "the segment holds the frames it was given"
    );
}

fuzz_target!(|stream: &[u8]| {
    let mut rest = stream;
    let mut room: Option<Room> = None;
    while rest.len() >= 5 {
        let header: [u8; 5] = rest[..5].try_into().expect("five bytes");
        let Ok((kind, len)) = parse_header(header) else {
            return;
        };
        let Some(body) = rest.get(5..5 + len) else {
            return;
        };
        let frame = &rest[..5 + len];
        rest = &rest[5 + len..];
        let Ok(message) = decode(kind, body) else {
            continue;
        };
        match &message {
            Message::Start(start) => {
                let encoded = encode(&message);
                let (kind, len) = parse_header(encoded[..5].try_into().expect("a header"))
                    .expect("an encoded header parses");
                assert_eq!(decode(kind, &encoded[5..5 + len]).as_ref(), Ok(&message));
                let numbers = mux_tracks(&start.tracks);
                room = Some(Room {
                    tracks: start
                        .tracks
                        .iter()
                        .zip(&numbers)
                        .map(|(t, m)| (t.id, m.number, t.clock_rate, FrameAssembler::new(t.codec)))
                        .collect(),
                    segmenter: Segmenter::new(numbers, SEGMENT_MS).with_max_bytes(SEGMENT_BYTES),
                });
            }
            Message::Rtp {
                track_id, packet, ..
            } => {
                assert_eq!(encode(&message), frame, "an RTP frame encodes to itself");
                let Some(room) = room.as_mut() else { continue };
                let Some((_, number, rate, assembler)) =
                    room.tracks.iter_mut().find(|t| t.0 == *track_id)
                else {
                    continue;
                };
                let Ok(rtp) = RtpPacket::parse(packet) else {
                    continue;
                };
                if let Some(media) = assembler.push(&rtp) {
                    let time_ms = u64::from(media.rtp_timestamp) * 1000 / u64::from((*rate).max(1));
                    if let Some(segment) =
                        room.segmenter
                            .push(*number, time_ms, media.keyframe, &media.data)
                    {
                        read_back(&segment);
                    }
                }
            }
            _ => assert_eq!(encode(&message), frame, "a frame encodes to itself"),
        }
    }
    if let Some(segment) = room.and_then(|mut r| r.segmenter.finish()) {
        read_back(&segment);
    }
});
