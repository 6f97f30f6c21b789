//! The history the fairness rule weighs, for each participant of one run.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::fairness::Candidate;

/// The candidates query: $1 run, $2 workspace, $3 as of, $4 fairness window days,
/// $5 active window days, $6 compute carpool shares. Public for the scale check's EXPLAIN.
pub const CANDIDATES_SQL: &str = "WITH participants AS (
             SELECT user_id FROM orders WHERE run_id = $1
         ), made AS (
             SELECT r.runner_user_id AS user_id, count(*) AS runs, max(r.created_at) AS last_run_at
             FROM coffee_runs r
             WHERE r.workspace_id = $2
               AND r.runner_user_id IN (SELECT user_id FROM participants)
               AND r.created_at > $3 - make_interval(days => $4)
               AND r.created_at <= $3
               AND r.status <> 'cancelled'
               AND r.run_id <> $1
             GROUP BY r.runner_user_id
         ), runs_by_size AS (
             SELECT s.user_id, s.participants, count(*) AS runs
             FROM run_shares s
             WHERE $6
               AND s.workspace_id = $2
               AND s.user_id IN (SELECT user_id FROM participants)
               AND s.run_created_at > $3 - make_interval(days => $4)
               AND s.run_created_at <= $3
               AND s.run_id <> $1
             GROUP BY s.user_id, s.participants
         ), shares AS (
             SELECT user_id, sum(runs::numeric / participants)::float8 AS fair_share
             FROM runs_by_size
             GROUP BY user_id
         )
         SELECT p.user_id,
                COALESCE(m.runs, 0) AS runs,
                m.last_run_at,
                COALESCE(s.fair_share, 0)::float8 AS fair_share,
                EXISTS (SELECT 1 FROM orders o WHERE o.user_id = p.user_id
                        AND o.created_at > $3 - make_interval(days => $5)
                        AND o.created_at <= $3) AS active,
                EXISTS (SELECT 1 FROM run_opt_outs x
                        WHERE x.run_id = $1 AND x.user_id = p.user_id) AS opted_out
         FROM participants p
         LEFT JOIN made m ON m.user_id = p.user_id
         LEFT JOIN shares s ON s.user_id = p.user_id";

#[derive(FromRow)]
struct Row {
    user_id: String,
    runs: i64,
    last_run_at: Option<DateTime<Utc>>,
    fair_share: f64,
    active: bool,
    opted_out: bool,
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
    let rows: Vec<Row> = sqlx::query_as(CANDIDATES_SQL)
        .bind(run_id)
        .bind(workspace_id)
        .bind(as_of)
        .bind(fairness_window_days as i32)
        .bind(active_window_days as i32)
        .bind(with_shares)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            user_id: r.user_id,
            runs: u32::try_from(r.runs).unwrap_or(u32::MAX),
            last_run_at: r.last_run_at,
            fair_share: r.fair_share,
            active: r.active,
            opted_out: r.opted_out,
        })
        .collect())
}
