//! Runs every job due now, in the caller's task, until none is due: what the workers do,
//! without waiting for an announcement or a poll. Tests call it where it makes them
//! deterministic (an app without workers: `Role::Api`); the service never does.
//!
//! Jobs are taken with apalis' own fetch and acknowledged as apalis acknowledges a
//! worker's result (`apalis-core`'s `worker/lifecycle.rs` picks the status from the
//! handler's error, `apalis-postgres`' `queries/task/handle_result.sql` stores it), so a
//! job run here ends in the same state a worker would leave it in.

use apalis::prelude::{
    AbortError, BoxDynError, Data, Meta, Metadata, MetadataStore, RetryAfterError, TaskId,
};
use serde::de::DeserializeOwned;

use super::{
    AssignRunner, JOB_TYPES, JobContext, PruneAudit, SendReminder, SlackMessage, assign_runner,
    catch_panic::HandlerPanicked, prune_audit, retry::Failures, send_reminder, send_slack_message,
};
use crate::storage::job_queue::{self, FAILURES_KEY, Job, Taken};

/// Jobs taken per fetch.
const BATCH: i32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum RunDueError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Runs every job due now until none is due (jobs they queue due now included); how many
/// ran. Jobs that fail are left as a worker would leave them: a `Failed` one with attempts
/// left is due again at once, so one that always fails ends this after `max_attempts`.
pub async fn run_due(ctx: &JobContext) -> Result<usize, RunDueError> {
    let runner = format!("run-due-{}", uuid::Uuid::new_v4().simple());
    job_queue::register_runner(&ctx.pool, &runner).await?;
    let mut ran = 0;
    loop {
        let mut ran_this_round = 0;
        for queue in JOB_TYPES {
            for job in job_queue::take_due(&ctx.pool, &runner, queue, BATCH).await? {
                let outcome = run(ctx, queue, &job).await;
                let (status, result) = acknowledgement(&outcome);
                job_queue::acknowledge(&ctx.pool, &runner, &job.id, status, &result).await?;
                ran_this_round += 1;
            }
        }
        if ran_this_round == 0 {
            return Ok(ran);
        }
        ran += ran_this_round;
    }
}

/// Runs `job` of `queue` by its handler, panics caught as a worker catches them.
async fn run(ctx: &JobContext, queue: &str, job: &Taken) -> Result<(), BoxDynError> {
    let task_id: TaskId = job.id.parse()?;
    let mut metadata = MetadataStore::new();
    if let Some(failures) = &job.failures {
        metadata.insert(FAILURES_KEY, failures.clone())?;
    }
    let failures = Meta(Failures::extract(&metadata).unwrap_or_default());
    let data = Data::new(ctx.clone());
    let handled = std::panic::AssertUnwindSafe(async {
        match queue {
            SlackMessage::QUEUE => {
                send_slack_message::handle(payload(job)?, data, failures, task_id).await
            }
            AssignRunner::QUEUE => {
                assign_runner::handle(payload(job)?, data, failures, task_id).await
            }
            SendReminder::QUEUE => {
                send_reminder::handle(payload(job)?, data, failures, task_id).await
            }
            PruneAudit::QUEUE => prune_audit::handle(payload(job)?, data, failures, task_id).await,
            other => Err(format!("no handler for queue {other}").into()),
        }
    });
    futures::FutureExt::catch_unwind(handled)
        .await
        .unwrap_or_else(|_| Err(Box::new(HandlerPanicked("while run by run_due".into()))))
}

fn payload<J: DeserializeOwned>(job: &Taken) -> Result<J, BoxDynError> {
    Ok(serde_json::from_slice(&job.job)?)
}

/// The status and result apalis stores for `outcome`.
fn acknowledgement(outcome: &Result<(), BoxDynError>) -> (&'static str, serde_json::Value) {
    match outcome {
        Ok(()) => ("Done", serde_json::json!({"Ok": null})),
        Err(error) => {
            let status = if error.downcast_ref::<AbortError>().is_some() {
                "Killed"
            } else if error.downcast_ref::<RetryAfterError>().is_some() {
                "Pending"
            } else {
                "Failed"
            };
            (status, serde_json::json!({"Err": error.to_string()}))
        }
    }
}
