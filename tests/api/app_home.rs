//! The Home tab: `app_home_opened` publishes (`views.publish`, a durable job, one queued per
//! user at a time) the user's usuals, the workspace's active runs, their runs against
//! their fair share and the workspace's fairness ledger.

use coffeebuddy::startup::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, WORKSPACE, spawn_app_as, spawn_app_with};

async fn open_tab(app: &TestApp, user: &str, tab: &str, event_id: &str) {
    let event = json!({
        "token": "x",
        "team_id": WORKSPACE,
        "api_app_id": "A0TEST",
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": "1700000100.000100"},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000100
    });
    let response = app
        .post_signed("/slack/events", "application/json", event.to_string())
        .await;
    assert_eq!(response.status(), 200);
}

async fn order(app: &TestApp, user: &str, channel: &str, drink: &str) {
    let response = app
        .submit_order(user, channel, Some(drink), Some("Medium"), Some("oat milk"))
        .await;
    assert_eq!(response.status(), 200);
}

/// The text of every section and context of a published view, one string.
fn shown(publish: &Value) -> String {
    publish["view"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["text"]["text"]
                .as_str()
                .or(b["elements"][0]["text"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn opening_the_home_tab_shows_usuals_runs_the_users_share_and_the_ledger() {
    let app = spawn_app_with(&["--assign-max-orders", "2"]).await;
    // A completed run in C1 (U1 runs: both new, lowest id) and an open one in C2.
    order(&app, "U1", "C1", "Latte").await;
    order(&app, "U2", "C1", "Mocha").await;
    app.wait_for_jobs().await;
    app.runner_marks_complete("C1").await;
    order(&app, "U2", "C2", "Americano").await;
    app.wait_for_jobs().await;

    open_tab(&app, "U1", "home", "Ev0HOME1").await;
    app.wait_for_jobs().await;

    let publishes = app.slack_calls("views.publish").await;
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0]["user_id"], "U1");
    assert_eq!(publishes[0]["view"]["type"], "home");
    let text = shown(&publishes[0]);
    for expected in [
        "*Your usual orders*\n• Medium Latte (oat milk) (1 time)",
        "• <#C2>: 1 order, open · `/coffee` there to join",
        "You made 1 run in the last 30 days, against a fair share of 0.5.",
        "Policy *fewest-runs*",
        "Window: the last 30 days. 2 active users",
        "*Most likely next*, were everyone in the next run: <@U2>, then <@U1>",
        "1. <@U2>: 0 runs, fair share 0.5\n2. <@U1>: 1 run, fair share 0.5",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }

    // U2 sees their own order in the open run; the Messages tab publishes nothing.
    open_tab(&app, "U2", "home", "Ev0HOME2").await;
    open_tab(&app, "U2", "messages", "Ev0HOME3").await;
    app.wait_for_jobs().await;
    let publishes = app.slack_calls("views.publish").await;
    assert_eq!(publishes.len(), 2);
    let text = shown(&publishes[1]);
    assert!(
        text.contains("• <#C2>: 1 order, started by <@U2>"),
        "{text}"
    );
    assert!(
        text.contains("no runner yet · you ordered a Medium Americano (oat milk)"),
        "{text}"
    );
    assert!(text.contains("You made 0 runs"), "{text}");
}

#[tokio::test]
async fn opening_the_tab_again_while_a_publish_is_queued_queues_nothing() {
    // No workers: jobs run when the test says.
    let app = spawn_app_as(Role::Api, &[]).await;
    for event_id in ["Ev0A", "Ev0B", "Ev0C"] {
        open_tab(&app, "U1", "home", event_id).await;
    }
    open_tab(&app, "U2", "home", "Ev0D").await;
    assert_eq!(app.job_statuses("send-slack-message").await.len(), 2);
    assert_eq!(app.run_due_jobs().await, 2);
    let users: Vec<String> = app
        .slack_calls("views.publish")
        .await
        .iter()
        .map(|p| p["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["U1", "U2"]);

    // Once the publish has run, the next opening publishes again.
    open_tab(&app, "U1", "home", "Ev0E").await;
    assert_eq!(app.run_due_jobs().await, 1);
    assert_eq!(app.slack_calls("views.publish").await.len(), 3);
}
