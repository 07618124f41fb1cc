//! How one subscriber's downlink estimate is spent: audio first, then video,
//! the active speaker's before the others'.
//!
//! - Every source's audio is always sent, and its share is set aside first
//!   ([`AUDIO_BPS`] each): what a visit cannot lose is the voice.
//! - Then each video source, the active speaker first, gets the lowest rate
//!   it can be sent at (its lowest simulcast layer, or [`MIN_VIDEO_BPS`] for
//!   a single-layer source) while the rest of the estimate allows; a source
//!   that was paused needs [`RESUME_HEADROOM_PERCENT`] of it to come back,
//!   so a subscriber at the edge does not flap.
//! - What is left is split evenly between the sources that fit.
//! - A source that does not fit gets no video share: its video is paused
//!   for this subscriber (see [`VideoPause`] for the timing).
//!
//! Pure: rates in bits per second, times in µs, handed in.

use super::debounce::Debounced;

/// One Opus stream on the wire: 32 kbit/s of voice plus 50 packets a
/// second of RTP, SRTP, UDP and IP headers.
pub const AUDIO_BPS: u64 = 50_000;
/// The least a single-layer video source is sent at: browsers' encoders go
/// down to about 30 kbit/s, but below 60 the picture is a slideshow.
pub const MIN_VIDEO_BPS: u64 = 60_000;
/// A paused source comes back only when this share of its lowest rate fits.
pub const RESUME_HEADROOM_PERCENT: u64 = 130;
/// Video is paused after its share has not fitted for this long, µs …
pub const PAUSE_AFTER_US: u64 = 1_000_000;
/// … and resumed after it has fitted (with headroom) for this long.
pub const RESUME_AFTER_US: u64 = 2_000_000;

/// A video source one subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSource<K> {
    pub key: K,
    /// The lowest rate it can be sent at, bits per second.
    pub lowest_bps: u64,
    /// It is the room's active speaker.
    pub speaking: bool,
    /// Its video is paused for this subscriber now.
    pub paused: bool,
}

/// What one source's video may use: `None` when it does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share<K> {
    pub key: K,
    pub video_bps: Option<u64>,
}

/// Splits `estimate_bps` between `audio_streams` audio streams and the
/// video `sources`, in the order above; one share per source, in the
/// sources' order.
pub fn allocate<K: Copy>(
    estimate_bps: u64,
    audio_streams: usize,
    sources: &[VideoSource<K>],
) -> Vec<Share<K>> {
    let audio = AUDIO_BPS.saturating_mul(audio_streams as u64);
    let mut left = estimate_bps.saturating_sub(audio);
    let mut fits = vec![false; sources.len()];
    let speaking_first = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.speaking)
        .chain(sources.iter().enumerate().filter(|(_, s)| !s.speaking));
    for (i, source) in speaking_first {
        let need = if source.paused {
            source.lowest_bps.saturating_mul(RESUME_HEADROOM_PERCENT) / 100
        } else {
            source.lowest_bps
        };
        if need <= left {
            left -= source.lowest_bps;
            fits[i] = true;
        }
    }
    let fitting = fits.iter().filter(|f| **f).count() as u64;
    let extra = left.checked_div(fitting).unwrap_or(0);
    sources
        .iter()
        .zip(fits)
        .map(|(s, fits)| Share {
            key: s.key,
            video_bps: fits.then_some(s.lowest_bps + extra),
        })
        .collect()
}

/// Whether one source's video goes to one subscriber, with the timing that
/// keeps it from flapping; after a pause the video comes back on a
/// keyframe.
#[derive(Debug, Clone)]
pub struct VideoPause {
    /// On: paused.
    paused: Debounced,
    awaiting_keyframe: bool,
}

impl Default for VideoPause {
    fn default() -> Self {
        Self {
            paused: Debounced::new(PAUSE_AFTER_US, RESUME_AFTER_US),
            awaiting_keyframe: false,
        }
    }
}

/// A change of [`VideoPause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseChange {
    Paused,
    /// The caller asks the source for a keyframe.
    Resumed,
}

impl VideoPause {
    pub fn paused(&self) -> bool {
        self.paused.on()
    }

    /// The allocation at `now_us` says the video fits (or not).
    pub fn update(&mut self, fits: bool, now_us: u64) -> Option<PauseChange> {
        match self.paused.update(!fits, now_us)? {
            true => Some(PauseChange::Paused),
            false => {
                self.awaiting_keyframe = true;
                Some(PauseChange::Resumed)
            }
        }
    }

    /// The allocation says the video fits and a probe has just shown the
    /// link carries it: resumed at once, without the wait
    /// [`VideoPause::update`] would hold.
    pub fn resume_now(&mut self) -> Option<PauseChange> {
        self.paused.clear().then(|| {
            self.awaiting_keyframe = true;
            PauseChange::Resumed
        })
    }

    /// Whether a video packet goes out (`keyframe`: it starts a keyframe).
    pub fn lets_through(&mut self, keyframe: bool) -> bool {
        if self.paused.on() {
            return false;
        }
        if self.awaiting_keyframe {
            if !keyframe {
                return false;
            }
            self.awaiting_keyframe = false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: u8, lowest_bps: u64, speaking: bool) -> VideoSource<u8> {
        VideoSource {
            key,
            lowest_bps,
            speaking,
            paused: false,
        }
    }

    #[test]
    fn audio_is_set_aside_before_any_video() {
        // 100 kbit/s with one audio stream: 50 left, under the 60 a
        // single-layer source needs.
        let shares = allocate(100_000, 1, &[source(1, MIN_VIDEO_BPS, false)]);
        assert_eq!(shares[0].video_bps, None);
        let shares = allocate(110_000, 1, &[source(1, MIN_VIDEO_BPS, false)]);
        assert_eq!(shares[0].video_bps, Some(60_000));
    }

    #[test]
    fn the_active_speaker_is_served_first() {
        let sources = [source(1, 150_000, false), source(2, 150_000, true)];
        let shares = allocate(300_000, 2, &sources);
        assert_eq!(shares[0].video_bps, None, "{shares:?}");
        assert_eq!(shares[1].video_bps, Some(200_000), "{shares:?}");
    }

    #[test]
    fn what_is_left_is_split_evenly() {
        let sources = [source(1, 150_000, false), source(2, 60_000, false)];
        let shares = allocate(1_310_000, 2, &sources);
        assert_eq!(shares[0].video_bps, Some(150_000 + 500_000));
        assert_eq!(shares[1].video_bps, Some(60_000 + 500_000));
    }

    #[test]
    fn a_paused_source_needs_headroom_to_come_back() {
        let mut s = source(1, 100_000, false);
        s.paused = true;
        assert_eq!(allocate(170_000, 1, &[s])[0].video_bps, None);
        assert!(allocate(180_000, 1, &[s])[0].video_bps.is_some());
    }

    #[test]
    fn video_pauses_after_a_second_and_resumes_after_two_on_a_keyframe() {
        let mut pause = VideoPause::default();
        assert_eq!(pause.update(false, 0), None);
        assert_eq!(pause.update(true, 500_000), None, "a dip that recovers");
        assert_eq!(pause.update(false, 600_000), None);
        assert_eq!(pause.update(false, 1_500_000), None);
        assert_eq!(pause.update(false, 1_600_000), Some(PauseChange::Paused));
        assert!(!pause.lets_through(true));
        assert_eq!(pause.update(true, 2_000_000), None);
        assert_eq!(pause.update(true, 3_999_999), None);
        assert_eq!(pause.update(true, 4_000_000), Some(PauseChange::Resumed));
        assert!(!pause.lets_through(false), "not before a keyframe");
        assert!(pause.lets_through(true));
        assert!(pause.lets_through(false));
    }
}
