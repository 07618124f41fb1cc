//! The last events of an SFU, numbered, for callers that poll over the
//! network. Pure: no clock, no I/O; the server wraps it in a lock and a
//! notification.

use std::collections::VecDeque;

/// An event with its sequence number (1, 2, …; 0 means "before any").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced<E> {
    pub seq: u64,
    pub event: E,
}

/// Keeps the newest `capacity` events.
///
/// Invariant: the kept events have consecutive sequence numbers ending at
/// [`EventLog::last_seq`].
#[derive(Debug, Clone)]
pub struct EventLog<E> {
    capacity: usize,
    events: VecDeque<Sequenced<E>>,
    last_seq: u64,
}

impl<E: Clone> EventLog<E> {
    /// A log keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            events: VecDeque::new(),
            last_seq: 0,
        }
    }

    /// Appends an event; the oldest is forgotten when the log is full.
    pub fn push(&mut self, event: E) -> u64 {
        self.last_seq += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Sequenced {
            seq: self.last_seq,
            event,
        });
        self.last_seq
    }

    /// The newest sequence number (0 before any event).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Events after `after`, at most `limit`, and how many events after
    /// `after` were already forgotten. An `after` from the future (another
    /// SFU process, since restarted) is treated as 0.
    pub fn after(&self, after: u64, limit: usize) -> (Vec<Sequenced<E>>, u64) {
        let after = if after > self.last_seq { 0 } else { after };
        let first_kept = self.events.front().map_or(self.last_seq + 1, |e| e.seq);
        let missed = first_kept.saturating_sub(after + 1);
        let events = self
            .events
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect();
        (events, missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn returns_what_came_after() {
        let mut log = EventLog::new(10);
        assert_eq!(log.after(0, 10), (vec![], 0));
        for e in ["a", "b", "c"] {
            log.push(e);
        }
        let (events, missed) = log.after(1, 10);
        assert_eq!(missed, 0);
        assert_eq!(
            events.iter().map(|e| (e.seq, e.event)).collect::<Vec<_>>(),
            vec![(2, "b"), (3, "c")]
        );
        assert_eq!(log.after(3, 10).0, vec![]);
        assert_eq!(log.after(0, 2).0.len(), 2, "limit respected");
    }

    #[test]
    fn counts_what_was_forgotten() {
        let mut log = EventLog::new(2);
        for e in 0..5 {
            log.push(e);
        }
        let (events, missed) = log.after(0, 10);
        assert_eq!(missed, 3);
        assert_eq!(
            events.iter().map(|e| e.event).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn a_sequence_from_the_future_starts_over() {
        let mut log = EventLog::new(4);
        log.push('x');
        let (events, missed) = log.after(99, 10);
        assert_eq!((events.len(), missed), (1, 0));
    }

    proptest! {
        #[test]
        fn kept_events_are_consecutive(cap in 1usize..20, n in 0u64..100, after in 0u64..120) {
            let mut log = EventLog::new(cap);
            for i in 0..n {
                prop_assert_eq!(log.push(i), i + 1);
            }
            let (events, missed) = log.after(after, usize::MAX);
            prop_assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
            if let Some(last) = events.last() {
                prop_assert_eq!(last.seq, n);
            }
            let effective = if after > n { 0 } else { after };
            prop_assert_eq!(missed + events.len() as u64, n - effective);
        }
    }
}
