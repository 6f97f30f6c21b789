//! Retry policy as data, and how a job hands its outcome back to apalis.
//!
//! apalis re-runs a failed job at once and keeps backoff only in process memory, so waits
//! are stored instead: a job that should run again later moves its own row's `run_at`
//! forward and reports `RetryAfterError` (the row goes back to `Pending`); a job that must
//! not run again reports `AbortError` (the row ends `Killed` and shows up in the ops list).

use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, RetryAfterError, TaskId};
use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Executions before the job is given up (each run, retried or not, is one).
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

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: usize) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31) as u32;
        self.base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.cap)
    }

    /// The wait Slack asked for, or the backoff when it did not say.
    pub fn after_rate_limit(&self, retry_after: Option<Duration>, attempt: usize) -> Duration {
        retry_after
            .map(|d| d.min(self.max_retry_after))
            .unwrap_or_else(|| self.backoff(attempt))
    }

    /// Jobs that only touch the database: a lost connection heals within minutes.
    pub const DATABASE: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_retry_after: Duration::from_secs(60),
    };

    pub fn exhausted(&self, attempt: usize) -> bool {
        attempt >= self.max_attempts
    }
}

/// Runs the job again after `delay`, durably: the wait survives a restart.
pub async fn retry_later(
    pool: &PgPool,
    task_id: &TaskId,
    delay: Duration,
    reason: impl Into<BoxDynError>,
) -> BoxDynError {
    let moved = sqlx::query(
        "UPDATE apalis.jobs SET run_at = NOW() + make_interval(secs => $2) WHERE id = $1",
    )
    .bind(task_id.to_string())
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await;
    match moved {
        Ok(_) => Box::new(RetryAfterError::new(reason, delay)),
        // Could not store the wait: fail plainly; apalis retries until max_attempts.
        Err(err) => Box::new(err),
    }
}

/// Retries after `policy`'s backoff, or gives up once its attempts are spent.
pub async fn after_failure(
    pool: &PgPool,
    task_id: &TaskId,
    attempt: usize,
    policy: RetryPolicy,
    error: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    retry_or_give_up(
        pool,
        task_id,
        attempt,
        policy,
        policy.backoff(attempt),
        error,
    )
    .await
}

/// Retries after `wait`, or gives up once `policy`'s attempts are spent.
pub async fn retry_or_give_up(
    pool: &PgPool,
    task_id: &TaskId,
    attempt: usize,
    policy: RetryPolicy,
    wait: Duration,
    error: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    if policy.exhausted(attempt) {
        tracing::error!(%task_id, attempt, %error, "job given up after every retry");
        return give_up(error);
    }
    tracing::warn!(%task_id, attempt, %error, retry_in_secs = wait.as_secs_f64(), "job will be retried");
    retry_later(pool, task_id, wait, error).await
}

/// Ends the job for good.
pub fn give_up(reason: impl Into<BoxDynError>) -> BoxDynError {
    Box::new(AbortError::new(reason))
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
