//! `WarmConnections`: connections handed from caller to caller without sqlx's release
//! ping, never more than allowed, never starving the pool, all returned before it closes.

use std::time::Duration;

use coffeebuddy::storage::{WarmConnection, WarmConnections};
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::task::JoinHandle;

use crate::helpers::{database_url_of, spawn_app};

async fn pool_of(max: u32) -> (crate::helpers::TestApp, PgPool) {
    let app = spawn_app().await;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&database_url_of(&app))
        .await
        .unwrap();
    (app, pool)
}

/// A set of one connection, idle in it.
async fn set_of_one(pool: &PgPool) -> WarmConnections {
    let warm = WarmConnections::with_limits(
        pool.clone(),
        1,
        Duration::from_secs(60),
        Duration::from_secs(30),
    );
    warm.acquire().await.unwrap().done();
    warm
}

/// Long enough for a spawned caller to join the queue.
const QUEUE_UP: Duration = Duration::from_millis(100);

/// A caller that hands its connection on once it has one; queued by the time this returns.
async fn queued_caller(warm: &WarmConnections) -> JoinHandle<Result<(), sqlx::Error>> {
    let warm = warm.clone();
    let caller = tokio::spawn(async move { warm.acquire().await.map(WarmConnection::done) });
    tokio::time::sleep(QUEUE_UP).await;
    caller
}

/// A caller that joins the queue and is cancelled there.
async fn caller_giving_up(warm: &WarmConnections) {
    let warm = warm.clone();
    let caller = tokio::spawn(async move { warm.acquire().await.map(|_| ()) });
    tokio::time::sleep(QUEUE_UP).await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
}

async fn backend_pid(conn: &mut WarmConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut **conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_connection_done_with_goes_to_the_next_caller() {
    let (_app, pool) = pool_of(4).await;
    let warm = WarmConnections::new(pool.clone(), 4);

    let mut first = warm.acquire().await.unwrap();
    let pid = backend_pid(&mut first).await;
    first.done();
    assert_eq!(warm.idle(), 1);
    assert_eq!(
        pool.num_idle(),
        0,
        "kept out of the pool, not returned to it"
    );

    let mut second = warm.acquire().await.unwrap();
    assert_eq!(backend_pid(&mut second).await, pid);
    // Dropped without `done` (an error): back through the pool, no longer kept.
    drop(second);
    assert_eq!(warm.idle(), 0);
    tokio::time::timeout(Duration::from_secs(5), async {
        while pool.num_idle() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the pool gets the connection back");
}

#[tokio::test]
async fn the_set_never_holds_more_than_its_places_and_the_pool_keeps_serving() {
    let (_app, pool) = pool_of(3).await;
    // Half of three: one place.
    let warm = WarmConnections::new(pool.clone(), 3);
    let first = warm.acquire().await.unwrap();
    // The second caller waits for the place instead of taking a connection of its own.
    let second = queued_caller(&warm).await;
    let others = [
        pool.acquire().await.expect("the pool's other two are free"),
        pool.acquire().await.expect("the pool's other two are free"),
    ];
    drop(others);
    first.done();
    second.await.unwrap().unwrap();
    assert_eq!(warm.idle(), 1);

    // Two callers hand the connection along as fast as they can; a caller of the pool
    // itself still gets one each time, within its acquire timeout.
    let stop = tokio_util::sync::CancellationToken::new();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (warm, stop) = (warm.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let mut conn = warm.acquire().await.unwrap();
                    sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
                    conn.done();
                }
            })
        })
        .collect();
    for _ in 0..10 {
        let mut conn = pool.acquire().await.expect("the pool is not starved");
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
    }
    stop.cancel();
    for task in busy {
        task.await.unwrap();
    }
    assert_eq!(warm.idle(), 1);
}

#[tokio::test]
async fn a_pool_too_small_to_halve_is_used_as_it_is() {
    let (_app, pool) = pool_of(1).await;
    let warm = WarmConnections::new(pool.clone(), 1);
    for _ in 0..3 {
        let mut conn = warm.acquire().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
        conn.done();
        assert_eq!(warm.idle(), 0, "no set: back to the pool");
    }
}

#[tokio::test]
async fn a_place_given_up_passes_down_the_queue() {
    let (_app, pool) = pool_of(4).await;
    let warm = set_of_one(&pool).await;
    let holder = warm.acquire().await.unwrap();
    // Both wait; the first fails with the place it is given and drops its connection.
    let fails = tokio::spawn({
        let warm = warm.clone();
        async move { drop(warm.acquire().await.unwrap()) }
    });
    tokio::time::sleep(QUEUE_UP).await;
    let succeeds = queued_caller(&warm).await;
    drop(holder);
    tokio::time::timeout(Duration::from_secs(1), async {
        fails.await.unwrap();
        succeeds.await.unwrap().unwrap();
    })
    .await
    .expect("neither waits for the pool's timeout");
    assert_eq!(warm.idle(), 1);
}

#[tokio::test]
async fn idle_connections_are_swept_back_to_the_pool() {
    let (_app, pool) = pool_of(4).await;
    let warm = WarmConnections::with_limits(
        pool.clone(),
        2,
        Duration::from_secs(60),
        Duration::from_millis(100),
    );
    warm.acquire().await.unwrap().done();
    warm.sweep();
    assert_eq!(warm.idle(), 1, "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(200)).await;
    warm.sweep();
    assert_eq!(warm.idle(), 0);
    // Its place is free again.
    warm.acquire().await.unwrap().done();
    assert_eq!(warm.idle(), 1);
}

#[tokio::test]
async fn a_connection_is_kept_no_longer_than_its_lease() {
    let (_app, pool) = pool_of(4).await;
    let warm = WarmConnections::with_limits(
        pool.clone(),
        2,
        Duration::from_millis(200),
        Duration::from_secs(30),
    );
    warm.acquire().await.unwrap().done();
    assert_eq!(warm.idle(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = warm.acquire().await.unwrap();
    conn.done();
    assert_eq!(warm.idle(), 0, "its lease is over: back through the pool");
    warm.acquire().await.unwrap().done();
    assert_eq!(warm.idle(), 1, "a fresh lease");
}

#[tokio::test]
async fn drained_connections_let_the_pool_close() {
    let (_app, pool) = pool_of(4).await;
    let warm = WarmConnections::new(pool.clone(), 4);
    let (a, b) = (warm.acquire().await.unwrap(), warm.acquire().await.unwrap());
    a.done();
    warm.drain();
    b.done();
    assert_eq!(warm.idle(), 0, "none kept once drained");
    tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .expect("nothing is held back from the pool");
}

#[tokio::test]
async fn a_waiting_caller_gets_the_next_connection_handed_on() {
    let (_app, pool) = pool_of(2).await;
    let warm = set_of_one(&pool).await;
    let mut in_use = warm.acquire().await.unwrap();
    let pid = backend_pid(&mut in_use).await;
    let _exhausts_the_pool = pool.acquire().await.unwrap();

    // Nothing idle and the whole set in use: these wait, the first in line first.
    let first = tokio::spawn({
        let warm = warm.clone();
        async move { backend_pid(&mut warm.acquire().await.unwrap()).await }
    });
    tokio::time::sleep(QUEUE_UP).await;
    caller_giving_up(&warm).await;

    in_use.done();
    let got = tokio::time::timeout(Duration::from_secs(1), first)
        .await
        .expect("handed on at once, not after the pool's timeout")
        .unwrap();
    assert_eq!(got, pid);
    // The caller dropped it without `done`: no longer kept.
    assert_eq!(warm.idle(), 0);
}

#[tokio::test]
async fn a_connection_nobody_waits_for_any_more_is_kept_idle() {
    let (_app, pool) = pool_of(2).await;
    let warm = set_of_one(&pool).await;
    let in_use = warm.acquire().await.unwrap();
    let _exhausts_the_pool = pool.acquire().await.unwrap();
    caller_giving_up(&warm).await;

    in_use.done();
    assert_eq!(warm.idle(), 1, "kept for the next caller, not lost");
}

#[tokio::test]
async fn waiters_go_to_the_pool_when_a_connection_of_the_set_is_let_go_of() {
    let (_app, pool) = pool_of(4).await;
    let warm = set_of_one(&pool).await;
    let failed = warm.acquire().await.unwrap();
    let waiter = queued_caller(&warm).await;
    // Its work failed: the connection goes back through the pool, and so does the waiter.
    drop(failed);
    tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("not left waiting for the pool's timeout")
        .unwrap()
        .unwrap();
    assert_eq!(warm.idle(), 1, "the waiter's connection joined the set");
}

#[tokio::test]
async fn a_waiter_times_out_like_a_pool_caller() {
    let (_app, pool) = pool_of(4).await;
    let warm = set_of_one(&pool).await;
    let _held = warm.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let waited = warm.acquire().await;
    assert!(
        matches!(waited, Err(sqlx::Error::PoolTimedOut)),
        "{:?}",
        waited.err()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the pool's acquire timeout"
    );
}
