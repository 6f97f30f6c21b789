//! Retry policy as data: how many failures a job may have and how long it waits after
//! each. `jobs::retry` applies it.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed executions before the job is given up (waits are not failures).
    pub max_attempts: usize,
    /// First backoff; doubled per attempt…
    pub base: Duration,
    /// …up to this.
    pub cap: Duration,
    /// A `Retry-After` longer than this is clamped: a misbehaving proxy must not park a
    /// message for hours.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Slack calls (CONTRACT "Slack 429"): 1 s, 2 s, 4 s … capped at 60 s. Fifteen attempts
    /// span about nine minutes of Slack trouble before the message is given up.
    pub const SLACK: RetryPolicy = RetryPolicy {
        max_attempts: 15,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_retry_after: Duration::from_secs(15 * 60),
    };

    /// The wait after failure number `failures` (1-based).
    pub fn backoff(&self, failures: usize) -> Duration {
        let exponent = failures.saturating_sub(1).min(31) as u32;
        self.base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.cap)
    }

    /// The wait Slack asked for, or the backoff when it did not say.
    pub fn after_rate_limit(&self, retry_after: Option<Duration>, failures: usize) -> Duration {
        retry_after
            .map(|d| d.min(self.max_retry_after))
            .unwrap_or_else(|| self.backoff(failures))
    }

    /// Jobs that only touch the database: a lost connection heals within minutes.
    pub const DATABASE: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_retry_after: Duration::from_secs(60),
    };

    /// Whether failure number `failures` (1-based) was the last one allowed.
    pub fn exhausted(&self, failures: usize) -> bool {
        failures >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_backoff_doubles_from_one_second_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9)
            .map(|a| RetryPolicy::SLACK.backoff(a).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(RetryPolicy::SLACK.backoff(500).as_secs(), 60);
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let p = RetryPolicy::SLACK;
        assert_eq!(
            p.after_rate_limit(Some(Duration::from_secs(7)), 1)
                .as_secs(),
            7
        );
        assert_eq!(p.after_rate_limit(None, 3).as_secs(), 4);
        assert_eq!(
            p.after_rate_limit(Some(Duration::from_secs(86_400)), 1),
            p.max_retry_after
        );
    }

    #[test]
    fn attempts_run_out() {
        assert!(!RetryPolicy::SLACK.exhausted(14));
        assert!(RetryPolicy::SLACK.exhausted(15));
    }
}
