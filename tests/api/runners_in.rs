//! Runners who are in: before picking, candidates are asked about in fairness order and
//! those Slack says are out (status, Do Not Disturb, away) are passed over, audited and
//! counted. When everyone is out the policy picks among all; whoever Slack does not
//! answer about in time counts as in.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, method, path},
};

use crate::helpers::{
    TestApp, button_click, metric, slack_refusal, spawn_app_against, spawn_app_with,
};

/// What the fake Slack says about one user.
#[derive(Clone, Copy)]
enum Says {
    Status(&'static str, &'static str),
    Dnd,
    Away,
}

/// Mounts, ahead of the everyone-is-in defaults, `says` about `user`.
async fn slack_says(slack: &MockServer, user: &str, says: Says) {
    let (slack_method, answer) = match says {
        Says::Status(emoji, text) => (
            "users.info",
            json!({"ok": true, "user": {"id": user, "profile": {"status_emoji": emoji, "status_text": text, "status_expiration": 0}}}),
        ),
        Says::Dnd => {
            let now = chrono::Utc::now().timestamp();
            (
                "dnd.info",
                json!({"ok": true, "dnd_enabled": true, "next_dnd_start_ts": now - 600, "next_dnd_end_ts": now + 3600, "snooze_enabled": false}),
            )
        }
        Says::Away => ("users.getPresence", json!({"ok": true, "presence": "away"})),
    };
    Mock::given(method("POST"))
        .and(path(format!("/api/{slack_method}")))
        .and(body_string_contains(format!("user={user}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .with_priority(1)
        .mount(slack)
        .await;
}

/// Three orders in `channel` (ASSIGN_MAX_ORDERS = 3): the assignment runs at once.
async fn three_order(app: &TestApp, channel: &str, users: [&str; 3]) {
    for user in users {
        let response = app
            .submit_order(user, channel, Some("Latte"), Some("Medium"), None)
            .await;
        assert_eq!(response.status(), 200);
    }
    app.wait_for_jobs().await;
}

async fn runner_of(app: &TestApp, channel: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT runner_user_id FROM coffee_runs WHERE channel_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(channel)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// `(user, reason)` of every `runner_passed_over` audit row, oldest first.
async fn passed_over(app: &TestApp) -> Vec<(String, String)> {
    let rows: Vec<(Option<String>, Value)> = sqlx::query_as(
        "SELECT user_id, payload FROM audit_logs WHERE event_type = 'runner_passed_over'
         ORDER BY timestamp",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(user, payload)| {
            assert_eq!(payload["user_id"].as_str(), user.as_deref());
            assert_eq!(payload["event_type"], "coffee.runner.passed_over");
            (
                user.unwrap(),
                payload["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The users Slack was asked about with `slack_method`, in order.
async fn asked(app: &TestApp, slack_method: &str) -> Vec<String> {
    app.slack_calls(slack_method)
        .await
        .iter()
        .map(|call| call["user"].as_str().unwrap().to_owned())
        .collect()
}

async fn passed_over_count(app: &TestApp, reason: &str) -> Option<f64> {
    metric(
        &app.metrics().await,
        &format!("runner_passed_over_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test]
async fn each_reason_passes_a_candidate_over_and_asking_stops_at_the_first_who_is_in() {
    let slack = MockServer::start().await;
    // Everyone is new, so each run's order is by user id: the *1 user comes first.
    slack_says(&slack, "US1", Says::Status(":palm_tree:", "Back on Monday")).await;
    slack_says(&slack, "UD1", Says::Dnd).await;
    slack_says(&slack, "UA1", Says::Away).await;
    let app = spawn_app_against(slack, &["--assign-max-orders", "3"]).await;

    three_order(&app, "C1", ["US1", "US2", "US3"]).await;
    three_order(&app, "C2", ["UD1", "UD2", "UD3"]).await;
    three_order(&app, "C3", ["UA1", "UA2", "UA3"]).await;

    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("US2"));
    assert_eq!(runner_of(&app, "C2").await.as_deref(), Some("UD2"));
    assert_eq!(runner_of(&app, "C3").await.as_deref(), Some("UA2"));
    assert_eq!(
        passed_over(&app).await,
        [
            ("US1".to_owned(), "status".to_owned()),
            ("UD1".to_owned(), "dnd".to_owned()),
            ("UA1".to_owned(), "away".to_owned()),
        ]
    );
    for reason in ["status", "dnd", "away"] {
        assert_eq!(passed_over_count(&app, reason).await, Some(1.0), "{reason}");
    }
    // Status first, then Do Not Disturb, then presence, each only while the user seems
    // in; the third candidate of each run is never asked about.
    assert_eq!(
        asked(&app, "users.info").await,
        ["US1", "US2", "UD1", "UD2", "UA1", "UA2"]
    );
    assert_eq!(
        asked(&app, "dnd.info").await,
        ["US2", "UD1", "UD2", "UA1", "UA2"]
    );
    assert_eq!(
        asked(&app, "users.getPresence").await,
        ["US2", "UD2", "UA1", "UA2"]
    );

    // Being passed over is not a run: the next time US1 is in, US1 (no runs) goes.
    app.slack.reset().await;
    crate::helpers::mount_slack_defaults(&app.slack).await;
    three_order(&app, "C4", ["US1", "US2", "US3"]).await;
    assert_eq!(runner_of(&app, "C4").await.as_deref(), Some("US1"));
}

#[tokio::test]
async fn when_everyone_is_out_the_policy_picks_among_all() {
    let slack = MockServer::start().await;
    slack_says(&slack, "U1", Says::Status("", "OOO this week")).await;
    slack_says(&slack, "U2", Says::Dnd).await;
    slack_says(&slack, "U3", Says::Away).await;
    let app = spawn_app_against(slack, &["--assign-max-orders", "3"]).await;

    three_order(&app, "C1", ["U1", "U2", "U3"]).await;

    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U1"));
    assert!(passed_over(&app).await.is_empty(), "nobody is passed over");
    assert_eq!(passed_over_count(&app, "status").await, Some(0.0));
    assert_eq!(asked(&app, "users.info").await, ["U1", "U2", "U3"]);
}

#[tokio::test]
async fn when_slack_does_not_answer_in_time_the_rest_count_as_in() {
    let slack = MockServer::start().await;
    slack_says(&slack, "U1", Says::Status(":face_with_thermometer:", "")).await;
    // U2's status comes too late for the budget.
    Mock::given(method("POST"))
        .and(path("/api/users.info"))
        .and(body_string_contains("user=U2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "user": {"profile": {}}}))
                .set_delay(Duration::from_secs(3)),
        )
        .with_priority(1)
        .mount(&slack)
        .await;
    let app = spawn_app_against(
        slack,
        &[
            "--assign-max-orders",
            "3",
            "--runner-availability-budget-ms",
            "700",
        ],
    )
    .await;

    three_order(&app, "C1", ["U1", "U2", "U3"]).await;

    // U1 is known to be out; U2 is not known to be, so U2 runs without a wait for Slack.
    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U2"));
    assert_eq!(
        passed_over(&app).await,
        [("U1".to_owned(), "status".to_owned())]
    );
    assert!(asked(&app, "dnd.info").await.is_empty());
}

#[tokio::test]
async fn when_slack_refuses_to_say_nobody_counts_as_out() {
    let slack = MockServer::start().await;
    // An app installed without `users:read`.
    Mock::given(method("POST"))
        .and(path("/api/users.info"))
        .respond_with(slack_refusal("missing_scope"))
        .with_priority(1)
        .mount(&slack)
        .await;
    let app = spawn_app_against(slack, &["--assign-max-orders", "3"]).await;

    three_order(&app, "C1", ["U1", "U2", "U3"]).await;

    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U1"));
    assert!(passed_over(&app).await.is_empty());
    assert_eq!(
        asked(&app, "users.info").await,
        ["U1"],
        "asked once, then not again"
    );
}

#[tokio::test]
async fn closing_orders_asks_slack_too() {
    let slack = MockServer::start().await;
    slack_says(&slack, "U1", Says::Away).await;
    let app = spawn_app_against(slack, &["--assign-max-orders", "50"]).await;
    for user in ["U1", "U2"] {
        let response = app
            .submit_order(user, "C1", Some("Mocha"), Some("Small"), None)
            .await;
        assert_eq!(response.status(), 200);
    }
    let run_id: uuid::Uuid =
        sqlx::query_scalar("SELECT run_id FROM coffee_runs WHERE channel_id = 'C1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let click = button_click("U1", "C1", "close_orders", &run_id.to_string());
    assert_eq!(app.interaction(&click).await.status(), 200);
    app.wait_for_jobs().await;

    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U2"));
    assert_eq!(
        passed_over(&app).await,
        [("U1".to_owned(), "away".to_owned())]
    );
}

#[tokio::test]
async fn with_the_check_off_nobody_is_asked() {
    let app = spawn_app_with(&[
        "--assign-max-orders",
        "3",
        "--runner-availability-check",
        "false",
    ])
    .await;
    three_order(&app, "C1", ["U1", "U2", "U3"]).await;
    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U1"));
    for slack_method in ["users.info", "dnd.info", "users.getPresence"] {
        assert!(asked(&app, slack_method).await.is_empty(), "{slack_method}");
    }
}

#[tokio::test]
async fn a_lone_candidate_runs_without_asking() {
    let app = spawn_app_with(&["--assign-max-orders", "1"]).await;
    let response = app
        .submit_order("U1", "C1", Some("Latte"), Some("Medium"), None)
        .await;
    assert_eq!(response.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(runner_of(&app, "C1").await.as_deref(), Some("U1"));
    assert!(asked(&app, "users.info").await.is_empty());
}
