//! `send-slack-message`: every Slack Web API call except `views.open` runs here, so
//! messages survive restarts, Slack outages and rate limits (CONTRACT "Slack 429").

use std::time::Duration;

use apalis::prelude::{Attempt, BoxDynError, Data, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Job, JobContext,
    retry::{RetryPolicy, give_up, retry_later, retry_or_give_up},
};
use crate::{
    slack::{SlackApiError, Slot, views, views::SummaryLine},
    storage::runs::{self, Claimed, SummaryTurn},
};

/// Longest a job sleeps in place for its rate-limit slot before it re-queues itself.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SlackMessage {
    /// Post the run's root message, or redraw it as the run is now. At most one is queued
    /// per run (`coffee_runs.summary_refresh_queued_at`). Rows queued before that flag also
    /// carry a `version`, which is ignored.
    RunSummary { run_id: Uuid },
    /// A reply in the run's thread; waits for the root message if it is not posted yet.
    RunThreadReply {
        run_id: Uuid,
        text: String,
        #[serde(default)]
        blocks: Option<Value>,
    },
    /// A message only `user` sees (refusals and confirmations of button clicks).
    Ephemeral {
        channel: String,
        user: String,
        text: String,
    },
    /// A prepared message: a DM (`channel` = a user id) or a reply in a thread.
    Post {
        channel: String,
        text: String,
        #[serde(default)]
        blocks: Option<Value>,
        #[serde(default)]
        thread_ts: Option<String>,
    },
}

impl Job for SlackMessage {
    const QUEUE: &'static str = "send-slack-message";
    const MAX_ATTEMPTS: usize = RetryPolicy::SLACK.max_attempts;
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Slack(#[from] SlackApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Not a failure: run again after the wait.
    #[error("{1}")]
    NotYet(Duration, &'static str),
}

enum Delivered {
    Sent,
    /// Nothing to send: a newer refresh is queued, or the run is gone.
    Skipped,
}

pub async fn handle(
    message: SlackMessage,
    ctx: Data<JobContext>,
    attempt: Attempt,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    let attempt = attempt.current().max(1);
    let policy = RetryPolicy::SLACK;
    let outcome = deliver(&ctx, &message).await;
    let failure = match outcome {
        Ok(Delivered::Sent | Delivered::Skipped) => return Ok(()),
        Err(DeliveryError::NotYet(wait, reason)) => {
            return Err(retry_later(&ctx.pool, &task_id, wait, reason).await);
        }
        Err(failure) => failure,
    };
    let wait = match &failure {
        DeliveryError::Slack(SlackApiError::Permanent(reason)) => {
            ctx.metrics.error("slack_api");
            tracing::error!(%task_id, error = %reason, "Slack refused the message; not retrying");
            return Err(give_up(failure));
        }
        DeliveryError::Slack(SlackApiError::RateLimited { retry_after }) => {
            ctx.metrics.slack_rate_limited();
            policy.after_rate_limit(*retry_after, attempt)
        }
        _ => policy.backoff(attempt),
    };
    if policy.exhausted(attempt) {
        ctx.metrics.error("slack_api");
    }
    Err(retry_or_give_up(&ctx.pool, &task_id, attempt, policy, wait, failure).await)
}

async fn deliver(ctx: &JobContext, message: &SlackMessage) -> Result<Delivered, DeliveryError> {
    match message {
        SlackMessage::RunSummary { run_id } => refresh_run_summary(ctx, *run_id).await,
        SlackMessage::RunThreadReply {
            run_id,
            text,
            blocks,
        } => {
            let mut conn = ctx.pool.acquire().await?;
            let Some(run) = runs::find(&mut conn, *run_id).await? else {
                return Ok(Delivered::Skipped);
            };
            let Some(thread_ts) = run.thread_ts else {
                return Err(DeliveryError::NotYet(
                    Duration::from_secs(1),
                    "the run's root message is not posted yet",
                ));
            };
            let wait = reserve_slot(ctx, &mut conn).await?;
            drop(conn);
            pause(wait).await;
            ctx.slack
                .post_message(&run.channel_id, text, blocks.as_ref(), Some(&thread_ts))
                .await?;
            Ok(Delivered::Sent)
        }
        SlackMessage::Ephemeral {
            channel,
            user,
            text,
        } => {
            let wait = reserve_slot(ctx, &mut *ctx.pool.acquire().await?).await?;
            pause(wait).await;
            ctx.slack.post_ephemeral(channel, user, text).await?;
            Ok(Delivered::Sent)
        }
        SlackMessage::Post {
            channel,
            text,
            blocks,
            thread_ts,
        } => {
            let wait = reserve_slot(ctx, &mut *ctx.pool.acquire().await?).await?;
            pause(wait).await;
            ctx.slack
                .post_message(channel, text, blocks.as_ref(), thread_ts.as_deref())
                .await?;
            Ok(Delivered::Sent)
        }
    }
}

/// Posts or updates the root message, in this run's turn ([`SummaryTurn`]): one statement
/// takes the turn, claims the refresh, reads the run and its orders and reserves the Slack
/// slot; one gives the turn up (storing a first post's `ts`). Each commits at once, so
/// orders never wait for Slack.
async fn refresh_run_summary(ctx: &JobContext, run_id: Uuid) -> Result<Delivered, DeliveryError> {
    let Some(mut turn) =
        SummaryTurn::take(&ctx.pool, run_id, ctx.pacer.interval(), MAX_SLOT_WAIT).await?
    else {
        return Err(DeliveryError::NotYet(
            Duration::from_secs(1),
            "another job is refreshing this run's message",
        ));
    };
    let Some(claimed) = turn.claimed.take() else {
        turn.end().await?;
        return Ok(Delivered::Skipped);
    };
    match redraw(ctx, claimed).await {
        Ok(posted) => {
            match posted {
                Some(ts) => turn.end_posted(&ts).await.map(drop)?,
                None => turn.end().await?,
            }
            Ok(Delivered::Sent)
        }
        Err(err) => {
            // Ended even so, or the retry would wait for the turn. The redraw's error is
            // the one to report; an unlock that fails closes the connection, and so the
            // lock, when the turn drops.
            let _ = turn.end().await;
            Err(err)
        }
    }
}

/// Renders the run as the claim found it, with its orders as they were just after, in the
/// reserved slot. A first post's `ts` comes back, to be stored as the turn ends.
async fn redraw(ctx: &JobContext, claimed: Claimed) -> Result<Option<String>, DeliveryError> {
    let Claimed { run, lines, slot } = claimed;
    let lines: Vec<SummaryLine> = lines.into_iter().map(SummaryLine::from).collect();
    let view = views::RunView {
        run_id: run.run_id,
        initiator_user_id: &run.initiator_user_id,
        status: &run.status,
        runner_user_id: run.runner_user_id.as_deref(),
    };
    let (text, blocks) = views::run_summary(&view, &lines);

    pause(slot_wait(slot)?).await;
    match run.thread_ts.as_deref() {
        Some(ts) => {
            ctx.slack
                .update_message(&run.channel_id, ts, &text, Some(&blocks))
                .await?;
            Ok(None)
        }
        None => {
            let posted = ctx
                .slack
                .post_message(&run.channel_id, &text, Some(&blocks), None)
                .await?;
            Ok(Some(posted.ts))
        }
    }
}

/// Takes this call's place under SLACK_RATE_LIMIT_PER_MIN: how long to wait before making
/// it. A slot further away than MAX_SLOT_WAIT re-queues the job instead.
async fn reserve_slot(
    ctx: &JobContext,
    conn: &mut PgConnection,
) -> Result<Duration, DeliveryError> {
    slot_wait(ctx.pacer.reserve_on(conn, MAX_SLOT_WAIT).await?)
}

/// How long to wait for a reserved slot; a busy one re-queues the job.
fn slot_wait(slot: Slot) -> Result<Duration, DeliveryError> {
    match slot {
        Slot::Reserved(wait) => Ok(wait),
        Slot::Busy(retry_in) => Err(DeliveryError::NotYet(
            retry_in,
            "waiting for a slot under SLACK_RATE_LIMIT_PER_MIN",
        )),
    }
}

async fn pause(wait: Duration) {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}
