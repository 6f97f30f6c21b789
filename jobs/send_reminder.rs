//! `send-reminder`: DMs the runner their reminder, `REMINDER_DELAY_SECS` after assignment,
//! and records it (`workflows::reminder`). A Slack call like any other, so it is paced and
//! retried under [`RetryPolicy::SLACK`](crate::domain::RetryPolicy::SLACK).

use apalis::prelude::{BoxDynError, Data, Meta, TaskId};
use uuid::Uuid;

use super::{
    JobContext, SendReminder,
    retry::Failures,
    send_slack_message::{Delivered, DeliveryError, pause, record_runner_dm, reserve_slot, settle},
};
use crate::{
    storage::runner_dms::DmKind,
    workflows::reminder::{due_reminder, record_reminder},
};

pub async fn handle(
    job: SendReminder,
    ctx: Data<JobContext>,
    failures: Meta<Failures>,
    task_id: TaskId,
) -> Result<(), BoxDynError> {
    let outcome = remind(&ctx, job.run_id).await;
    settle(&ctx, &failures, &task_id, outcome).await
}

/// Sends the reminder if it is still due, then records it. Should recording fail after the
/// DM went out, the retry sends it again: a second reminder beats a silent one.
async fn remind(ctx: &JobContext, run_id: Uuid) -> Result<Delivered, DeliveryError> {
    let mut conn = ctx.pool.acquire().await?;
    let Some(reminder) = due_reminder(&mut conn, run_id).await? else {
        tracing::debug!(%run_id, "no reminder due");
        return Ok(Delivered::Skipped);
    };
    let wait = reserve_slot(ctx, &mut conn).await?;
    drop(conn);
    pause(wait).await;
    let posted = ctx
        .slack
        .post_message(
            &reminder.runner,
            &reminder.text,
            Some(&reminder.blocks),
            None,
        )
        .await?;
    let recorded = record_reminder(&mut *ctx.pool.acquire().await?, &reminder).await?;
    record_runner_dm(ctx, run_id, DmKind::Reminder, &posted).await?;
    tracing::info!(%run_id, recorded, "reminder sent");
    Ok(Delivered::Sent)
}
