//! How a job hands its outcome back to apalis under its retry policy
//! ([`RetryPolicy`], data in `domain`).
//!
//! apalis re-runs a failed job at once and keeps backoff only in process memory, so waits
//! are stored instead: a job that should run again later moves its own row's `run_at`
//! forward (`storage::job_queue::{postpone, retry_later}`) and reports `RetryAfterError`
//! (the row goes back to `Pending`); a job that must not run again reports `AbortError`
//! (the row ends `Killed` and shows up in the ops list).
//!
//! Budgets count [`Failures`], not apalis' attempts: apalis counts every execution, and a
//! job that waits for something (a thread reply for its run's root message, a message for
//! its rate-limit slot) runs many times without failing once.

use std::{convert::Infallible, time::Duration};

use apalis::prelude::{
    AbortError, BoxDynError, Meta, Metadata, MetadataStore, RetryAfterError, TaskId,
};
use sqlx::PgPool;

pub use crate::domain::RetryPolicy;
use crate::storage::job_queue::{self, FAILURES_KEY};

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

/// Runs the job again after `delay`, durably (the wait survives a restart), without
/// counting a failure: the job is waiting, not failing.
pub async fn wait_then_run(
    pool: &PgPool,
    task_id: &TaskId,
    delay: Duration,
    reason: impl Into<BoxDynError>,
) -> BoxDynError {
    let moved = job_queue::postpone(pool, &task_id.to_string(), delay).await;
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
    let moved = job_queue::retry_later(pool, &task_id.to_string(), wait, failures).await;
    requeued(moved, error, wait)
}

/// What a job reports once its wait is stored (or could not be).
fn requeued(
    stored: Result<(), sqlx::Error>,
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
/// of `awaited` brings this one back with it (`storage::job_queue::retry`). Should the mark
/// not be stored, the job is still given up, to be retried on its own.
pub async fn give_up_awaiting(
    pool: &PgPool,
    task_id: &TaskId,
    awaited: &str,
    reason: impl Into<BoxDynError> + std::fmt::Display,
) -> BoxDynError {
    if let Err(err) = job_queue::mark_awaiting(pool, &task_id.to_string(), awaited).await {
        tracing::warn!(%task_id, awaited, error = %err, "could not link the job to the one it awaited");
    }
    give_up(reason)
}
