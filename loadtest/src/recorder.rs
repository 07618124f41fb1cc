//! What one receiving client saw: per incoming stream, the sequence numbers
//! that arrived (for loss), interarrival jitter, freezes, and one-way
//! latency in a histogram. Fed by the client's packet hook.

use crate::payload::{self, Stamp};
use crate::stats::{FREEZE_US, Freezes, Jitter};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Largest latency the histograms hold, µs (60 s); larger ones are clamped.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// A histogram of latencies in µs, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// One incoming stream (a sender's audio or video) at one receiver.
#[derive(Debug, Clone)]
pub struct StreamLog {
    /// Lowest sequence number received.
    pub first_seq: u32,
    /// Sequence numbers received, as a bitmap from `first_seq`.
    seen: Vec<u64>,
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Packets received more than once.
    pub duplicates: u64,
    pub jitter: Jitter,
    pub freezes: Freezes,
    /// Packets per simulcast layer (`q`, `h`, `f`), for video from a
    /// simulcast publisher.
    pub layers: BTreeMap<String, u64>,
}

impl StreamLog {
    fn new(first_seq: u32) -> Self {
        Self {
            first_seq,
            seen: Vec::new(),
            unique: 0,
            duplicates: 0,
            jitter: Jitter::default(),
            freezes: Freezes::default(),
            layers: BTreeMap::new(),
        }
    }

    /// Marks `seq` received; false if it was already (or precedes the
    /// first, which is then not counted).
    fn mark(&mut self, seq: u32) -> bool {
        let Some(offset) = seq.checked_sub(self.first_seq) else {
            return false;
        };
        let (word, bit) = ((offset / 64) as usize, offset % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        let fresh = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        fresh
    }

    /// Distinct sequence numbers received in `first_seq..end`.
    pub fn received_before(&self, end: u32) -> u64 {
        let Some(span) = end.checked_sub(self.first_seq) else {
            return 0;
        };
        let (words, bits) = ((span / 64) as usize, span % 64);
        let mut n: u64 = self
            .seen
            .iter()
            .take(words)
            .map(|w| u64::from(w.count_ones()))
            .sum();
        if bits > 0
            && let Some(w) = self.seen.get(words)
        {
            n += u64::from((w & ((1u64 << bits) - 1)).count_ones());
        }
        n
    }
}

/// Everything one receiver measured.
#[derive(Debug)]
pub struct ReceiverState {
    /// Keyed by (sender, "audio" | "video").
    pub streams: HashMap<(String, String), StreamLog>,
    /// One-way latency of packets received during the measured phase, µs.
    pub latency: Histogram<u64>,
    /// First packet received, µs since the Unix epoch.
    pub first_packet_us: Option<u64>,
    /// First video keyframe start received, µs since the Unix epoch.
    pub first_keyframe_us: Option<u64>,
}

/// Shared between a client's packet hook and the harness.
#[derive(Debug)]
pub struct LatencyRecorder {
    state: Mutex<ReceiverState>,
    /// Latency is recorded only while this is set (the measured phase).
    measuring: std::sync::Arc<AtomicBool>,
    /// Packets received, for the progress line.
    pub packets: std::sync::Arc<AtomicU64>,
}

impl LatencyRecorder {
    pub fn new(measuring: std::sync::Arc<AtomicBool>, packets: std::sync::Arc<AtomicU64>) -> Self {
        Self {
            state: Mutex::new(ReceiverState {
                streams: HashMap::new(),
                latency: latency_histogram(),
                first_packet_us: None,
                first_keyframe_us: None,
            }),
            measuring,
            packets,
        }
    }

    /// Records a payload received at `recv_us` (µs since the Unix epoch).
    pub fn record(&self, payload_bytes: &[u8], recv_us: u64) {
        let Some(stamp) = payload::parse(payload_bytes) else {
            return;
        };
        self.record_stamp(&stamp, recv_us);
    }

    /// Records a parsed stamp received at `recv_us`.
    pub fn record_stamp(&self, stamp: &Stamp, recv_us: u64) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        let measuring = self.measuring.load(Ordering::Relaxed);
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.first_packet_us.get_or_insert(recv_us);
        if stamp.keyframe {
            st.first_keyframe_us.get_or_insert(recv_us);
        }
        let (kind, layer) = match stamp.kind.split_once('-') {
            Some((k, l)) => (k.to_string(), Some(l.to_string())),
            None => (stamp.kind.clone(), None),
        };
        let video = kind == "video";
        let log = st
            .streams
            .entry((stamp.sender.clone(), kind))
            .or_insert_with(|| StreamLog::new(stamp.seq));
        if log.mark(stamp.seq) {
            log.unique += 1;
        } else {
            log.duplicates += 1;
        }
        log.jitter.update(stamp.sent_us, recv_us);
        if video {
            log.freezes.arrival(recv_us, FREEZE_US);
        }
        if let Some(l) = layer {
            *log.layers.entry(l).or_default() += 1;
        }
        if measuring {
            let us = recv_us
                .saturating_sub(stamp.sent_us)
                .clamp(1, MAX_LATENCY_US);
            let _ = st.latency.record(us);
        }
    }

    /// Hands over what was measured. Freezes are gaps between arrivals;
    /// a stream that stops is caught by its loss, not as a freeze, since
    /// its sender may simply have left.
    pub fn finish(&self) -> Option<ReceiverState> {
        let mut st = self.state.lock().ok()?;
        let empty = ReceiverState {
            streams: HashMap::new(),
            latency: latency_histogram(),
            first_packet_us: st.first_packet_us,
            first_keyframe_us: st.first_keyframe_us,
        };
        Some(std::mem::replace(&mut *st, empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{FramePos, video};
    use std::sync::Arc;

    fn recorder() -> LatencyRecorder {
        LatencyRecorder::new(Arc::new(AtomicBool::new(true)), Arc::default())
    }

    #[test]
    fn counts_distinct_packets_latency_and_duplicates() {
        let r = recorder();
        for seq in [10u32, 11, 13, 13, 14] {
            let pos = FramePos {
                frame: seq,
                first: true,
                keyframe: seq == 10,
            };
            r.record(
                &video("a", seq, 1_000_000 + u64::from(seq) * 20_000, pos, 200),
                1_002_000 + u64::from(seq) * 20_000,
            );
        }
        let st = r.finish().expect("state");
        let log = &st.streams[&("a".to_string(), "video".to_string())];
        assert_eq!((log.first_seq, log.unique, log.duplicates), (10, 4, 1));
        assert_eq!(log.received_before(15), 4);
        assert_eq!(log.received_before(12), 2);
        assert_eq!(log.received_before(5), 0);
        assert_eq!(st.latency.len(), 5);
        assert!((st.latency.value_at_quantile(0.99) as i64 - 2_000).abs() <= 2);
        assert!(st.first_keyframe_us.is_some());
    }

    #[test]
    fn nothing_is_timed_outside_the_measured_phase() {
        let flag = Arc::new(AtomicBool::new(false));
        let r = LatencyRecorder::new(flag, Arc::default());
        r.record(&crate::payload::audio("a", 1, 5, 100), 10);
        let st = r.finish().expect("state");
        assert_eq!(st.latency.len(), 0);
        assert_eq!(st.streams.len(), 1);
    }

    #[test]
    fn bitmap_counts_across_words() {
        let mut log = StreamLog::new(0);
        for s in (0..500).filter(|s| s % 3 != 0) {
            assert!(log.mark(s));
        }
        assert!(!log.mark(1));
        assert_eq!(
            log.received_before(500),
            (0..500).filter(|s| s % 3 != 0).count() as u64
        );
        assert_eq!(
            log.received_before(64),
            (0..64).filter(|s| s % 3 != 0).count() as u64
        );
    }
}
