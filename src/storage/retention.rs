//! What is deleted once it has been kept long enough (REQ-016): audit rows past
//! `AUDIT_RETENTION_DAYS`, and the bookkeeping that only needs to live a while: handled
//! Slack event ids, published outbox rows and finished jobs.

use std::{future::Future, time::Duration};

use sqlx::{PgPool, postgres::PgQueryResult};

use super::job_queue;

/// Rows deleted per statement. Small batches keep each commit's WAL flush short: orders
/// committing meanwhile wait behind it (the scale check: p99 of an order during a prune
/// of a million rows 7 ms with batches of 5,000, 4-6 ms with 1,000).
pub const BATCH: i64 = 1_000;
/// Rest between batches: a nightly prune has hours, orders placed meanwhile should not
/// queue behind it for the CPU.
const PAUSE: Duration = Duration::from_millis(5);

/// Slack retries an event for an hour at most.
const SLACK_EVENT_DAYS: i32 = 1;
/// Published events and finished jobs stay a week, for operators to look into.
const BOOKKEEPING_DAYS: i32 = 7;

/// What one prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub audit_rows: u64,
    pub slack_events: u64,
    pub outbox_rows: u64,
    pub finished_jobs: u64,
}

/// Deletes, in batches, audit rows older than `retention_days` and expired bookkeeping.
pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<Pruned, sqlx::Error> {
    let retention_days = i32::try_from(retention_days).unwrap_or(i32::MAX);
    Ok(Pruned {
        audit_rows: in_batches(|| {
            sqlx::query!(
                "DELETE FROM audit_logs WHERE log_id IN (
                     SELECT log_id FROM audit_logs
                     WHERE timestamp < NOW() - make_interval(days => $1) LIMIT $2)",
                retention_days,
                BATCH,
            )
            .execute(pool)
        })
        .await?,
        slack_events: in_batches(|| {
            sqlx::query!(
                "DELETE FROM slack_events WHERE event_id IN (
                     SELECT event_id FROM slack_events
                     WHERE received_at < NOW() - make_interval(days => $1) LIMIT $2)",
                SLACK_EVENT_DAYS,
                BATCH,
            )
            .execute(pool)
        })
        .await?,
        outbox_rows: in_batches(|| {
            sqlx::query!(
                "DELETE FROM outbox WHERE id IN (
                     SELECT id FROM outbox
                     WHERE published_at < NOW() - make_interval(days => $1) LIMIT $2)",
                BOOKKEEPING_DAYS,
                BATCH,
            )
            .execute(pool)
        })
        .await?,
        finished_jobs: in_batches(|| job_queue::delete_finished(pool, BOOKKEEPING_DAYS, BATCH))
            .await?,
    })
}

/// Runs `batch` (which deletes up to [`BATCH`] rows) until it deletes fewer; how many it
/// deleted in all.
async fn in_batches<F, Fut>(mut batch: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PgQueryResult, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let deleted = batch().await?.rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}
