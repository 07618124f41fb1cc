//! Throttling of keyframe requests (PLI, FIR) from subscribers toward a
//! publisher.
//!
//! Many subscribers of one track tend to ask for a keyframe at once (a join,
//! a layer switch, a burst of loss). A publisher's encoder pays for every
//! keyframe, so per track this forwards at most one request per `interval_us`
//! and none while a keyframe was seen within the last `interval_us` (that
//! keyframe is on its way to whoever asked).
//!
//! A request held back because one was forwarded recently is not lost: if no
//! keyframe arrives by the end of that interval, [`KeyframeRequests::take_due`]
//! reports the track so the request can be forwarded again (the first one
//! may have been lost). Which RTCP message to send (PLI, or FIR with its
//! sequence number) is the caller's choice.
//!
//! Time is a caller-supplied monotonic clock in microseconds; a clock that
//! seems to run backwards counts as no time elapsed.

use std::collections::HashMap;
use std::hash::Hash;

/// Default minimum spacing of forwarded requests per track: 500 ms.
pub const DEFAULT_INTERVAL_US: u64 = 500_000;

#[derive(Debug, Clone, Copy, Default)]
struct TrackState {
    last_forwarded_us: Option<u64>,
    last_keyframe_us: Option<u64>,
    /// A request was held back by the throttle and is still unanswered.
    pending: bool,
}

/// Per-track keyframe request throttle; `K` identifies a track.
#[derive(Debug, Clone)]
pub struct KeyframeRequests<K> {
    interval_us: u64,
    tracks: HashMap<K, TrackState>,
}

impl<K: Eq + Hash + Clone> Default for KeyframeRequests<K> {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL_US)
    }
}

impl<K: Eq + Hash + Clone> KeyframeRequests<K> {
    /// A throttle forwarding at most one request per track per `interval_us`.
    pub fn new(interval_us: u64) -> Self {
        Self {
            interval_us,
            tracks: HashMap::new(),
        }
    }

    /// Whether `then` lies within the interval before `now_us`.
    fn within(&self, then: Option<u64>, now_us: u64) -> bool {
        then.is_some_and(|t| now_us.saturating_sub(t) < self.interval_us)
    }

    /// A subscriber asks for a keyframe of `track`. Returns `true` if the
    /// request should be forwarded to the publisher now.
    ///
    /// `false` when a keyframe was seen less than `interval_us` ago (the
    /// request is dropped), or when a request was forwarded less than
    /// `interval_us` ago (the request is remembered; see [`Self::take_due`]).
    pub fn on_request(&mut self, track: K, now_us: u64) -> bool {
        let state = self.tracks.get(&track).copied().unwrap_or_default();
        if self.within(state.last_keyframe_us, now_us) {
            return false;
        }
        let throttled = self.within(state.last_forwarded_us, now_us);
        let entry = self.tracks.entry(track).or_default();
        if throttled {
            entry.pending = true;
            return false;
        }
        entry.last_forwarded_us = Some(now_us);
        entry.pending = false;
        true
    }

    /// A keyframe of `track` was received from the publisher: it answers
    /// every request so far.
    pub fn on_keyframe(&mut self, track: K, now_us: u64) {
        let entry = self.tracks.entry(track).or_default();
        entry.last_keyframe_us = Some(now_us);
        entry.pending = false;
    }

    /// Tracks whose held-back request is now due: a request was forwarded at
    /// least `interval_us` ago, another came in since, and no keyframe
    /// followed. Each returned track counts as forwarded at `now_us`; the
    /// caller sends one keyframe request for each.
    pub fn take_due(&mut self, now_us: u64) -> Vec<K> {
        let interval = self.interval_us;
        let mut due = Vec::new();
        for (track, state) in &mut self.tracks {
            let elapsed = |t: Option<u64>| t.map(|t| now_us.saturating_sub(t));
            let throttle_over = elapsed(state.last_forwarded_us).is_none_or(|e| e >= interval);
            if state.pending && throttle_over {
                state.pending = false;
                state.last_forwarded_us = Some(now_us);
                due.push(track.clone());
            }
        }
        due
    }

    /// Forgets `track` (it was unpublished).
    pub fn remove(&mut self, track: &K) {
        self.tracks.remove(track);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000;

    #[test]
    fn first_request_is_forwarded() {
        let mut k = KeyframeRequests::default();
        assert!(k.on_request(1u32, 0));
    }

    #[test]
    fn many_subscribers_one_request_per_interval() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request(1u32, 1_000 * MS));
        for t in [1_001, 1_100, 1_499] {
            assert!(!k.on_request(1, t * MS), "at {t} ms");
        }
        assert!(k.on_request(1, 1_500 * MS));
    }

    #[test]
    fn tracks_are_independent() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request("a", 0));
        assert!(k.on_request("b", 0));
        assert!(!k.on_request("a", MS));
    }

    #[test]
    fn recent_keyframe_suppresses() {
        let mut k = KeyframeRequests::new(500 * MS);
        k.on_keyframe(1u32, 1_000 * MS);
        assert!(!k.on_request(1, 1_200 * MS));
        // Dropped, not deferred: nothing comes due.
        assert!(k.take_due(2_000 * MS).is_empty());
        assert!(k.on_request(1, 1_500 * MS));
    }

    #[test]
    fn held_back_request_comes_due_without_keyframe() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request(1u32, 0));
        assert!(!k.on_request(1, 100 * MS));
        assert!(k.take_due(499 * MS).is_empty());
        assert_eq!(k.take_due(500 * MS), vec![1]);
        // Counted as forwarded then.
        assert!(k.take_due(600 * MS).is_empty());
        assert!(!k.on_request(1, 600 * MS));
    }

    #[test]
    fn keyframe_answers_held_back_request() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request(1u32, 0));
        assert!(!k.on_request(1, 100 * MS));
        k.on_keyframe(1, 200 * MS);
        assert!(k.take_due(1_000 * MS).is_empty());
    }

    #[test]
    fn clock_going_backwards_is_no_time() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request(1u32, 1_000 * MS));
        assert!(!k.on_request(1, 0));
    }

    #[test]
    fn remove_forgets() {
        let mut k = KeyframeRequests::new(500 * MS);
        assert!(k.on_request(1u32, 0));
        k.remove(&1);
        assert!(k.on_request(1, MS));
    }

    #[test]
    fn zero_interval_forwards_everything() {
        let mut k = KeyframeRequests::new(0);
        k.on_keyframe(1u32, 0);
        assert!(k.on_request(1, 0));
        assert!(k.on_request(1, 0));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Request(u8),
        Keyframe(u8),
        Due,
    }

    proptest! {
        #[test]
        fn at_most_one_request_per_interval_and_none_after_a_keyframe(
            ops in proptest::collection::vec(
                (prop_oneof![
                    4 => (0u8..3).prop_map(Op::Request),
                    1 => (0u8..3).prop_map(Op::Keyframe),
                    2 => Just(Op::Due),
                ], 0u64..200 * MS),
                0..300,
            ),
        ) {
            let interval = 500 * MS;
            let mut k = KeyframeRequests::new(interval);
            let mut now = 0u64;
            let mut last_sent: HashMap<u8, u64> = HashMap::new();
            let mut last_key: HashMap<u8, u64> = HashMap::new();
            for (op, dt) in ops {
                now += dt;
                let sent: Vec<u8> = match op {
                    Op::Request(t) => {
                        let forwarded = k.on_request(t, now);
                        if forwarded {
                            prop_assert!(last_key.get(&t).is_none_or(|k| now - k >= interval));
                        }
                        forwarded.then_some(t).into_iter().collect()
                    }
                    Op::Keyframe(t) => {
                        k.on_keyframe(t, now);
                        last_key.insert(t, now);
                        Vec::new()
                    }
                    Op::Due => k.take_due(now),
                };
                for t in sent {
                    prop_assert!(last_sent.get(&t).is_none_or(|s| now - s >= interval));
                    last_sent.insert(t, now);
                }
            }
        }
    }
}
