//! `send-reminder`: the runner's reminder, `REMINDER_DELAY_SECS` after assignment.

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Job, JobContext,
    retry::{Failures, RetryPolicy, after_failure},
};
use crate::workflows::reminder::remind_runner;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReminder {
    pub run_id: Uuid,
}

impl Job for SendReminder {
    const QUEUE: &'static str = "send-reminder";
    const MAX_ATTEMPTS: usize = RetryPolicy::DATABASE.max_attempts;
}

pub async fn handle(
    job: SendReminder,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    match remind_runner(&ctx.pool, job.run_id).await {
        Ok(sent) => {
            tracing::info!(run_id = %job.run_id, sent, "reminder due");
            Ok(())
        }
        Err(err) => {
            let failures = Failures::this_one(&failures);
            Err(after_failure(&ctx.pool, &task_id, failures, RetryPolicy::DATABASE, err).await)
        }
    }
}
