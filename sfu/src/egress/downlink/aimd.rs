//! The delay-based rate of a downlink: additive increase, multiplicative
//! decrease, driven by what the over-use detector reads in the feedback
//! (draft-ietf-rmcat-gcc-02 §5.5, with libwebrtc's link-capacity rule).
//!
//! - Over-use: the rate falls to 0.85 × what the subscriber is receiving
//!   (never above where it was), at most once per response time; what it
//!   received then is a sample of the link's capacity.
//! - Normal: the rate rises. Near the capacity seen at the last decreases
//!   (within 3 σ) by about half a packet per response time; elsewhere
//!   multiplicatively, 25 %/s, or 50 %/s until the first decrease (the
//!   start). A received rate above the capacity's band forgets it: the link
//!   grew. The draft's 8 %/s would take 20 s to climb from a lifted
//!   300 kbit/s cap to the 1.8 Mbit/s a high layer needs; a family whose
//!   Wi-Fi recovers should see the picture back well before that.
//! - Under-use (the queue drains): hold, so the drain is not refilled.
//!
//! The rate never runs far ahead of what the leg carries:
//! at most [`LIMITED_FACTOR`] × received + [`LIMITED_HEADROOM_BPS`], so an
//! idle or audio-only leg does not claim a link it never tested, while a
//! leg on a low simulcast layer may still reach the next (the switch up is
//! then the test: a link that cannot carry it queues and the rate falls).
//!
//! Why not rtc's `RateController`: after its first decrease it adds 12 kbit/s
//! per 200 ms with no capacity reset, so when a capped link is lifted the
//! rate needs minutes to climb back to a high layer.
//!
//! Pure: instants and rates are handed in. Rates in bits per second.

use rtc::interceptor::Usage;
use std::time::{Duration, Instant};

/// Decrease to this share of the received rate on over-use.
pub const DECREASE_FACTOR: f64 = 0.85;
/// Multiplicative increase per second away from the known capacity.
pub const INCREASE_PER_SECOND: f64 = 1.25;
/// Multiplicative increase per second before the first decrease.
pub const START_INCREASE_PER_SECOND: f64 = 1.5;
/// Size of the packet the additive increase counts in, bits (1 200 bytes).
const PACKET_BITS: f64 = 9_600.0;
/// Added to the round trip to give the time one change takes to show.
const RESPONSE_EXTRA: Duration = Duration::from_millis(100);
/// Least time between two decreases.
const MIN_DECREASE_INTERVAL: Duration = Duration::from_millis(200);
/// Longest step one update may integrate (a feedback gap does not turn
/// into one large jump).
const MAX_STEP: Duration = Duration::from_secs(1);
/// The rate stays at most this many times the received rate …
pub const LIMITED_FACTOR: f64 = 2.0;
/// … plus this, bits per second.
pub const LIMITED_HEADROOM_BPS: f64 = 1_000_000.0;

/// Where the rate controller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Hold,
    Increase,
    Decrease,
}

/// The link capacity seen at decreases: an average of the received rates
/// then, in kbit/s, and its variance normalised by the average (as
/// libwebrtc keeps it, bounded so the band is neither zero nor huge).
#[derive(Debug, Clone, Copy)]
struct Capacity {
    mean_kbps: f64,
    var_norm: f64,
}

impl Capacity {
    const SMOOTHING: f64 = 0.05;

    fn new(kbps: f64) -> Self {
        Self {
            mean_kbps: kbps,
            var_norm: 0.4,
        }
    }

    fn std_kbps(&self) -> f64 {
        (self.var_norm * self.mean_kbps).sqrt()
    }

    fn upper_kbps(&self) -> f64 {
        self.mean_kbps + 3.0 * self.std_kbps()
    }

    fn lower_kbps(&self) -> f64 {
        self.mean_kbps - 3.0 * self.std_kbps()
    }

    fn observe(&mut self, kbps: f64) {
        let a = Self::SMOOTHING;
        self.mean_kbps = (1.0 - a) * self.mean_kbps + a * kbps;
        let norm = self.mean_kbps.max(1.0);
        let error = self.mean_kbps - kbps;
        self.var_norm = ((1.0 - a) * self.var_norm + a * error * error / norm).clamp(0.4, 2.5);
    }
}

/// The delay-based rate of one downlink.
#[derive(Debug, Clone)]
pub struct Aimd {
    target_bps: f64,
    min_bps: f64,
    max_bps: f64,
    phase: Phase,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    capacity: Option<Capacity>,
    decreased: bool,
}

impl Aimd {
    /// A controller starting at `initial_bps`, kept within `min_bps..=max_bps`.
    pub fn new(initial_bps: f64, min_bps: f64, max_bps: f64) -> Self {
        Self {
            target_bps: initial_bps.clamp(min_bps, max_bps),
            min_bps,
            max_bps,
            phase: Phase::Increase,
            last_update: None,
            last_decrease: None,
            capacity: None,
            decreased: false,
        }
    }

    /// The current rate, bits per second.
    pub fn target_bps(&self) -> f64 {
        self.target_bps
    }

    /// Whether over-use has lowered the rate at least once (the start
    /// found a limit).
    pub fn has_decreased(&self) -> bool {
        self.decreased
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// When over-use last lowered the rate.
    pub fn last_decrease(&self) -> Option<Instant> {
        self.last_decrease
    }

    /// A probe showed the link delivers `bps`: the rate rises to it at
    /// once (it never falls here), and the capacity seen at past decreases
    /// is forgotten, since the link carries more than it did then.
    pub fn raise_to(&mut self, bps: f64) {
        if bps > self.target_bps {
            self.target_bps = bps.clamp(self.min_bps, self.max_bps);
            self.capacity = None;
        }
    }

    /// Folds in what the detector reads at `now`: `usage`, the rate the
    /// subscriber received (`None` while too little is known) and the
    /// round trip (`None`: not measured). Returns the new rate.
    pub fn update(
        &mut self,
        now: Instant,
        usage: Usage,
        received_bps: Option<f64>,
        rtt: Option<Duration>,
    ) -> f64 {
        let step = self
            .last_update
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(MAX_STEP);
        self.last_update = Some(now);
        let response = rtt.unwrap_or(Duration::ZERO) + RESPONSE_EXTRA;
        self.phase = match (usage, self.phase) {
            (Usage::Over, _) => Phase::Decrease,
            (Usage::Under, _) => Phase::Hold,
            (Usage::Normal, Phase::Decrease) => Phase::Hold,
            (Usage::Normal, _) => Phase::Increase,
        };
        match self.phase {
            Phase::Hold => {}
            Phase::Decrease => self.decrease(now, received_bps, response),
            Phase::Increase => self.increase(step, received_bps, response),
        }
        if let Some(received) = received_bps {
            let limit = LIMITED_FACTOR * received + LIMITED_HEADROOM_BPS;
            self.target_bps = self.target_bps.min(limit.max(self.min_bps));
        }
        self.target_bps = self.target_bps.clamp(self.min_bps, self.max_bps);
        self.target_bps
    }

    fn decrease(&mut self, now: Instant, received_bps: Option<f64>, response: Duration) {
        let interval = response.max(MIN_DECREASE_INTERVAL);
        if self
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return;
        }
        let base = received_bps.unwrap_or(self.target_bps);
        self.target_bps = (DECREASE_FACTOR * base).min(self.target_bps);
        let kbps = base / 1_000.0;
        match &mut self.capacity {
            Some(c) if kbps >= c.lower_kbps() => c.observe(kbps),
            _ => self.capacity = Some(Capacity::new(kbps)),
        }
        self.last_decrease = Some(now);
        self.decreased = true;
        // Hold until the detector says the queue has stopped growing.
        self.phase = Phase::Hold;
    }

    fn increase(&mut self, step: Duration, received_bps: Option<f64>, response: Duration) {
        if let (Some(c), Some(received)) = (self.capacity, received_bps)
            && received / 1_000.0 > c.upper_kbps()
        {
            self.capacity = None;
        }
        let seconds = step.as_secs_f64();
        if self.capacity.is_some() {
            let per_response = 0.5 * PACKET_BITS;
            let added = per_response * seconds / response.as_secs_f64().max(0.001);
            self.target_bps += added.max(1_000.0 * seconds);
        } else {
            let factor = if self.decreased {
                INCREASE_PER_SECOND
            } else {
                START_INCREASE_PER_SECOND
            };
            self.target_bps *= factor.powf(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn overuse_falls_to_a_share_of_what_arrives() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(1_000_000.0, 30_000.0, 20_000_000.0);
        let rate = aimd.update(t0, Usage::Over, Some(400_000.0), None);
        assert_eq!(rate, 340_000.0);
        assert_eq!(aimd.phase(), Phase::Hold);
        // A second over-use within the response time changes nothing.
        assert_eq!(
            aimd.update(t0 + ms(50), Usage::Over, Some(300_000.0), None),
            340_000.0
        );
        // After it, the rate falls again.
        assert_eq!(
            aimd.update(t0 + ms(300), Usage::Over, Some(300_000.0), None),
            255_000.0
        );
    }

    #[test]
    fn overuse_never_raises_the_rate() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(200_000.0, 30_000.0, 20_000_000.0);
        assert_eq!(
            aimd.update(t0, Usage::Over, Some(900_000.0), None),
            200_000.0
        );
    }

    #[test]
    fn near_the_known_capacity_it_adds_and_away_from_it_multiplies() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(500_000.0, 30_000.0, 20_000_000.0);
        aimd.update(t0, Usage::Over, Some(500_000.0), None);
        let after_decrease = aimd.target_bps();
        // Ten seconds of normal readings at the capacity: additive.
        let mut at = t0;
        for _ in 0..100 {
            at += ms(100);
            aimd.update(at, Usage::Normal, Some(500_000.0), Some(ms(100)));
        }
        let added = aimd.target_bps() - after_decrease;
        // Half a packet per 200 ms response: 24 kbit/s a second.
        assert!(
            (200_000.0..=260_000.0).contains(&added),
            "added {added} bit/s in 10 s"
        );
        // Received well above the capacity's band: the link grew, so the
        // rate multiplies again.
        let before = aimd.target_bps();
        for _ in 0..10 {
            at += ms(100);
            aimd.update(at, Usage::Normal, Some(900_000.0), Some(ms(100)));
        }
        let factor = aimd.target_bps() / before;
        assert!(
            (1.24..1.26).contains(&factor),
            "grew by {factor} in 1 s away from the capacity"
        );
    }

    #[test]
    fn under_use_holds() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(500_000.0, 30_000.0, 20_000_000.0);
        aimd.update(t0, Usage::Normal, Some(500_000.0), None);
        let rate = aimd.update(t0 + ms(500), Usage::Under, Some(500_000.0), None);
        assert_eq!(rate, aimd.update(t0 + ms(900), Usage::Under, None, None));
    }

    #[test]
    fn an_idle_leg_does_not_claim_a_link_it_never_used() {
        let t0 = Instant::now();
        let mut aimd = Aimd::new(300_000.0, 30_000.0, 20_000_000.0);
        let mut at = t0;
        for _ in 0..600 {
            at += ms(100);
            aimd.update(at, Usage::Normal, Some(40_000.0), None);
        }
        assert_eq!(
            aimd.target_bps(),
            LIMITED_FACTOR * 40_000.0 + LIMITED_HEADROOM_BPS
        );
    }
}
