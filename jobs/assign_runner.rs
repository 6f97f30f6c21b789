//! `assign-runner`: picks the run's runner when its window ends or it fills up.

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use chrono::Utc;

use super::{
    AssignRunner, JobContext,
    retry::{Failures, RetryPolicy, after_failure},
};
use crate::workflows::assign_runner::{Assignment, Trigger, assign_runner};

pub async fn handle(
    job: AssignRunner,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    match assign_runner(
        &ctx.pool,
        &ctx.announcer,
        &ctx.rules,
        job.run_id,
        Trigger::Scheduled,
        Utc::now(),
    )
    .await
    {
        Ok(Assignment::Assigned { runner, waited, .. }) => {
            ctx.metrics.runner_assigned(waited);
            tracing::info!(run_id = %job.run_id, runner, "runner assigned");
            Ok(())
        }
        Ok(outcome) => {
            tracing::debug!(run_id = %job.run_id, ?outcome, "nothing to assign");
            Ok(())
        }
        Err(err) => {
            let failures = Failures::this_one(&failures);
            Err(after_failure(&ctx.pool, &task_id, failures, RetryPolicy::DATABASE, err).await)
        }
    }
}
