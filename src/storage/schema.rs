//! The database's schema: apalis' migrations, then ours (`migrations/`, tables and indexes
//! only), then every SQL function and trigger from its one file, so each has exactly one
//! definition a reader can find, the one the database runs.
//!
//! The files are applied on every `migrate`, after the numbered migrations, with `CREATE
//! OR REPLACE`: idempotent, and safe while other replicas serve (one applier at a time, in
//! one transaction). A function whose arguments or result change needs the old one dropped
//! first, in its file (`DROP FUNCTION IF EXISTS` the old signature).
//! `tests/api/schema.rs` checks that the database's definitions equal these files.

use sqlx::{PgPool, Postgres, Transaction};

/// Every SQL function and trigger file, in the order applied (any order works: PL/pgSQL
/// resolves the names a body uses when it runs).
pub const FUNCTION_FILES: [(&str, &str); 10] = [
    ("record_event.sql", include_str!("sql/record_event.sql")),
    (
        "mark_summary_stale.sql",
        include_str!("sql/mark_summary_stale.sql"),
    ),
    ("place_order.sql", include_str!("sql/place_order.sql")),
    (
        "summary_refresh.sql",
        include_str!("sql/summary_refresh.sql"),
    ),
    (
        "reserve_slack_slot.sql",
        include_str!("sql/reserve_slack_slot.sql"),
    ),
    (
        "run_shares_follow_run.sql",
        include_str!("sql/run_shares_follow_run.sql"),
    ),
    (
        "job_queue/enqueue_job.sql",
        include_str!("job_queue/sql/enqueue_job.sql"),
    ),
    (
        "job_queue/get_jobs.sql",
        include_str!("job_queue/sql/get_jobs.sql"),
    ),
    (
        "job_queue/release_finished_job.sql",
        include_str!("job_queue/sql/release_finished_job.sql"),
    ),
    (
        "job_queue/announce_after_commit.sql",
        include_str!("job_queue/sql/announce_after_commit.sql"),
    ),
];

/// Serializes appliers across replicas for the length of one transaction.
const APPLY_LOCK: i64 = 0x636f_6666_6565_0001;

/// Applies apalis' migrations (its own `apalis` schema), ours, then the function files.
pub async fn migrate(pool: &PgPool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    apalis_postgres::PostgresStorage::setup(pool).await?;
    sqlx::migrate!("./migrations").run(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
        .execute(&mut *tx)
        .await?;
    apply_functions(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Each file is several statements (a function, perhaps a trigger) run as one script, so
/// it is not a query sqlx can check at build time: the schema tests run every file.
async fn apply_functions(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    for (_, sql) in FUNCTION_FILES {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
