//! Order submission through `/slack/interactions`, down to the rows, the outbox and the
//! messages Slack receives.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct OutboxRow {
    event_type: String,
    topic: String,
    message_key: String,
    payload: Value,
    published_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A modal submission's raw choices and the blocks that must get an error.
type BadOrder<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Vec<&'a str>,
);

use crate::helpers::{
    ROOT_TS, WORKSPACE, eventually, metric, sealed_metadata, spawn_app, spawn_app_tuned,
    spawn_app_with, view_submission,
};

#[tokio::test]
async fn the_first_order_starts_a_run_and_posts_its_root_message() {
    let app = spawn_app().await;
    let response = app
        .submit_order("U1", "C1", Some("Latte"), Some("Large"), Some("oat milk"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_action"], "update");
    assert_eq!(body["view"]["type"], "modal");
    let confirmation = body["view"]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(
        confirmation,
        "☕ Your order is in: *Large Latte (oat milk)*\nCoffee run in <#C1>: 1 order so far."
    );

    // The rows.
    let user: (String, Option<String>) = sqlx::query_as("SELECT user_id, display_name FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(user, ("U1".into(), Some("user-U1".into())));
    let (run_id, workspace, channel, initiator, status): (Uuid, String, String, String, String) =
        sqlx::query_as(
            "SELECT run_id, workspace_id, channel_id, initiator_user_id, status::text FROM coffee_runs",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        (
            workspace.as_str(),
            channel.as_str(),
            initiator.as_str(),
            status.as_str()
        ),
        (WORKSPACE, "C1", "U1", "active")
    );
    let (order_id, drink, size, custom): (Uuid, String, String, Option<String>) = sqlx::query_as(
        "SELECT order_id, drink_type, size, customizations FROM orders WHERE run_id = $1 AND user_id = 'U1'",
    )
    .bind(run_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (drink.as_str(), size.as_str(), custom.as_deref()),
        ("Latte", "Large", Some("oat milk"))
    );
    let preference: (String, String, i32) = sqlx::query_as(
        "SELECT drink_type, size, order_count FROM user_preferences WHERE user_id = 'U1'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(preference, ("Latte".into(), "Large".into(), 1));

    // Audit and outbox, one per event, the same payload in both.
    let audit: Vec<(String, Option<String>, Option<Uuid>, Value)> = sqlx::query_as(
        "SELECT event_type, user_id, run_id, payload FROM audit_logs ORDER BY timestamp, event_type DESC",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let audit_types: Vec<&str> = audit.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(audit_types, ["run_created", "order_placed"]);
    assert!(
        audit
            .iter()
            .all(|a| a.1.as_deref() == Some("U1") && a.2 == Some(run_id))
    );
    let outbox: Vec<OutboxRow> = sqlx::query_as(
        "SELECT event_type, topic, message_key, payload, published_at FROM outbox ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(outbox.len(), 2);
    assert_eq!(
        (outbox[0].event_type.as_str(), outbox[0].topic.as_str()),
        ("coffee.run.created", "coffee.orders")
    );
    assert_eq!(outbox[0].payload["initiator_user_id"], "U1");
    let placed = &outbox[1];
    assert_eq!(
        (placed.event_type.as_str(), placed.topic.as_str()),
        ("coffee.order.placed", "coffee.orders")
    );
    assert_eq!(placed.message_key, run_id.to_string(), "keyed by run_id");
    assert!(placed.published_at.is_none(), "waits for the relay");
    let event = &placed.payload;
    for (field, expected) in [
        ("event_type", json!("coffee.order.placed")),
        ("run_id", json!(run_id)),
        ("workspace_id", json!(WORKSPACE)),
        ("channel_id", json!("C1")),
        ("user_id", json!("U1")),
        ("order_id", json!(order_id)),
        ("drink_type", json!("Latte")),
        ("size", json!("Large")),
        ("customizations", json!("oat milk")),
    ] {
        assert_eq!(event[field], expected, "{field}");
    }
    assert!(Uuid::parse_str(event["event_id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(audit[1].3, *event, "the audit row holds the full event");

    // The root message, posted by a job, its ts stored as the run's thread.
    app.wait_for_jobs().await;
    let posts = app.slack_calls("chat.postMessage").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["channel"], "C1");
    assert_eq!(posts[0]["text"], "☕ Coffee run started by <@U1> — 1 order");
    assert_eq!(
        posts[0]["blocks"][1]["text"]["text"],
        "• <@U1>: Large Latte (oat milk)"
    );
    let thread_ts: Option<String> = sqlx::query_scalar("SELECT thread_ts FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(thread_ts.as_deref(), Some(ROOT_TS));
    assert!(
        app.metrics()
            .await
            .contains("orders_total{drink_type=\"Latte\"} 1")
    );
}

#[tokio::test]
async fn later_orders_join_the_run_and_update_the_root_message() {
    let app = spawn_app().await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    app.wait_for_jobs().await;
    let response = app
        .submit_order("U2", "C1", Some("Mocha"), Some("Small"), None)
        .await;
    let body: Value = response.json().await.unwrap();
    assert!(
        body["view"]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with("2 orders so far.")
    );
    app.wait_for_jobs().await;

    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let outbox: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        outbox,
        [
            "coffee.run.created",
            "coffee.order.placed",
            "coffee.order.placed"
        ]
    );
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 1);
    let updates = app.slack_calls("chat.update").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["ts"], ROOT_TS);
    assert_eq!(updates[0]["channel"], "C1");
    assert_eq!(
        updates[0]["blocks"][1]["text"]["text"],
        "• <@U1>: Large Latte\n• <@U2>: Small Mocha"
    );
}

#[tokio::test]
async fn a_second_submission_replaces_the_users_order() {
    let app = spawn_app().await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    let response = app
        .submit_order("U1", "C1", Some("Latte"), Some("Large"), Some("extra shot"))
        .await;
    let body: Value = response.json().await.unwrap();
    let text = body["view"]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("☕ Your order was updated: *Large Latte (extra shot)*"),
        "{text}"
    );
    let orders: Vec<Option<String>> = sqlx::query_scalar("SELECT customizations FROM orders")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, [Some("extra shot".to_owned())]);
    let count: i32 = sqlx::query_scalar("SELECT order_count FROM user_preferences")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "a changed order is still one coffee");
    assert_eq!(
        metric(&app.metrics().await, "orders_total{drink_type=\"Latte\"}"),
        Some(1.0),
        "and one order"
    );

    // Both events name the one stored order of the one run, and so do their audit rows.
    let (run_id, order_id): (Uuid, Uuid) = sqlx::query_as("SELECT run_id, order_id FROM orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let placed: Vec<(Value, Option<Uuid>)> = sqlx::query_as(
        "SELECT o.payload, a.run_id FROM outbox o
         JOIN audit_logs a ON a.payload->>'event_id' = o.event_id::text
         WHERE o.event_type = 'coffee.order.placed' ORDER BY o.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(placed.len(), 2);
    for (payload, audited_run) in placed {
        assert_eq!(payload["order_id"], json!(order_id));
        assert_eq!(payload["run_id"], json!(run_id));
        assert_eq!(audited_run, Some(run_id));
    }
}

#[tokio::test]
async fn a_changed_drink_moves_its_count_in_the_usuals() {
    let app = spawn_app().await;
    let usuals = || async {
        sqlx::query_as::<_, (String, String, i32)>(
            "SELECT drink_type, size, order_count FROM user_preferences
             WHERE user_id = 'U1' ORDER BY drink_type, size",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let usual = |drink: &str, size: &str, count: i32| (drink.to_owned(), size.to_owned(), count);
    // A Large Latte in another channel's run, then one here.
    for channel in ["C2", "C1"] {
        app.submit_order("U1", channel, Some("Latte"), Some("Large"), None)
            .await;
    }
    assert_eq!(usuals().await, [usual("Latte", "Large", 2)]);

    // Changed to a Small Mocha: still one coffee here, now a Mocha.
    app.submit_order("U1", "C1", Some("Mocha"), Some("Small"), None)
        .await;
    assert_eq!(
        usuals().await,
        [usual("Latte", "Large", 1), usual("Mocha", "Small", 1)]
    );
    // Extras alone change no count.
    app.submit_order("U1", "C1", Some("Mocha"), Some("Small"), Some("oat milk"))
        .await;
    assert_eq!(
        usuals().await,
        [usual("Latte", "Large", 1), usual("Mocha", "Small", 1)]
    );
    // Back to the Latte: the Mocha was never drunk, and leaves the usuals.
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    assert_eq!(usuals().await, [usual("Latte", "Large", 2)]);
}

#[tokio::test]
async fn twenty_concurrent_first_orders_make_one_run_of_twenty_orders() {
    // No runner before the twentieth order lands.
    let app = spawn_app_with(&["--assign-max-orders", "100"]).await;
    let submissions = (0..20).map(|i| {
        let app = &app;
        async move {
            app.submit_order(
                &format!("U{i:02}"),
                "C1",
                Some("Americano"),
                Some("Medium"),
                None,
            )
            .await
        }
    });
    let responses = futures::future::join_all(submissions).await;
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["response_action"], "update", "{body}");
    }
    let runs: Vec<Uuid> = sqlx::query_scalar("SELECT run_id FROM coffee_runs")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let orders: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT user_id) FROM orders WHERE run_id = $1")
            .bind(runs[0])
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(orders, 20);
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, count(*) FROM outbox GROUP BY event_type ORDER BY event_type",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        events,
        [
            ("coffee.order.placed".to_owned(), 20),
            ("coffee.run.created".to_owned(), 1)
        ]
    );

    app.wait_for_jobs().await;
    assert_eq!(
        app.slack_calls("chat.postMessage").await.len(),
        1,
        "one root message"
    );
    // Whatever the interleaving, the last rendering Slack got lists all twenty orders.
    let last = app.root_renders("C1").await.pop().expect("a root message");
    assert_eq!(listed_orders(&last), 20);
}

#[tokio::test]
async fn each_bad_field_gets_its_error_and_nothing_is_stored() {
    let app = spawn_app().await;
    let long = "x".repeat(201);
    let cases: Vec<BadOrder> = vec![
        (None, Some("Large"), None, vec!["drink_type"]),
        (Some("Bubble tea"), Some("Large"), None, vec!["drink_type"]),
        (Some("Latte"), None, None, vec!["size"]),
        (Some("Latte"), Some("Venti"), None, vec!["size"]),
        (
            Some("Latte"),
            Some("Large"),
            Some(&long),
            vec!["customizations"],
        ),
        (
            None,
            None,
            Some(&long),
            vec!["customizations", "drink_type", "size"],
        ),
    ];
    for (drink, size, custom, fields) in cases {
        let response = app.submit_order("U1", "C1", drink, size, custom).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["response_action"], "errors");
        let mut got: Vec<&str> = body["errors"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, fields, "{drink:?} {size:?}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM coffee_runs) + (SELECT count(*) FROM outbox)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn malformed_or_forged_submissions_keep_the_modal_open_never_a_5xx() {
    let app = spawn_app().await;
    let mut no_channel = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    no_channel["view"]["private_metadata"] = json!("");
    let mut garbled_channel = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    garbled_channel["view"]["private_metadata"] = json!("{\"channel_id\": 5}");
    let mut unsealed = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    unsealed["view"]["private_metadata"] = json!("{\"channel_id\":\"C1\"}");
    // Another channel than the one /coffee was run in.
    let mut moved = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    let text = sealed_metadata("U1", "C1").replace("\"C1\"", "\"C2\"");
    moved["view"]["private_metadata"] = json!(text);
    // Another user's modal.
    let mut borrowed = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    borrowed["view"]["private_metadata"] = json!(sealed_metadata("U2", "C1"));
    // A workspace named in the metadata overrides the payload's team only when sealed.
    let mut other_workspace = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    other_workspace["view"]["private_metadata"] =
        json!(sealed_metadata("U1", "C1").replace(&format!("\"{WORKSPACE}\""), "\"TOTHER\""));

    for payload in [
        no_channel,
        garbled_channel,
        unsealed,
        moved,
        borrowed,
        other_workspace,
    ] {
        let response = app.interaction(&payload).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["response_action"], "errors", "{payload}");
        assert!(
            body["errors"]["drink_type"]
                .as_str()
                .unwrap()
                .contains("run `/coffee` again")
        );
    }
    for body in [
        "nopayload=1",
        "payload=not-json",
        "payload=%7B%22type%22%3A5%7D",
    ] {
        let response = app
            .post_signed(
                "/slack/interactions",
                "application/x-www-form-urlencoded",
                body.into(),
            )
            .await;
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(response.text().await.unwrap(), "", "{body}");
    }
    assert_eq!(
        metric(
            &app.metrics().await,
            "errors_total{error_type=\"invalid_input\"}"
        ),
        Some(9.0)
    );
    // Other modals and other interaction types are acknowledged and ignored.
    let mut other_modal = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    other_modal["view"]["callback_id"] = json!("something_else");
    for payload in [
        other_modal,
        json!({"type": "view_closed", "user": {"id": "U1"}}),
    ] {
        let response = app.interaction(&payload).await;
        assert_eq!(response.status(), 200);
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
}

/// On Enterprise Grid a submission's team can be another workspace of the org than the
/// one `/coffee` ran in, or absent: the sealed metadata's workspace counts.
#[tokio::test]
async fn the_sealed_workspace_counts_whatever_the_submissions_team() {
    let app = spawn_app().await;
    let mut no_team = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    no_team["team"] = Value::Null;
    no_team["user"].as_object_mut().unwrap().remove("team_id");
    assert_eq!(app.interaction(&no_team).await.status(), 200);
    let workspace: String = sqlx::query_scalar("SELECT workspace_id FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(workspace, WORKSPACE);
}

#[tokio::test]
async fn orders_are_refused_once_a_runner_is_assigned() {
    let app = spawn_app().await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    sqlx::query("UPDATE coffee_runs SET runner_user_id = 'U1', assigned_at = NOW()")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .submit_order("U2", "C1", Some("Mocha"), Some("Small"), None)
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"]["drink_type"]
            .as_str()
            .unwrap()
            .contains("runner has already been picked")
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
}

/// What a user types into customizations, trying every way text can act in Slack: a
/// broadcast, a fake link, formatting, a bare URL and domain, and a line break drawing a
/// fake order line under the real ones.
const SNEAKY: &str = "<!channel> & <https://evil.example|click> *bold* _it_ ~no~ `code` http://x.example\n• <@U2>: Large Mocha";

/// What none of Slack's surfaces may show of [`SNEAKY`] as it was typed.
const FORGED: [&str; 10] = [
    "<!channel>",
    "<https://",
    "<@U2>",
    "*bold*",
    "_it_",
    "~no~",
    "`code`",
    "http://",
    "evil.example",
    "x.example",
];

#[tokio::test]
async fn user_text_cannot_ping_link_format_or_draw_on_any_slack_surface() {
    let app = spawn_app_with(&["--assign-max-orders", "2", "--reminder-delay-secs", "1"]).await;
    let response = app
        .submit_order("U1", "C1", Some("Latte"), Some("Large"), Some(SNEAKY))
        .await;
    let confirmation: Value = response.json().await.unwrap();
    // The second order reaches ASSIGN_MAX_ORDERS: the runner's DM and, a second later,
    // the reminder list the sneaky order too.
    app.submit_order("U3", "C1", Some("Mocha"), Some("Small"), None)
        .await;
    eventually("the reminder", || async {
        app.wait_for_jobs().await;
        app.slack_calls("chat.postMessage")
            .await
            .iter()
            .any(|p| p["text"].as_str().unwrap_or("").starts_with("Reminder"))
    })
    .await;
    // The usuals shown in the next modal.
    assert_eq!(
        app.slash_command("/coffee", "", "U1", "C2").await.status(),
        200
    );
    app.wait_for_jobs().await;

    let mut surfaces = vec![("the confirmation modal", confirmation)];
    for method in ["chat.postMessage", "chat.update"] {
        for call in app.slack_calls(method).await {
            surfaces.push((method, call));
        }
    }
    let modal = app.slack_calls("views.open").await.remove(0)["view"].clone();
    // The usuals are shown; the customizations field is prefilled for editing, and an
    // input's value is never parsed as markup.
    let blocks = modal["blocks"].as_array().unwrap();
    surfaces.push(("the modal's usuals", blocks[0].clone()));
    assert_eq!(blocks[0]["block_id"], "usuals");
    let prefilled = blocks
        .iter()
        .find(|b| b["block_id"] == "customizations")
        .unwrap();
    assert_eq!(
        prefilled["element"]["initial_value"],
        SNEAKY.replace('\n', " ")
    );
    // The root message (and any update of it), the assignment reply, the runner's DM,
    // the reminder and the modal's usuals, besides the confirmation.
    assert!(surfaces.len() >= 6, "{surfaces:?}");
    let mut shown = 0;
    for (surface, call) in &surfaces {
        let text = call.to_string();
        for forged in FORGED {
            assert!(!text.contains(forged), "{surface} shows {forged}: {text}");
        }
        if text.contains("bold") {
            shown += 1;
        }
    }
    assert!(
        shown >= 6,
        "the order is shown, neutralised, on each surface"
    );
    // Stored on one line, otherwise as typed: neutralising is for Slack, not the data.
    let stored: String =
        sqlx::query_scalar("SELECT customizations FROM orders WHERE user_id = 'U1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, SNEAKY.replace('\n', " "));
}

#[tokio::test]
async fn the_active_runs_gauge_counts_runs() {
    let app = spawn_app().await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    app.submit_order("U2", "C2", Some("Latte"), Some("Large"), None)
        .await;
    eventually("active_runs to reach 2", || async {
        app.metrics().await.lines().any(|l| l == "active_runs 2")
    })
    .await;
}

/// The orders a root-message rendering lists, one per line.
fn listed_orders(render: &Value) -> usize {
    render["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["block_id"]
                .as_str()
                .unwrap_or("")
                .starts_with("run_orders_")
        })
        .map(|b| b["text"]["text"].as_str().unwrap().lines().count())
        .sum()
}

#[tokio::test]
async fn a_burst_of_orders_redraws_the_root_message_once() {
    let app = spawn_app_tuned(&["--assign-max-orders", "100"], |options| {
        options.summary_refresh_delay = Duration::from_millis(800);
    })
    .await;
    app.submit_order("U00", "C1", Some("Latte"), Some("Large"), None)
        .await;
    app.wait_for_jobs().await;
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 1);

    // Five more within the delay: the first queues the refresh, the rest find it queued.
    let burst = (1..=5).map(|i| {
        let app = &app;
        async move {
            app.submit_order(
                &format!("U{i:02}"),
                "C1",
                Some("Mocha"),
                Some("Small"),
                None,
            )
            .await
        }
    });
    for response in futures::future::join_all(burst).await {
        assert_eq!(response.status(), 200);
    }
    let refreshes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs
         WHERE job_type = 'send-slack-message' AND convert_from(job, 'UTF8')::jsonb->>'kind' = 'run_summary'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(refreshes, 2, "the first post and one refresh for the burst");

    eventually("the refresh", || async {
        !app.slack_calls("chat.update").await.is_empty()
    })
    .await;
    app.wait_for_jobs().await;
    let updates = app.slack_calls("chat.update").await;
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(listed_orders(&updates[0]), 6);
}

#[tokio::test]
async fn a_refresh_that_never_ran_does_not_freeze_the_root_message() {
    let app = spawn_app_with(&["--assign-max-orders", "100"]).await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    app.wait_for_jobs().await;
    // A refresh was queued long ago and its job is gone (an operator deleted it).
    sqlx::query("UPDATE coffee_runs SET summary_refresh_queued_at = NOW() - INTERVAL '2 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();

    app.submit_order("U2", "C1", Some("Mocha"), Some("Small"), None)
        .await;
    app.wait_for_jobs().await;
    let updates = app.slack_calls("chat.update").await;
    assert_eq!(updates.len(), 1);
    assert_eq!(listed_orders(&updates[0]), 2);
}
