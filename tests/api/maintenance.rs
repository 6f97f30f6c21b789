//! `prune-audit`: old audit rows go, recent ones stay; one job per cron tick.

use apalis::prelude::Data;
use apalis_cron::Tick;
use coffeebuddy::{jobs::prune_audit, storage::retention};

use crate::helpers::{TestApp, spawn_app_with};

async fn audit_row(app: &TestApp, days_ago: i32) {
    sqlx::query(
        "INSERT INTO audit_logs (event_type, payload, timestamp)
         VALUES ('order_placed', '{}', NOW() - make_interval(days => $1))",
    )
    .bind(days_ago)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn prune_deletes_audit_rows_past_retention_only() {
    let app = spawn_app_with(&[]).await;
    for days in [0, 10, 89, 91, 200, 365] {
        audit_row(&app, days).await;
    }
    let pruned = retention::prune(&app.pool, 90).await.unwrap();
    assert_eq!(pruned.audit_rows, 3);
    let left: Vec<i32> = sqlx::query_scalar(
        "SELECT EXTRACT(DAY FROM NOW() - timestamp)::int FROM audit_logs ORDER BY timestamp DESC",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(left, [0, 10, 89]);
}

#[tokio::test]
async fn prune_works_through_more_rows_than_one_batch() {
    let app = spawn_app_with(&[]).await;
    let rows = retention::BATCH * 2 + 345;
    sqlx::query(
        "INSERT INTO audit_logs (event_type, payload, timestamp)
         SELECT 'order_placed', '{}', NOW() - INTERVAL '100 days' FROM generate_series(1, $1)",
    )
    .bind(rows)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        retention::prune(&app.pool, 90).await.unwrap().audit_rows,
        rows as u64
    );
}

#[tokio::test]
async fn each_cron_tick_queues_one_prune_whoever_sees_it() {
    let app = spawn_app_with(&[]).await;
    // Three replicas see the same tick, then the next day's.
    for tick in [1_700_000_000, 1_700_000_000, 1_700_000_000, 1_700_086_400] {
        prune_audit::on_tick(Tick::new(tick), Data::new(app.pool.clone()))
            .await
            .unwrap();
    }
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = 'prune-audit'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(queued, 2);
}
