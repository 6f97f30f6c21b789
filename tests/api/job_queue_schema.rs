//! What CoffeeBuddy assumes of apalis' schema (`storage::job_queue`), pinned against a
//! database that only apalis' own migrations made: an apalis upgrade that changes any of
//! it fails here, not at run time.

use apalis::prelude::Status;
use coffeebuddy::storage::{job_queue, schema::FUNCTION_FILES};
use sqlx::PgPool;

use crate::helpers::TestDatabase;

async fn apalis_only() -> (TestDatabase, PgPool) {
    let database = TestDatabase::fresh();
    let pool = database.create().await;
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .expect("apalis' migrations apply");
    (database, pool)
}

/// `text` with its whitespace runs made one space.
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_job_table_has_the_columns_our_statements_use() {
    let (_database, pool) = apalis_only().await;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, udt_name::text, is_nullable::text
         FROM information_schema.columns
         WHERE table_schema = 'apalis' AND table_name = 'jobs'
         ORDER BY column_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected = [
        ("attempts", "int4", "NO"),
        ("done_at", "timestamptz", "YES"),
        ("id", "text", "NO"),
        ("idempotency_key", "text", "YES"),
        ("job", "bytea", "NO"),
        ("job_type", "text", "NO"),
        ("last_result", "jsonb", "YES"),
        ("lock_at", "timestamptz", "YES"),
        ("lock_by", "text", "YES"),
        ("max_attempts", "int4", "NO"),
        ("metadata", "hstore", "YES"),
        ("priority", "int4", "YES"),
        ("run_at", "timestamptz", "NO"),
        ("status", "text", "NO"),
    ];
    let columns: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|(c, t, n)| (c.as_str(), t.as_str(), n.as_str()))
        .collect();
    assert_eq!(columns, expected);

    // `push_once` tells a duplicate tick by this unique index.
    let unique_key: bool = sqlx::query_scalar(
        "SELECT indisunique FROM pg_index
         WHERE indexrelid = 'apalis.idx_jobs_idempotency_key'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(unique_key);
}

#[tokio::test]
async fn a_runner_registers_as_apalis_workers_do() {
    // `jobs::run_due` locks the jobs it takes by a runner of its own: `lock_by` must name a
    // row of `apalis.workers`.
    let (_database, pool) = apalis_only().await;
    job_queue::register_runner(&pool, "run-due-test")
        .await
        .unwrap();
    job_queue::register_runner(&pool, "run-due-test")
        .await
        .unwrap();
    let lock_by_names_a_worker: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint
                        WHERE conrelid = 'apalis.jobs'::regclass AND contype = 'f'
                          AND confrelid = 'apalis.workers'::regclass)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(lock_by_names_a_worker);
}

#[tokio::test]
async fn the_status_strings_are_apalis_own() {
    let apalis: Vec<String> = [
        Status::Pending,
        Status::Queued,
        Status::Running,
        Status::Done,
        Status::Failed,
        Status::Killed,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(apalis, job_queue::STATUSES);
}

#[tokio::test]
async fn apalis_announces_inserts_on_our_channel_by_the_trigger_we_drop() {
    let (_database, pool) = apalis_only().await;
    let notifier: Option<String> = sqlx::query_scalar(
        "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE t.tgrelid = 'apalis.jobs'::regclass AND t.tgname = 'notify_workers'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    let notifier = notifier.expect("apalis' insert trigger is named notify_workers");
    assert!(
        notifier.contains(&format!("'{}'", job_queue::CHANNEL)),
        "{notifier}"
    );
    let (_, drop_it) = FUNCTION_FILES
        .iter()
        .find(|(file, _)| *file == "job_queue/announce_after_commit.sql")
        .unwrap();
    assert!(drop_it.contains("DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs"));
}

#[tokio::test]
async fn our_job_fetch_runs_apalis_own_statement() {
    let (_database, pool) = apalis_only().await;
    let (language, upstream): (String, String) = sqlx::query_as(
        "SELECT l.lanname::text, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.oid = 'apalis.get_jobs(text, text, integer)'::regprocedure",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        language, "sql",
        "apalis' fetch is no longer plain SQL: review get_jobs.sql"
    );
    let (_, ours) = FUNCTION_FILES
        .iter()
        .find(|(file, _)| *file == "job_queue/get_jobs.sql")
        .unwrap();
    let body = ours.split("$$").nth(1).expect("a dollar-quoted body");
    let statement = squeezed(body)
        .trim_start_matches("BEGIN RETURN QUERY")
        .trim_end_matches("END")
        .trim()
        .to_owned();
    assert_eq!(statement, squeezed(&upstream));
}
