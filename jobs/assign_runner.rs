//! `assign-runner`: picks the run's runner when its window ends or it fills up.

use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Job, JobContext,
    retry::{RetryPolicy, after_failure},
};
use crate::workflows::assign_runner::{Assignment, Trigger, assign_runner};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignRunner {
    pub run_id: Uuid,
}

impl Job for AssignRunner {
    const QUEUE: &'static str = "assign-runner";
    const MAX_ATTEMPTS: usize = RetryPolicy::DATABASE.max_attempts;
}

pub async fn handle(
    job: AssignRunner,
    ctx: Data<JobContext>,
    attempt: Attempt,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    match assign_runner(
        &ctx.pool,
        &ctx.rules,
        job.run_id,
        Trigger::Scheduled,
        Utc::now(),
    )
    .await
    {
        Ok(Assignment::Assigned { runner, .. }) => {
            ctx.metrics.runner_assigned();
            tracing::info!(run_id = %job.run_id, runner, "runner assigned");
            Ok(())
        }
        Ok(outcome) => {
            tracing::debug!(run_id = %job.run_id, ?outcome, "nothing to assign");
            Ok(())
        }
        Err(err) => {
            let attempt = attempt.current().max(1);
            Err(after_failure(&ctx.pool, &task_id, attempt, RetryPolicy::DATABASE, err).await)
        }
    }
}
