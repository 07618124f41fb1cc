//! Whether the SFU may keep sending to a peer, and whether the peer is still
//! there: ICE consent (RFC 7675) as an ICE-lite agent sees it.
//!
//! A lite agent sends no checks of its own (RFC 8445 §2.5); the peer's own
//! consent checks, authenticated binding requests arriving every 5 s ± 20 %
//! (Firefox, aiortc) or more often (Chromium), are what tell the SFU that
//! the peer still wants its media. Consent lasts [`CONSENT_LIFETIME`] after
//! the last one (RFC 7675 §5.1), whatever else arrives meanwhile, so a peer
//! whose checks pause while its RTP keeps coming keeps receiving.
//!
//! A peer that has really gone sends nothing at all: no checks, no RTP, no
//! RTCP, no DTLS. After [`SILENCE_LIMIT`] of that, it is lost and the
//! participant is asked to offer again (`media_lost`), long before its
//! consent would expire. Browsers send RTCP at least every few seconds and
//! checks every 2.5–6 s, so a peer that is there is never silent that long.
//!
//! Pure: the caller hands in every instant.

use std::time::{Duration, Instant};

/// How long consent lasts after the peer's last authenticated check
/// (RFC 7675 §5.1: 30 s).
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(30);
/// How long a peer may send nothing at all before it counts as gone.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// Why a peer is no longer sent media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// No authenticated consent check for [`CONSENT_LIFETIME`].
    ConsentExpired,
    /// Nothing received for [`SILENCE_LIMIT`].
    Silent,
}

impl Loss {
    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::ConsentExpired => "consent_expired",
            Loss::Silent => "silent",
        }
    }
}

/// One peer's consent and liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// The last authenticated check, or the answer's instant until one came
    /// (consent is first granted by the ICE exchange itself).
    consent_from: Instant,
    /// The last datagram the peer's connection accepted, of any kind.
    heard: Instant,
}

impl Liveness {
    /// A peer whose answer went out at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            consent_from: now,
            heard: now,
        }
    }

    /// An authenticated binding request from the peer arrived at `now`.
    pub fn on_check(&mut self, now: Instant) {
        self.consent_from = self.consent_from.max(now);
        self.on_datagram(now);
    }

    /// A datagram from the peer was accepted at `now` (SRTP, SRTCP or DTLS
    /// that its connection authenticated, or a check).
    pub fn on_datagram(&mut self, now: Instant) {
        self.heard = self.heard.max(now);
    }

    /// `None` while the peer may be sent media; otherwise why not.
    pub fn loss(&self, now: Instant) -> Option<Loss> {
        if now.saturating_duration_since(self.consent_from) > CONSENT_LIFETIME {
            Some(Loss::ConsentExpired)
        } else if now.saturating_duration_since(self.heard) > SILENCE_LIMIT {
            Some(Loss::Silent)
        } else {
            None
        }
    }

    /// The latest instant at which [`Liveness::loss`] is still `None`, if
    /// nothing more arrives.
    pub fn deadline(&self) -> Instant {
        (self.consent_from + CONSENT_LIFETIME).min(self.heard + SILENCE_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Firefox's and aiortc's interval, at its slowest (5 s + 20 %, with
    /// 0.9 s more of jitter): media never stops while RTP flows.
    #[test]
    fn checks_5_9_s_apart_keep_forwarding() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        let mut at = t0;
        for _ in 0..20 {
            // RTP every 20 ms between checks.
            for i in 1..=295 {
                l.on_datagram(at + ms(20 * i));
                assert_eq!(l.loss(at + ms(20 * i)), None);
            }
            at += ms(5_900);
            l.on_check(at);
            assert_eq!(l.loss(at), None);
        }
    }

    #[test]
    fn thirty_one_seconds_of_silence_stops_it() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_check(t0 + ms(500));
        assert_eq!(l.loss(t0 + ms(10_500)), None);
        assert_eq!(l.loss(t0 + ms(10_501)), Some(Loss::Silent));
        assert_eq!(l.loss(t0 + ms(31_000)), Some(Loss::ConsentExpired));
    }

    /// RTP alone does not renew consent (RFC 7675): 30 s after the last
    /// check the peer gets nothing more, however much it still sends.
    #[test]
    fn media_without_checks_keeps_forwarding_for_30_s_only() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.on_check(t0);
        for i in 1..=1500 {
            let now = t0 + ms(20 * i);
            l.on_datagram(now);
            assert_eq!(l.loss(now), None, "at {} ms", 20 * i);
        }
        l.on_datagram(t0 + ms(30_020));
        assert_eq!(l.loss(t0 + ms(30_020)), Some(Loss::ConsentExpired));
    }

    #[test]
    fn a_peer_that_never_connects_is_lost_after_the_silence_limit() {
        let t0 = Instant::now();
        let l = Liveness::new(t0);
        assert_eq!(l.deadline(), t0 + SILENCE_LIMIT);
        assert_eq!(l.loss(t0 + SILENCE_LIMIT), None);
        assert_eq!(l.loss(t0 + SILENCE_LIMIT + ms(1)), Some(Loss::Silent));
    }

    proptest! {
        /// Whatever arrives and in whatever order, the verdict is `None`
        /// exactly up to the deadline, and a late-arriving old instant never
        /// moves consent back.
        #[test]
        fn the_deadline_is_where_the_verdict_changes(
            events in proptest::collection::vec((any::<bool>(), 0u64..60_000), 0..50),
            probe in 0u64..120_000,
        ) {
            let t0 = Instant::now();
            let mut l = Liveness::new(t0);
            let mut latest_check = t0;
            for (check, at) in events {
                let at = t0 + ms(at);
                if check {
                    l.on_check(at);
                    latest_check = latest_check.max(at);
                } else {
                    l.on_datagram(at);
                }
            }
            prop_assert!(l.deadline() >= latest_check.min(t0 + SILENCE_LIMIT));
            let now = t0 + ms(probe);
            prop_assert_eq!(l.loss(now).is_none(), now <= l.deadline());
        }
    }
}
