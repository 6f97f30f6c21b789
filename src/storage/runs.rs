//! `coffee_runs` queries.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{
    PgConnection, PgPool, Postgres,
    error::BoxDynError,
    pool::PoolConnection,
    postgres::{PgTypeInfo, PgValueRef},
    types::Json,
};
use uuid::Uuid;

use super::slack_pacer::Slot;
use super::{
    events,
    job_queue::{self, Job, UnitOfWork},
    orders::OrderLine,
};
use crate::domain::{DomainEvent, RunStatus};

/// The columns the order flow and the root message need.
#[derive(Debug, Clone)]
pub struct Run {
    pub run_id: Uuid,
    pub workspace_id: String,
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub thread_ts: Option<String>,
}

/// A run's status as the database stores it: the `run_status` enum, or its label as text
/// (what the SQL functions return).
impl sqlx::Type<Postgres> for RunStatus {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("run_status")
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        *ty == Self::type_info() || <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for RunStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let label = <&str as sqlx::Decode<Postgres>>::decode(value)?;
        Ok(RunStatus::try_from(label.to_owned())?)
    }
}

/// A run's turn to redraw its root message.
///
/// Refreshes of one run take turns, so an older render never lands after a newer one and
/// two first posts never race. The turn is a session-level advisory lock on the connection
/// this holds (key: the SQL function `summary_turn_key`, as every release has spelled it,
/// so replicas of older releases take turns with this one). One statement takes the turn,
/// claims the queued refresh, reads the run and its orders and reserves the Slack slot
/// (`begin_summary_refresh`, `storage/sql/summary_refresh.sql`); one stores a first post's `ts`
/// and gives the turn up (`end_summary_refresh`).
///
/// A session lock outlives transactions, so a connection still holding it must never go
/// back to the pool: [`SummaryTurn::end`] unlocks it, and a turn dropped without ending (an
/// error, a cancelled job) closes its connection instead, which releases the lock.
pub struct SummaryTurn {
    conn: Option<PoolConnection<Postgres>>,
    run_id: Uuid,
    /// What the claim found, or `None` when the run no longer exists.
    pub claimed: Option<Claimed>,
}

/// A claimed refresh: the run as the claim left it, its orders and the Slack slot.
#[derive(Debug)]
pub struct Claimed {
    pub run: Run,
    pub lines: Vec<OrderLine>,
    pub slot: Slot,
}

impl SummaryTurn {
    /// Takes the turn and the queued refresh (anything that changes the run after this
    /// queues a refresh of its own) and asks for a Slack slot `slot_interval` after the
    /// last, within `max_wait`. `None` when another refresh of this run holds the turn.
    pub async fn take(
        pool: &PgPool,
        run_id: Uuid,
        slot_interval: Duration,
        max_wait: Duration,
    ) -> Result<Option<Self>, sqlx::Error> {
        let mut turn = Self {
            conn: Some(pool.acquire().await?),
            run_id,
            claimed: None,
        };
        let row = sqlx::query!(
            r#"SELECT taken AS "taken!", slot_wait_secs, slot_reserved,
                      lines AS "lines: Json<Vec<OrderLine>>",
                      run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                      status AS "status: RunStatus", created_at, thread_ts
               FROM begin_summary_refresh($1, $2, $3)"#,
            run_id,
            slot_interval.as_secs_f64(),
            max_wait.as_secs_f64(),
        )
        .fetch_one(turn.conn())
        .await?;
        if !row.taken {
            // Nothing is held: the connection can go back to the pool as it is.
            turn.conn.take();
            return Ok(None);
        }
        // A run that does not exist comes back with every column but `taken` NULL.
        if let (
            Some(run_id),
            Some(workspace_id),
            Some(channel_id),
            Some(initiator_user_id),
            Some(status),
            Some(created_at),
            Some(Json(lines)),
            Some(wait_secs),
            Some(reserved),
        ) = (
            row.run_id,
            row.workspace_id,
            row.channel_id,
            row.initiator_user_id,
            row.status,
            row.created_at,
            row.lines,
            row.slot_wait_secs,
            row.slot_reserved,
        ) {
            turn.claimed = Some(Claimed {
                run: Run {
                    run_id,
                    workspace_id,
                    channel_id,
                    initiator_user_id,
                    runner_user_id: row.runner_user_id,
                    status,
                    created_at,
                    thread_ts: row.thread_ts,
                },
                lines,
                slot: Slot::from_reservation(wait_secs, reserved, max_wait),
            });
        }
        Ok(Some(turn))
    }

    /// The connection holding the turn.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("a turn holds its connection until it ends")
    }

    /// Gives the turn up; the connection goes back to the pool.
    pub async fn end(self) -> Result<(), sqlx::Error> {
        self.end_with(None).await.map(|_| ())
    }

    /// Stores the `ts` of the run's first root message, unless one is stored already
    /// (whether it was comes back), and gives the turn up in the same statement.
    pub async fn end_posted(self, ts: &str) -> Result<bool, sqlx::Error> {
        self.end_with(Some(ts)).await
    }

    async fn end_with(mut self, ts: Option<&str>) -> Result<bool, sqlx::Error> {
        let stored = sqlx::query_scalar!(
            r#"SELECT end_summary_refresh($1, $2) AS "stored!""#,
            self.run_id,
            ts,
        )
        .fetch_one(self.conn())
        .await?;
        self.conn.take();
        Ok(stored)
    }
}

impl Drop for SummaryTurn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

pub async fn find(conn: &mut PgConnection, run_id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"SELECT run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                  status AS "status: RunStatus", created_at, thread_ts
           FROM coffee_runs WHERE run_id = $1"#,
        run_id,
    )
    .fetch_optional(conn)
    .await
}

/// The run, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, run_id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"SELECT run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                  status AS "status: RunStatus", created_at, thread_ts
           FROM coffee_runs WHERE run_id = $1 FOR NO KEY UPDATE"#,
        run_id,
    )
    .fetch_optional(conn)
    .await
}

/// Makes `runner` the run's runner, once (REQ-008's atomic update). False if the run has
/// a runner or is no longer active. A trigger writes the participants' carpool shares to
/// `run_shares` (`storage/sql/run_shares_follow_run.sql`).
pub async fn set_runner(
    conn: &mut PgConnection,
    run_id: Uuid,
    runner: &str,
    volunteered: bool,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE coffee_runs
         SET runner_user_id = $2, assigned_at = NOW(), volunteered = $3
         WHERE run_id = $1 AND runner_user_id IS NULL AND status = 'active'",
        run_id,
        runner,
        volunteered,
    )
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Ends an active run as `completed` or `cancelled` (a trigger takes a cancelled run's
/// shares out of `run_shares`). False if the run was not active.
pub async fn finish(
    conn: &mut PgConnection,
    run_id: Uuid,
    completed: bool,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE coffee_runs
         SET status = CASE WHEN $2 THEN 'completed'::run_status ELSE 'cancelled'::run_status END,
             completed_at = CASE WHEN $2 THEN NOW() END,
             cancelled_at = CASE WHEN $2 THEN NULL ELSE NOW() END
         WHERE run_id = $1 AND status = 'active'",
        run_id,
        completed,
    )
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The run if its runner is still to be reminded: active, with a runner, not reminded.
pub async fn awaiting_reminder(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"SELECT run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                  status AS "status: RunStatus", created_at, thread_ts
           FROM coffee_runs
           WHERE run_id = $1 AND status = 'active' AND reminder_sent_at IS NULL
             AND runner_user_id IS NOT NULL"#,
        run_id,
    )
    .fetch_optional(conn)
    .await
}

/// Stamps `reminder_sent_at` and records `event` (`record_event`: its audit row, and its
/// outbox event when it has a topic) in one statement, so both or neither commit, unless the run is over, was reminded already, or
/// has a runner other than `runner`. The update takes the run's row lock, so it sees a
/// completion or cancellation that committed first.
pub async fn mark_reminded(
    conn: &mut PgConnection,
    run_id: Uuid,
    runner: &str,
    event: &DomainEvent,
) -> Result<bool, sqlx::Error> {
    let recorded = sqlx::query!(
        "WITH reminded AS (
             UPDATE coffee_runs SET reminder_sent_at = NOW()
             WHERE run_id = $1 AND status = 'active' AND reminder_sent_at IS NULL
               AND runner_user_id = $2
             RETURNING run_id
         )
         SELECT record_event($3) FROM reminded",
        run_id,
        runner,
        Json(events::row(event)) as _,
    )
    .fetch_optional(conn)
    .await?;
    Ok(recorded.is_some())
}

/// Whether `user_id` has an order in the run.
pub async fn is_participant(
    conn: &mut PgConnection,
    run_id: Uuid,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM orders WHERE run_id = $1 AND user_id = $2) AS "found!""#,
        run_id,
        user_id,
    )
    .fetch_one(conn)
    .await
}

/// Leaves `user_id` out of this run's runner candidates (idempotent).
pub async fn opt_out(
    conn: &mut PgConnection,
    run_id: Uuid,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO run_opt_outs (run_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        run_id,
        user_id,
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The channel's active run, unlocked.
pub async fn find_active(
    pool: &sqlx::PgPool,
    workspace_id: &str,
    channel_id: &str,
) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as!(
        Run,
        r#"SELECT run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                  status AS "status: RunStatus", created_at, thread_ts
           FROM coffee_runs WHERE workspace_id = $1 AND channel_id = $2 AND status = 'active'"#,
        workspace_id,
        channel_id,
    )
    .fetch_optional(pool)
    .await
}

/// One line of `/coffee-history`.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub run_id: Uuid,
    pub channel_id: String,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub runner_user_id: Option<String>,
    pub order_count: i64,
}

/// The user's last `limit` runs as initiator, runner or participant, newest first (REQ-014).
///
/// Each run is fetched by its key: the `LIMIT 1` keeps PostgreSQL from flattening the
/// lateral lookup into a join, which it planned as a hash join over a sequential scan of
/// every run (1,600 runs in the load benchmark: a third of the query's time, growing with
/// the table).
pub async fn history(
    conn: &mut PgConnection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    sqlx::query_as!(
        HistoryEntry,
        r#"SELECT r.run_id AS "run_id!", r.channel_id AS "channel_id!",
                r.status AS "status!: RunStatus", r.created_at AS "created_at!",
                r.runner_user_id,
                (SELECT count(*) FROM orders o WHERE o.run_id = r.run_id) AS "order_count!"
         FROM (SELECT DISTINCT run_id FROM (
                  (SELECT run_id FROM coffee_runs WHERE initiator_user_id = $1
                   ORDER BY created_at DESC LIMIT $2)
                  UNION ALL
                  (SELECT run_id FROM coffee_runs WHERE runner_user_id = $1
                   ORDER BY created_at DESC LIMIT $2)
                  UNION ALL
                  (SELECT run_id FROM orders WHERE user_id = $1
                   ORDER BY created_at DESC LIMIT $2)
              ) AS candidates) AS mine
         CROSS JOIN LATERAL (
             SELECT run_id, channel_id, status, created_at, runner_user_id
             FROM coffee_runs WHERE run_id = mine.run_id LIMIT 1
         ) AS r
         ORDER BY r.created_at DESC
         LIMIT $2"#,
        user_id,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// Every column the REST API shows of a run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: Uuid,
    pub workspace_id: String,
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    pub status: RunStatus,
    pub volunteered: bool,
    pub created_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub reminder_sent_at: Option<DateTime<Utc>>,
}

pub async fn record(pool: &sqlx::PgPool, run_id: Uuid) -> Result<Option<RunRecord>, sqlx::Error> {
    sqlx::query_as!(
        RunRecord,
        r#"SELECT run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                  status AS "status: RunStatus", volunteered, created_at, assigned_at,
                  completed_at, cancelled_at, reminder_sent_at
           FROM coffee_runs WHERE run_id = $1"#,
        run_id,
    )
    .fetch_optional(pool)
    .await
}

/// The workspaces with a run over the window (`fairness_run_count_stddev`).
pub async fn workspaces_with_runs(
    pool: &sqlx::PgPool,
    window_days: u32,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT DISTINCT workspace_id FROM coffee_runs
         WHERE created_at > NOW() - make_interval(days => $1)",
        i32::try_from(window_days).unwrap_or(i32::MAX),
    )
    .fetch_all(pool)
    .await
}

/// Runs made per active user of a workspace over the window (`/fairness`): everyone who
/// ordered in a run of the workspace, with 0 for those who never ran.
pub async fn runs_per_user(
    pool: &sqlx::PgPool,
    workspace_id: &str,
    window_days: u32,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"WITH window_runs AS (
             SELECT run_id, runner_user_id FROM coffee_runs
             WHERE workspace_id = $1 AND created_at > NOW() - make_interval(days => $2)
               AND status <> 'cancelled'
           )
           SELECT o.user_id AS "user_id!",
                  (SELECT count(*) FROM window_runs w WHERE w.runner_user_id = o.user_id)
                  AS "runs!"
           FROM (SELECT DISTINCT o.user_id FROM orders o JOIN window_runs w USING (run_id)) o
           ORDER BY o.user_id"#,
        workspace_id,
        i32::try_from(window_days).unwrap_or(i32::MAX),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.user_id, row.runs))
        .collect())
}

/// An active run as a user's Home tab lists it.
#[derive(Debug, Clone)]
pub struct ActiveRun {
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub order_count: i64,
    /// `user_id`'s order in it, if they ordered.
    pub drink_type: Option<String>,
    pub size: Option<String>,
    pub customizations: Option<String>,
}

/// The active runs of `workspace_id`, those `user_id` ordered in first, then the newest;
/// at most `limit`.
pub async fn active_in_workspace(
    conn: &mut PgConnection,
    workspace_id: &str,
    user_id: &str,
    limit: u32,
) -> Result<Vec<ActiveRun>, sqlx::Error> {
    sqlx::query_as!(
        ActiveRun,
        r#"SELECT r.channel_id, r.initiator_user_id, r.runner_user_id, r.created_at,
                  (SELECT count(*) FROM orders o WHERE o.run_id = r.run_id) AS "order_count!",
                  mine.drink_type AS "drink_type?", mine.size AS "size?",
                  mine.customizations AS "customizations?"
           FROM coffee_runs r
           LEFT JOIN orders mine ON mine.run_id = r.run_id AND mine.user_id = $2
           WHERE r.workspace_id = $1 AND r.status = 'active'
           ORDER BY (mine.user_id IS NOT NULL) DESC, r.created_at DESC
           LIMIT $3"#,
        workspace_id,
        user_id,
        i64::from(limit),
    )
    .fetch_all(conn)
    .await
}

/// A workspace's last 7 days: runs started and not cancelled, and the users who ordered in
/// them (the SPEC's "weekly active runs per 20 users").
pub async fn last_week(pool: &PgPool, workspace_id: &str) -> Result<(i64, i64), sqlx::Error> {
    let week = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM coffee_runs
              WHERE workspace_id = $1 AND created_at > NOW() - INTERVAL '7 days'
                AND status <> 'cancelled') AS "runs!",
             (SELECT count(DISTINCT o.user_id) FROM orders o JOIN coffee_runs r USING (run_id)
              WHERE r.workspace_id = $1 AND r.created_at > NOW() - INTERVAL '7 days'
                AND r.status <> 'cancelled'
                AND o.created_at > NOW() - INTERVAL '7 days') AS "users!""#,
        workspace_id,
    )
    .fetch_one(pool)
    .await?;
    Ok((week.runs, week.users))
}

/// Runs with status active, in every workspace.
pub async fn count_active(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM coffee_runs WHERE status = 'active'"#)
        .fetch_one(pool)
        .await
}

/// Queues `refresh`, the job that redraws the run's root message, unless one is queued
/// already (`mark_summary_stale`): a burst of changes costs one redraw, and none goes
/// unshown, since the job takes the run's row lock before it reads.
pub async fn queue_summary_refresh<J: Job>(
    work: &mut UnitOfWork<'_>,
    refresh: &J,
    run_id: Uuid,
) -> Result<(), sqlx::Error> {
    let queued = sqlx::query_scalar!(
        r#"SELECT queue_summary_refresh($1, $2, $3) AS "queued!""#,
        run_id,
        Json(job_queue::row(refresh)) as _,
        job_queue::new_id(),
    )
    .fetch_one(work.conn())
    .await?;
    if queued {
        work.made_due(J::QUEUE);
    }
    Ok(())
}

/// Where a run's thread is: its channel, and its root message's `ts` once posted.
#[derive(Debug, Clone)]
pub struct RunThread {
    pub channel_id: String,
    pub thread_ts: Option<String>,
}

pub async fn thread(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Option<RunThread>, sqlx::Error> {
    sqlx::query_as!(
        RunThread,
        "SELECT channel_id, thread_ts FROM coffee_runs WHERE run_id = $1",
        run_id,
    )
    .fetch_optional(conn)
    .await
}
