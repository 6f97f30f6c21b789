//! Every id and name from outside is parsed once at the edge: a bad one in any field of any
//! route gets a clear refusal (Slack routes: 200 with an ephemeral or an acknowledgement, as
//! Slack expects; REST: 422 `invalid_input`), never a 500, and nothing is stored.

use serde_json::{Value, json};

use crate::{
    helpers::{
        ROOT_TS, TestApp, WORKSPACE, button_click, metric, slash_command_body, spawn_app_with,
        view_submission,
    },
    oidc,
};

/// Ids a signed request or a valid token could carry that are not Slack's.
fn bad_ids() -> Vec<String> {
    vec![
        "U".repeat(65),
        "U".repeat(33),
        "U1\0".into(),
        "u1".into(),
        "U1|everyone".into(),
        " U1".into(),
        "U\u{202E}1".into(),
        "U\u{200B}1".into(),
        String::new(),
    ]
}

fn bad_names() -> Vec<String> {
    vec!["a".repeat(300), "ana\0".into(), "ana\u{7}".into()]
}

/// A slash command with `field` set to `value`.
fn command_with(field: &str, value: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&slash_command_body("/coffee-history", "", "U1", "C1")).unwrap();
    for pair in &mut pairs {
        if pair.0 == field {
            pair.1 = value.to_owned();
        }
    }
    serde_urlencoded::to_string(pairs).unwrap()
}

/// Sets the JSON field at `path` (object keys) to `value`.
fn set(payload: &mut Value, path: &[&str], value: &str) {
    let mut at = payload;
    for key in path {
        at = &mut at[*key];
    }
    *at = json!(value);
}

fn event_callback() -> Value {
    json!({
        "type": "event_callback",
        "team_id": WORKSPACE,
        "event_id": "Ev0EDGE1",
        "event_time": 1_700_000_000,
        "event": {"type": "app_mention", "user": "U1", "channel": "C1", "ts": ROOT_TS, "text": "<@B1> hi"}
    })
}

async fn assert_nothing_went_wrong(app: &TestApp) {
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "errors_total{error_type=\"internal\"}"),
        Some(0.0),
        "no request failed inside"
    );
    for table in ["users", "orders", "coffee_runs", "slack_events"] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(rows, 0, "nothing was stored in {table}");
    }
}

#[tokio::test]
async fn bad_ids_and_names_in_slack_payloads_are_refused_the_way_slack_expects() {
    let app = spawn_app_with(&[]).await;
    let mut refusals = 0;

    for field in ["team_id", "channel_id", "user_id"] {
        for bad in bad_ids() {
            let response = app
                .post_signed(
                    "/slack/commands",
                    "application/x-www-form-urlencoded",
                    command_with(field, &bad),
                )
                .await;
            assert_eq!(response.status(), 200, "{field} = {bad:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["response_type"], "ephemeral", "{field} = {bad:?}");
            refusals += 1;
        }
    }
    for bad in bad_names() {
        let response = app
            .post_signed(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                command_with("user_name", &bad),
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap()["response_type"],
            "ephemeral"
        );
        refusals += 1;
    }

    // A modal submission keeps its modal open with a message.
    let submission_fields: [&[&str]; 4] = [
        &["user", "id"],
        &["user", "team_id"],
        &["team", "id"],
        &["user", "username"],
    ];
    for path in submission_fields {
        let values = if path.ends_with(&["username"]) {
            bad_names()
        } else {
            bad_ids()
        };
        for bad in values {
            let mut payload = view_submission("U1", "C1", Some("Latte"), Some("Large"), None);
            set(&mut payload, path, &bad);
            let response = app.interaction(&payload).await;
            assert_eq!(response.status(), 200, "{path:?} = {bad:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["response_action"], "errors", "{path:?} = {bad:?}");
            refusals += 1;
        }
    }

    // A click is acknowledged.
    let click_fields: [&[&str]; 4] = [
        &["user", "id"],
        &["team", "id"],
        &["channel", "id"],
        &["container", "channel_id"],
    ];
    for path in click_fields {
        for bad in bad_ids() {
            let run = uuid::Uuid::new_v4().to_string();
            let mut payload = button_click("U1", "C1", "mark_complete", &run);
            set(&mut payload, path, &bad);
            let response = app.interaction(&payload).await;
            assert_eq!(response.status(), 200, "{path:?} = {bad:?}");
            refusals += 1;
        }
    }

    // An event is acknowledged, so Slack does not retry it.
    let too_long_event = "E".repeat(65);
    let event_fields: [(&[&str], &str); 4] = [
        (&["event_id"], too_long_event.as_str()),
        (&["event_id"], "Ev1\0"),
        (&["event", "channel"], "c1|x"),
        (&["event", "ts"], "1.1<!channel>"),
    ];
    for (path, bad) in event_fields {
        let mut payload = event_callback();
        set(&mut payload, path, bad);
        let response = app
            .post_signed("/slack/events", "application/json", payload.to_string())
            .await;
        assert_eq!(response.status(), 200, "{path:?} = {bad:?}");
        assert_eq!(response.text().await.unwrap(), "");
        refusals += 1;
    }

    assert_nothing_went_wrong(&app).await;
    assert_eq!(
        metric(
            &app.metrics().await,
            "errors_total{error_type=\"invalid_input\"}"
        ),
        Some(f64::from(refusals)),
        "each refusal is counted"
    );
}

#[tokio::test]
async fn bad_ids_in_rest_bodies_paths_and_queries_get_422() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let args = oidc::oidc_settings(&jwks);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(&args).await;
    let admin = oidc::admin_token("OPS1");

    for bad in bad_ids() {
        for field in ["workspace_id", "channel_id"] {
            let mut body = json!({"workspace_id": WORKSPACE, "channel_id": "C1", "drink_type": "Latte", "size": "Large"});
            body[field] = json!(bad);
            let response = app
                .http
                .post(format!("{}/api/v1/runs", app.address))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{field} = {bad:?}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"], "invalid_input");
        }
        let base = reqwest::Url::parse(&app.address).unwrap();
        let mut preferences = base.clone();
        preferences.path_segments_mut().unwrap().extend([
            "api",
            "v1",
            "users",
            bad.as_str(),
            "preferences",
        ]);
        let mut fairness = base.join("/api/v1/fairness").unwrap();
        fairness.query_pairs_mut().append_pair("workspace_id", &bad);
        for url in [preferences, fairness] {
            let response = app
                .http
                .get(url.clone())
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{url}");
        }
    }
    // A token whose subject is not a Slack user id.
    for bad in ["U1|x", "u1", "U\u{202E}1"] {
        let response = app
            .http
            .get(format!("{}/api/v1/users/U1/preferences", app.address))
            .bearer_auth(oidc::user_token(bad))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{bad:?}");
    }
    assert_nothing_went_wrong(&app).await;
}
