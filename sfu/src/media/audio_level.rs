//! Audio levels (RFC 6464) and the active speaker.
//!
//! The client-to-mixer audio level header extension is one byte:
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |V|    level    |
//! +-+-+-+-+-+-+-+-+
//! ```
//!
//! V is the sender's voice activity flag; `level` is the audio level in
//! −dBov, 0 (loudest, 0 dBov) to 127 (−127 dBov, silence).
//!
//! [`ActiveSpeaker`] smooths each participant's level over a window (the
//! mean level of the samples received in the last `window_us`), treats a
//! mean at or below the silence threshold as not speaking, names the loudest
//! speaker, and keeps a newly named speaker for at least `hold_us` so the
//! choice does not flap. When everyone falls silent the last speaker stays
//! named. Time is a caller-supplied monotonic clock in microseconds.

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

/// One RFC 6464 audio level sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// V: the sender's voice activity detector says this is speech.
    pub voice_activity: bool,
    /// Level in −dBov: 0 is the loudest (0 dBov), 127 silence. Always ≤ 127.
    pub level_dbov: u8,
}

impl AudioLevel {
    /// Decodes the extension's byte (any byte is valid).
    pub fn from_byte(byte: u8) -> Self {
        Self {
            voice_activity: byte & 0x80 != 0,
            level_dbov: byte & 0x7f,
        }
    }
}

/// Why an audio level extension could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AudioLevelError {
    /// The extension element carries no data.
    #[error("audio level extension is empty")]
    Empty,
}

/// Reads the audio level from the data of the header extension element
/// (after the one- or two-byte extension header; padding after the first
/// byte is ignored).
pub fn parse(data: &[u8]) -> Result<AudioLevel, AudioLevelError> {
    data.first()
        .map(|b| AudioLevel::from_byte(*b))
        .ok_or(AudioLevelError::Empty)
}

/// Tuning of an [`ActiveSpeaker`] detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Smoothing window (µs): levels older than this are forgotten.
    pub window_us: u64,
    /// Minimum time (µs) a newly named speaker stays named.
    pub hold_us: u64,
    /// A mean level of this many −dBov or quieter is silence.
    pub silence_dbov: u8,
    /// Count samples whose V flag is clear as silence. Off by default, as
    /// not every sender sets V.
    pub use_voice_activity: bool,
    /// Samples kept per participant within a window (bounds memory against a
    /// sender flooding packets; 50 packets/s fill 20 per 400 ms).
    pub max_samples: usize,
}

impl Default for SpeakerConfig {
    /// 400 ms window, 1.5 s hold, −60 dBov silence, V ignored, 128 samples.
    fn default() -> Self {
        Self {
            window_us: 400_000,
            hold_us: 1_500_000,
            silence_dbov: 60,
            use_voice_activity: false,
            max_samples: 128,
        }
    }
}

const SILENCE: u8 = 127;

#[derive(Debug, Clone, Default)]
struct Levels {
    /// (time µs, level −dBov), in arrival order.
    samples: VecDeque<(u64, u8)>,
}

/// Active-speaker detector over participants identified by `P`.
#[derive(Debug, Clone)]
pub struct ActiveSpeaker<P = u64> {
    config: SpeakerConfig,
    levels: BTreeMap<P, Levels>,
    /// The named speaker and since when (µs).
    speaker: Option<(P, u64)>,
}

impl<P: Ord + Copy> Default for ActiveSpeaker<P> {
    fn default() -> Self {
        Self::new(SpeakerConfig::default())
    }
}

impl<P: Ord + Copy> ActiveSpeaker<P> {
    /// A detector with no participants and no speaker.
    pub fn new(config: SpeakerConfig) -> Self {
        Self {
            config,
            levels: BTreeMap::new(),
            speaker: None,
        }
    }

    /// A level sample from `participant` (−dBov, values above 127 count as
    /// 127).
    pub fn on_level(&mut self, participant: P, level_dbov: u8, voice_activity: bool, now_us: u64) {
        let level = if self.config.use_voice_activity && !voice_activity {
            SILENCE
        } else {
            level_dbov.min(SILENCE)
        };
        let window = self.config.window_us;
        let max = self.config.max_samples.max(1);
        let levels = self.levels.entry(participant).or_default();
        while levels
            .samples
            .front()
            .is_some_and(|(t, _)| now_us.saturating_sub(*t) > window)
        {
            levels.samples.pop_front();
        }
        while levels.samples.len() >= max {
            levels.samples.pop_front();
        }
        levels.samples.push_back((now_us, level));
    }

    /// Forgets `participant` (they left); if they were the speaker, nobody
    /// is named until someone speaks.
    pub fn remove(&mut self, participant: &P) {
        self.levels.remove(participant);
        if self.speaker.is_some_and(|(p, _)| p == *participant) {
            self.speaker = None;
        }
    }

    /// Mean level (−dBov) of `participant`'s samples in the window ending at
    /// `now_us`; `None` without samples there. Samples are pruned as later
    /// ones arrive, so `now_us` should not precede the latest sample.
    pub fn smoothed_level(&self, participant: &P, now_us: u64) -> Option<u8> {
        let levels = self.levels.get(participant)?;
        let (sum, count) = levels
            .samples
            .iter()
            .filter(|(t, _)| *t <= now_us && now_us - *t <= self.config.window_us)
            .fold((0u64, 0u64), |(s, c), (_, l)| (s + u64::from(*l), c + 1));
        let mean = sum.checked_div(count)?;
        u8::try_from(mean).ok()
    }

    /// Whether a smoothed level counts as speech.
    fn speaking(&self, level: Option<u8>) -> bool {
        level.is_some_and(|l| l < self.config.silence_dbov)
    }

    /// The active speaker at `now_us`.
    ///
    /// The loudest participant whose smoothed level is above the silence
    /// threshold (ties: the current speaker, then the smallest id) replaces
    /// the current speaker once the current one has been named for
    /// `hold_us`, if louder than the current one's level (a silent current
    /// speaker is beaten by anyone speaking).
    pub fn active_speaker(&mut self, now_us: u64) -> Option<P> {
        let current = self.speaker.map(|(p, _)| p);
        let mut loudest: Option<(P, u8)> = None;
        for participant in self.levels.keys() {
            let level = self.smoothed_level(participant, now_us);
            let Some(level) = level.filter(|l| *l < self.config.silence_dbov) else {
                continue;
            };
            let better = match loudest {
                None => true,
                Some((_, best)) => level < best || (level == best && current == Some(*participant)),
            };
            if better {
                loudest = Some((*participant, level));
            }
        }
        match (self.speaker, loudest) {
            (None, Some((p, _))) => self.speaker = Some((p, now_us)),
            (Some((cur, since)), Some((p, level))) if p != cur => {
                let held = now_us.saturating_sub(since) >= self.config.hold_us;
                let cur_level = self.smoothed_level(&cur, now_us);
                let louder = !self.speaking(cur_level) || cur_level.is_some_and(|c| level < c);
                if held && louder {
                    self.speaker = Some((p, now_us));
                }
            }
            _ => {}
        }
        self.speaker.map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000;

    /// Feeds 20 ms packets of `level` from `p` over `[from, to)` ms.
    fn talk(a: &mut ActiveSpeaker, p: u64, level: u8, from: u64, to: u64) {
        let mut t = from;
        while t < to {
            a.on_level(p, level, true, t * MS);
            t += 20;
        }
    }

    #[test]
    fn parses_extension_byte() {
        assert_eq!(
            parse(&[0x80 | 30]),
            Ok(AudioLevel {
                voice_activity: true,
                level_dbov: 30
            })
        );
        assert_eq!(
            parse(&[0x7f, 0, 0]),
            Ok(AudioLevel {
                voice_activity: false,
                level_dbov: 127
            })
        );
        assert_eq!(parse(&[]), Err(AudioLevelError::Empty));
        for b in 0..=u8::MAX {
            assert!(AudioLevel::from_byte(b).level_dbov <= 127);
        }
    }

    #[test]
    fn nobody_before_anyone_speaks() {
        let mut a = ActiveSpeaker::default();
        assert_eq!(a.active_speaker(0), None);
        talk(&mut a, 1, 100, 0, 500);
        assert_eq!(a.active_speaker(500 * MS), None);
    }

    #[test]
    fn loudest_is_named() {
        let mut a = ActiveSpeaker::default();
        talk(&mut a, 1, 40, 0, 400);
        talk(&mut a, 2, 20, 0, 400);
        talk(&mut a, 3, 90, 0, 400);
        assert_eq!(a.active_speaker(400 * MS), Some(2));
    }

    #[test]
    fn smoothing_over_window() {
        let mut a = ActiveSpeaker::default();
        a.on_level(1u64, 20, true, 0);
        a.on_level(1, 40, true, 100 * MS);
        assert_eq!(a.smoothed_level(&1, 100 * MS), Some(30));
        // The first sample leaves the 400 ms window.
        assert_eq!(a.smoothed_level(&1, 450 * MS), Some(40));
        assert_eq!(a.smoothed_level(&1, 600 * MS), None);
        assert_eq!(a.smoothed_level(&2, 0), None);
    }

    #[test]
    fn hold_prevents_flapping() {
        let mut a = ActiveSpeaker::default();
        talk(&mut a, 1, 30, 0, 400);
        assert_eq!(a.active_speaker(400 * MS), Some(1));
        // 2 is louder right away, but 1 was named at 400 ms.
        talk(&mut a, 1, 30, 400, 1_000);
        talk(&mut a, 2, 10, 400, 1_000);
        assert_eq!(a.active_speaker(1_000 * MS), Some(1));
        talk(&mut a, 1, 30, 1_000, 1_900);
        talk(&mut a, 2, 10, 1_000, 1_900);
        assert_eq!(a.active_speaker(1_880 * MS), Some(1));
        assert_eq!(a.active_speaker(1_900 * MS), Some(2));
    }

    #[test]
    fn quieter_challenger_does_not_take_over() {
        let mut a = ActiveSpeaker::default();
        talk(&mut a, 1, 20, 0, 400);
        talk(&mut a, 2, 30, 0, 400);
        assert_eq!(a.active_speaker(400 * MS), Some(1));
        talk(&mut a, 1, 20, 400, 3_000);
        talk(&mut a, 2, 30, 400, 3_000);
        assert_eq!(a.active_speaker(3_000 * MS), Some(1));
    }

    #[test]
    fn silence_keeps_last_speaker_until_someone_speaks() {
        let mut a = ActiveSpeaker::default();
        talk(&mut a, 1, 30, 0, 400);
        assert_eq!(a.active_speaker(400 * MS), Some(1));
        // 1 falls silent; 2 only murmurs below the threshold.
        talk(&mut a, 1, 127, 400, 3_000);
        talk(&mut a, 2, 70, 400, 3_000);
        assert_eq!(a.active_speaker(3_000 * MS), Some(1));
        talk(&mut a, 2, 50, 3_000, 3_400);
        assert_eq!(a.active_speaker(3_400 * MS), Some(2));
    }

    #[test]
    fn voice_activity_flag_when_configured() {
        let mut a = ActiveSpeaker::new(SpeakerConfig {
            use_voice_activity: true,
            ..SpeakerConfig::default()
        });
        a.on_level(1u64, 10, false, 0);
        a.on_level(2, 40, true, 0);
        assert_eq!(a.active_speaker(0), Some(2));
        // Ignored by default.
        let mut b = ActiveSpeaker::default();
        b.on_level(1u64, 10, false, 0);
        b.on_level(2, 40, true, 0);
        assert_eq!(b.active_speaker(0), Some(1));
    }

    #[test]
    fn removal_clears_speaker() {
        let mut a = ActiveSpeaker::default();
        talk(&mut a, 1, 30, 0, 400);
        assert_eq!(a.active_speaker(400 * MS), Some(1));
        a.remove(&1);
        assert_eq!(a.active_speaker(400 * MS), None);
        talk(&mut a, 2, 30, 400, 500);
        assert_eq!(a.active_speaker(500 * MS), Some(2));
    }

    #[test]
    fn samples_are_bounded() {
        let mut a = ActiveSpeaker::default();
        for _ in 0..10_000 {
            a.on_level(1u64, 200, true, 0);
        }
        assert_eq!(a.levels.get(&1).map(|l| l.samples.len()), Some(128));
        assert_eq!(a.smoothed_level(&1, 0), Some(127));
    }

    proptest! {
        #[test]
        fn speaker_is_a_known_participant_and_holds(
            ops in proptest::collection::vec((0u64..4, any::<u8>(), any::<bool>(), 0u64..100 * MS), 0..400),
        ) {
            let config = SpeakerConfig::default();
            let mut a = ActiveSpeaker::new(config);
            let mut now = 0u64;
            let mut named: Option<(u64, u64)> = None;
            for (p, byte, query, dt) in ops {
                now += dt;
                if p == 3 && query {
                    a.remove(&3);
                    if named.is_some_and(|(s, _)| s == 3) {
                        named = None;
                    }
                    continue;
                }
                let level = AudioLevel::from_byte(byte);
                a.on_level(p, level.level_dbov, level.voice_activity, now);
                if query {
                    let speaker = a.active_speaker(now);
                    match (named, speaker) {
                        (Some((prev, since)), Some(s)) if s != prev => {
                            prop_assert!(now - since >= config.hold_us, "flapped");
                            named = Some((s, now));
                        }
                        (Some(_), None) => prop_assert!(false, "speaker lost without removal"),
                        (None, Some(s)) => named = Some((s, now)),
                        _ => {}
                    }
                    if let Some(s) = speaker {
                        prop_assert!(a.levels.contains_key(&s));
                    }
                }
            }
        }
    }
}
