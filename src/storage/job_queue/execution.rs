//! What running jobs and their workers change in the queue besides what apalis does:
//! stored waits and retries, the mark that links a job to the one it awaited, jobs
//! returned by a stopped worker, and the reads a job makes of other jobs.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, postgres::PgQueryResult, types::Json};

use super::{AWAITS_KEY, FAILURES_KEY};

/// Moves job `id` to run again after `delay` without spending an attempt: apalis counts
/// the execution that reports the wait against the row's `max_attempts`, which bounds
/// plain errors, and a wait is not one.
pub async fn postpone(pool: &PgPool, id: &str, delay: Duration) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE apalis.jobs
         SET run_at = NOW() + make_interval(secs => $2), max_attempts = max_attempts + 1
         WHERE id = $1",
        id,
        delay.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves job `id` to run again after `delay`, storing the `failures` it has had so far.
pub async fn retry_later(
    pool: &PgPool,
    id: &str,
    delay: Duration,
    failures: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE apalis.jobs
         SET run_at = NOW() + make_interval(secs => $2),
             metadata = coalesce(metadata, ''::hstore) || hstore($3, $4)
         WHERE id = $1",
        id,
        delay.as_secs_f64(),
        FAILURES_KEY,
        failures.to_string(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks job `id` as given up because job `awaited` was: an operator's retry of `awaited`
/// brings it back too ([`super::retry`]).
pub async fn mark_awaiting(pool: &PgPool, id: &str, awaited: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE apalis.jobs SET metadata = coalesce(metadata, ''::hstore) || hstore($2, $3)
         WHERE id = $1",
        id,
        AWAITS_KEY,
        awaited,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts the jobs worker `worker` had fetched and not finished back to `Pending`; how many.
/// Only for a worker whose future has returned (apalis runs a worker's jobs inside it, so
/// none of them is still running).
pub async fn release_fetched(pool: &PgPool, worker: &str) -> Result<u64, sqlx::Error> {
    let released = sqlx::query!(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL
         WHERE lock_by = $1 AND status = 'Queued'",
        worker,
    )
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

/// The jobs on `queue` whose payload contains `payload`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matching {
    /// One of them is due, fetched or running, or failed with attempts left; `None` when
    /// there is none at all.
    pub live: Option<bool>,
    /// The one that finished last.
    pub last_id: Option<String>,
}

/// Reads the jobs on `queue` whose payload contains `payload` (a JSON object).
pub async fn matching(
    conn: &mut PgConnection,
    queue: &str,
    payload: &serde_json::Value,
) -> Result<Matching, sqlx::Error> {
    sqlx::query_as!(
        Matching,
        "SELECT bool_or(status IN ('Pending', 'Queued', 'Running')
                        OR (status = 'Failed' AND attempts < max_attempts)) AS live,
                (array_agg(id ORDER BY done_at DESC NULLS LAST))[1] AS last_id
         FROM apalis.jobs
         WHERE job_type = $1 AND convert_from(job, 'UTF8')::jsonb @> $2",
        queue,
        Json(payload) as _,
    )
    .fetch_one(conn)
    .await
}

/// Queues `job` (its serialized payload) on `queue` unless a job with the same `key` was
/// queued already, by this process or another: whether this call queued it.
pub async fn push_once(
    pool: &PgPool,
    queue: &str,
    job: Vec<u8>,
    key: String,
    max_attempts: usize,
) -> Result<bool, apalis_postgres::Error> {
    let task = apalis::prelude::TaskBuilder::new(job)
        .max_attempts(max_attempts)
        .idempotency_key(key)
        .build();
    let mut conn = pool.acquire().await?;
    match apalis_postgres::queries::push_tasks(&mut *conn, queue, vec![task]).await {
        Ok(()) => Ok(true),
        Err(apalis_postgres::Error::Database(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some("23505") =>
        {
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Jobs by type and status, as stored.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT job_type, status, count(*) AS "count!" FROM apalis.jobs
           GROUP BY job_type, status"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.job_type, row.status, row.count))
        .collect())
}

/// Deletes up to `batch` jobs that finished (`Done`) more than `days` ago.
pub async fn delete_finished(
    pool: &PgPool,
    days: i32,
    batch: i64,
) -> Result<PgQueryResult, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM apalis.jobs WHERE id IN (
             SELECT id FROM apalis.jobs
             WHERE status = 'Done' AND done_at < NOW() - make_interval(days => $1) LIMIT $2)",
        days,
        batch,
    )
    .execute(pool)
    .await
}

/// A job taken to run by the caller ([`take_due`]).
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    /// The payload, as queued.
    pub job: Vec<u8>,
    /// Executions so far (apalis counts every one).
    pub attempts: i32,
    /// Failures stored with its last retry ([`FAILURES_KEY`]).
    pub failures: Option<String>,
}

/// Registers `runner` as a worker of the queue, as apalis' workers register themselves:
/// what the jobs it takes are locked by.
pub async fn register_runner(pool: &PgPool, runner: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO apalis.workers (id, worker_type, storage_name) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET last_seen = NOW()",
        runner,
        "run-due",
        "coffeebuddy",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes up to `count` jobs due on `queue` for `runner`, through apalis' own fetch.
pub async fn take_due(
    pool: &PgPool,
    runner: &str,
    queue: &str,
    count: i32,
) -> Result<Vec<Taken>, sqlx::Error> {
    sqlx::query_as!(
        Taken,
        r#"SELECT id AS "id!", job AS "job!", attempts AS "attempts!",
                  metadata -> $4 AS failures
           FROM apalis.get_jobs($1, $2, $3)"#,
        runner,
        queue,
        count,
        FAILURES_KEY,
    )
    .fetch_all(pool)
    .await
}

/// Records how job `id`, taken by `runner`, ended, as apalis acknowledges a worker's
/// result: its status, one more attempt, the result and when.
pub async fn acknowledge(
    pool: &PgPool,
    runner: &str,
    id: &str,
    status: &str,
    result: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE apalis.jobs
         SET status = $3, attempts = attempts + 1, last_result = $4, done_at = NOW()
         WHERE id = $1 AND lock_by = $2",
        id,
        runner,
        status,
        Json(result) as _,
    )
    .execute(pool)
    .await?;
    Ok(())
}
