//! When a failed delivery is tried again, and when it is given up.

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure, ms; each later wait is four times
    /// the one before, up to `max_wait_ms`.
    pub first_wait_ms: u64,
    pub max_wait_ms: u64,
    /// Attempts in all (the first included) before the event goes to the
    /// dead-letter list.
    pub attempts: u32,
}

impl Default for RetryPolicy {
    /// 1 s, 4 s, 16 s, 64 s, 256 s, then 10 min twice: eight attempts over
    /// about 26 minutes, long enough for a receiver's restart or a short
    /// outage, short enough that a dead letter is noticed the same hour.
    fn default() -> Self {
        Self {
            first_wait_ms: 1_000,
            max_wait_ms: 600_000,
            attempts: 8,
        }
    }
}

/// What to do after `failed` failed attempts (≥ 1) of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try again after this many ms.
    RetryAfter(u64),
    /// Give up: dead letter.
    GiveUp,
}

impl RetryPolicy {
    pub fn after(&self, failed: u32) -> NextStep {
        if failed >= self.attempts {
            return NextStep::GiveUp;
        }
        let factor = 4u64.saturating_pow(failed.saturating_sub(1));
        NextStep::RetryAfter(
            self.first_wait_ms
                .saturating_mul(factor)
                .min(self.max_wait_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_fourfold_to_the_cap_then_give_up() {
        let p = RetryPolicy::default();
        let waits: Vec<NextStep> = (1..=8).map(|n| p.after(n)).collect();
        assert_eq!(
            waits,
            [
                NextStep::RetryAfter(1_000),
                NextStep::RetryAfter(4_000),
                NextStep::RetryAfter(16_000),
                NextStep::RetryAfter(64_000),
                NextStep::RetryAfter(256_000),
                NextStep::RetryAfter(600_000),
                NextStep::RetryAfter(600_000),
                NextStep::GiveUp,
            ]
        );
        let one = RetryPolicy { attempts: 1, ..p };
        assert_eq!(one.after(1), NextStep::GiveUp);
        // No overflow however long it runs.
        let many = RetryPolicy {
            attempts: u32::MAX,
            ..p
        };
        assert_eq!(many.after(60), NextStep::RetryAfter(600_000));
    }
}
