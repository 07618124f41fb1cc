//! A publisher's send schedule: which synthetic packet is due when, at the
//! scenario's rates, and how late each send was. Shared by the async
//! client's send task and the lightweight engine, so both send exactly the
//! same packets at the same rates.

use crate::participant::{SendLog, SentCounters};
use crate::payload::{self, FramePos};
use crate::scenario::MediaSpec;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One packet to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A VP8 packet: RTP sequence number, timestamp (90 kHz) and marker.
    Video {
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Vec<u8>,
    },
    /// An Opus packet: RTP sequence number and timestamp (48 kHz).
    Audio {
        seq: u16,
        timestamp: u32,
        payload: Vec<u8>,
    },
}

/// When each of one publisher's packets is due.
#[derive(Debug)]
pub struct Schedule {
    name: String,
    media: MediaSpec,
    video_every: Duration,
    audio_every: Option<Duration>,
    frames_per_key: u32,
    next_video: Instant,
    next_audio: Instant,
    /// Lateness, skipped slots and send errors so far.
    pub log: SendLog,
}

impl Schedule {
    /// A schedule for `name` (carried in every payload) whose first video
    /// and audio packets are due at `start`.
    pub fn new(name: &str, media: MediaSpec, start: Instant) -> Self {
        let video_every = Duration::from_secs_f64(1.0 / f64::from(media.video_pps.max(1)));
        let audio_every = (media.audio_pps > 0)
            .then(|| Duration::from_secs_f64(1.0 / f64::from(media.audio_pps)));
        let frames_per_key = ((media.keyframe_interval_s * f64::from(media.video_pps))
            / f64::from(media.packets_per_frame.max(1)))
        .round()
        .max(1.0) as u32;
        Self {
            name: name.to_string(),
            media,
            video_every,
            audio_every,
            frames_per_key,
            next_video: start,
            next_audio: start,
            log: SendLog {
                lateness: crate::recorder::latency_histogram(),
                skipped: 0,
                errors: 0,
            },
        }
    }

    /// When the next packet is due.
    pub fn due(&self) -> Instant {
        match self.audio_every {
            Some(_) => self.next_video.min(self.next_audio),
            None => self.next_video,
        }
    }

    /// The packet due at `now`, if any: records how late it is, counts it
    /// in `sent` and moves the schedule on. A slot more than one interval
    /// late is skipped (counted in the log) rather than sent in a burst.
    pub fn next(&mut self, now: Instant, sent: &SentCounters) -> Option<Outgoing> {
        let due = self.due();
        if due > now {
            return None;
        }
        let late = now.duration_since(due);
        let _ = self
            .log
            .lateness
            .record((late.as_micros() as u64).clamp(1, crate::recorder::MAX_LATENCY_US));
        let sent_us = payload::now_us();
        let media = &self.media;
        if due == self.next_video {
            let seq = sent.video.load(Ordering::Relaxed);
            let ppf = media.packets_per_frame.max(1);
            let frame = seq / ppf;
            let pos = FramePos {
                frame,
                first: seq.is_multiple_of(ppf),
                keyframe: frame.is_multiple_of(self.frames_per_key),
            };
            let payload = payload::video(&self.name, seq, sent_us, pos, media.payload_bytes);
            let timestamp = frame.wrapping_mul(90_000 / (media.video_pps / ppf).max(1));
            sent.video.store(seq + 1, Ordering::Relaxed);
            self.next_video += self.video_every;
            if now.duration_since(self.next_video) > self.video_every {
                self.log.skipped += 1;
                self.next_video = now + self.video_every;
            }
            return Some(Outgoing::Video {
                seq: seq as u16,
                timestamp,
                marker: seq % ppf == ppf - 1,
                payload,
            });
        }
        let every = self.audio_every?;
        let seq = sent.audio.load(Ordering::Relaxed);
        let payload = payload::audio(&self.name, seq, sent_us, media.audio_bytes);
        sent.audio.store(seq + 1, Ordering::Relaxed);
        self.next_audio += every;
        if now.duration_since(self.next_audio) > every {
            self.log.skipped += 1;
            self.next_audio = now + every;
        }
        Some(Outgoing::Audio {
            seq: seq as u16,
            timestamp: seq.wrapping_mul(960),
            payload,
        })
    }

    /// Counts a packet that could not be written.
    pub fn failed(&mut self) {
        self.log.errors += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_holds_the_scenarios_rates_and_frame_structure() {
        let media = MediaSpec::default();
        let start = Instant::now();
        let mut s = Schedule::new("p", media.clone(), start);
        let sent = SentCounters::default();
        let (mut video, mut audio, mut keyframes, mut markers) = (0, 0, 0, 0);
        let mut t = start;
        // 1 s in 1 ms steps: every packet due goes out on time.
        for _ in 0..1000 {
            while let Some(out) = s.next(t, &sent) {
                match out {
                    Outgoing::Video {
                        marker, payload, ..
                    } => {
                        video += 1;
                        markers += u32::from(marker);
                        let stamp = payload::parse(&payload).expect("stamp");
                        keyframes += u32::from(stamp.keyframe);
                    }
                    Outgoing::Audio { .. } => audio += 1,
                }
            }
            t += Duration::from_millis(1);
        }
        assert_eq!((video, audio), (media.video_pps, media.audio_pps));
        assert_eq!(markers, media.video_pps / media.packets_per_frame);
        assert_eq!(keyframes, 1, "one keyframe every 2 s");
        assert_eq!(s.log.skipped, 0);
        assert_eq!(sent.video.load(Ordering::Relaxed), media.video_pps);
    }

    #[test]
    fn a_stalled_sender_skips_instead_of_bursting() {
        let start = Instant::now();
        let mut s = Schedule::new("p", MediaSpec::default(), start);
        let sent = SentCounters::default();
        let late = start + Duration::from_secs(1);
        let mut burst = 0;
        while s.next(late, &sent).is_some() {
            burst += 1;
            assert!(burst < 10, "a stall must not release a burst");
        }
        assert!(s.log.skipped > 0);
        assert!(s.due() > late);
    }
}
