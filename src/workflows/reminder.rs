//! The runner's reminder (REQ-011, AC3).

use sqlx::PgPool;
use uuid::Uuid;

use super::{scope, summary_lines};
use crate::{
    domain::DomainEvent,
    jobs::{self, SlackMessage},
    slack::views,
    storage::{events, runs},
};

/// DMs the runner their reminder unless the run is over or was reminded already.
/// `reminder_sent_at` is stamped when the DM is queued: the DM is a durable job from then on.
pub async fn remind_runner(pool: &PgPool, run_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(run) = runs::lock(&mut tx, run_id).await? else {
        return Ok(false);
    };
    let Some(runner) = run.runner_user_id.clone() else {
        return Ok(false);
    };
    if !runs::mark_reminded(&mut tx, run_id).await? {
        return Ok(false);
    }
    events::record(&mut tx, &DomainEvent::reminder_sent(&scope(&run), &runner)).await?;
    let lines = summary_lines(&mut tx, run_id).await?;
    let (text, blocks) = views::runner_dm(run_id, &run.channel_id, &lines, true);
    let dm = SlackMessage::Post {
        channel: runner,
        text,
        blocks: Some(blocks),
        thread_ts: None,
    };
    jobs::enqueue(&mut tx, &dm, None).await?;
    tx.commit().await?;
    Ok(true)
}
