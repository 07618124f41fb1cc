//! The earliest timer of each peer connection, kept sorted, so that a turn
//! of the worker's loop asks only the connections it touched for their next
//! timer and finds the due ones without visiting every peer.
//!
//! A connection's `poll_timeout` changes only when something is handed to
//! it (a datagram, a write, a timeout); the worker marks such peers and
//! [`PeerTimers::set`]s their next deadline after the turn. Costs: O(log n)
//! per touched peer and per due timer, nothing per idle peer.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Each peer's next deadline, and all of them in order.
#[derive(Debug)]
pub struct PeerTimers<K> {
    order: BTreeSet<(Instant, K)>,
    of_peer: HashMap<K, Instant>,
}

impl<K> Default for PeerTimers<K> {
    fn default() -> Self {
        Self {
            order: BTreeSet::new(),
            of_peer: HashMap::new(),
        }
    }
}

impl<K: Copy + Ord + Hash> PeerTimers<K> {
    /// Records `peer`'s next deadline (`None`: it has none).
    pub fn set(&mut self, peer: K, at: Option<Instant>) {
        if let Some(old) = self.of_peer.remove(&peer) {
            self.order.remove(&(old, peer));
        }
        if let Some(at) = at {
            self.of_peer.insert(peer, at);
            self.order.insert((at, peer));
        }
    }

    /// Forgets `peer`.
    pub fn remove(&mut self, peer: K) {
        self.set(peer, None);
    }

    /// The earliest deadline of all.
    pub fn earliest(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Takes the peers whose deadline is at or before `now`, earliest
    /// first; each must be [`PeerTimers::set`] again once handled.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(&(at, peer)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.of_peer.remove(&peer);
            due.push(peer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn due_timers_come_out_in_order_and_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = PeerTimers::default();
        t.set(1u32, Some(ms(30)));
        t.set(2, Some(ms(10)));
        t.set(3, Some(ms(20)));
        t.set(2, Some(ms(40)));
        assert_eq!(t.earliest(), Some(ms(20)));
        assert_eq!(t.take_due(ms(30)), vec![3, 1]);
        assert_eq!(t.take_due(ms(30)), Vec::<u32>::new());
        assert_eq!(t.earliest(), Some(ms(40)));
        t.remove(2);
        assert_eq!(t.earliest(), None);
    }

    proptest! {
        /// Whatever the sets and removals, `earliest` is the minimum of the
        /// latest deadline set for each peer, and `take_due` returns exactly
        /// the peers due.
        #[test]
        fn matches_a_plain_map(ops in proptest::collection::vec((0u8..8, proptest::option::of(0u64..100)), 0..200), probe in 0u64..100) {
            let t0 = Instant::now();
            let mut t = PeerTimers::default();
            let mut model: HashMap<u8, Instant> = HashMap::new();
            for (peer, at) in ops {
                let at = at.map(|ms| t0 + Duration::from_millis(ms));
                t.set(peer, at);
                match at {
                    Some(at) => { model.insert(peer, at); }
                    None => { model.remove(&peer); }
                }
            }
            prop_assert_eq!(t.earliest(), model.values().min().copied());
            let now = t0 + Duration::from_millis(probe);
            let mut due = t.take_due(now);
            due.sort();
            let mut want: Vec<u8> = model.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
            want.sort();
            prop_assert_eq!(due, want);
        }
    }
}
