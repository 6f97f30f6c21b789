//! Where the runner's DMs for a run went (`runner_dms`), so they can be updated in place
//! once the run is over.

use sqlx::PgConnection;
use uuid::Uuid;

/// Which of the runner's DMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmKind {
    Assignment,
    Reminder,
}

impl DmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DmKind::Assignment => "assignment",
            DmKind::Reminder => "reminder",
        }
    }
}

/// A posted DM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerDm {
    pub kind: String,
    pub channel_id: String,
    pub ts: String,
}

/// Records where a DM went; a second post of the same kind (a retried job) replaces it.
pub async fn record(
    conn: &mut PgConnection,
    run_id: Uuid,
    kind: DmKind,
    channel_id: &str,
    ts: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO runner_dms (run_id, kind, channel_id, ts) VALUES ($1, $2, $3, $4)
         ON CONFLICT (run_id, kind) DO UPDATE SET channel_id = EXCLUDED.channel_id,
             ts = EXCLUDED.ts, posted_at = NOW()",
        run_id,
        kind.as_str(),
        channel_id,
        ts,
    )
    .execute(conn)
    .await
    .map(drop)
}

/// The run's posted DMs, assignment first.
pub async fn of_run(conn: &mut PgConnection, run_id: Uuid) -> Result<Vec<RunnerDm>, sqlx::Error> {
    sqlx::query_as!(
        RunnerDm,
        "SELECT kind, channel_id, ts FROM runner_dms WHERE run_id = $1 ORDER BY posted_at",
        run_id,
    )
    .fetch_all(conn)
    .await
}
