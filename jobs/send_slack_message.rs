//! `send-slack-message`: every Slack Web API call except `views.open` runs here, so
//! messages survive restarts, Slack outages and rate limits (CONTRACT "Slack 429").

use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    JobContext, SlackMessage,
    retry::{Failures, RetryPolicy, give_up, give_up_awaiting, retry_or_give_up, wait_then_run},
};
use crate::{
    slack::{SlackApiError, client::PostedMessage, views, views::SummaryLine},
    storage::{
        job_queue::{self, Job},
        runner_dms::{self as dm_records, DmKind},
        runs::{self, Claimed, SummaryTurn},
        slack_pacer::Slot,
    },
    workflows::{app_home, runner_dms},
};

/// Longest a job sleeps in place for its rate-limit slot before it re-queues itself.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
    #[error(transparent)]
    Slack(#[from] SlackApiError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Not a failure: run again after the wait.
    #[error("{1}")]
    NotYet(Duration, &'static str),
    /// A thread reply whose run's root message was given up (by job `root_post`, when
    /// known): there is no thread.
    #[error("the run's root message was never posted, and nothing is still trying to")]
    NoThread { root_post: Option<String> },
}

pub(super) enum Delivered {
    Sent,
    /// Nothing to send: a newer refresh is queued, the run is gone, or its reminder is
    /// no longer due.
    Skipped,
}

pub async fn handle(
    message: SlackMessage,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    let outcome = deliver(&ctx, &message).await;
    settle(&ctx, &failures, &task_id, outcome).await
}

/// Hands a Slack call's outcome back to apalis under [`RetryPolicy::SLACK`]: done, run
/// again after a wait that is not a failure, retried after a failure, or given up.
pub(super) async fn settle(
    ctx: &JobContext,
    failures: &Meta<Failures>,
    task_id: &TaskId,
    outcome: Result<Delivered, DeliveryError>,
) -> Result<(), BoxDynError> {
    let policy = RetryPolicy::SLACK;
    let failure = match outcome {
        Ok(Delivered::Sent | Delivered::Skipped) => return Ok(()),
        Err(DeliveryError::NotYet(wait, reason)) => {
            return Err(wait_then_run(&ctx.pool, task_id, wait, reason).await);
        }
        Err(failure) => failure,
    };
    let failures = Failures::this_one(failures);
    let wait = match &failure {
        DeliveryError::Slack(SlackApiError::Permanent(reason)) => {
            ctx.metrics.error("slack_api");
            tracing::error!(%task_id, error = %reason, "Slack refused the message; not retrying");
            return Err(give_up(failure));
        }
        DeliveryError::NoThread { root_post } => {
            ctx.metrics.error("slack_api");
            tracing::error!(%task_id, ?root_post, error = %failure, "thread reply given up");
            return Err(match root_post.clone() {
                Some(root_post) => give_up_awaiting(&ctx.pool, task_id, &root_post, failure).await,
                None => give_up(failure),
            });
        }
        DeliveryError::Slack(SlackApiError::RateLimited { retry_after }) => {
            ctx.metrics.slack_rate_limited();
            policy.after_rate_limit(*retry_after, failures)
        }
        _ => policy.backoff(failures),
    };
    if policy.exhausted(failures) {
        ctx.metrics.error("slack_api");
    }
    Err(retry_or_give_up(&ctx.pool, task_id, failures, policy, wait, failure).await)
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
            let (channel_id, thread_ts) = match thread_of(&mut conn, *run_id).await? {
                Thread::Posted {
                    channel_id,
                    thread_ts,
                } => (channel_id, thread_ts),
                Thread::Coming => {
                    return Err(DeliveryError::NotYet(
                        Duration::from_secs(1),
                        "the run's root message is not posted yet",
                    ));
                }
                Thread::Abandoned { root_post } => {
                    return Err(DeliveryError::NoThread { root_post });
                }
                Thread::RunGone => return Ok(Delivered::Skipped),
            };
            let wait = reserve_slot(ctx, &mut conn).await?;
            drop(conn);
            pause(wait).await;
            ctx.slack
                .post_message(&channel_id, text, blocks.as_ref(), Some(&thread_ts))
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
        SlackMessage::RunnerDm {
            run_id,
            runner,
            text,
            blocks,
        } => {
            let wait = reserve_slot(ctx, &mut *ctx.pool.acquire().await?).await?;
            pause(wait).await;
            let posted = ctx
                .slack
                .post_message(runner, text, Some(blocks), None)
                .await?;
            record_runner_dm(ctx, *run_id, DmKind::Assignment, &posted).await?;
            Ok(Delivered::Sent)
        }
        SlackMessage::RunnerDmsOver {
            run_id,
            cancelled_by,
        } => {
            let mut conn = ctx.pool.acquire().await?;
            let Some((text, blocks)) =
                runner_dms::ended_view(&mut conn, *run_id, cancelled_by.as_deref()).await?
            else {
                return Ok(Delivered::Skipped);
            };
            for dm in dm_records::of_run(&mut conn, *run_id).await? {
                let wait = reserve_slot(ctx, &mut conn).await?;
                pause(wait).await;
                ctx.slack
                    .update_message(&dm.channel_id, &dm.ts, &text, Some(&blocks))
                    .await?;
            }
            Ok(Delivered::Sent)
        }
        SlackMessage::PublishHome {
            workspace_id,
            user_id,
        } => {
            // The slot first: a job that must wait for one keeps its claim, so openings
            // meanwhile add no publishes.
            let wait = reserve_slot(ctx, &mut *ctx.pool.acquire().await?).await?;
            let view = app_home::home_view(&ctx.pool, &ctx.rules, workspace_id, user_id).await?;
            pause(wait).await;
            ctx.slack.publish_view(user_id, &view).await?;
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

/// Records where one of the runner's DMs went. Should the run have ended meanwhile (its
/// `RunnerDmsOver` may have run before this record), the DM is redrawn as ended at once;
/// both redrawing is harmless.
pub(super) async fn record_runner_dm(
    ctx: &JobContext,
    run_id: Uuid,
    kind: DmKind,
    posted: &PostedMessage,
) -> Result<(), DeliveryError> {
    let mut conn = ctx.pool.acquire().await?;
    dm_records::record(&mut conn, run_id, kind, &posted.channel, &posted.ts).await?;
    if let Some((text, blocks)) = runner_dms::ended_view(&mut conn, run_id, None).await? {
        let wait = reserve_slot(ctx, &mut conn).await?;
        drop(conn);
        pause(wait).await;
        ctx.slack
            .update_message(&posted.channel, &posted.ts, &text, Some(&blocks))
            .await?;
    }
    Ok(())
}

/// Where a thread reply's run and its root message stand.
enum Thread {
    Posted {
        channel_id: String,
        thread_ts: String,
    },
    /// Not posted yet, and a `RunSummary` job is still trying to.
    Coming,
    /// Not posted, and nothing is trying any more: the root post (this job, if it is
    /// still on record) was given up.
    Abandoned {
        root_post: Option<String>,
    },
    RunGone,
}

/// Reads the run's thread and, when it has none, whether a root post is still queued or
/// running. The job is read before the run a second time: a root post stores its `ts`
/// before its job is acknowledged, so a root post found finished has its `ts` visible to
/// the read that follows.
async fn thread_of(conn: &mut PgConnection, run_id: Uuid) -> Result<Thread, sqlx::Error> {
    let Some(thread) = runs::thread(conn, run_id).await? else {
        return Ok(Thread::RunGone);
    };
    if let Some(thread_ts) = thread.thread_ts {
        return Ok(Thread::Posted {
            channel_id: thread.channel_id,
            thread_ts,
        });
    }
    let root_post = serde_json::to_value(SlackMessage::RunSummary { run_id })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let posts = job_queue::matching(conn, SlackMessage::QUEUE, &root_post).await?;
    let Some(thread) = runs::thread(conn, run_id).await? else {
        return Ok(Thread::RunGone);
    };
    Ok(match (thread.thread_ts, posts.live) {
        (Some(thread_ts), _) => Thread::Posted {
            channel_id: thread.channel_id,
            thread_ts,
        },
        (None, Some(true)) => Thread::Coming,
        (None, _) => Thread::Abandoned {
            root_post: posts.last_id,
        },
    })
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
        status: run.status,
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
pub(super) async fn reserve_slot(
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

pub(super) async fn pause(wait: Duration) {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}
