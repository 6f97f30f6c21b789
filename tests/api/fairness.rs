//! The fairness simulation: the real assignment code over a simulated month.

use chrono::Utc;
use coffeebuddy::{
    dev::simulation::{SimulationConfig, simulate},
    domain::OrderInput,
    domain::fairness::FairnessPolicy,
    storage::fairness::candidates,
    storage::job_queue::Announcer,
    workflows::{
        Actor, RunRules,
        assign_runner::{Assignment, Trigger, assign_runner},
        place_order::{OrderRequest, place_order},
        run_controls::{Cancellation, Completion, cancel_run, complete_run},
    },
};

use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, test_settings};

#[tokio::test]
async fn a_simulated_month_meets_both_fairness_targets() {
    let app = spawn_app().await;
    for seed in [2026, 42] {
        let config = SimulationConfig {
            seed,
            ..SimulationConfig::default()
        };
        let fewest = simulate(&app.pool, FairnessPolicy::FewestRuns, config)
            .await
            .unwrap();
        assert_eq!((fewest.runs, fewest.active_users), (60, 20));
        assert!(fewest.std_dev < 2.0, "SPEC fairness score: {fewest:?}");

        let carpool = simulate(&app.pool, FairnessPolicy::Carpool, config)
            .await
            .unwrap();
        assert!(
            carpool.max_share_gap <= 1.0,
            "carpool keeps shares: {carpool:?}"
        );
        // The two rules really differ: carpool tracks shares better than fewest-runs.
        assert!(
            carpool.max_share_gap < fewest.max_share_gap,
            "{carpool:?} vs {fewest:?}"
        );
    }
}

/// Carpool's fair shares come from the `run_shares` ledger: written when a run gets its
/// runner, kept when it completes, gone when an assigned run is cancelled.
#[tokio::test]
async fn carpool_shares_count_assigned_runs_and_drop_cancelled_ones() {
    let app = spawn_app_with(NO_AUTOMATIC_ASSIGNMENT).await;
    let rules = carpool_rules();
    let run_of = |channel: &'static str, users: &'static [&'static str]| {
        run_of(&app.pool, rules, channel, users)
    };
    let assign = |run_id| assign(&app.pool, rules, run_id);

    let ledger_rows = |run_id| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM run_shares WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let admin = Actor {
        user_id: "UA",
        admin: true,
    };

    // Two people share one run, which completes; four share another, then it is cancelled.
    let pair = run_of("C1", &["UA", "UB"]).await;
    assign(pair).await;
    let completed = complete_run(&app.pool, &app.announcer, pair, admin)
        .await
        .unwrap();
    assert!(
        matches!(completed, Completion::Completed { .. }),
        "{completed:?}"
    );
    let four = run_of("C2", &["UA", "UC", "UD", "UE"]).await;
    assign(four).await;
    assert_eq!(ledger_rows(four).await, 4);
    let cancelled = cancel_run(&app.pool, &app.announcer, four, admin)
        .await
        .unwrap();
    assert!(
        matches!(cancelled, Cancellation::Cancelled),
        "{cancelled:?}"
    );
    assert_eq!(
        ledger_rows(four).await,
        0,
        "a cancelled run leaves the ledger"
    );
    assert_eq!(
        ledger_rows(pair).await,
        2,
        "a completed run keeps its shares"
    );

    let open = run_of("C3", &["UA", "UB", "UC"]).await;
    let mut conn = app.pool.acquire().await.unwrap();
    let mut shares: Vec<(String, f64)> =
        candidates(&mut conn, open, "T1", 30, 14, Utc::now(), true)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.user_id, c.fair_share))
            .collect();
    shares.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        shares,
        [("UA".into(), 0.5), ("UB".into(), 0.5), ("UC".into(), 0.0)]
    );
}

/// Shares are summed exactly: six runs of six are one whole run, as two runs of two are,
/// so equal debts reach the tie-break instead of differing in the last bit.
#[tokio::test]
async fn equal_carpool_shares_stay_equal() {
    let app = spawn_app_with(NO_AUTOMATIC_ASSIGNMENT).await;
    let rules = carpool_rules();
    for channel in ["E1", "E2", "E3", "E4", "E5", "E6"] {
        let run_id = run_of(
            &app.pool,
            rules,
            channel,
            &["UX", "P1", "P2", "P3", "P4", "P5"],
        )
        .await;
        assign(&app.pool, rules, run_id).await;
    }
    for channel in ["F1", "F2"] {
        let run_id = run_of(&app.pool, rules, channel, &["UY", "Q1"]).await;
        assign(&app.pool, rules, run_id).await;
    }
    let open = run_of(&app.pool, rules, "G1", &["UX", "UY"]).await;
    let mut conn = app.pool.acquire().await.unwrap();
    let shares: Vec<f64> = candidates(&mut conn, open, "T1", 30, 14, Utc::now(), true)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.fair_share)
        .collect();
    assert_eq!(shares, [1.0, 1.0]);
}

/// The app's own assign-runner jobs stay out of the way: these tests assign themselves.
const NO_AUTOMATIC_ASSIGNMENT: &[&str] = &["--assign-max-orders", "100"];

fn carpool_rules() -> RunRules {
    RunRules {
        policy: FairnessPolicy::Carpool,
        ..RunRules::from(&test_settings(
            "unused",
            "http://127.0.0.1:9",
            NO_AUTOMATIC_ASSIGNMENT,
        ))
    }
}

/// A run in `channel` with one order from each of `users`.
async fn run_of(pool: &PgPool, rules: RunRules, channel: &str, users: &[&str]) -> Uuid {
    let mut run_id = None;
    for user in users {
        let request = OrderRequest {
            workspace_id: "T1".into(),
            channel_id: channel.into(),
            user_id: (*user).into(),
            display_name: None,
            order: OrderInput::parse(Some("Latte"), Some("Small"), None).unwrap(),
            run_id: None,
        };
        let mut conn = pool.acquire().await.unwrap();
        run_id = Some(
            place_order(&mut conn, &Announcer::new(), &rules, &request)
                .await
                .unwrap()
                .run_id,
        );
    }
    run_id.expect("at least one user")
}

/// Assigns directly; the messages it queues go unannounced, found by the workers' poll.
async fn assign(pool: &PgPool, rules: RunRules, run_id: Uuid) {
    let outcome = assign_runner(
        pool,
        &Announcer::new(),
        &rules,
        run_id,
        Trigger::Scheduled { out: &[] },
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, Assignment::Assigned { .. }),
        "{outcome:?}"
    );
}

/// The ledger follows whoever writes the run (a replica on the previous release, an
/// operator's SQL), not only this release's workflows.
#[tokio::test]
async fn the_ledger_follows_any_update_of_the_run() {
    let app = spawn_app_with(NO_AUTOMATIC_ASSIGNMENT).await;
    let run_id = run_of(&app.pool, carpool_rules(), "C1", &["UA", "UB", "UC"]).await;
    let rows = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM run_shares WHERE run_id = $1 AND participants = 3",
        )
        .bind(run_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let update = |set: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE coffee_runs SET {set} WHERE run_id = $1"
            )))
            .bind(run_id)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    assert_eq!(rows().await, 0, "no runner yet");
    update("runner_user_id = 'UA'").await;
    assert_eq!(rows().await, 3);
    update("runner_user_id = NULL").await;
    assert_eq!(rows().await, 0, "the runner was taken back");
    update("runner_user_id = 'UB'").await;
    update("status = 'cancelled'").await;
    assert_eq!(rows().await, 0, "cancelled");
    update("status = 'completed'").await;
    assert_eq!(rows().await, 3, "un-cancelled by hand");
}
