//! `prune-audit` (REQ-016): deletes what has been kept long enough (`storage::retention`).
//! A cron tick in every worker queues it with an idempotency key per tick, so several
//! replicas run it once.

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use apalis_cron::Tick;
use sqlx::PgPool;

use super::{
    JobContext, PruneAudit,
    retry::{Failures, RetryPolicy, after_failure},
};
use crate::storage::{
    job_queue::{self, Job},
    retention,
};

pub async fn handle(
    job: PruneAudit,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    match retention::prune(&ctx.pool, ctx.audit_retention_days).await {
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

/// The cron tick: queues one `prune-audit` per tick across every replica.
pub async fn on_tick(tick: Tick, pool: Data<PgPool>) -> Result<(), BoxDynError> {
    let job = PruneAudit {
        tick: tick.get_timestamp(),
    };
    let key = format!("prune-audit:{}", job.tick);
    let payload = serde_json::to_vec(&job)?;
    // A duplicate key means another replica queued this tick's prune already.
    if let Err(err) = job_queue::push_once(
        &pool,
        PruneAudit::QUEUE,
        payload,
        key,
        PruneAudit::MAX_ATTEMPTS,
    )
    .await
    {
        tracing::warn!(error = %err, "could not queue prune-audit; the next tick will");
    }
    Ok(())
}
