//! The SFU → recorder protocol, one QUIC bidirectional stream per recorded
//! room (see `docs/recording.md`).
//!
//! Every message is a frame: a 1-byte type, a 4-byte big-endian body
//! length, then the body. The SFU sends `Start` first, then `Rtp` frames,
//! then optionally `End`; finishing the stream also ends the recording's
//! current segment. The recorder answers `Start` with one `Accepted` or
//! `Refused` frame on the same stream.

use parley_policy::SessionKind;
use serde::{Deserialize, Serialize};

/// ALPN protocol id of the recorder's QUIC endpoint.
pub const ALPN: &[u8] = b"parley-recorder/1";
/// Largest frame body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Most tracks one room may record.
pub const MAX_TRACKS: usize = 16;

pub const TYPE_START: u8 = 1;
pub const TYPE_RTP: u8 = 2;
pub const TYPE_END: u8 = 3;
pub const TYPE_ACCEPTED: u8 = 0x81;
pub const TYPE_REFUSED: u8 = 0x82;

/// The codecs the recorder stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Vp8,
    H264,
    Opus,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(self, Codec::Vp8 | Codec::H264)
    }
}

/// A jurisdiction id as a file name may hold it: 1 to 64 of `a-z`, `0-9`
/// and `-`.
pub fn valid_jurisdiction_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// One track of a recorded room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInfo {
    /// Chosen by the SFU, unique within the room; tags every RTP frame.
    pub id: u32,
    pub kind: MediaKind,
    pub codec: Codec,
    /// RTP clock rate in Hz (90 000 for video, 48 000 for Opus).
    pub clock_rate: u32,
    /// Opus channels (default 2, as WebRTC negotiates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
}

/// The header of a recorded room's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// Names the recording's directory: 1–64 of `A-Z a-z 0-9 _ -`. The
    /// same id after a reconnect continues the recording in a new segment.
    pub recording_id: String,
    pub session_id: i64,
    pub session_kind: SessionKind,
    pub jurisdiction: String,
    pub tracks: Vec<TrackInfo>,
}

/// A message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Start(Start),
    /// One RTP packet of a track, with the time the SFU received it
    /// (microseconds since the Unix epoch).
    Rtp {
        track_id: u32,
        received_at_us: u64,
        packet: Vec<u8>,
    },
    /// The recording stops lawfully (end of session or a stop decision).
    End {
        reason: String,
    },
    Accepted,
    Refused {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame body of {0} bytes is larger than the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("unknown frame type {0:#04x}")]
    UnknownType(u8),
    #[error("malformed {what} frame: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("invalid Start: {0}")]
    InvalidStart(String),
}

pub fn valid_recording_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Start {
    /// Checks everything a hostile or buggy sender could get wrong.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |m: String| Err(ProtocolError::InvalidStart(m));
        if !valid_recording_id(&self.recording_id) {
            return bad(format!(
                "recording id {:?} must be 1-64 characters of A-Z a-z 0-9 _ -",
                self.recording_id
            ));
        }
        if !valid_jurisdiction_id(&self.jurisdiction) {
            return bad(format!(
                "jurisdiction {:?} is not a valid id",
                self.jurisdiction
            ));
        }
        if self.tracks.is_empty() || self.tracks.len() > MAX_TRACKS {
            return bad(format!(
                "{} tracks; between 1 and {MAX_TRACKS} are accepted",
                self.tracks.len()
            ));
        }
        for (i, t) in self.tracks.iter().enumerate() {
            if self.tracks[..i].iter().any(|o| o.id == t.id) {
                return bad(format!("track id {} appears twice", t.id));
            }
            if t.codec.is_video() != (t.kind == MediaKind::Video) {
                return bad(format!(
                    "track {} is {:?} but its codec is {:?}",
                    t.id, t.kind, t.codec
                ));
            }
            if !(1_000..=192_000).contains(&t.clock_rate) {
                return bad(format!("track {} has clock rate {} Hz", t.id, t.clock_rate));
            }
            if t.channels.is_some_and(|c| !(1..=2).contains(&c)) {
                return bad(format!(
                    "track {} has {:?} channels; 1 or 2",
                    t.id, t.channels
                ));
            }
        }
        Ok(())
    }
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(kind);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Encodes a message as one frame.
pub fn encode(message: &Message) -> Vec<u8> {
    match message {
        Message::Start(s) => frame(TYPE_START, &serde_json::to_vec(s).unwrap_or_default()),
        Message::Rtp {
            track_id,
            received_at_us,
            packet,
        } => {
            let mut body = Vec::with_capacity(12 + packet.len());
            body.extend_from_slice(&track_id.to_be_bytes());
            body.extend_from_slice(&received_at_us.to_be_bytes());
            body.extend_from_slice(packet);
            frame(TYPE_RTP, &body)
        }
        Message::End { reason } => frame(TYPE_END, reason.as_bytes()),
        Message::Accepted => frame(TYPE_ACCEPTED, &[]),
        Message::Refused { reason } => frame(TYPE_REFUSED, reason.as_bytes()),
    }
}

/// Reads a frame header: the type and the body length (checked against
/// [`MAX_BODY`]).
pub fn parse_header(header: [u8; 5]) -> Result<(u8, usize), ProtocolError> {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_BODY {
        return Err(ProtocolError::TooLarge(len));
    }
    Ok((header[0], len))
}

fn text(what: &'static str, body: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(body.to_vec()).map_err(|_| ProtocolError::Malformed {
        what,
        detail: "not UTF-8".into(),
    })
}

/// Decodes a frame's body.
pub fn decode(kind: u8, body: &[u8]) -> Result<Message, ProtocolError> {
    match kind {
        TYPE_START => {
            let start: Start =
                serde_json::from_slice(body).map_err(|e| ProtocolError::Malformed {
                    what: "Start",
                    detail: e.to_string(),
                })?;
            start.validate()?;
            Ok(Message::Start(start))
        }
        TYPE_RTP => {
            if body.len() < 12 {
                return Err(ProtocolError::Malformed {
                    what: "Rtp",
                    detail: format!("{} bytes; the track id and time alone take 12", body.len()),
                });
            }
            Ok(Message::Rtp {
                track_id: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                received_at_us: u64::from_be_bytes(body[4..12].try_into().unwrap_or_default()),
                packet: body[12..].to_vec(),
            })
        }
        TYPE_END => Ok(Message::End {
            reason: text("End", body)?,
        }),
        TYPE_ACCEPTED if body.is_empty() => Ok(Message::Accepted),
        TYPE_ACCEPTED => Err(ProtocolError::Malformed {
            what: "Accepted",
            detail: format!("{} bytes of body; it carries none", body.len()),
        }),
        TYPE_REFUSED => Ok(Message::Refused {
            reason: text("Refused", body)?,
        }),
        other => Err(ProtocolError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn start() -> Start {
        Start {
            recording_id: "rec-1".into(),
            session_id: 7,
            session_kind: SessionKind::SocialVisit,
            jurisdiction: "demo".into(),
            tracks: vec![
                TrackInfo {
                    id: 1,
                    kind: MediaKind::Video,
                    codec: Codec::Vp8,
                    clock_rate: 90_000,
                    channels: None,
                },
                TrackInfo {
                    id: 2,
                    kind: MediaKind::Audio,
                    codec: Codec::Opus,
                    clock_rate: 48_000,
                    channels: Some(2),
                },
            ],
        }
    }

    fn round_trip(m: &Message) -> Message {
        let bytes = encode(m);
        let (kind, len) = parse_header(bytes[..5].try_into().unwrap()).unwrap();
        assert_eq!(len, bytes.len() - 5);
        decode(kind, &bytes[5..]).unwrap()
    }

    #[test]
    fn every_message_round_trips() {
        for m in [
            Message::Start(start()),
            Message::Rtp {
                track_id: 9,
                received_at_us: 1_700_000_000_000_000,
                packet: vec![0x80, 1, 2],
            },
            Message::End {
                reason: "session ended".into(),
            },
            Message::Accepted,
            Message::Refused {
                reason: "no".into(),
            },
        ] {
            assert_eq!(round_trip(&m), m);
        }
    }

    #[test]
    fn bad_starts_are_refused_with_a_reason() {
        let mut s = start();
        s.recording_id = "../etc".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("recording id")
        );
        let mut s = start();
        s.tracks[1].id = 1;
        assert!(s.validate().unwrap_err().to_string().contains("twice"));
        let mut s = start();
        s.tracks[0].codec = Codec::Opus;
        assert!(s.validate().is_err());
        let mut s = start();
        s.tracks.clear();
        assert!(s.validate().is_err());
    }

    #[test]
    fn oversized_frames_are_refused() {
        assert_eq!(
            parse_header([2, 0, 1, 0, 1]),
            Err(ProtocolError::TooLarge(65537))
        );
    }

    /// Found by the `recorder_stream` fuzz target: an Accepted frame with a
    /// body was taken as if it had none.
    #[test]
    fn an_accepted_frame_with_a_body_is_refused() {
        assert_eq!(decode(TYPE_ACCEPTED, &[]), Ok(Message::Accepted));
        let refused = decode(TYPE_ACCEPTED, b"{}").expect_err("a body is refused");
        assert_eq!(
            refused.to_string(),
            "malformed Accepted frame: 2 bytes of body; it carries none"
        );
    }

    proptest! {
        #[test]
        fn garbage_bodies_never_panic(kind in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(kind, &body);
        }
    }
}
