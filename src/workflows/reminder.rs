//! The runner's reminder (REQ-011, AC3): if the run is still active and no reminder was
//! sent, DM the runner, then set `reminder_sent_at`.
//!
//! The `send-reminder` job sends the DM itself (`jobs::send_reminder`) between
//! [`due_reminder`] and [`record_reminder`]: it is durable and retried like any Slack
//! call, so a second job for the DM would only add a queue round. The stamp follows the
//! DM, as CONTRACT orders it: a reminder that could not be sent is not recorded as sent.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{scope, summary_lines};
use crate::{
    domain::{DomainEvent, RunScope},
    slack::views,
    storage::runs,
};

/// A reminder to send: to whom, what, and for which run.
#[derive(Debug)]
pub struct DueReminder {
    pub runner: String,
    pub text: String,
    pub blocks: Value,
    scope: RunScope,
}

/// The reminder the run's runner is due, or `None` when the run is over, has no runner
/// or was reminded already.
pub async fn due_reminder(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<DueReminder>, sqlx::Error> {
    let Some(run) = runs::awaiting_reminder(conn, run_id).await? else {
        return Ok(None);
    };
    let Some(runner) = run.runner_user_id.clone() else {
        return Ok(None);
    };
    let lines = summary_lines(conn, run_id).await?;
    let (text, blocks) = views::runner_dm(run_id, &run.channel_id, &lines, true);
    Ok(Some(DueReminder {
        runner,
        text,
        blocks,
        scope: scope(&run),
    }))
}

/// Stamps `reminder_sent_at` with its audit row (reminders are audited only, not
/// published), in one statement, unless
/// the run ended (or another runner took it) while the DM was on its way. False then.
pub async fn record_reminder(
    conn: &mut PgConnection,
    reminder: &DueReminder,
) -> Result<bool, sqlx::Error> {
    let event = DomainEvent::reminder_sent(&reminder.scope, &reminder.runner);
    runs::mark_reminded(conn, reminder.scope.run_id, &reminder.runner, &event).await
}
