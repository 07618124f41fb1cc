//! Load figures the workers publish for metrics: a forwarding latency
//! histogram and each worker's rooms, peers and CPU time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in µs (receive to send).
pub const LATENCY_BUCKETS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000,
];

/// A histogram of forwarding latency, receive to send, in µs.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Cumulative counts are computed at read time; these are per bucket,
    /// plus one for values above the last bound.
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// A copy of the histogram: cumulative counts per bound, then +Inf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    pub cumulative: Vec<(u64, u64)>,
    pub count: u64,
    pub sum_us: u64,
}

impl LatencyHistogram {
    pub fn observe(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// One snapshot of several histograms (the workers' own): counts and
    /// sums added bucket by bucket.
    pub fn snapshot_of<'a>(histograms: impl IntoIterator<Item = &'a Self>) -> LatencySnapshot {
        let mut total = LatencySnapshot {
            cumulative: LATENCY_BUCKETS_US.iter().map(|b| (*b, 0)).collect(),
            count: 0,
            sum_us: 0,
        };
        for h in histograms {
            let one = h.snapshot();
            for (sum, (_, n)) in total.cumulative.iter_mut().zip(one.cumulative) {
                sum.1 += n;
            }
            total.count += one.count;
            total.sum_us += one.sum_us;
        }
        total
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let cumulative = LATENCY_BUCKETS_US
            .iter()
            .enumerate()
            .map(|(i, bound)| {
                running += self.buckets[i].load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        LatencySnapshot {
            cumulative,
            count: self.count.load(Ordering::Relaxed),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// One worker's load.
#[derive(Debug, Default)]
pub struct WorkerLoad {
    pub rooms: AtomicU64,
    pub peers: AtomicU64,
    /// CPU time of the worker thread, in ns (Linux; 0 elsewhere).
    pub cpu_ns: AtomicU64,
    /// Open ICE-TCP connections.
    pub tcp_links: AtomicU64,
    /// Connected peers by how their downlink is estimated, indexed by
    /// [`super::downlinks::EstimateState::index`].
    pub downlinks: [AtomicU64; 4],
}

/// A copy of one worker's load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerLoadSnapshot {
    pub rooms: u64,
    pub peers: u64,
    pub cpu_ns: u64,
    pub tcp_links: u64,
    pub downlinks: [u64; 4],
}

impl WorkerLoad {
    pub fn snapshot(&self) -> WorkerLoadSnapshot {
        WorkerLoadSnapshot {
            rooms: self.rooms.load(Ordering::Relaxed),
            peers: self.peers.load(Ordering::Relaxed),
            cpu_ns: self.cpu_ns.load(Ordering::Relaxed),
            tcp_links: self.tcp_links.load(Ordering::Relaxed),
            downlinks: [0, 1, 2, 3].map(|i| self.downlinks[i].load(Ordering::Relaxed)),
        }
    }
}

/// The calling thread's CPU time in ns, from `/proc/thread-self/schedstat`.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = LatencyHistogram::default();
        for us in [10, 60, 60, 3_000, 1_000_000] {
            h.observe(Duration::from_micros(us));
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.sum_us, 10 + 60 + 60 + 3_000 + 1_000_000);
        assert_eq!(s.cumulative[0], (50, 1));
        assert_eq!(s.cumulative[1], (100, 3));
        assert_eq!(s.cumulative[6], (5_000, 4));
        assert_eq!(
            s.cumulative.last(),
            Some(&(100_000, 4)),
            "the last lies above every bound"
        );
    }

    #[test]
    fn the_workers_histograms_add_up_bucket_by_bucket() {
        let (a, b) = (LatencyHistogram::default(), LatencyHistogram::default());
        for us in [10, 60, 3_000] {
            a.observe(Duration::from_micros(us));
        }
        for us in [60, 1_000_000] {
            b.observe(Duration::from_micros(us));
        }
        let both = LatencyHistogram::snapshot_of([&a, &b]);
        assert_eq!(both.count, 5);
        assert_eq!(both.sum_us, 10 + 60 + 60 + 3_000 + 1_000_000);
        assert_eq!(both.cumulative[0], (50, 1));
        assert_eq!(both.cumulative[1], (100, 3));
        assert_eq!(both.cumulative[6], (5_000, 4));
        assert_eq!(both.cumulative.last(), Some(&(100_000, 4)));
        let none = LatencyHistogram::snapshot_of([]);
        assert_eq!(
            (none.count, none.cumulative.len()),
            (0, both.cumulative.len())
        );
    }

    #[test]
    fn thread_cpu_time_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let a = thread_cpu_ns().expect("schedstat");
            let mut x = 0u64;
            for i in 0..2_000_000u64 {
                x = x.wrapping_add(i * i);
            }
            std::hint::black_box(x);
            assert!(thread_cpu_ns().expect("schedstat") > a);
        }
    }
}
