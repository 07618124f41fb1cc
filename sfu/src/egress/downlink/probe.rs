//! Probing a downlink before its subscriber is given more: a short cluster
//! of packets sent at a rate above the estimate, whose transport-wide
//! feedback shows what the link delivered. The estimator alone cannot see
//! past what a leg carries: an audio-only leg (its video paused on a weak
//! link) tells it nothing about a link that has since recovered, and the
//! additive increase near the capacity it last saw takes seconds to climb
//! out of that band. A probe that the link delivers lifts the estimate at
//! once (as libwebrtc's probe controller does); one it does not is tried
//! again later, each time twice as late.
//!
//! What a probe costs is bounded: a cluster lasts [`CLUSTER`] at
//! [`RATE_FACTOR`] × the estimate, and clusters start at least
//! [`FIRST_INTERVAL`] apart, so probing adds at most
//! `RATE_FACTOR × CLUSTER / FIRST_INTERVAL` = 10 % of the estimate; where
//! the estimate is so low that [`MIN_PACKETS`] take longer than that, the
//! next cluster waits until the last is paid for at [`BUDGET_SHARE`].
//!
//! Pure: instants are handed in. Rates in bits per second, sizes in bytes.

use std::time::{Duration, Instant};

/// How long one cluster is sent for.
pub const CLUSTER: Duration = Duration::from_millis(100);
/// A cluster is sent at least at this many times the estimate …
pub const RATE_FACTOR: f64 = 2.0;
/// … and at most at this many.
pub const MAX_RATE_FACTOR: f64 = 4.0;
/// Within those, at this many times what is wanted, so that a link that
/// carries it shows it plainly.
pub const ABOVE_WANTED: f64 = 1.25;
/// Least time between the starts of two clusters (after a probe the link
/// delivered, and at first).
pub const FIRST_INTERVAL: Duration = Duration::from_secs(2);
/// Most time between two clusters while the link keeps not delivering.
pub const LONGEST_INTERVAL: Duration = Duration::from_secs(32);
/// A cluster whose feedback has not come in this long after it ended is
/// given up.
pub const FEEDBACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Fewest packets of a cluster that must arrive for it to say anything.
pub const MIN_PACKETS: u32 = 5;
/// Probing's share of the estimate, at most.
pub const BUDGET_SHARE: f64 = 0.1;
/// A probe passes when the link delivered at least this many times the
/// estimate it was started from.
pub const PASS_FACTOR: f64 = 1.2;

/// What one cluster showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeOutcome {
    /// The link delivered this rate, above the estimate.
    Delivered(u64),
    /// It did not deliver more than the estimate (or too little of the
    /// cluster arrived, or its feedback never came).
    Failed,
}

/// One cluster: what was sent and what its feedback said.
#[derive(Debug, Clone)]
struct Cluster {
    estimate_bps: u64,
    target_bps: u64,
    started: Instant,
    /// Ids (the downlink's send order) of its first and last packet.
    first_id: Option<u64>,
    last_id: u64,
    sent_bytes: u64,
    sent_packets: u32,
    /// When sending ended (it lasted [`CLUSTER`]).
    ended: Option<Instant>,
    acked: u32,
    arrived: Arrivals,
}

/// The cluster's packets that arrived: first and last send and arrival
/// instants (µs; arrivals on the subscriber's clock), and bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Arrivals {
    packets: u32,
    first_sent_us: u64,
    last_sent_us: u64,
    last_size: u64,
    first_arrival_us: u64,
    last_arrival_us: u64,
    first_size: u64,
    bytes: u64,
}

impl Arrivals {
    fn add(&mut self, size: u64, sent_us: u64, arrival_us: u64) {
        if self.packets == 0 {
            *self = Arrivals {
                packets: 1,
                first_sent_us: sent_us,
                last_sent_us: sent_us,
                last_size: size,
                first_arrival_us: arrival_us,
                last_arrival_us: arrival_us,
                first_size: size,
                bytes: size,
            };
            return;
        }
        self.packets += 1;
        self.bytes += size;
        if sent_us < self.first_sent_us {
            self.first_sent_us = sent_us;
        }
        if sent_us >= self.last_sent_us {
            self.last_sent_us = sent_us;
            self.last_size = size;
        }
        if arrival_us < self.first_arrival_us {
            self.first_arrival_us = arrival_us;
            self.first_size = size;
        }
        self.last_arrival_us = self.last_arrival_us.max(arrival_us);
    }

    /// The rate the link delivered: the lesser of the rate the packets
    /// were sent at and the rate they arrived at (the first arrival's bytes
    /// are not counted in the latter, nor the last send's in the former).
    fn delivered_bps(&self) -> Option<u64> {
        let send_us = self.last_sent_us.checked_sub(self.first_sent_us)?;
        let receive_us = self.last_arrival_us.checked_sub(self.first_arrival_us)?;
        if send_us == 0 || receive_us == 0 {
            return None;
        }
        let send = (self.bytes - self.last_size) as f64 * 8e6 / send_us as f64;
        let receive = (self.bytes - self.first_size) as f64 * 8e6 / receive_us as f64;
        Some(send.min(receive) as u64)
    }
}

/// One downlink's probing.
#[derive(Debug, Clone)]
pub struct Prober {
    cluster: Option<Cluster>,
    /// When the next cluster may start.
    next_at: Option<Instant>,
    interval: Duration,
    totals: ProbeTotals,
    /// What the last cluster showed the link delivers, until taken.
    delivered: Option<u64>,
}

/// What probing has done on one downlink, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeTotals {
    pub clusters: u64,
    pub delivered: u64,
    pub bytes: u64,
}

impl Default for Prober {
    fn default() -> Self {
        Self {
            cluster: None,
            next_at: None,
            interval: FIRST_INTERVAL,
            totals: ProbeTotals::default(),
            delivered: None,
        }
    }
}

impl Prober {
    /// Starts a cluster at `now` if the leg wants more than its estimate
    /// (`wanted_bps`: what it would be given more with), the delay signal
    /// reads normal (`clear`), none is running and the interval has
    /// passed. The cluster goes at [`ABOVE_WANTED`] × what is wanted, but
    /// at least [`RATE_FACTOR`] and at most [`MAX_RATE_FACTOR`] × the estimate,
    /// so that one probe can show the link carries it. True if one started.
    pub fn consider(
        &mut self,
        now: Instant,
        estimate_bps: u64,
        wanted_bps: Option<u64>,
        clear: bool,
    ) -> bool {
        let Some(wanted) = wanted_bps.filter(|&w| w > estimate_bps) else {
            return false;
        };
        if !clear || self.cluster.is_some() {
            return false;
        }
        if self.next_at.is_some_and(|at| now < at) {
            return false;
        }
        let estimate = estimate_bps as f64;
        let target = (wanted as f64 * ABOVE_WANTED)
            .clamp(estimate * RATE_FACTOR, estimate * MAX_RATE_FACTOR);
        self.cluster = Some(Cluster {
            estimate_bps,
            target_bps: target as u64,
            started: now,
            first_id: None,
            last_id: 0,
            sent_bytes: 0,
            sent_packets: 0,
            ended: None,
            acked: 0,
            arrived: Arrivals::default(),
        });
        self.next_at = Some(now + self.interval);
        self.totals.clusters += 1;
        true
    }

    /// Bytes the running cluster should have sent by `now` and has not (0
    /// when none is being sent). Sending ends once [`CLUSTER`] has passed
    /// and at least [`MIN_PACKETS`] went out. The sender sends whole
    /// packets, so it may send a little more than is due.
    pub fn due_bytes(&mut self, now: Instant) -> u64 {
        let Some(c) = self.cluster.as_mut().filter(|c| c.ended.is_none()) else {
            return 0;
        };
        let elapsed = now.saturating_duration_since(c.started);
        if elapsed >= CLUSTER && c.sent_packets >= MIN_PACKETS {
            c.ended = Some(now);
            return 0;
        }
        // Paced at the target; at a rate too low for MIN_PACKETS within
        // CLUSTER, for as long as they take.
        let owed = (c.target_bps as f64 / 8.0 * elapsed.as_secs_f64()) as u64;
        owed.saturating_sub(c.sent_bytes)
    }

    /// Whether a cluster is being sent (its sender should wake often).
    pub fn sending(&self) -> bool {
        self.cluster.as_ref().is_some_and(|c| c.ended.is_none())
    }

    /// Packet `id` of `bytes` went out as part of the running cluster.
    pub fn on_sent(&mut self, id: u64, bytes: usize) {
        if let Some(c) = self.cluster.as_mut().filter(|c| c.ended.is_none()) {
            c.first_id.get_or_insert(id);
            c.last_id = id;
            c.sent_bytes += bytes as u64;
            c.sent_packets += 1;
            self.totals.bytes += bytes as u64;
        }
    }

    /// Whether packet `id` belongs to the cluster being measured.
    pub fn is_probe(&self, id: u64) -> bool {
        self.cluster
            .as_ref()
            .and_then(|c| Some((c.first_id?, c.last_id)))
            .is_some_and(|(first, last)| (first..=last).contains(&id))
    }

    /// Feedback on cluster packet `id`: its size, when it was sent (µs)
    /// and, if it arrived, when (µs on the subscriber's clock).
    pub fn on_ack(&mut self, id: u64, size: u64, sent_us: u64, arrival_us: Option<u64>) {
        if !self.is_probe(id) {
            return;
        }
        if let Some(c) = self.cluster.as_mut() {
            c.acked += 1;
            if let Some(arrival) = arrival_us {
                c.arrived.add(size, sent_us, arrival);
            }
        }
    }

    /// The cluster's outcome, once all of its feedback is in (or it timed
    /// out); given once. A delivered probe brings the next one as soon as
    /// [`FIRST_INTERVAL`] allows; a failed one doubles the wait, up to
    /// [`LONGEST_INTERVAL`].
    pub fn take_outcome(&mut self, now: Instant) -> Option<ProbeOutcome> {
        let c = self.cluster.as_ref()?;
        let ended = c.ended?;
        let complete = c.acked >= c.sent_packets;
        if !complete && now.saturating_duration_since(ended) < FEEDBACK_TIMEOUT {
            return None;
        }
        // Enough of it arrived to measure, and next to none was lost.
        let delivered = (c.arrived.packets >= MIN_PACKETS
            && c.arrived.packets * 10 >= c.sent_packets * 9)
            .then(|| c.arrived.delivered_bps())
            .flatten()
            .filter(|&bps| bps as f64 >= c.estimate_bps as f64 * PASS_FACTOR);
        // However small the estimate, what the cluster cost stays within
        // the share: the next one waits until it is paid for.
        let paid_for = Duration::from_secs_f64(
            c.sent_bytes as f64 * 8.0 / (c.estimate_bps.max(1) as f64 * BUDGET_SHARE),
        );
        let started = c.started;
        self.cluster = None;
        let outcome = match delivered {
            Some(bps) => {
                self.interval = FIRST_INTERVAL;
                self.totals.delivered += 1;
                self.delivered = Some(bps);
                ProbeOutcome::Delivered(bps)
            }
            None => {
                self.interval = (self.interval * 2).min(LONGEST_INTERVAL);
                ProbeOutcome::Failed
            }
        };
        self.next_at = Some(started + self.interval.max(paid_for));
        Some(outcome)
    }

    /// A decrease (the link queued): no probe within [`FIRST_INTERVAL`]
    /// of it, so probing does not push on a link that just showed its
    /// limit.
    pub fn on_decrease(&mut self, now: Instant) {
        let after = now + FIRST_INTERVAL;
        self.next_at = Some(self.next_at.map_or(after, |at| at.max(after)));
    }

    /// The rate the last cluster showed the link delivers, once, if it
    /// passed.
    pub fn take_delivered(&mut self) -> Option<u64> {
        self.delivered.take()
    }

    pub fn totals(&self) -> ProbeTotals {
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Sends a cluster paced by `due_bytes` in 1 200-byte packets, every
    /// 5 ms, numbering from `first_id`; returns the ids and send instants.
    fn send(p: &mut Prober, start: Instant, first_id: u64) -> Vec<(u64, Instant)> {
        let mut sent = Vec::new();
        let mut id = first_id;
        for step in 0..100u32 {
            let now = start + 5 * MS * step;
            let mut due = p.due_bytes(now);
            while due > 0 {
                p.on_sent(id, 1_200);
                sent.push((id, now));
                id += 1;
                due = due.saturating_sub(1_200);
            }
            if !p.sending() {
                break;
            }
        }
        sent
    }

    /// The link carries `link_bps`: packets leave its queue one after the
    /// other at that rate.
    fn deliver(p: &mut Prober, start: Instant, sent: &[(u64, Instant)], link_bps: u64) {
        let mut free_at_us = 0u64;
        for &(id, at) in sent {
            let sent_us = at.duration_since(start).as_micros() as u64;
            let serialise_us = 1_200 * 8 * 1_000_000 / link_bps;
            free_at_us = free_at_us.max(sent_us) + serialise_us;
            p.on_ack(id, 1_200, sent_us, Some(free_at_us));
        }
    }

    #[test]
    fn a_cluster_goes_out_at_twice_the_estimate_for_its_length() {
        let mut p = Prober::default();
        let start = Instant::now();
        assert!(p.consider(start, 480_000, Some(480_000 + 1), true));
        let sent = send(&mut p, start, 0);
        let bytes = sent.len() as u64 * 1_200;
        // 960 kbit/s for 100 ms: 12 000 bytes, give or take a packet.
        assert!((12_000..=13_200).contains(&bytes), "{bytes}");
        assert!(!p.sending());
        assert_eq!(p.totals().bytes, bytes);
    }

    #[test]
    fn a_link_that_carries_the_probe_lifts_the_estimate_and_one_that_does_not_waits_longer() {
        let start = Instant::now();
        let mut p = Prober::default();
        assert!(p.consider(start, 1_000_000, Some(1_000_000 + 1), true));
        let sent = send(&mut p, start, 10);
        deliver(&mut p, start, &sent, 5_000_000);
        match p.take_outcome(start + 300 * MS) {
            Some(ProbeOutcome::Delivered(bps)) => {
                assert!((1_800_000..=2_300_000).contains(&bps), "{bps}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.take_outcome(start + 300 * MS), None, "given once");

        // At 60 kbit/s the same probe shows no more than the link, and the
        // next waits twice as long. (A cluster of whole packets costs a
        // little over its share, so the next may wait a little longer.)
        let slack = 100 * MS;
        assert!(!p.consider(
            start + FIRST_INTERVAL - MS,
            1_000_000,
            Some(1_000_000 + 1),
            true
        ));
        let later = start + FIRST_INTERVAL + slack;
        assert!(p.consider(later, 1_000_000, Some(1_000_000 + 1), true));
        let sent = send(&mut p, later, 100);
        deliver(&mut p, later, &sent, 60_000);
        assert_eq!(
            p.take_outcome(later + FEEDBACK_TIMEOUT + 10 * MS),
            Some(ProbeOutcome::Failed)
        );
        assert!(!p.consider(
            later + 2 * FIRST_INTERVAL - MS,
            1_000_000,
            Some(1_000_000 + 1),
            true
        ));
        assert!(p.consider(
            later + 2 * FIRST_INTERVAL + slack,
            1_000_000,
            Some(1_000_000 + 1),
            true
        ));
    }

    #[test]
    fn no_probe_without_a_reason_or_on_a_queueing_link_and_lost_feedback_fails() {
        let start = Instant::now();
        let mut p = Prober::default();
        assert!(!p.consider(start, 100_000, None, true));
        assert!(!p.consider(start, 100_000, Some(100_000 + 1), false));
        assert!(p.consider(start, 100_000, Some(100_000 + 1), true));
        assert!(
            !p.consider(start, 100_000, Some(100_000 + 1), true),
            "one at a time"
        );
        let sent = send(&mut p, start, 0);
        let end = sent.last().map(|s| s.1).unwrap_or(start);
        assert_eq!(p.take_outcome(end + MS), None, "waits for its feedback");
        assert_eq!(
            p.take_outcome(end + FEEDBACK_TIMEOUT + 10 * MS),
            Some(ProbeOutcome::Failed)
        );
    }

    /// Probing costs at most 10 % of the estimate over any stretch of
    /// clusters that all fail or all pass.
    #[test]
    fn probing_costs_at_most_a_tenth_of_the_estimate() {
        for (estimate, link) in [
            (300_000u64, 60_000u64),
            (300_000, 10_000_000),
            (40_000, 60_000),
        ] {
            let start = Instant::now();
            let mut p = Prober::default();
            let mut now = start;
            let mut id = 0;
            let horizon = Duration::from_secs(120);
            while now < start + horizon {
                if p.consider(now, estimate, Some(estimate + 1), true) {
                    let sent = send(&mut p, now, id);
                    id += sent.len() as u64;
                    deliver(&mut p, now, &sent, link);
                    let _ = p.take_outcome(now + FEEDBACK_TIMEOUT);
                }
                now += 50 * MS;
            }
            let budget = estimate as f64 / 8.0 * horizon.as_secs_f64() * 0.1;
            let bytes = p.totals().bytes as f64;
            assert!(
                bytes > 0.0 && bytes <= budget * 1.05,
                "{estimate} on {link}: {bytes} of {budget}"
            );
        }
    }
}
