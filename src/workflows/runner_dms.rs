//! The runner's DMs once the run is over (coffee's here, or cancelled): the assignment DM
//! and the reminder are redrawn in place, with the order list and without their Mark
//! complete button, saying how the run ended.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::summary_lines;
use crate::{
    domain::RunStatus,
    slack::views::{self, RunEnding},
    storage::runs,
};

/// What the runner's DMs should show now the run is over; `None` while it is active (or
/// gone). `cancelled_by` names who cancelled, when the caller knows.
pub async fn ended_view(
    conn: &mut PgConnection,
    run_id: Uuid,
    cancelled_by: Option<&str>,
) -> Result<Option<(String, Value)>, sqlx::Error> {
    let Some(run) = runs::find(conn, run_id).await? else {
        return Ok(None);
    };
    let ending = match run.status {
        RunStatus::Active => return Ok(None),
        RunStatus::Completed => RunEnding::Completed,
        RunStatus::Cancelled => RunEnding::Cancelled {
            by: cancelled_by.map(str::to_owned),
        },
    };
    let lines = summary_lines(conn, run_id).await?;
    Ok(Some(views::runner_dm_over(
        &run.channel_id,
        &lines,
        &ending,
    )))
}
