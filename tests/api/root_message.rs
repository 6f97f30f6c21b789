//! The run's root message: refreshes of one run take turns, and a turn is always given up,
//! whether the redraw succeeded, failed or was abandoned.

use std::time::Duration;

use coffeebuddy::storage::runs::SummaryTurn;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, database_url_of, spawn_app, spawn_app_tuned};

/// Slots as the test app's pacer hands them out; how long a refresh may wait for one.
const SLOT: Duration = Duration::from_millis(10);
const MAX_WAIT: Duration = Duration::from_secs(5);

async fn take(pool: &PgPool, run_id: Uuid) -> Option<SummaryTurn> {
    SummaryTurn::take(pool, run_id, SLOT, MAX_WAIT)
        .await
        .unwrap()
}

async fn order(app: &TestApp, user: &str, channel: &str) {
    let response = app
        .submit_order(user, channel, Some("Latte"), Some("Medium"), None)
        .await;
    assert_eq!(response.status(), 200);
}

/// U1's order starts a run in C1; returns it once its root message is posted.
async fn first_run(app: &TestApp) -> Uuid {
    order(app, "U1", "C1").await;
    app.wait_for_jobs().await;
    run_in(&app.pool, "C1").await
}

async fn thread_ts(pool: &PgPool, run_id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT thread_ts FROM coffee_runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn run_in(pool: &PgPool, channel: &str) -> Uuid {
    sqlx::query_scalar("SELECT run_id FROM coffee_runs WHERE channel_id = $1")
        .bind(channel)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The lock key of a run's turn, as every release has spelled it.
fn turn_key(run_id: Uuid) -> String {
    format!("run-summary:{run_id}")
}

async fn try_lock(conn: &mut PgConnection, run_id: Uuid) -> bool {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(turn_key(run_id))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn unlock(conn: &mut PgConnection, run_id: Uuid) {
    let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(turn_key(run_id))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(released);
}

/// Advisory locks held by any session but the caller's.
async fn advisory_locks_held(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks
         WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

fn texts(renders: &[Value]) -> Vec<&str> {
    renders.iter().filter_map(|r| r["text"].as_str()).collect()
}

#[tokio::test]
async fn a_refresh_waits_while_another_holds_the_runs_turn() {
    let app = spawn_app().await;
    let run_id = first_run(&app).await;

    // The turn taken the way the previous release took it: a transaction-scoped lock.
    let mut other = PgConnection::connect(&database_url_of(&app)).await.unwrap();
    let mut old_replica = other.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(turn_key(run_id))
        .execute(&mut *old_replica)
        .await
        .unwrap();
    order(&app, "U2", "C1").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        app.slack_calls("chat.update").await.is_empty(),
        "no redraw while the turn is held"
    );

    old_replica.commit().await.unwrap();
    app.wait_for_jobs().await;
    let renders = app.root_renders("C1").await;
    assert_eq!(
        texts(&renders),
        [
            "☕ Coffee run started by <@U1> — 1 order",
            "☕ Coffee run started by <@U1> — 2 orders"
        ]
    );
    assert_eq!(advisory_locks_held(&app.pool).await, 0);
}

#[tokio::test]
async fn a_failed_redraw_gives_its_turn_up_for_the_retry() {
    let app = spawn_app().await;
    order(&app, "U1", "C1").await;
    app.wait_for_jobs().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.slack)
        .await;

    order(&app, "U2", "C1").await;
    app.wait_for_jobs().await;
    let updates = app.slack_calls("chat.update").await;
    assert_eq!(updates.len(), 2, "a 503, then the retry: {updates:?}");
    assert_eq!(
        updates[1]["text"],
        "☕ Coffee run started by <@U1> — 2 orders"
    );
    assert_eq!(advisory_locks_held(&app.pool).await, 0);
}

#[tokio::test]
async fn a_turn_is_exclusive_until_ended_or_dropped() {
    let app = spawn_app().await;
    let run_id = first_run(&app).await;
    let mut probe = PgConnection::connect(&database_url_of(&app)).await.unwrap();

    let turn = take(&app.pool, run_id).await.expect("the turn is free");
    assert_eq!(turn.claimed.as_ref().map(|c| c.run.run_id), Some(run_id));
    assert!(take(&app.pool, run_id).await.is_none());
    assert!(!try_lock(&mut probe, run_id).await, "held across sessions");
    turn.end().await.unwrap();
    assert!(try_lock(&mut probe, run_id).await, "ended: free at once");
    unlock(&mut probe, run_id).await;

    // Dropped without ending (a failed or cancelled job): its connection is closed rather
    // than pooled with the lock still held.
    let abandoned = take(&app.pool, run_id).await;
    assert!(abandoned.is_some());
    drop(abandoned);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !try_lock(&mut probe, run_id).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the abandoned turn's lock went with its connection"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unlock(&mut probe, run_id).await;
    assert_eq!(advisory_locks_held(&app.pool).await, 0);

    // A run that is gone: the turn is taken (and must be ended) but holds no run.
    let gone = take(&app.pool, Uuid::new_v4())
        .await
        .expect("nobody holds an unknown run's turn");
    assert!(gone.claimed.is_none());
    gone.end().await.unwrap();
    assert_eq!(advisory_locks_held(&app.pool).await, 0);
}

#[tokio::test]
async fn a_turn_claims_the_refresh_reads_the_orders_and_takes_a_slot_in_one_go() {
    // The second order's refresh waits a minute, so this test's turn is the one to claim it.
    let app = spawn_app_tuned(&[], |options| {
        options.summary_refresh_delay = Duration::from_secs(60)
    })
    .await;
    let run_id = first_run(&app).await;
    order(&app, "U2", "C1").await;
    let queued = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT summary_refresh_queued_at IS NOT NULL FROM coffee_runs WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert!(queued().await, "the second order queued a refresh");
    let tat = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT tat FROM slack_rate_limit WHERE id = 1",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let before = tat().await;

    let turn = take(&app.pool, run_id).await.expect("the turn is free");
    let claimed = turn.claimed.as_ref().expect("the run exists");
    assert!(!queued().await, "the claim cleared the mark");
    let users: Vec<&str> = claimed.lines.iter().map(|l| l.user_id.as_str()).collect();
    assert_eq!(users, ["U1", "U2"], "both orders, oldest first");
    assert_eq!(claimed.lines[0].drink_type, "Latte");
    assert!(
        matches!(claimed.slot, coffeebuddy::storage::slack_pacer::Slot::Reserved(wait) if wait <= MAX_WAIT),
        "{:?}",
        claimed.slot
    );
    assert!(tat().await > before, "the slot is taken from the pacer");
    let posted = claimed
        .run
        .thread_ts
        .clone()
        .expect("the first post is stored");
    turn.end().await.unwrap();
    assert_eq!(advisory_locks_held(&app.pool).await, 0);

    // A first post's ts is stored as the turn ends, unless one is stored already.
    let turn = take(&app.pool, run_id).await.unwrap();
    assert!(!turn.end_posted("9999.0001").await.unwrap());
    assert_eq!(thread_ts(&app.pool, run_id).await, Some(posted));
    sqlx::query("UPDATE coffee_runs SET thread_ts = NULL WHERE run_id = $1")
        .bind(run_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let turn = take(&app.pool, run_id).await.unwrap();
    assert!(turn.end_posted("9999.0002").await.unwrap());
    assert_eq!(
        thread_ts(&app.pool, run_id).await.as_deref(),
        Some("9999.0002")
    );
    assert_eq!(advisory_locks_held(&app.pool).await, 0);
}

#[tokio::test]
async fn a_turn_whose_slot_is_too_far_away_says_how_long_to_wait() {
    let app = spawn_app().await;
    let run_id = first_run(&app).await;
    sqlx::query("UPDATE slack_rate_limit SET tat = clock_timestamp() + interval '30 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();

    let turn = take(&app.pool, run_id).await.unwrap();
    match turn.claimed.as_ref().map(|c| c.slot) {
        Some(coffeebuddy::storage::slack_pacer::Slot::Busy(retry)) => {
            assert!(retry > Duration::from_secs(20) && retry <= Duration::from_secs(25))
        }
        other => panic!("expected a busy slot, got {other:?}"),
    }
    turn.end().await.unwrap();
    assert_eq!(advisory_locks_held(&app.pool).await, 0);
}
