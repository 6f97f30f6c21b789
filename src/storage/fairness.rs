//! The history the fairness rule weighs, for each participant of one run.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::fairness::Candidate;

/// The candidates query (`queries/candidates.sql`): $1 run, $2 workspace, $3 as of, $4
/// fairness window days, $5 active window days, $6 compute carpool shares. Public for the
/// scale check's EXPLAIN.
pub const CANDIDATES_SQL: &str = include_str!("queries/candidates.sql");

/// A candidate as both queries return one.
struct Row {
    user_id: String,
    runs: i64,
    last_run_at: Option<DateTime<Utc>>,
    fair_share: f64,
    active: bool,
    opted_out: bool,
}

impl From<Row> for Candidate {
    fn from(r: Row) -> Self {
        Candidate {
            user_id: r.user_id,
            runs: u32::try_from(r.runs).unwrap_or(u32::MAX),
            last_run_at: r.last_run_at,
            fair_share: r.fair_share,
            active: r.active,
            opted_out: r.opted_out,
            unavailable: None,
        }
    }
}

/// Each participant of `run_id` with their runs as runner in the workspace over the
/// `fairness_window_days` before `as_of` (cancelled runs do not count), their carpool
/// fair share over the same runs, whether they ordered within `active_window_days`, and
/// whether they opted out of this run. `as_of` is now, except in the fairness simulation;
/// `with_shares` computes the carpool fair shares (else they are 0).
pub async fn candidates(
    conn: &mut PgConnection,
    run_id: Uuid,
    workspace_id: &str,
    fairness_window_days: u32,
    active_window_days: u32,
    as_of: DateTime<Utc>,
    with_shares: bool,
) -> Result<Vec<Candidate>, sqlx::Error> {
    // Only the participants' history is read, each from one index range: `made` from the
    // fairness index (workspace, runner, created_at; cancelled runs are not in it), the
    // carpool shares (only computed under that policy) from the `run_shares` ledger,
    // counted per run size first so that only a handful of exact (numeric) divisions
    // remain.
    let rows = sqlx::query_file_as!(
        Row,
        "src/storage/queries/candidates.sql",
        run_id,
        workspace_id,
        as_of,
        i32::try_from(fairness_window_days).unwrap_or(i32::MAX),
        i32::try_from(active_window_days).unwrap_or(i32::MAX),
        with_shares,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Candidate::from).collect())
}

/// Everyone active in `workspace_id` over the fairness window (they ordered in one of its
/// runs), with their history as candidates of one run that holds them all: the ledger's
/// input (`fairness::ledger`). At most `limit`, those with the fewest runs first.
pub async fn ledger_members(
    conn: &mut PgConnection,
    workspace_id: &str,
    fairness_window_days: u32,
    with_shares: bool,
    limit: u32,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let rows = sqlx::query_file_as!(
        Row,
        "src/storage/queries/ledger.sql",
        workspace_id,
        i32::try_from(fairness_window_days).unwrap_or(i32::MAX),
        with_shares,
        i64::from(limit),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Candidate::from).collect())
}
