//! Whether the delay trend means congestion: the trend against a threshold
//! that follows it (draft-ietf-rmcat-gcc-02 §5.4, with the gains libwebrtc
//! tuned for the [`super::trendline`] scale: the threshold rises by
//! 0.0087 and falls by 0.039 of the gap per ms, within 6–600 ms).
//!
//! - Over-use: the trend above the threshold for at least 10 ms, over more
//!   than one reading, and not falling.
//! - Under-use: below minus the threshold. Normal otherwise.
//! - A reading more than 15 ms past the threshold does not move it (one
//!   wild group must not blind the detector to the growth that follows).
//!
//! Why not rtc's `OveruseDetector`: its threshold falls by the draft's
//! 0.00018, sized for the Kalman filter's per-group gradient. After one
//! burst of queueing (a link that halves) it stays several times too high
//! for tens of seconds, and a 300 kbit/s link then fills its buffer before
//! the detector speaks.
//!
//! Pure: times are handed in, in ms.

use rtc::interceptor::Usage;

const INITIAL_THRESHOLD_MS: f64 = 12.5;
const MIN_THRESHOLD_MS: f64 = 6.0;
const MAX_THRESHOLD_MS: f64 = 600.0;
const GAIN_UP: f64 = 0.0087;
const GAIN_DOWN: f64 = 0.039;
/// A reading this far past the threshold leaves it where it is.
const MAX_ADAPT_MS: f64 = 15.0;
/// Longest step one adaptation integrates, ms.
const MAX_STEP_MS: f64 = 100.0;
/// How long the trend must stay above before over-use is declared, ms.
const OVERUSE_TIME_MS: f64 = 10.0;

/// The over-use detector of one downlink.
#[derive(Debug, Clone)]
pub struct OveruseDetector {
    threshold_ms: f64,
    last_update_ms: Option<f64>,
    above_since_ms: Option<f64>,
    readings_above: u32,
    previous_trend: f64,
    usage: Usage,
}

impl Default for OveruseDetector {
    fn default() -> Self {
        Self {
            threshold_ms: INITIAL_THRESHOLD_MS,
            last_update_ms: None,
            above_since_ms: None,
            readings_above: 0,
            previous_trend: 0.0,
            usage: Usage::Normal,
        }
    }
}

impl OveruseDetector {
    pub fn threshold_ms(&self) -> f64 {
        self.threshold_ms
    }

    /// Folds in the trend read at `at_ms`; returns what it means.
    pub fn update(&mut self, trend: f64, at_ms: f64) -> Usage {
        if trend > self.threshold_ms {
            let since = *self.above_since_ms.get_or_insert(at_ms);
            self.readings_above += 1;
            if at_ms - since >= OVERUSE_TIME_MS
                && self.readings_above > 1
                && trend >= self.previous_trend
            {
                self.usage = Usage::Over;
            }
        } else {
            self.above_since_ms = None;
            self.readings_above = 0;
            self.usage = if trend < -self.threshold_ms {
                Usage::Under
            } else {
                Usage::Normal
            };
        }
        self.previous_trend = trend;
        self.adapt(trend, at_ms);
        self.usage
    }

    fn adapt(&mut self, trend: f64, at_ms: f64) {
        let step_ms = self
            .last_update_ms
            .map_or(0.0, |last| (at_ms - last).clamp(0.0, MAX_STEP_MS));
        self.last_update_ms = Some(at_ms);
        let magnitude = trend.abs();
        if magnitude > self.threshold_ms + MAX_ADAPT_MS {
            return;
        }
        let gain = if magnitude < self.threshold_ms {
            GAIN_DOWN
        } else {
            GAIN_UP
        };
        self.threshold_ms = (self.threshold_ms + gain * (magnitude - self.threshold_ms) * step_ms)
            .clamp(MIN_THRESHOLD_MS, MAX_THRESHOLD_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reading_above_is_not_overuse() {
        let mut detector = OveruseDetector::default();
        assert_eq!(detector.update(20.0, 0.0), Usage::Normal);
        assert_eq!(detector.update(0.0, 30.0), Usage::Normal);
    }

    #[test]
    fn a_rising_trend_that_stays_above_is_overuse() {
        let mut detector = OveruseDetector::default();
        detector.update(20.0, 0.0);
        assert_eq!(detector.update(22.0, 30.0), Usage::Over);
    }

    #[test]
    fn a_draining_queue_is_underuse() {
        let mut detector = OveruseDetector::default();
        assert_eq!(detector.update(-20.0, 0.0), Usage::Under);
    }

    #[test]
    fn the_threshold_comes_back_down_within_a_second_of_quiet() {
        let mut detector = OveruseDetector::default();
        for i in 0..50 {
            detector.update(25.0, f64::from(i) * 30.0);
        }
        let raised = detector.threshold_ms();
        assert!(raised > 20.0, "threshold {raised}");
        for i in 50..85 {
            detector.update(1.0, f64::from(i) * 30.0);
        }
        assert!(
            detector.threshold_ms() < 13.0,
            "threshold {} after a second of quiet",
            detector.threshold_ms()
        );
    }
}
