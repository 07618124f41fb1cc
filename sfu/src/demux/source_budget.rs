//! How many refused STUN requests a source may send before the SFU stops
//! reading its STUN.
//!
//! Anyone can send datagrams to the media port. STUN from an address no
//! peer has proven (with an authenticated binding request) costs a parse,
//! and a request to a known ufrag an HMAC-SHA1 check. Each one the
//! demultiplexer refuses is charged to its source IP address; a source
//! whose budget is spent has its STUN from unlearned addresses dropped
//! before any parsing, until the budget refills. Other datagrams cost a
//! table lookup to refuse and are not charged. Learned addresses are never
//! charged nor dropped here, and a source that only sends what is accepted
//! never spends anything: a family's phone joining behind the same NAT as
//! an attacker is held up only while that attacker floods.
//!
//! The budgets live in a fixed table of [`BUCKETS`] token buckets indexed by
//! a keyed hash of the IP address, so a flood from spoofed sources cannot
//! grow memory; sources that share a bucket share a budget. Pure: every
//! instant is handed in.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

/// Buckets in the table (a power of two).
pub const BUCKETS: usize = 4096;
/// Refused datagrams a source may send in a burst.
pub const BURST: u32 = 400;
/// Refused datagrams a source may send each second once its burst is spent.
pub const PER_SECOND: u32 = 200;

/// Thousandths of a datagram, so refills need no floating point.
const MILLI: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Budget left, in thousandths of a datagram.
    milli: u64,
    /// When `milli` was last brought up to date; `None` for a full bucket
    /// that was never charged.
    at: Option<Instant>,
}

/// The refused-traffic budgets of one socket's sources.
#[derive(Clone)]
pub struct SourceBudget {
    buckets: Box<[Bucket]>,
    keys: RandomState,
    burst_milli: u64,
    /// Refill, thousandths of a datagram per second.
    refill_milli: u64,
}

impl Default for SourceBudget {
    fn default() -> Self {
        Self::new(BURST, PER_SECOND)
    }
}

impl SourceBudget {
    /// Budgets of `burst` refused datagrams, refilled at `per_second`.
    pub fn new(burst: u32, per_second: u32) -> Self {
        let burst_milli = u64::from(burst.max(1)) * MILLI;
        Self {
            buckets: vec![
                Bucket {
                    milli: burst_milli,
                    at: None,
                };
                BUCKETS
            ]
            .into_boxed_slice(),
            keys: RandomState::new(),
            burst_milli,
            refill_milli: u64::from(per_second) * MILLI,
        }
    }

    /// The bucket of `ip`: a keyed hash, so a sender cannot choose which
    /// source shares its bucket.
    pub fn bucket_of(&self, ip: IpAddr) -> usize {
        (self.keys.hash_one(ip) as usize) & (BUCKETS - 1)
    }

    fn refilled(&mut self, ip: IpAddr, now: Instant) -> &mut Bucket {
        let (burst, refill) = (self.burst_milli, self.refill_milli);
        let bucket = &mut self.buckets[self.bucket_of(ip)];
        if let Some(at) = bucket.at {
            let elapsed_us =
                u64::try_from(now.saturating_duration_since(at).as_micros()).unwrap_or(u64::MAX);
            let gained = elapsed_us.saturating_mul(refill) / 1_000_000;
            if gained > 0 {
                bucket.milli = bucket.milli.saturating_add(gained).min(burst);
                bucket.at = Some(now);
            }
        }
        bucket
    }

    /// Whether an unlearned datagram from `ip` is looked at: its source has
    /// budget left for one more refusal.
    pub fn allows(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.refilled(ip, now).milli >= MILLI
    }

    /// Charges one refused datagram to `ip`.
    pub fn charge(&mut self, ip: IpAddr, now: Instant) {
        let bucket = self.refilled(ip, now);
        bucket.milli = bucket.milli.saturating_sub(MILLI);
        bucket.at.get_or_insert(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    /// A source whose bucket is not `other`'s.
    fn apart_from(budget: &SourceBudget, other: IpAddr) -> IpAddr {
        (1..=255)
            .map(|n| IpAddr::from([198, 51, 100, n]))
            .find(|c| budget.bucket_of(*c) != budget.bucket_of(other))
            .expect("255 addresses do not all share one of 4096 buckets")
    }

    #[test]
    fn a_source_that_is_refused_a_burst_of_times_is_dropped() {
        let mut budget = SourceBudget::new(10, 5);
        let now = Instant::now();
        for _ in 0..10 {
            assert!(budget.allows(ip(1), now));
            budget.charge(ip(1), now);
        }
        assert!(!budget.allows(ip(1), now), "the burst is spent");
        let neighbour = apart_from(&budget, ip(1));
        assert!(budget.allows(neighbour, now), "other sources are not");
    }

    #[test]
    fn a_spent_budget_refills_at_its_rate_up_to_the_burst() {
        let mut budget = SourceBudget::new(10, 5);
        let start = Instant::now();
        for _ in 0..10 {
            budget.charge(ip(1), start);
        }
        assert!(!budget.allows(ip(1), start + Duration::from_millis(199)));
        assert!(budget.allows(ip(1), start + Duration::from_millis(200)));
        budget.charge(ip(1), start + Duration::from_millis(200));
        assert!(!budget.allows(ip(1), start + Duration::from_millis(200)));
        // An hour later the bucket is full again, and no fuller.
        let later = start + Duration::from_secs(3600);
        for _ in 0..10 {
            assert!(budget.allows(ip(1), later));
            budget.charge(ip(1), later);
        }
        assert!(!budget.allows(ip(1), later));
    }

    #[test]
    fn refills_in_small_steps_are_not_lost() {
        let mut budget = SourceBudget::new(1, 1000);
        let start = Instant::now();
        budget.charge(ip(1), start);
        // 1 000 per second is one per ms; checks every 100 µs must not
        // each round the refill down to nothing.
        let mut at = start;
        for _ in 0..9 {
            at += Duration::from_micros(100);
            assert!(!budget.allows(ip(1), at));
        }
        assert!(budget.allows(ip(1), at + Duration::from_micros(100)));
    }

    #[test]
    fn a_source_that_is_never_refused_never_spends() {
        let mut budget = SourceBudget::new(2, 1);
        let now = Instant::now();
        for _ in 0..10_000 {
            assert!(budget.allows(ip(7), now));
        }
    }
}
