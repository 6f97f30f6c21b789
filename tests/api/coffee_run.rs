//! The whole coffee run through the HTTP endpoints and a fake Slack: assignment, the
//! runner's DM and reminder, Mark complete, cancel, history, run controls, restarts.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use wiremock::{ResponseTemplate, matchers::body_string_contains};

use coffeebuddy::startup::Role;

use crate::helpers::{
    ROOT_TS, TestApp, WORKSPACE, button_click, eventually, eventually_within, slack_call,
    slack_refusal, spawn_app_as, spawn_app_tuned, spawn_app_with,
};

async fn order(app: &TestApp, user: &str, channel: &str, drink: &str) {
    let response = app
        .submit_order(user, channel, Some(drink), Some("Medium"), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_action"], "update", "{body}");
}

async fn click(app: &TestApp, user: &str, channel: &str, action: &str, run_id: Uuid) {
    let response = app
        .interaction(&button_click(user, channel, action, &run_id.to_string()))
        .await;
    assert_eq!(response.status(), 200, "Slack always gets 200 for a click");
}

#[derive(Debug, sqlx::FromRow)]
struct RunRow {
    run_id: Uuid,
    status: String,
    runner_user_id: Option<String>,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
    reminder_sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn the_run(app: &TestApp, channel: &str) -> RunRow {
    sqlx::query_as(
        "SELECT run_id, status::text AS status, runner_user_id, completed_at, reminder_sent_at
         FROM coffee_runs WHERE channel_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(channel)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id")
        .bind(event_type)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn audit_types(app: &TestApp, run_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM audit_logs WHERE run_id = $1 ORDER BY timestamp, event_type",
    )
    .bind(run_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Adds the user row that runs and orders refer to, unless it is there.
async fn ensure_user(app: &TestApp, user: &str) {
    sqlx::query("INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// Gives `user` one completed run as runner in this workspace, `days_ago` days back.
async fn past_run(app: &TestApp, workspace: &str, runner: &str, days_ago: i32, status: &str) {
    ensure_user(app, runner).await;
    sqlx::query(
        "WITH run AS (
             INSERT INTO coffee_runs (workspace_id, channel_id, initiator_user_id, runner_user_id,
                                      status, created_at, assigned_at)
             VALUES ($1, 'C_PAST', $2, $2, $4::run_status,
                     NOW() - make_interval(days => $3), NOW() - make_interval(days => $3))
             RETURNING run_id, created_at
         )
         INSERT INTO orders (run_id, user_id, drink_type, size, created_at)
         SELECT run_id, $2, 'Latte', 'Small', created_at FROM run",
    )
    .bind(workspace)
    .bind(runner)
    .bind(days_ago)
    .bind(status)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn slack_texts(app: &TestApp, method: &str) -> Vec<Value> {
    app.slack_calls(method).await
}

#[tokio::test]
async fn three_orders_assign_a_fair_runner_who_is_reminded_and_completes() {
    let app = spawn_app_with(&["--assign-max-orders", "3", "--reminder-delay-secs", "1"]).await;
    // U100 ran recently; U200 and U300 never did: the tie goes to the lower id.
    past_run(&app, WORKSPACE, "U100", 2, "completed").await;
    // Older than the window and in another workspace: neither counts against U200.
    past_run(&app, WORKSPACE, "U200", 45, "completed").await;
    past_run(&app, "T_OTHER", "U200", 1, "completed").await;

    order(&app, "U100", "C1", "Latte").await;
    order(&app, "U200", "C1", "Mocha").await;
    order(&app, "U300", "C1", "Espresso").await;

    eventually("a runner", || async {
        the_run(&app, "C1").await.runner_user_id.is_some()
    })
    .await;
    let run = the_run(&app, "C1").await;
    assert_eq!(run.runner_user_id.as_deref(), Some("U200"));
    app.wait_for_jobs().await;

    // The thread reply naming the runner, with the orders.
    let posts = slack_texts(&app, "chat.postMessage").await;
    let reply = posts
        .iter()
        .find(|p| p["thread_ts"] == ROOT_TS)
        .expect("a reply in the run's thread");
    assert_eq!(reply["channel"], "C1");
    assert_eq!(reply["text"], "☕ <@U200> is getting the coffee!");
    assert!(
        reply["blocks"]
            .to_string()
            .contains("<@U300>: Medium Espresso")
    );
    // The runner's DM with the order list and the Mark Complete button.
    let dm = posts
        .iter()
        .find(|p| p["channel"] == "U200")
        .expect("a DM to the runner");
    let dm_blocks = dm["blocks"].to_string();
    assert!(dm_blocks.contains("<@U100>: Medium Latte"), "{dm_blocks}");
    let button = &dm["blocks"].as_array().unwrap().last().unwrap()["elements"][0];
    assert_eq!(button["action_id"], "mark_complete");
    assert_eq!(button["value"], run.run_id.to_string());
    // The root message now names the runner and has no more controls.
    let last_update = app.root_renders("C1").await.pop().expect("a root message");
    assert!(
        last_update["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("<@U200> is getting the coffee"),
        "{last_update}"
    );
    assert!(!last_update["blocks"].to_string().contains("run_controls"));

    let assigned = events_of(&app, "coffee.runner.assigned").await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0]["runner_user_id"], "U200");
    assert_eq!(assigned[0]["volunteered"], false);
    assert_eq!(assigned[0]["run_id"], run.run_id.to_string());

    // The reminder, a second after assignment.
    eventually("the reminder", || async {
        the_run(&app, "C1").await.reminder_sent_at.is_some()
    })
    .await;
    app.wait_for_jobs().await;
    let reminder_text = format!("Reminder: You're the runner for coffee run {}", run.run_id);
    let reminders: Vec<Value> = slack_texts(&app, "chat.postMessage")
        .await
        .into_iter()
        .filter(|p| p["channel"] == "U200" && p["text"] == reminder_text.as_str())
        .collect();
    assert_eq!(reminders.len(), 1);
    assert!(reminders[0]["blocks"].to_string().contains("mark_complete"));

    // A participant who is not the runner is refused, privately.
    click(&app, "U300", "C1", "mark_complete", run.run_id).await;
    app.wait_for_jobs().await;
    let refusals = slack_texts(&app, "chat.postEphemeral").await;
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["user"], "U300");
    assert_eq!(
        refusals[0]["text"],
        "Only the runner can mark this coffee run complete."
    );
    assert_eq!(the_run(&app, "C1").await.status, "active");

    // The runner completes from their DM.
    click(&app, "U200", "D0RUNNER", "mark_complete", run.run_id).await;
    let done = the_run(&app, "C1").await;
    assert_eq!(done.status, "completed");
    assert!(done.completed_at.is_some());
    app.wait_for_jobs().await;
    let completion = slack_texts(&app, "chat.postMessage")
        .await
        .into_iter()
        .find(|p| {
            p["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Coffee run completed by <@U200>!"))
        })
        .expect("the completion reply");
    assert_eq!(completion["thread_ts"], ROOT_TS);

    // A second click changes nothing.
    click(&app, "U200", "D0RUNNER", "mark_complete", run.run_id).await;
    let again = the_run(&app, "C1").await;
    assert_eq!(
        (again.status.as_str(), again.completed_at),
        ("completed", done.completed_at)
    );
    assert_eq!(events_of(&app, "coffee.run.completed").await.len(), 1);
    assert_eq!(
        events_of(&app, "coffee.run.completed").await[0]["runner_user_id"],
        "U200"
    );

    let mut audit = audit_types(&app, run.run_id).await;
    audit.sort();
    assert_eq!(
        audit,
        [
            "order_placed",
            "order_placed",
            "order_placed",
            "reminder_sent",
            "run_completed",
            "run_created",
            "runner_assigned",
        ]
    );
    assert!(app.metrics().await.contains("runner_assignments_total 1"));
}

#[tokio::test]
async fn the_runner_cancels_and_no_reminder_follows() {
    let app = spawn_app_with(&["--assign-max-orders", "2", "--reminder-delay-secs", "2"]).await;
    let nothing = app.slash_command("/coffee-cancel", "", "U1", "C1").await;
    let body: Value = nothing.json().await.unwrap();
    assert_eq!(
        body["text"],
        "There's no active coffee run in this channel."
    );

    order(&app, "U1", "C1", "Latte").await;
    order(&app, "U2", "C1", "Mocha").await;
    eventually("a runner", || async {
        the_run(&app, "C1").await.runner_user_id.is_some()
    })
    .await;
    let run = the_run(&app, "C1").await;
    let runner = run.runner_user_id.clone().unwrap();
    let outsider = "U9";

    let refused = app
        .slash_command("/coffee-cancel", "", outsider, "C1")
        .await;
    assert_eq!(refused.status(), 200);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert_eq!(
        body["text"],
        "Only the run's initiator (<@U1>) or its runner can cancel it."
    );
    assert_eq!(the_run(&app, "C1").await.status, "active");

    let response = app.slash_command("/coffee-cancel", "", &runner, "C1").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["text"], "You cancelled the coffee run.");
    assert_eq!(the_run(&app, "C1").await.status, "cancelled");
    let cancelled = events_of(&app, "coffee.run.cancelled").await;
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["cancelled_by_user_id"], runner.as_str());
    assert!(
        audit_types(&app, run.run_id)
            .await
            .contains(&"run_cancelled".to_owned())
    );

    // The reminder was due two seconds after assignment; it must find the run cancelled.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    app.wait_for_jobs().await;
    assert!(the_run(&app, "C1").await.reminder_sent_at.is_none());
    let posts = app.slack_calls("chat.postMessage").await;
    assert!(
        !posts
            .iter()
            .any(|p| p["text"].as_str().unwrap().starts_with("Reminder:"))
    );
    assert!(posts.iter().any(|p| p["text"]
        == format!("Coffee run cancelled by <@{runner}>").as_str()
        && p["thread_ts"] == ROOT_TS));
    // A new run can start in the channel.
    order(&app, "U1", "C1", "Latte").await;
    assert_eq!(the_run(&app, "C1").await.status, "active");
}

/// Runs two orders in `C1` to an assigned runner, reminded a second later.
async fn an_assigned_run(app: &TestApp) -> RunRow {
    order(app, "U1", "C1", "Latte").await;
    order(app, "U2", "C1", "Mocha").await;
    eventually("a runner", || async {
        the_run(app, "C1").await.runner_user_id.is_some()
    })
    .await;
    the_run(app, "C1").await
}

/// The reminder DMs Slack was asked to send.
async fn reminders_sent(app: &TestApp) -> usize {
    slack_texts(app, "chat.postMessage")
        .await
        .iter()
        .filter(|p| p["text"].as_str().unwrap().starts_with("Reminder:"))
        .count()
}

#[tokio::test]
async fn a_reminder_slack_refuses_is_not_recorded_as_sent() {
    let app = spawn_app_with(&["--assign-max-orders", "2", "--reminder-delay-secs", "1"]).await;
    slack_call("chat.postMessage")
        .and(body_string_contains("Reminder:"))
        .respond_with(slack_refusal("channel_not_found"))
        .with_priority(1)
        .mount(&app.slack)
        .await;
    let run = an_assigned_run(&app).await;
    eventually("the reminder to be given up", || async {
        app.job_statuses("send-reminder").await == ["Killed"]
    })
    .await;

    assert_eq!(reminders_sent(&app).await, 1, "refused once, not retried");
    assert!(the_run(&app, "C1").await.reminder_sent_at.is_none());
    assert!(
        !audit_types(&app, run.run_id)
            .await
            .contains(&"reminder_sent".to_owned())
    );
}

#[tokio::test]
async fn a_reminder_is_retried_through_a_slack_outage_and_recorded_once() {
    let app = spawn_app_with(&["--assign-max-orders", "2", "--reminder-delay-secs", "1"]).await;
    slack_call("chat.postMessage")
        .and(body_string_contains("Reminder:"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.slack)
        .await;
    let run = an_assigned_run(&app).await;
    eventually_within("the reminder", Duration::from_secs(20), || async {
        the_run(&app, "C1").await.reminder_sent_at.is_some()
    })
    .await;
    app.wait_for_jobs().await;

    assert_eq!(reminders_sent(&app).await, 3, "two 503s, then the DM");
    assert_eq!(app.job_statuses("send-reminder").await, ["Done"]);
    let audited = audit_types(&app, run.run_id).await;
    assert_eq!(
        audited.iter().filter(|t| *t == "reminder_sent").count(),
        1,
        "{audited:?}"
    );
}

/// The text of each run's line in a `/coffee-history` answer (the first block is its header).
fn history_lines(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|b| b["text"]["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn history_lists_the_users_last_runs_newest_first() {
    let app = spawn_app_with(&["--assign-max-orders", "1"]).await;
    let empty = app.slash_command("/coffee-history", "", "U1", "C1").await;
    assert_eq!(empty.status(), 200);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert_eq!(body["text"], "No coffee runs found");

    for channel in ["C1", "C2", "C3"] {
        order(&app, "U1", channel, "Latte").await;
        eventually("a runner", || async {
            the_run(&app, channel).await.runner_user_id.is_some()
        })
        .await;
    }
    // Someone else's run in which U1 has no part.
    order(&app, "U2", "C4", "Mocha").await;

    let response = app.slash_command("/coffee-history", "", "U1", "C9").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    let lines = history_lines(&body);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("in <#C3>") && lines[2].contains("in <#C1>"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l.contains("runner <@U1>, 1 order")),
        "{lines:?}"
    );
    assert!(
        lines[0].starts_with("<!date^"),
        "Slack formats the time: {lines:?}"
    );
}

/// Adds a run in `channel`, `hours_ago` hours back, with one order from each of `orderers`.
async fn run_with(
    app: &TestApp,
    channel: &str,
    initiator: &str,
    runner: Option<&str>,
    orderers: &[&str],
    hours_ago: i32,
) {
    for user in [initiator].iter().chain(runner.iter()).chain(orderers) {
        ensure_user(app, user).await;
    }
    sqlx::query(
        "WITH run AS (
             INSERT INTO coffee_runs (workspace_id, channel_id, initiator_user_id, runner_user_id,
                                      status, created_at)
             VALUES ($1, $2, $3, $4, 'completed', NOW() - make_interval(hours => $6))
             RETURNING run_id, created_at
         )
         INSERT INTO orders (run_id, user_id, drink_type, size, created_at)
         SELECT run_id, orderer, 'Latte', 'Small', created_at FROM run, unnest($5::text[]) AS orderer",
    )
    .bind(WORKSPACE)
    .bind(channel)
    .bind(initiator)
    .bind(runner)
    .bind(orderers)
    .bind(hours_ago)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn history_finds_runs_by_each_role_and_keeps_the_newest_ten() {
    let app = spawn_app_with(&[]).await;
    // Twelve runs U1 ordered in, a day apart; older than the two below.
    for day in 1..=12 {
        run_with(
            &app,
            &format!("C_ORDER{day}"),
            "U1",
            Some("U2"),
            &["U1", "U2"],
            day * 24,
        )
        .await;
    }
    // U1 ran this one without ordering, and started that one without ordering.
    run_with(&app, "C_RAN", "U2", Some("U1"), &["U2", "U3", "U4"], 2).await;
    run_with(&app, "C_STARTED", "U1", None, &["U3"], 1).await;
    // The newest run is someone else's.
    run_with(&app, "C_OTHERS", "U2", Some("U3"), &["U2", "U3"], 0).await;

    let response = app.slash_command("/coffee-history", "", "U1", "C9").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["text"], "Your last 10 coffee runs");
    let lines = history_lines(&body);
    let channels: Vec<&str> = lines
        .iter()
        .map(|l| l.split("in <#").nth(1).unwrap().split('>').next().unwrap())
        .collect();
    let expected: Vec<String> = ["C_STARTED", "C_RAN"]
        .into_iter()
        .map(str::to_owned)
        .chain((1..=8).map(|day| format!("C_ORDER{day}")))
        .collect();
    assert_eq!(channels, expected, "{lines:?}");
    assert!(lines[0].contains("no runner yet, 1 order"), "{lines:?}");
    assert!(lines[1].contains("runner <@U1>, 3 orders"), "{lines:?}");
    assert!(lines[2].contains("runner <@U2>, 2 orders"), "{lines:?}");
}

#[tokio::test]
async fn run_controls_volunteer_close_and_opt_out() {
    let app = spawn_app_with(&["--assign-max-orders", "50"]).await;
    // Volunteering needs an order; then the volunteer runs at once.
    order(&app, "U1", "C1", "Latte").await;
    order(&app, "U2", "C1", "Mocha").await;
    let run = the_run(&app, "C1").await;
    click(&app, "U9", "C1", "volunteer", run.run_id).await;
    assert!(the_run(&app, "C1").await.runner_user_id.is_none());
    click(&app, "U2", "C1", "volunteer", run.run_id).await;
    assert_eq!(
        the_run(&app, "C1").await.runner_user_id.as_deref(),
        Some("U2")
    );
    let assigned = events_of(&app, "coffee.runner.assigned").await;
    assert_eq!(assigned[0]["volunteered"], true);
    assert!(
        audit_types(&app, run.run_id)
            .await
            .contains(&"runner_volunteered".to_owned())
    );

    // Close orders: only the initiator. `Can't run today` leaves U1 out, so U3 goes.
    order(&app, "U1", "C2", "Latte").await;
    order(&app, "U3", "C2", "Mocha").await;
    let second = the_run(&app, "C2").await;
    click(&app, "U1", "C2", "opt_out", second.run_id).await;
    click(&app, "U3", "C2", "close_orders", second.run_id).await;
    assert!(
        the_run(&app, "C2").await.runner_user_id.is_none(),
        "only the initiator closes"
    );
    // The initiator's click queues the assignment at once.
    click(&app, "U1", "C2", "close_orders", second.run_id).await;
    app.wait_for_jobs().await;
    assert_eq!(
        the_run(&app, "C2").await.runner_user_id.as_deref(),
        Some("U3")
    );
    let mut audit = audit_types(&app, second.run_id).await;
    audit.retain(|t| t == "orders_closed" || t == "runner_opted_out");
    audit.sort();
    assert_eq!(audit, ["orders_closed", "runner_opted_out"]);
    // `Can't run today` once a runner is picked, and once the run is over.
    click(&app, "U1", "C2", "opt_out", second.run_id).await;
    let cancelled = app.slash_command("/coffee-cancel", "", "U1", "C1").await;
    assert_eq!(cancelled.status(), 200);
    click(&app, "U1", "C1", "opt_out", run.run_id).await;

    app.wait_for_jobs().await;
    let ephemerals: Vec<(String, String)> = app
        .slack_calls("chat.postEphemeral")
        .await
        .iter()
        .map(|e| {
            (
                e["user"].as_str().unwrap().to_owned(),
                e["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("U9", "Order first with `/coffee`, then you can volunteer."),
        ("U1", "Got it: you won't be picked as runner for this run."),
        (
            "U3",
            "Only the person who started this run can close its orders.",
        ),
        ("U1", "Orders closed: the runner is being picked now."),
        ("U1", "This run already has its runner."),
        ("U1", "This coffee run is over."),
    ] {
        assert!(
            ephemerals.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {ephemerals:?}"
        );
    }
    // Orders are refused once a runner is picked.
    let late = app
        .submit_order("U4", "C2", Some("Latte"), Some("Small"), None)
        .await;
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
}

#[tokio::test]
async fn assignment_and_reminder_survive_a_restart() {
    let settings = [
        "--assign-window-secs",
        "2",
        "--assign-max-orders",
        "10",
        "--reminder-delay-secs",
        "1",
    ];
    let app = spawn_app_with(&settings).await;
    order(&app, "U1", "C1", "Latte").await;
    order(&app, "U2", "C1", "Mocha").await;
    order(&app, "U3", "C1", "Espresso").await;
    assert!(
        the_run(&app, "C1").await.runner_user_id.is_none(),
        "the window is still open"
    );
    app.stop().await;

    let again = app.start_again(&settings).await;
    eventually("the assignment after the restart", || async {
        the_run(&again, "C1").await.reminder_sent_at.is_some()
    })
    .await;
    again.wait_for_jobs().await;
    let run = the_run(&again, "C1").await;
    assert_eq!(
        run.runner_user_id.as_deref(),
        Some("U1"),
        "all new: the lowest id"
    );
    let reminder = format!("Reminder: You're the runner for coffee run {}", run.run_id);
    let dms: Vec<Value> = again
        .slack_calls("chat.postMessage")
        .await
        .into_iter()
        .filter(|p| p["channel"] == "U1")
        .collect();
    assert_eq!(dms.len(), 2, "the assignment DM and the reminder: {dms:?}");
    assert!(dms.iter().any(|d| d["text"] == reminder.as_str()));
}

#[tokio::test]
async fn app_mentions_get_usage_in_the_thread_once() {
    let app = spawn_app_with(&[]).await;
    let event = serde_json::json!({
        "token": "x",
        "team_id": WORKSPACE,
        "api_app_id": "A0TEST",
        "event": {"type": "app_mention", "user": "U1", "text": "<@B0TEST> help", "ts": "1700000100.000100", "channel": "C1", "event_ts": "1700000100.000100"},
        "type": "event_callback",
        "event_id": "Ev0TEST1",
        "event_time": 1700000100
    });
    let first = app
        .post_signed("/slack/events", "application/json", event.to_string())
        .await;
    assert_eq!(first.status(), 200);
    // Slack's retry of the same delivery.
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let body = event.to_string();
    let signature = coffeebuddy::slack::signature::sign(
        crate::helpers::SIGNING_SECRET.as_bytes(),
        &timestamp,
        body.as_bytes(),
    );
    let retry = app
        .http
        .post(format!("{}/slack/events", app.address))
        .header("Content-Type", "application/json")
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", signature)
        .header("X-Slack-Retry-Num", "1")
        .header("X-Slack-Retry-Reason", "http_timeout")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    app.wait_for_jobs().await;
    let posts = app.slack_calls("chat.postMessage").await;
    assert_eq!(posts.len(), 1, "handled once");
    assert_eq!(posts[0]["channel"], "C1");
    assert_eq!(posts[0]["thread_ts"], "1700000100.000100");
    assert!(posts[0]["text"].as_str().unwrap().contains("/coffee"));
}

/// Every job a run's flow queues due now reaches a worker without its poll: with workers
/// that poll once an hour, the first post, the assignment of the filled run, and the
/// runner's thread reply and DM all go out at once. (They are announced after their
/// transactions commit: `storage/job_queue/announce.rs`.)
#[tokio::test]
async fn a_run_flows_through_its_jobs_without_waiting_for_a_poll() {
    let app = spawn_app_tuned(&["--assign-max-orders", "2"], |options| {
        options.workers.poll_interval = Duration::from_secs(3600);
        options.workers.busy_poll_interval = Duration::from_secs(3600);
    })
    .await;
    // The listener wakes every worker once it listens; let that first fetch pass.
    tokio::time::sleep(Duration::from_millis(500)).await;

    order(&app, "U1", "C1", "Latte").await;
    eventually_within("the run's first post", Duration::from_secs(5), || async {
        !app.root_renders("C1").await.is_empty()
    })
    .await;
    order(&app, "U2", "C1", "Mocha").await;
    eventually_within(
        "the runner's thread reply and DM",
        Duration::from_secs(5),
        || async {
            let posts = app.slack_calls("chat.postMessage").await;
            let reply = posts.iter().any(|p| p["thread_ts"] == ROOT_TS);
            let dm = posts
                .iter()
                .any(|p| p["channel"] == "U1" || p["channel"] == "U2");
            reply && dm
        },
    )
    .await;
}

/// With no worker running, `jobs::run_due` takes a run from its filling order to the
/// runner's DM at once, in the test's own task: nothing to wait for.
#[tokio::test]
async fn due_jobs_run_at_once_when_the_test_says() {
    let app = spawn_app_as(Role::Api, &["--assign-max-orders", "2"]).await;
    order(&app, "U1", "C1", "Latte").await;
    order(&app, "U2", "C1", "Mocha").await;
    assert!(
        app.slack_calls("chat.postMessage").await.is_empty(),
        "no worker runs"
    );

    // The first post, the assignment, and the reply and DM the assignment queues.
    assert!(app.run_due_jobs().await >= 4);
    let posts = app.slack_calls("chat.postMessage").await;
    assert!(
        posts
            .iter()
            .any(|p| p["channel"] == "C1" && p.get("thread_ts").is_none())
    );
    assert!(posts.iter().any(|p| p["thread_ts"] == ROOT_TS), "{posts:?}");
    assert!(
        posts
            .iter()
            .any(|p| p["channel"] == "U1" || p["channel"] == "U2"),
        "{posts:?}"
    );
    let runner: Option<String> =
        sqlx::query_scalar("SELECT runner_user_id FROM coffee_runs WHERE channel_id = 'C1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(runner.is_some());
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE status = 'Done' AND job_type <> 'send-reminder'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(done >= 4, "{done} jobs done");

    // What is left waits for its time: the reminder, REMINDER_DELAY_SECS on.
    assert_eq!(app.run_due_jobs().await, 0);
    assert_eq!(app.job_statuses("send-reminder").await, ["Pending"]);
}
