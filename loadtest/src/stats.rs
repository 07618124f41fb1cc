//! Pure statistics over measured values: percentiles, loss, interarrival
//! jitter and freezes. No clocks here: callers pass times in µs.

/// The `p`-th percentile (0–100) of `sorted` (ascending) by nearest rank;
/// `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sorts a copy of `values` (NaN-free) and returns p50, p95, p99 and max.
pub fn summary(values: &[f64]) -> Option<[f64; 4]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    Some([
        percentile(&v, 50.0)?,
        percentile(&v, 95.0)?,
        percentile(&v, 99.0)?,
        *v.last()?,
    ])
}

/// Fraction of `expected` packets that did not arrive (0 when nothing was
/// expected; duplicates beyond `expected` do not make it negative).
pub fn loss(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        0.0
    } else {
        expected.saturating_sub(received) as f64 / expected as f64
    }
}

/// RFC 3550 §6.4.1 interarrival jitter, in µs, from send and receive times
/// in µs: J += (|D| − J) / 16 for each packet after the first, D being the
/// change in transit time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jitter {
    last_transit: Option<i64>,
    /// Current estimate, µs.
    pub jitter_us: f64,
}

impl Jitter {
    /// Takes one packet sent at `sent_us` and received at `recv_us`.
    pub fn update(&mut self, sent_us: u64, recv_us: u64) {
        let transit = recv_us as i64 - sent_us as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit = Some(transit);
    }
}

/// Freezes in a stream: gaps between consecutive arrivals longer than
/// `threshold_us`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freezes {
    /// Gaps over the threshold.
    pub count: u64,
    /// Sum of those gaps, µs.
    pub total_us: u64,
    last_us: Option<u64>,
}

/// Video gaps longer than this are freezes, µs.
pub const FREEZE_US: u64 = 500_000;

impl Freezes {
    /// Takes one arrival at `at_us` (arrivals come in time order; an
    /// earlier one is ignored).
    pub fn arrival(&mut self, at_us: u64, threshold_us: u64) {
        if let Some(last) = self.last_us {
            if at_us < last {
                return;
            }
            let gap = at_us - last;
            if gap > threshold_us {
                self.count += 1;
                self.total_us += gap;
            }
        }
        self.last_us = Some(at_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(summary(&[3.0, 1.0, 2.0]), Some([2.0, 3.0, 3.0, 3.0]));
    }

    #[test]
    fn loss_is_a_fraction() {
        assert_eq!(loss(0, 0), 0.0);
        assert_eq!(loss(200, 199), 0.005);
        assert_eq!(loss(10, 12), 0.0);
        assert_eq!(loss(10, 0), 1.0);
    }

    #[test]
    fn steady_transit_has_no_jitter_and_alternating_transit_does() {
        let mut j = Jitter::default();
        for i in 0..100u64 {
            j.update(i * 20_000, i * 20_000 + 1_000);
        }
        assert_eq!(j.jitter_us, 0.0);
        let mut j = Jitter::default();
        for i in 0..1000u64 {
            j.update(
                i * 20_000,
                i * 20_000 + if i % 2 == 0 { 1_000 } else { 3_000 },
            );
        }
        assert!((j.jitter_us - 2_000.0).abs() < 1.0, "{}", j.jitter_us);
    }

    #[test]
    fn gaps_over_the_threshold_are_freezes() {
        let mut f = Freezes::default();
        for at in [0, 20_000, 40_000, 640_000, 660_000] {
            f.arrival(at, FREEZE_US);
        }
        assert_eq!((f.count, f.total_us), (1, 600_000));
        f.arrival(10, FREEZE_US);
        assert_eq!(f.count, 1, "an arrival out of order is ignored");
    }

    proptest! {
        #[test]
        fn percentiles_are_members_and_ordered(mut v in proptest::collection::vec(-1e6f64..1e6, 1..300), p in 0.0f64..100.0) {
            v.sort_by(f64::total_cmp);
            let x = percentile(&v, p).expect("non-empty");
            prop_assert!(v.contains(&x));
            let below = v.iter().filter(|&&y| y <= x).count() as f64;
            prop_assert!(below / v.len() as f64 >= p / 100.0 - 1e-9);
            let [p50, p95, p99, max] = summary(&v).expect("non-empty");
            prop_assert!(p50 <= p95 && p95 <= p99 && p99 <= max);
        }

        #[test]
        fn loss_stays_in_0_1(expected in 0u64..1_000_000, received in 0u64..2_000_000) {
            let l = loss(expected, received);
            prop_assert!((0.0..=1.0).contains(&l));
        }

        #[test]
        fn freezes_never_exceed_the_span(gaps in proptest::collection::vec(0u64..2_000_000, 1..200)) {
            let mut f = Freezes::default();
            let mut at = 0;
            f.arrival(at, FREEZE_US);
            for g in &gaps {
                at += g;
                f.arrival(at, FREEZE_US);
            }
            prop_assert!(f.total_us <= at);
            prop_assert_eq!(f.count, gaps.iter().filter(|&&g| g > FREEZE_US).count() as u64);
        }
    }
}
