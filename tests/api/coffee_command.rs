//! `/coffee`: the modal through `views.open`, help, and the usual orders.

use serde_json::Value;

use crate::helpers::{
    BOT_TOKEN, WORKSPACE, metric, slack_call, slack_refusal, spawn_app, spawn_app_with,
    view_submission,
};

#[tokio::test]
async fn coffee_opens_the_order_modal_through_views_open() {
    let app = spawn_app().await;
    let response = app.slash_command("/coffee", "", "U1", "C1").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.text().await.unwrap().is_empty(),
        "answered with an empty body"
    );

    let calls = app.slack_calls("views.open").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["trigger_id"],
        "13345224609.738474920.8088930838d88f008e0"
    );
    let view = &calls[0]["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "coffee_order_modal");
    let metadata: Value = serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata["channel_id"], "C1");
    let block_ids: Vec<&str> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["block_id"].as_str().unwrap())
        .collect();
    assert_eq!(block_ids, ["drink_type", "size", "customizations"]);

    let request = &app.slack.received_requests().await.unwrap()[0];
    assert_eq!(
        request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {BOT_TOKEN}")
    );
}

#[tokio::test]
async fn a_returning_user_gets_their_last_order_and_top_three() {
    let app = spawn_app().await;
    // Five runs' worth of orders: Latte ×3, Mocha ×1, Espresso ×1 (last).
    let history = [
        ("C1", "Latte", "Large", Some("oat milk")),
        ("C2", "Latte", "Large", Some("oat milk")),
        ("C3", "Latte", "Large", None),
        ("C4", "Mocha", "Small", None),
        ("C5", "Espresso", "Medium", Some("<!channel> double")),
    ];
    for (channel, drink, size, custom) in history {
        let r = app
            .submit_order("U1", channel, Some(drink), Some(size), custom)
            .await;
        assert_eq!(r.status(), 200);
    }
    app.slash_command("/coffee", "", "U1", "C9").await;
    let calls = app.slack_calls("views.open").await;
    let blocks = calls[0]["view"]["blocks"].as_array().unwrap().clone();
    assert_eq!(blocks[0]["block_id"], "usuals");
    let usuals = blocks[0]["elements"][0]["text"].as_str().unwrap();
    assert!(
        usuals.starts_with("Your usuals: *Large Latte* ×3"),
        "{usuals}"
    );
    assert!(
        usuals.contains("&lt;!channel&gt; double"),
        "escaped: {usuals}"
    );
    assert!(!usuals.contains("<!channel>"), "{usuals}");
    assert_eq!(usuals.matches('×').count(), 3, "top 3 only: {usuals}");
    assert_eq!(blocks[1]["element"]["initial_option"]["value"], "Espresso");
    assert_eq!(blocks[2]["element"]["initial_option"]["value"], "Medium");
    assert_eq!(blocks[3]["element"]["initial_value"], "<!channel> double");
}

#[tokio::test]
async fn coffee_help_answers_an_ephemeral_usage_text() {
    let app = spawn_app().await;
    let response = app.slash_command("/coffee", "help", "U1", "C1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert!(body["text"].as_str().unwrap().contains("/coffee-history"));
    assert!(app.slack_calls("views.open").await.is_empty());
}

#[tokio::test]
async fn help_states_this_deployments_assignment_rule() {
    let app = spawn_app_with(&["--assign-max-orders", "3", "--assign-window-secs", "90"]).await;
    let response = app.slash_command("/coffee", "help", "U1", "C1").await;
    let body: Value = response.json().await.unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("once the run has 3 orders or is 90 seconds old"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failing_views_open_gets_an_apology_not_an_error() {
    let app = spawn_app().await;
    slack_call("views.open")
        .respond_with(slack_refusal("expired_trigger_id"))
        .with_priority(1)
        .mount(&app.slack)
        .await;
    let response = app.slash_command("/coffee", "", "U1", "C1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("try `/coffee` again")
    );
}

#[tokio::test]
async fn malformed_commands_get_an_ephemeral_refusal_never_a_5xx() {
    let app = spawn_app().await;
    for body in [
        "not a form at all %%%".to_owned(),
        "command=%2Fcoffee&user_id=U1".to_owned(),
        serde_urlencoded::to_string([
            ("command", "/coffee"),
            ("team_id", "T1"),
            ("channel_id", "C1"),
            ("user_id", "U1"),
            ("text", ""),
        ])
        .unwrap(),
    ] {
        let response = app
            .post_signed(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                body.clone(),
            )
            .await;
        // Slack shows anything but 200 as a broken app: the user is told instead.
        assert_eq!(response.status(), 200, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["response_type"], "ephemeral", "{body}");
    }
    assert_eq!(
        metric(
            &app.metrics().await,
            "errors_total{error_type=\"invalid_input\"}"
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn unknown_commands_get_the_usage_text() {
    let app = spawn_app().await;
    let response = app.slash_command("/tea", "", "U1", "C1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("I don't know `/tea`")
    );
}

/// On Enterprise Grid a submission's `team` can name another workspace of the org than the
/// `/coffee` that opened the modal: the order joins the run of the command's workspace,
/// the one `/coffee-cancel` in that channel sees.
#[tokio::test]
async fn the_order_joins_the_workspace_of_the_command_that_opened_the_modal() {
    let app = spawn_app().await;
    app.slash_command("/coffee", "", "U1", "C1").await;
    let opened = app.slack_calls("views.open").await;
    let metadata = opened[0]["view"]["private_metadata"].clone();
    let mut submission = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
    submission["view"]["private_metadata"] = metadata;
    submission["team"]["id"] = "T0OTHER".into();
    submission["user"]["team_id"] = "T0OTHER".into();
    assert_eq!(app.interaction(&submission).await.status(), 200);
    let workspace: String = sqlx::query_scalar("SELECT workspace_id FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(workspace, WORKSPACE);

    let cancelled = app.slash_command("/coffee-cancel", "", "U1", "C1").await;
    assert_eq!(cancelled.status(), 200);
    let status: String = sqlx::query_scalar("SELECT status::text FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
}
