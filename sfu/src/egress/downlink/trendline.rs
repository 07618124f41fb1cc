//! Whether a queue grows on the path: the slope of the delay the packet
//! groups accumulate, over the last [`WINDOW`] groups (libwebrtc's trendline
//! filter, which replaced the Kalman filter of draft-ietf-rmcat-gcc-02).
//!
//! Each inter-group delay gradient (arrival spread minus departure spread,
//! ms; from rtc's arrival-group accumulator) adds to an accumulated delay,
//! smoothed; the least-squares slope of that against time, scaled by how
//! many gradients back it (up to 60) and a gain of 4, is the trend that
//! rtc's over-use detector compares with its adaptive threshold (6–600 ms,
//! from 12.5). rtc's own Kalman estimate is the per-group gradient itself:
//! a 300 kbit/s link loaded 10 % over its rate grows the queue by about
//! 3 ms a group, which never reaches that threshold, so the detector stayed
//! silent while the queue filled.
//!
//! Pure: times are handed in, in ms.

use std::collections::VecDeque;

/// Groups the slope is fitted over.
pub const WINDOW: usize = 20;
/// Smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// Scales the slope into the detector's range.
const GAIN: f64 = 4.0;
/// Most gradients the trend's weight counts.
const MAX_DELTAS: f64 = 60.0;

/// The delay trend of one downlink.
#[derive(Debug, Clone, Default)]
pub struct Trendline {
    accumulated_ms: f64,
    smoothed_ms: f64,
    deltas: u64,
    first_at_ms: Option<f64>,
    /// (time since the first group, smoothed accumulated delay), ms.
    points: VecDeque<(f64, f64)>,
}

impl Trendline {
    /// Folds in the gradient `delta_ms` of a group that left at `at_ms`;
    /// returns the trend to compare with the threshold once the window is
    /// full.
    pub fn update(&mut self, delta_ms: f64, at_ms: f64) -> Option<f64> {
        self.deltas += 1;
        self.accumulated_ms += delta_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let first = *self.first_at_ms.get_or_insert(at_ms);
        self.points.push_back((at_ms - first, self.smoothed_ms));
        if self.points.len() > WINDOW {
            self.points.pop_front();
        }
        if self.points.len() < WINDOW {
            return None;
        }
        let slope = slope(&self.points)?;
        Some((self.deltas as f64).min(MAX_DELTAS) * slope * GAIN)
    }
}

/// Least-squares slope of `points`; `None` if their times do not spread.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sum_x, sum_y) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mean_x, mean_y) = (sum_x / n, sum_y / n);
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_path_reads_flat() {
        let mut trend = Trendline::default();
        let mut last = None;
        for i in 0..100 {
            last = trend.update(0.0, f64::from(i) * 30.0);
        }
        assert_eq!(last, Some(0.0));
    }

    #[test]
    fn a_queue_growing_3_ms_a_group_crosses_the_initial_threshold() {
        let mut trend = Trendline::default();
        let mut last = None;
        for i in 0..40 {
            last = trend.update(3.0, f64::from(i) * 30.0);
        }
        let last = last.expect("a full window");
        assert!(last > 12.5, "trend {last}");
    }

    #[test]
    fn a_draining_queue_reads_negative() {
        let mut trend = Trendline::default();
        let mut last = None;
        for i in 0..40 {
            last = trend.update(-2.0, f64::from(i) * 30.0);
        }
        assert!(last.expect("a full window") < -6.0);
    }
}
