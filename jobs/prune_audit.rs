//! `prune-audit` (REQ-016): deletes audit rows older than AUDIT_RETENTION_DAYS, and the
//! bookkeeping that only needs to live a while: handled Slack event ids, published
//! outbox rows and finished jobs. A cron tick in every worker queues it with an
//! idempotency key per tick, so several replicas run it once.

use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, Meta, TaskBuilder, TaskId};
use apalis_cron::Tick;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{
    Job, JobContext,
    retry::{Failures, RetryPolicy, after_failure},
};

/// Rows deleted per statement. Small batches keep each commit's WAL flush short: orders
/// committing meanwhile wait behind it (the scale check: p99 of an order during a prune
/// of a million rows 7 ms with batches of 5,000, 4-6 ms with 1,000).
pub const BATCH: i64 = 1_000;
/// Rest between batches: a nightly prune has hours, orders placed meanwhile should not
/// queue behind it for the CPU.
const PAUSE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneAudit {
    /// The cron tick (Unix seconds) that asked for it.
    pub tick: u64,
}

impl Job for PruneAudit {
    const QUEUE: &'static str = "prune-audit";
    const MAX_ATTEMPTS: usize = RetryPolicy::DATABASE.max_attempts;
}

/// What one prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub audit_rows: u64,
    pub slack_events: u64,
    pub outbox_rows: u64,
    pub finished_jobs: u64,
}

pub async fn handle(
    job: PruneAudit,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    match prune(&ctx.pool, ctx.audit_retention_days).await {
        Ok(pruned) => {
            tracing::info!(tick = job.tick, ?pruned, "pruned old rows");
            Ok(())
        }
        Err(err) => {
            let failures = Failures::this_one(&failures);
            Err(after_failure(&ctx.pool, &task_id, failures, RetryPolicy::DATABASE, err).await)
        }
    }
}

/// Deletes, in batches, audit rows older than `retention_days` and expired bookkeeping.
pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<Pruned, sqlx::Error> {
    Ok(Pruned {
        audit_rows: in_batches(
            pool,
            "DELETE FROM audit_logs WHERE log_id IN (
                 SELECT log_id FROM audit_logs
                 WHERE timestamp < NOW() - make_interval(days => $1) LIMIT $2)",
            retention_days as i32,
        )
        .await?,
        // Slack retries an event for an hour at most.
        slack_events: in_batches(
            pool,
            "DELETE FROM slack_events WHERE event_id IN (
                 SELECT event_id FROM slack_events
                 WHERE received_at < NOW() - make_interval(days => $1) LIMIT $2)",
            1,
        )
        .await?,
        outbox_rows: in_batches(
            pool,
            "DELETE FROM outbox WHERE id IN (
                 SELECT id FROM outbox WHERE published_at < NOW() - make_interval(days => $1)
                 LIMIT $2)",
            7,
        )
        .await?,
        finished_jobs: in_batches(
            pool,
            "DELETE FROM apalis.jobs WHERE id IN (
                 SELECT id FROM apalis.jobs
                 WHERE status = 'Done' AND done_at < NOW() - make_interval(days => $1) LIMIT $2)",
            7,
        )
        .await?,
    })
}

async fn in_batches(pool: &PgPool, statement: &'static str, days: i32) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(statement)
            .bind(days)
            .bind(BATCH)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The cron tick: queues one `prune-audit` per tick across every replica.
pub async fn on_tick(tick: Tick, pool: Data<PgPool>) -> Result<(), BoxDynError> {
    let job = PruneAudit {
        tick: tick.get_timestamp(),
    };
    let args = serde_json::to_vec(&job)?;
    let task = TaskBuilder::new(args)
        .max_attempts(PruneAudit::MAX_ATTEMPTS)
        .idempotency_key(format!("prune-audit:{}", job.tick))
        .build();
    let mut conn = pool.acquire().await?;
    match apalis_postgres::queries::push_tasks(&mut *conn, PruneAudit::QUEUE, vec![task]).await {
        Ok(()) => Ok(()),
        // Another replica queued this tick's prune already.
        Err(apalis_postgres::Error::Database(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some("23505") =>
        {
            Ok(())
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not queue prune-audit; the next tick will");
            Ok(())
        }
    }
}
