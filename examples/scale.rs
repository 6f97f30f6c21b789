//! Scale check: with 1,000,000 orders and 100,000 runs of history across 1,000
//! channels, how long one runner assignment takes (and its query plan), and whether pruning
//! a million old audit rows holds up order submission.
//!
//! `cargo run --release --example scale` (a fresh `coffeebuddy_scale` database on the local
//! PostgreSQL; about two minutes, most of it generating the history).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use clap::Parser;
use coffeebuddy::{
    config::Settings,
    domain::OrderInput,
    domain::fairness::FairnessPolicy,
    storage,
    storage::{job_queue::Announcer, retention},
    workflows::{
        RunRules,
        assign_runner::{Assignment, Trigger, assign_runner},
        place_order::{OrderRequest, place_order},
    },
};
use sqlx::{ConnectOptions, PgPool, postgres::PgConnectOptions};

const WORKSPACE: &str = "T0SCALE";
const USERS: i64 = 5_000;
/// Assignments timed per policy.
const ASSIGNMENTS: i64 = 100;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    settings: Settings,
}

/// The announcer of everything this check queues: never run, as no worker runs here.
static UNANNOUNCED: std::sync::LazyLock<Announcer> = std::sync::LazyLock::new(Announcer::new);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    let server = std::env::var("SCALE_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin: PgConnectOptions = format!("{server}/postgres").parse()?;
    sqlx::query("DROP DATABASE IF EXISTS coffeebuddy_scale WITH (FORCE)")
        .execute(&mut admin.connect().await?)
        .await?;
    args.settings.database_url = format!("{server}/coffeebuddy_scale").into();
    // Orders, the prune and the wait sampler run at once here: with the default five
    // connections the pool sometimes opens a sixth mid-run, and that one order waits about
    // 100 ms for a new backend and its TLS handshake, which says nothing about the prune.
    args.settings.db_min_connections = args.settings.db_min_connections.max(10);
    let pool = storage::connect(&args.settings, None).await?;
    storage::migrate(&pool).await?;

    let started = Instant::now();
    generate_history(&pool).await?;
    println!(
        "generated 100,000 runs, 1,000,000 orders, 1,000,000 old audit rows in {:.0} s\n",
        started.elapsed().as_secs_f64()
    );

    let rules = RunRules {
        policy: FairnessPolicy::FewestRuns,
        ..RunRules::from(&args.settings)
    };
    let carpool = RunRules {
        policy: FairnessPolicy::Carpool,
        ..rules
    };
    // No workers run here: the assignments' messages are queued and never announced.
    let announcer = &*UNANNOUNCED;
    // Steady state: a few untimed assignments first, so each pooled connection has
    // prepared the statements once (as a running service's connections have).
    for i in 2_000..2_010 {
        let run_id = open_run(&pool, &rules, i).await?;
        assign_runner(
            &pool,
            announcer,
            &rules,
            run_id,
            Trigger::Scheduled { out: &[] },
            Utc::now(),
        )
        .await?;
    }
    for (offset, label, rules) in [(0, "fewest-runs", rules), (1_000, "carpool", carpool)] {
        let mut times = Vec::new();
        for i in offset..offset + ASSIGNMENTS {
            let run_id = open_run(&pool, &rules, i).await?;
            let t = Instant::now();
            let outcome = assign_runner(
                &pool,
                announcer,
                &rules,
                run_id,
                Trigger::Scheduled { out: &[] },
                Utc::now(),
            )
            .await?;
            times.push(t.elapsed());
            assert!(
                matches!(outcome, Assignment::Assigned { .. }),
                "{outcome:?}"
            );
        }
        times.sort_unstable();
        println!(
            "one assignment ({label}, 10 participants, whole transaction with its events and jobs, {ASSIGNMENTS} runs): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
            ms(times[times.len() - 1])
        );
    }
    for (label, carpool) in [("fewest-runs", false), ("carpool", true)] {
        let run_id = open_run(&pool, &rules, 900 + i64::from(carpool)).await?;
        for plan in [Plan::Custom, Plan::Generic] {
            println!(
                "\nThe candidates query ({label}, {}), EXPLAIN ANALYZE:\n",
                plan.describe()
            );
            for line in explain(&pool, run_id, carpool, plan).await? {
                println!("    {line}");
            }
        }
    }

    // Audit prune under load: orders keep coming while a million old rows go. Both phases
    // place new orders (fresh channels and users) and sample their waits the same way.
    let sampling = Arc::new(AtomicBool::new(true));
    let waits = tokio::spawn(sample_order_waits(pool.clone(), sampling.clone()));
    let baseline = order_latencies(&pool, &rules, "BEFORE", 0..10_000).await?;
    sampling.store(false, Ordering::Relaxed);
    let waits_before = waits.await??;

    let prune = tokio::spawn({
        let pool = pool.clone();
        async move {
            let t = Instant::now();
            let pruned = retention::prune(&pool, 90).await;
            (t.elapsed(), pruned)
        }
    });
    let sampling = Arc::new(AtomicBool::new(true));
    let waits = tokio::spawn(sample_order_waits(pool.clone(), sampling.clone()));
    let mut during = Vec::new();
    while !prune.is_finished() {
        let next = during.len();
        during.extend(order_latencies(&pool, &rules, "DURING", next..next + 50).await?);
    }
    sampling.store(false, Ordering::Relaxed);
    let (took, pruned) = prune.await?;
    let pruned = pruned?;
    let waits_during = waits.await??;
    println!(
        "\nprune-audit deleted {} audit rows in {:.1} s (batches of {}) while {} orders were placed",
        pruned.audit_rows,
        took.as_secs_f64(),
        retention::BATCH,
        during.len()
    );
    println!(
        "order submission (the whole transaction) before the prune: {}",
        stats(baseline)
    );
    println!(
        "order submission during the prune:                        {}",
        stats(during)
    );
    println!("what order statements waited on (pg_stat_activity every 2 ms):");
    println!("    before the prune: {}", waits_summary(&waits_before));
    println!("    during the prune: {}", waits_summary(&waits_during));
    storage::close(&pool).await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort_unstable();
    let at = |q: f64| ms(v[((v.len() as f64 * q) as usize).min(v.len() - 1)]);
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} orders)",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        v.len()
    )
}

async fn generate_history(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (user_id) SELECT 'U' || lpad(i::text, 5, '0') FROM generate_series(0, $1 - 1) i")
        .bind(USERS)
        .execute(pool)
        .await?;
    // 100 runs a channel over the last 30 days, each with 10 orders and a runner among them.
    sqlx::query(
        "INSERT INTO coffee_runs (run_id, workspace_id, channel_id, initiator_user_id, runner_user_id,
                                  status, created_at, assigned_at, completed_at)
         SELECT gen_random_uuid(), $1, 'C' || lpad((i % 1000)::text, 4, '0'),
                'U' || lpad(((i * 7) % $2)::text, 5, '0'),
                'U' || lpad(((i * 7 + (i % 10) * 500) % $2)::text, 5, '0'),
                'completed', t, t, t + INTERVAL '20 minutes'
         FROM generate_series(0, 99999) i,
              LATERAL (SELECT NOW() - (i::float8 / 100000) * INTERVAL '30 days' AS t) ts",
    )
    .bind(WORKSPACE)
    .bind(USERS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO orders (run_id, user_id, drink_type, size, created_at)
         SELECT r.run_id, 'U' || lpad(((r.seq * 7 + k * 500) % $1)::text, 5, '0'),
                (ARRAY['Latte','Espresso','Cappuccino','Americano','Mocha'])[1 + k % 5], 'Medium', r.created_at
         FROM (SELECT run_id, created_at, row_number() OVER (ORDER BY created_at DESC) - 1 AS seq FROM coffee_runs) r,
              generate_series(0, 9) k",
    )
    .bind(USERS)
    .execute(pool)
    .await?;
    // What the ledger's trigger writes when each of those runs gets its runner (they were
    // inserted with one).
    sqlx::query(
        "INSERT INTO run_shares (workspace_id, user_id, run_created_at, run_id, participants)
         SELECT r.workspace_id, o.user_id, r.created_at, r.run_id, count(*) OVER (PARTITION BY r.run_id)
         FROM coffee_runs r JOIN orders o ON o.run_id = r.run_id",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO audit_logs (event_type, payload, timestamp)
         SELECT 'order_placed', '{}', NOW() - INTERVAL '100 days' - i * INTERVAL '1 second'
         FROM generate_series(1, 1000000) i",
    )
    .execute(pool)
    .await?;
    // A month-old database has been through autovacuum: its visibility map lets the
    // fairness reads be index-only scans.
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    // Start the timings from a quiet database, not inside the checkpoint that writing
    // this history set off.
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// A new active run with 10 orders from users with a long history.
async fn open_run(pool: &PgPool, rules: &RunRules, i: i64) -> Result<uuid::Uuid, sqlx::Error> {
    let channel = format!("C_NEW_{i}");
    let mut run_id = None;
    for k in 0..10 {
        let user = format!("U{:05}", (i * 37 + k * 450) % USERS);
        let request = OrderRequest {
            workspace_id: WORKSPACE.into(),
            channel_id: channel.clone(),
            user_id: user,
            display_name: None,
            order: OrderInput::parse(Some("Latte"), Some("Small"), None).expect("a valid order"),
            run_id: None,
        };
        run_id = Some(place(pool, rules, &request).await?);
    }
    Ok(run_id.expect("ten orders"))
}

/// Places `request` on a connection of `pool`; the run it went to. Nothing here runs the
/// jobs it queues, so they go to an announcer that is never run.
async fn place(
    pool: &PgPool,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<uuid::Uuid, sqlx::Error> {
    let placed = place_order(&mut *pool.acquire().await?, &UNANNOUNCED, rules, request)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    Ok(placed.run_id)
}

/// Places order `i` for each `i` in `orders`: a new order each time (channel `i % 500`
/// of this phase, a user who has not ordered there yet), timed.
async fn order_latencies(
    pool: &PgPool,
    rules: &RunRules,
    phase: &str,
    orders: std::ops::Range<usize>,
) -> Result<Vec<Duration>, sqlx::Error> {
    let mut times = Vec::with_capacity(orders.len());
    for i in orders {
        let request = OrderRequest {
            workspace_id: WORKSPACE.into(),
            channel_id: format!("C_{phase}_{}", i % 500),
            user_id: format!("U{:05}", (i / 500) as i64 % USERS),
            display_name: None,
            order: OrderInput::parse(Some("Mocha"), Some("Large"), None).expect("a valid order"),
            run_id: None,
        };
        let t = Instant::now();
        place(pool, rules, &request).await?;
        times.push(t.elapsed());
    }
    Ok(times)
}

/// Samples what the order statements wait on while `sampling` holds: a `Lock` wait would
/// mean the prune blocks orders; `IO`/`LWLock` waits are them sharing the disk and WAL.
async fn sample_order_waits(
    pool: PgPool,
    sampling: Arc<AtomicBool>,
) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut conn = pool.acquire().await?;
    while sampling.load(Ordering::Relaxed) {
        let waiting: Vec<String> = sqlx::query_scalar(
            "SELECT COALESCE(wait_event_type || ':' || wait_event, 'running')
             FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'active'
               AND pid <> pg_backend_pid() AND query LIKE '%place_order(%'",
        )
        .fetch_all(&mut *conn)
        .await?;
        for event in waiting {
            *counts.entry(event).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Ok(counts)
}

fn waits_summary(waits: &[(String, u64)]) -> String {
    waits
        .iter()
        .map(|(event, n)| format!("{event} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which plan PostgreSQL runs the candidates query with. sqlx prepares it, and after five
/// executions PostgreSQL may keep a generic plan (one for any parameters) when it costs no
/// more than the custom ones: that is the plan a long-lived service connection runs.
#[derive(Clone, Copy)]
enum Plan {
    Custom,
    Generic,
}

impl Plan {
    fn describe(self) -> &'static str {
        match self {
            Plan::Custom => "custom plan, for these parameters",
            Plan::Generic => "generic plan, as a prepared statement may keep",
        }
    }
}

async fn explain(
    pool: &PgPool,
    run_id: uuid::Uuid,
    carpool: bool,
    plan: Plan,
) -> Result<Vec<String>, sqlx::Error> {
    // The same statement storage::fairness::candidates runs, prepared with its parameter
    // types and executed through EXPLAIN.
    let mut conn = pool.acquire().await?;
    let mode = match plan {
        Plan::Custom => "force_custom_plan",
        Plan::Generic => "force_generic_plan",
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET plan_cache_mode = {mode};
         PREPARE candidates (uuid, text, timestamptz, int4, int4, bool) AS {}",
        coffeebuddy::storage::fairness::CANDIDATES_SQL
    )))
    .execute(&mut *conn)
    .await?;
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
         EXECUTE candidates ('{run_id}', '{WORKSPACE}', NOW(), 30, 14, {carpool})"
    )))
    .fetch_all(&mut *conn)
    .await?;
    sqlx::raw_sql("DEALLOCATE candidates; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await?;
    Ok(plan)
}
