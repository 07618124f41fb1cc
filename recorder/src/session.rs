//! One recorded room: admission of its `Start` (invariant 1 and the
//! jurisdiction's policy, again), then RTP packets → frames → segments →
//! encrypted files. No sockets here: the server feeds it, tests drive it.

use crate::depacketize::FrameAssembler;
use crate::keys::KeyStore;
use crate::manifest::Manifest;
use crate::mux::MuxTrack;
use crate::protocol::{Start, TrackInfo};
use crate::recording::{RecordingError, RecordingWriter};
use crate::rtp::RtpPacket;
use crate::segmenter::Segmenter;
use chrono::{DateTime, Utc};
use parley_policy::{Jurisdictions, RecordingRule};
use std::path::PathBuf;

/// Largest accepted difference between the SFU's receive time and the
/// recorder's clock; beyond it the recorder's clock is used. Microseconds.
const MAX_CLOCK_SKEW_US: u64 = 10_000_000;
/// Largest accepted drift between a track's RTP-derived time and the time
/// its packets arrive before the track's clock is re-anchored (a new RTP
/// timestamp base after a reconnect, or nonsense), microseconds.
const MAX_TRACK_DRIFT_US: u64 = 5_000_000;

/// Where recordings go and how they are cut.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    pub recordings_dir: PathBuf,
    /// Target segment length, milliseconds.
    pub segment_ms: u64,
}

/// Why a Start is refused. The text goes back to the SFU and into logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} sessions are privileged and are never recorded")]
    Privileged(parley_policy::SessionKind),
    #[error("unknown jurisdiction `{0}`")]
    UnknownJurisdiction(String),
    #[error("jurisdiction `{jurisdiction}` forbids recording {kind} sessions")]
    Forbidden {
        jurisdiction: String,
        kind: parley_policy::SessionKind,
    },
}

/// The tracks as the muxer numbers them: track `i` of the Start is number `i + 1`.
pub fn mux_tracks(tracks: &[TrackInfo]) -> Vec<MuxTrack> {
    tracks
        .iter()
        .enumerate()
        .map(|(i, t)| MuxTrack {
            number: i as u64 + 1,
            codec: t.codec,
            channels: t.channels.unwrap_or(2),
        })
        .collect()
}

/// Decides whether the recorder may record this room, and for how many
/// days. Privileged kinds are refused whatever the jurisdiction says.
pub fn admit(start: &Start, jurisdictions: &Jurisdictions) -> Result<u32, Refusal> {
    let kind = start.session_kind;
    if kind.is_privileged() {
        return Err(Refusal::Privileged(kind));
    }
    let j = jurisdictions
        .get(&start.jurisdiction)
        .ok_or_else(|| Refusal::UnknownJurisdiction(start.jurisdiction.clone()))?;
    let forbidden = || Refusal::Forbidden {
        jurisdiction: j.id.clone(),
        kind,
    };
    match j.recording.get(&kind) {
        Some(RecordingRule::Required | RecordingRule::Consent) => {
            j.retention_for(kind).ok_or_else(forbidden)
        }
        _ => Err(forbidden()),
    }
}

/// Maps a track's RTP timestamps to recording time.
#[derive(Debug, Clone, Copy)]
struct TrackClock {
    /// Extended (wrap-free) RTP timestamp of the last frame.
    last: u32,
    extended: i64,
    /// Extended timestamp and wall time (Unix µs) of the first frame.
    origin_ts: i64,
    origin_us: u64,
}

impl TrackClock {
    fn new(ts: u32, received_us: u64) -> Self {
        Self {
            last: ts,
            extended: i64::from(ts),
            origin_ts: i64::from(ts),
            origin_us: received_us,
        }
    }

    /// Unix microseconds of a frame with RTP timestamp `ts` that arrived at
    /// `received_us`; re-anchors when the two drift apart.
    fn at(&mut self, ts: u32, clock_rate: u32, received_us: u64) -> u64 {
        self.extended += i64::from(ts.wrapping_sub(self.last) as i32);
        self.last = ts;
        let ticks = self.extended - self.origin_ts;
        let us = ticks.saturating_mul(1_000_000) / i64::from(clock_rate.max(1));
        let at = self.origin_us.saturating_add_signed(us);
        if at.abs_diff(received_us) > MAX_TRACK_DRIFT_US {
            self.origin_ts = self.extended;
            self.origin_us = received_us;
            return received_us;
        }
        at
    }
}

#[derive(Debug)]
struct RoomTrack {
    info: TrackInfo,
    number: u64,
    assembler: FrameAssembler,
    clock: Option<TrackClock>,
}

/// Counters of one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    pub packets: u64,
    pub packets_unknown_track: u64,
    pub packets_not_rtp: u64,
    pub frames_dropped: u64,
    pub segments: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("recording refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Recording(#[from] RecordingError),
}

/// A room being recorded.
pub struct RoomRecorder {
    writer: RecordingWriter,
    tracks: Vec<RoomTrack>,
    segmenter: Segmenter,
    started_us: u64,
    /// End of the recording's last stored segment when this room started
    /// (a continued recording), ms; media never goes before it.
    floor_ms: u64,
    /// Added to every frame time so a continued recording's media starts at
    /// or after `floor_ms` even if the sender's clock is behind; set at the
    /// first frame.
    shift_ms: Option<u64>,
    stats: RoomStats,
}

impl RoomRecorder {
    /// Admits `start` and opens (or continues) its recording.
    pub fn start(
        settings: &RoomSettings,
        keys: &KeyStore,
        jurisdictions: &Jurisdictions,
        start: &Start,
        now: DateTime<Utc>,
    ) -> Result<Self, RoomError> {
        let retention_days = admit(start, jurisdictions)?;
        let writer =
            RecordingWriter::open(&settings.recordings_dir, keys, start, retention_days, now)?;
        let started_us = writer.manifest().started_at_unix_ms * 1000;
        let floor_ms = writer.manifest().segments.last().map_or(0, |s| s.end_ms);
        let muxed = mux_tracks(&start.tracks);
        Ok(Self {
            tracks: start
                .tracks
                .iter()
                .zip(&muxed)
                .map(|(info, m)| RoomTrack {
                    info: info.clone(),
                    number: m.number,
                    assembler: FrameAssembler::new(info.codec),
                    clock: None,
                })
                .collect(),
            segmenter: Segmenter::new(muxed, settings.segment_ms),
            writer,
            started_us,
            floor_ms,
            shift_ms: None,
            stats: RoomStats::default(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        self.writer.manifest()
    }

    /// Records in the manifest that this continued recording goes on after
    /// a break for `reason`.
    pub fn record_gap(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), RoomError> {
        Ok(self.writer.record_gap(reason, now)?)
    }

    pub fn stats(&self) -> RoomStats {
        let mut s = self.stats;
        s.frames_dropped = self
            .tracks
            .iter()
            .map(|t| t.assembler.stats().frames_dropped)
            .sum::<u64>()
            + self.segmenter.dropped();
        s
    }

    /// Feeds one RTP packet received by the SFU at `received_at_us` (Unix
    /// µs); `now_us` is the recorder's clock. Errors only when storage fails.
    pub fn on_rtp(
        &mut self,
        track_id: u32,
        received_at_us: u64,
        now_us: u64,
        packet: &[u8],
    ) -> Result<(), RoomError> {
        self.stats.packets += 1;
        let Some(track) = self.tracks.iter_mut().find(|t| t.info.id == track_id) else {
            self.stats.packets_unknown_track += 1;
            return Ok(());
        };
        let Ok(rtp) = RtpPacket::parse(packet) else {
            self.stats.packets_not_rtp += 1;
            return Ok(());
        };
        let Some(frame) = track.assembler.push(&rtp) else {
            return Ok(());
        };
        let received = if received_at_us.abs_diff(now_us) > MAX_CLOCK_SKEW_US {
            now_us
        } else {
            received_at_us
        };
        let clock = track
            .clock
            .get_or_insert_with(|| TrackClock::new(frame.rtp_timestamp, received));
        let at_us = clock.at(frame.rtp_timestamp, track.info.clock_rate, received);
        let raw_ms = at_us.saturating_sub(self.started_us) / 1000;
        let shift = *self
            .shift_ms
            .get_or_insert(self.floor_ms.saturating_sub(raw_ms));
        let time_ms = raw_ms + shift;
        let number = track.number;
        if let Some(segment) = self
            .segmenter
            .push(number, time_ms, frame.keyframe, &frame.data)
        {
            self.writer.write_segment(&segment)?;
            self.stats.segments += 1;
        }
        Ok(())
    }

    /// Writes the open segment. With `ending`, records a lawful stop (the
    /// recording cannot be continued); without, a reconnect continues it.
    pub fn close(
        mut self,
        ending: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Manifest, RoomError> {
        if let Some(segment) = self.segmenter.finish() {
            self.writer.write_segment(&segment)?;
        }
        if let Some(reason) = ending {
            self.writer.end(reason, now)?;
        }
        Ok(self.writer.manifest().clone())
    }
}
