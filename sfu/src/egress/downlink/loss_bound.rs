//! The loss-based bound of a downlink (draft-ietf-rmcat-gcc-02 §6): a link
//! that drops packets without queueing them (a policer, a shallow buffer,
//! radio) shows nothing to the delay signal, so loss caps the rate too.
//!
//! - Loss is read over at least [`SAMPLE_PACKETS`] packets, or
//!   [`SAMPLE_MIN_PACKETS`] over [`SAMPLE_SPAN`] (a report of ten packets
//!   with two lost says little), smoothed across samples.
//! - Smoothed loss above [`HIGH_LOSS`]: the bound falls to
//!   `rate × (1 − loss / 2)`, at most once per [`INTERVAL`], and not below
//!   0.85 × what the subscriber receives.
//! - A sample below [`LOW_LOSS`], with the smoothed loss below
//!   [`HIGH_LOSS`]: it rises 5 % per [`INTERVAL`] since its last change,
//!   and lifts once it is well
//!   above the rate it bounds. (The latest sample decides, not the average:
//!   at a low rate a sample takes seconds to gather, and waiting for the
//!   average to forget a burst of loss would hold the bound for a minute.)
//! - In between it holds.
//!
//! Why 15 % and not the draft's 10 %: weak phone Wi-Fi loses around 10 %
//! at random with capacity to spare, and NACK repairs that. A bound that
//! falls at 10 % falls half the time there (the loss hovers around the
//! threshold and never drops below 2 % to rise again), so the estimate
//! would sink to its floor on a link that could carry video. rtc's
//! `LossController` has the draft's thresholds fixed, hence this one.
//!
//! Pure: instants and counts are handed in. Rates in bits per second.

use std::time::{Duration, Instant};

/// Below this smoothed loss the bound rises.
pub const LOW_LOSS: f64 = 0.02;
/// Above this smoothed loss (and in the latest report) the bound falls.
pub const HIGH_LOSS: f64 = 0.15;
/// Least time between two changes of the bound.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// Packets one loss sample covers, or …
pub const SAMPLE_PACKETS: usize = 50;
/// … at least this many, over at least [`SAMPLE_SPAN`] (a low rate).
pub const SAMPLE_MIN_PACKETS: usize = 10;
pub const SAMPLE_SPAN: Duration = Duration::from_secs(1);
/// A fall stops at this share of what the subscriber receives: feedback
/// lags, and a queue that overflowed keeps reporting loss for a round trip
/// after the rate has already fallen below the link's.
const FLOOR_OF_RECEIVED: f64 = 0.85;
/// A bound this many times above the rate it bounds no longer binds.
const LIFT_FACTOR: f64 = 1.5;

/// The loss-based bound of one downlink.
#[derive(Debug, Clone, Default)]
pub struct LossBound {
    /// `None`: loss does not bound the rate.
    bound_bps: Option<f64>,
    average: Option<f64>,
    last_change: Option<Instant>,
    /// Lost and total packets of the sample being gathered, and since when.
    gathering: (usize, usize),
    sample_started: Option<Instant>,
}

impl LossBound {
    /// The bound, bits per second; `None` while loss does not bind.
    pub fn bound_bps(&self) -> Option<f64> {
        self.bound_bps
    }

    /// The smoothed loss fraction (0–1), once any report arrived.
    pub fn average_loss(&self) -> Option<f64> {
        self.average
    }

    /// Folds in one feedback report at `now`: `lost` of `total` packets did
    /// not arrive, while the rate it bounds was `rate_bps` and the
    /// subscriber received `received_bps` (if known).
    /// A probe showed the link delivers `bps` (with next to no loss): a
    /// bound below that rises to it.
    pub fn on_probe(&mut self, bps: f64) {
        if let Some(bound) = self.bound_bps.as_mut() {
            *bound = bound.max(bps);
        }
    }

    pub fn update(
        &mut self,
        now: Instant,
        lost: usize,
        total: usize,
        rate_bps: f64,
        received_bps: Option<f64>,
    ) {
        self.gathering.0 += lost;
        self.gathering.1 += total;
        let started = *self.sample_started.get_or_insert(now);
        let long_enough = now.saturating_duration_since(started) >= SAMPLE_SPAN
            && self.gathering.1 >= SAMPLE_MIN_PACKETS;
        if self.gathering.1 < SAMPLE_PACKETS && !long_enough {
            return;
        }
        self.sample_started = None;
        let (lost, total) = std::mem::take(&mut self.gathering);
        let sample = lost as f64 / total as f64;
        let average = self.average.map_or(sample, |a| 0.5 * a + 0.5 * sample);
        self.average = Some(average);
        if self
            .last_change
            .is_some_and(|t| now.saturating_duration_since(t) < INTERVAL)
        {
            return;
        }
        if average.min(sample) > HIGH_LOSS {
            let from = self.bound_bps.map_or(rate_bps, |b| b.min(rate_bps));
            let floor = received_bps.map_or(0.0, |r| FLOOR_OF_RECEIVED * r);
            self.bound_bps = Some((from * (1.0 - 0.5 * average)).max(floor.min(from)));
            self.last_change = Some(now);
        } else if sample < LOW_LOSS
            && average < HIGH_LOSS
            && let Some(bound) = self.bound_bps
        {
            let since = self
                .last_change
                .map_or(INTERVAL, |t| now.saturating_duration_since(t));
            let steps = (since.as_secs_f64() / INTERVAL.as_secs_f64()).min(8.0);
            let raised = bound * 1.05f64.powf(steps);
            self.bound_bps = (raised < LIFT_FACTOR * rate_bps).then_some(raised);
            self.last_change = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bound: &mut LossBound, loss_percent: usize, seconds: u64, rate: f64) {
        let t0 = Instant::now();
        for step in 0..seconds * 10 {
            bound.update(
                t0 + Duration::from_millis(step * 100),
                loss_percent,
                100,
                rate,
                None,
            );
        }
    }

    #[test]
    fn a_few_packets_are_not_a_sample() {
        let mut bound = LossBound::default();
        let t0 = Instant::now();
        for step in 0..4 {
            bound.update(
                t0 + Duration::from_millis(step * 100),
                3,
                10,
                1_000_000.0,
                None,
            );
        }
        assert_eq!(bound.average_loss(), None);
        bound.update(t0 + Duration::from_millis(500), 3, 10, 1_000_000.0, None);
        assert_eq!(bound.average_loss(), Some(0.3));
    }

    #[test]
    fn heavy_loss_bounds_the_rate_without_any_delay_signal() {
        let mut bound = LossBound::default();
        run(&mut bound, 30, 1, 1_000_000.0);
        let b = bound.bound_bps().expect("30 % loss bounds the rate");
        assert!(b < 1_000_000.0 * 0.9, "bound {b}");
    }

    #[test]
    fn ten_percent_loss_holds_where_it_is() {
        let mut bound = LossBound::default();
        run(&mut bound, 10, 30, 1_000_000.0);
        assert_eq!(bound.bound_bps(), None);
    }

    #[test]
    fn a_clean_link_lifts_the_bound_again() {
        let mut bound = LossBound::default();
        run(&mut bound, 40, 2, 1_000_000.0);
        assert!(bound.bound_bps().is_some());
        run(&mut bound, 0, 30, 1_000_000.0);
        assert_eq!(bound.bound_bps(), None);
    }

    #[test]
    fn no_packets_no_change() {
        let mut bound = LossBound::default();
        bound.update(Instant::now(), 0, 0, 1_000_000.0, None);
        assert_eq!(bound.average_loss(), None);
    }
}
