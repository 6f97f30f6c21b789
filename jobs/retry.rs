//! Retry policy as data, and how a job hands its outcome back to apalis.
//!
//! apalis re-runs a failed job at once and keeps backoff only in process memory, so waits
//! are stored instead: a job that should run again later moves its own row's `run_at`
//! forward and reports `RetryAfterError` (the row goes back to `Pending`); a job that must
//! not run again reports `AbortError` (the row ends `Killed` and shows up in the ops list).
//!
//! Budgets count [`Failures`], not apalis' attempts: apalis counts every execution, and a
//! job that waits for something (a thread reply for its run's root message, a message for
//! its rate-limit slot) runs many times without failing once.

use std::{convert::Infallible, time::Duration};

use apalis::prelude::{
    AbortError, BoxDynError, Meta, Metadata, MetadataStore, RetryAfterError, TaskId,
};
use sqlx::PgPool;

/// The job row's metadata key (`apalis.jobs.metadata`, an hstore) holding [`Failures`].
/// The ops retry (`storage::jobs::retry`) removes it with the failure it forgives.
pub const FAILURES_KEY: &str = "failures";

/// The metadata key naming the given-up job this one was given up with
/// ([`give_up_awaiting`]): an operator's retry of that job retries this one too.
pub const AWAITS_KEY: &str = "awaits_job";

/// How many of a job's executions so far have failed, as stored with its last retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures(pub usize);

impl Failures {
    /// This execution's failure, counted: the number the retry policy judges.
    pub fn this_one(meta: &Meta<Failures>) -> usize {
        meta.0.0 + 1
    }
}

impl Metadata for Failures {
    type Error = Infallible;

    /// Absent (never failed, or retried by an operator) is none; a value this code did not
    /// write is read as none rather than failing the job.
    fn extract(store: &MetadataStore) -> Result<Self, Infallible> {
        let count = store.get(FAILURES_KEY).and_then(|v| v.parse().ok());
        Ok(Self(count.unwrap_or(0)))
    }

    fn inject(&self, store: &mut MetadataStore) -> Result<(), Infallible> {
        store.replace(FAILURES_KEY, self.0.to_string());
        Ok(())
    }
}

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

/// Runs the job again after `delay`, durably (the wait survives a restart), without
/// counting a failure: the job is waiting, not failing.
pub async fn wait_then_run(
    pool: &PgPool,
    task_id: &TaskId,
    delay: Duration,
    reason: impl Into<BoxDynError>,
) -> BoxDynError {
    // apalis counts this execution against the row's `max_attempts`, which bounds plain
    // errors (a wait or retry that could not be stored); a wait must not use that up.
    let moved = sqlx::query(
        "UPDATE apalis.jobs
         SET run_at = NOW() + make_interval(secs => $2), max_attempts = max_attempts + 1
         WHERE id = $1",
    )
    .bind(task_id.to_string())
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await;
    requeued(moved, reason, delay)
}

/// Retries after `policy`'s backoff, or gives up once its failures are spent.
pub async fn after_failure(
    pool: &PgPool,
    task_id: &TaskId,
    failures: usize,
    policy: RetryPolicy,
    error: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    retry_or_give_up(
        pool,
        task_id,
        failures,
        policy,
        policy.backoff(failures),
        error,
    )
    .await
}

/// Retries after `wait`, or gives up once `policy`'s failures are spent. `failures`
/// counts this one ([`Failures::this_one`]) and is stored with the wait.
pub async fn retry_or_give_up(
    pool: &PgPool,
    task_id: &TaskId,
    failures: usize,
    policy: RetryPolicy,
    wait: Duration,
    error: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    if policy.exhausted(failures) {
        tracing::error!(%task_id, failures, %error, "job given up after every retry");
        return give_up(error);
    }
    tracing::warn!(%task_id, failures, %error, retry_in_secs = wait.as_secs_f64(), "job will be retried");
    let moved = sqlx::query(
        "UPDATE apalis.jobs
         SET run_at = NOW() + make_interval(secs => $2),
             metadata = coalesce(metadata, ''::hstore) || hstore($3, $4)
         WHERE id = $1",
    )
    .bind(task_id.to_string())
    .bind(wait.as_secs_f64())
    .bind(FAILURES_KEY)
    .bind(failures.to_string())
    .execute(pool)
    .await;
    requeued(moved, error, wait)
}

/// What a job reports once its wait is stored (or could not be).
fn requeued(
    stored: Result<sqlx::postgres::PgQueryResult, sqlx::Error>,
    reason: impl Into<BoxDynError>,
    delay: Duration,
) -> BoxDynError {
    match stored {
        Ok(_) => Box::new(RetryAfterError::new(reason, delay)),
        // Could not store the wait: fail plainly; apalis retries until max_attempts.
        Err(err) => Box::new(err),
    }
}

/// Ends the job for good.
pub fn give_up(reason: impl Into<BoxDynError>) -> BoxDynError {
    Box::new(AbortError::new(reason))
}

/// Ends the job for good because job `awaited` was given up first; an operator's retry
/// of `awaited` brings this one back with it (`storage::jobs::retry`). Should the mark
/// not be stored, the job is still given up, to be retried on its own.
pub async fn give_up_awaiting(
    pool: &PgPool,
    task_id: &TaskId,
    awaited: &str,
    reason: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    let marked = sqlx::query(
        "UPDATE apalis.jobs SET metadata = coalesce(metadata, ''::hstore) || hstore($2, $3)
         WHERE id = $1",
    )
    .bind(task_id.to_string())
    .bind(AWAITS_KEY)
    .bind(awaited)
    .execute(pool)
    .await;
    if let Err(err) = marked {
        tracing::warn!(%task_id, awaited, error = %err, "could not link the job to the one it awaited");
    }
    give_up(reason)
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
