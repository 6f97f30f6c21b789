//! `assign-runner`: picks the run's runner when its window ends, it fills up or its
//! initiator closes its orders. First, unless `RUNNER_AVAILABILITY_CHECK` is off, it asks
//! Slack about the candidates in fairness order, outside the run's lock, and stops at the
//! first who is in (CONTRACT "Runners who are in"; decision 0017).

use std::{future::Future, time::Duration};

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use chrono::Utc;
use tokio::time::Instant;
use uuid::Uuid;

use super::{
    AssignRunner, JobContext,
    retry::{Failures, RetryPolicy, after_failure},
};
use crate::{
    domain::availability::{Absence, AwayStatuses},
    slack::SlackApiError,
    storage::slack_pacer::Slot,
    workflows::assign_runner::{Assignment, Trigger, assign_runner, candidates_in_order},
};

/// How candidates are checked (`RUNNER_AVAILABILITY_*`); absent when the check is off.
#[derive(Debug, Clone)]
pub struct AvailabilityCheck {
    pub away_statuses: AwayStatuses,
    /// Longest the check may take, pacing included.
    pub budget: Duration,
}

pub async fn handle(
    job: AssignRunner,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    let outcome = async {
        let out = who_is_out(&ctx, job.run_id).await?;
        let trigger = Trigger::Scheduled { out: &out };
        assign_runner(
            &ctx.pool,
            &ctx.announcer,
            &ctx.rules,
            job.run_id,
            trigger,
            Utc::now(),
        )
        .await
    };
    match outcome.await {
        Ok(Assignment::Assigned {
            runner,
            waited,
            passed_over,
            ..
        }) => {
            ctx.metrics.runner_assigned(waited);
            for (_, absence) in &passed_over {
                ctx.metrics.runner_passed_over(*absence);
            }
            tracing::info!(run_id = %job.run_id, runner, passed_over = passed_over.len(), "runner assigned");
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

/// The candidates Slack says are out, asked in fairness order up to the first who is in.
/// Whoever Slack does not answer about within the budget counts as in, so the rule picks
/// among those not known to be out. A lone candidate runs whatever Slack says: nobody is
/// asked.
async fn who_is_out(ctx: &JobContext, run_id: Uuid) -> Result<Vec<(String, Absence)>, sqlx::Error> {
    let Some(check) = &ctx.availability else {
        return Ok(Vec::new());
    };
    let deadline = Instant::now() + check.budget;
    let in_order = candidates_in_order(&ctx.pool, &ctx.rules, run_id, Utc::now()).await?;
    if in_order.len() < 2 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for user in in_order {
        match absence(ctx, check, &user, deadline).await {
            Ok(Some(absence)) => out.push((user, absence)),
            Ok(None) => break,
            Err(reason) => {
                tracing::warn!(%run_id, user, %reason, "could not learn whether a candidate is in; the rule picks among those not known to be out");
                break;
            }
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
enum Unanswered {
    #[error("the availability budget is spent")]
    OutOfTime,
    #[error(transparent)]
    Slack(#[from] SlackApiError),
    #[error("pacing: {0}")]
    Database(#[from] sqlx::Error),
}

/// Calls that tell whether one candidate is in.
const CALLS_PER_CANDIDATE: u32 = 3;

/// Why `user` is out, if they are: their status first (the most telling reason), then Do
/// Not Disturb, then presence; each call only if the one before found them in. The pacer's
/// three consecutive slots are reserved in one statement, and each call waits for its own.
async fn absence(
    ctx: &JobContext,
    check: &AvailabilityCheck,
    user: &str,
    deadline: Instant,
) -> Result<Option<Absence>, Unanswered> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Unanswered::OutOfTime);
    }
    let first = match ctx.pacer.reserve_calls(CALLS_PER_CANDIDATE, left).await? {
        Slot::Reserved(wait) => Instant::now() + wait,
        Slot::Busy(_) => return Err(Unanswered::OutOfTime),
    };
    let slot = |n: u32| first + ctx.pacer.interval() * n;
    let status = ask(ctx, slot(0), deadline, |left| {
        ctx.slack.user_status(user, left)
    })
    .await?;
    if check.away_statuses.say_out(&status, Utc::now()) {
        return Ok(Some(Absence::Status));
    }
    let dnd = ask(ctx, slot(1), deadline, |left| {
        ctx.slack.dnd_state(user, left)
    })
    .await?;
    if dnd.is_on(Utc::now()) {
        return Ok(Some(Absence::Dnd));
    }
    if ask(ctx, slot(2), deadline, |left| {
        ctx.slack.user_is_away(user, left)
    })
    .await?
    {
        return Ok(Some(Absence::Away));
    }
    Ok(None)
}

/// One Slack call at its reserved slot, given whatever is left of the budget then.
async fn ask<T, F, Fut>(
    ctx: &JobContext,
    slot: Instant,
    deadline: Instant,
    call: F,
) -> Result<T, Unanswered>
where
    F: FnOnce(Duration) -> Fut,
    Fut: Future<Output = Result<T, SlackApiError>>,
{
    if slot >= deadline {
        return Err(Unanswered::OutOfTime);
    }
    tokio::time::sleep_until(slot).await;
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Unanswered::OutOfTime);
    }
    call(left).await.map_err(|err| {
        if let SlackApiError::RateLimited { .. } = err {
            ctx.metrics.slack_rate_limited();
        }
        Unanswered::Slack(err)
    })
}
