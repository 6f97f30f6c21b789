//! `coffee_runs` queries.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// The columns the order flow and the root message need.
#[derive(Debug, Clone, FromRow)]
pub struct Run {
    pub run_id: Uuid,
    pub workspace_id: String,
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub thread_ts: Option<String>,
    pub summary_version: i32,
}

/// The columns of [`Run`]; a macro so queries stay `&'static str` literals.
macro_rules! run_columns {
    () => {
        "run_id, workspace_id, channel_id, initiator_user_id, runner_user_id, \
         status::text AS status, created_at, thread_ts, summary_version"
    };
}

/// Starts the channel's run unless one is active. `None` means another run is active (the
/// partial unique index decides, so concurrent first orders cannot both create one).
pub async fn create_if_none_active(
    conn: &mut PgConnection,
    workspace_id: &str,
    channel_id: &str,
    initiator_user_id: &str,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO coffee_runs (workspace_id, channel_id, initiator_user_id)
         VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, channel_id) WHERE status = 'active' DO NOTHING
         RETURNING ",
        run_columns!()
    ))
    .bind(workspace_id)
    .bind(channel_id)
    .bind(initiator_user_id)
    .fetch_optional(conn)
    .await
}

/// The channel's active run, locked until the transaction ends so orders and assignment
/// take turns.
pub async fn lock_active(
    conn: &mut PgConnection,
    workspace_id: &str,
    channel_id: &str,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM coffee_runs
         WHERE workspace_id = $1 AND channel_id = $2 AND status = 'active'
         FOR NO KEY UPDATE"
    ))
    .bind(workspace_id)
    .bind(channel_id)
    .fetch_optional(conn)
    .await
}

/// Marks the root message stale; returns the new version and the run's order count.
pub async fn bump_summary_version(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<(i32, i64), sqlx::Error> {
    sqlx::query_as(
        "UPDATE coffee_runs SET summary_version = summary_version + 1
         WHERE run_id = $1
         RETURNING summary_version, (SELECT count(*) FROM orders WHERE run_id = $1)",
    )
    .bind(run_id)
    .fetch_one(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, run_id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM coffee_runs WHERE run_id = $1"
    ))
    .bind(run_id)
    .fetch_optional(conn)
    .await
}

/// Stores the root message's `ts` unless one is stored already.
pub async fn set_thread_ts(
    conn: &mut PgConnection,
    run_id: Uuid,
    ts: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE coffee_runs SET thread_ts = $2 WHERE run_id = $1 AND thread_ts IS NULL",
    )
    .bind(run_id)
    .bind(ts)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}
