//! Secrets never reach the logs: the real binary runs a whole coffee run at debug level,
//! and its output is searched for every secret it handled.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use reqwest::Client;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use coffeebuddy::slack::{modal_metadata, payloads::OrderModalMetadata};

use crate::{
    helpers::{
        TestDatabase, WORKSPACE, button_click, eventually_within, free_port, post_signed_with,
        slash_command_body, view_submission, wait_until_ready,
    },
    oidc,
};

const SIGNING_SECRET: &str = "sEcReT-signing-4f9a1c";
const BOT_TOKEN: &str = "xoxb-sEcReT-bot-7d2e";
const DB_PASSWORD: &str = "sEcReT-db-password-91b";

async fn signed(
    http: &Client,
    base: &str,
    path: &str,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    post_signed_with(
        http,
        SIGNING_SECRET,
        &format!("{base}{path}"),
        content_type,
        body,
    )
    .await
}

#[tokio::test]
async fn a_whole_run_logs_no_secret() {
    let slack = MockServer::start().await;
    for slack_method in [
        "views.open",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/api/{slack_method}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.1"})),
            )
            .mount(&slack)
            .await;
    }
    let jwks = oidc::jwks_server("jwks.json").await;
    let database = TestDatabase::fresh();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let logs = std::env::temp_dir().join(format!("{}.log", database.name));
    let log_file = std::fs::File::create(&logs).unwrap();
    let service = Command::new(env!("CARGO_BIN_EXE_coffeebuddy"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database.url_with_password(DB_PASSWORD))
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_API_URL", format!("{}/api/", slack.uri()))
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("OIDC_ISSUER", oidc::ISSUER)
        .env(
            "OIDC_JWKS_URL",
            format!("{}/.well-known/jwks.json", jwks.uri()),
        )
        .env("ASSIGN_MAX_ORDERS", "2")
        .env("REMINDER_DELAY_SECS", "1")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .stdin(Stdio::null())
        .spawn()
        .expect("the service starts");
    let mut service = KillOnDrop(Some(service));

    let http = Client::new();
    wait_until_ready(&http, &base).await;

    // A whole run: the form, two orders, the runner, the reminder, completion, the API.
    let form = "application/x-www-form-urlencoded";
    signed(
        &http,
        &base,
        "/slack/commands",
        form,
        slash_command_body("/coffee", "", "U1", "C1"),
    )
    .await;
    for user in ["U1", "U2"] {
        let mut payload =
            view_submission(user, "C1", Some("Latte"), Some("Large"), Some("oat milk"));
        // Sealed with this service's signing secret, as its `/coffee` would have.
        let metadata = OrderModalMetadata {
            channel_id: "C1".into(),
            workspace_id: Some(WORKSPACE.into()),
        };
        payload["view"]["private_metadata"] = json!(modal_metadata::seal(
            SIGNING_SECRET.as_bytes(),
            &metadata,
            user
        ));
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        assert_eq!(
            signed(&http, &base, "/slack/interactions", form, body)
                .await
                .status(),
            200
        );
    }
    let token = oidc::user_token("U1");
    // The runner's DM carries the run id on its Mark complete button.
    eventually_within("the runner's DM", Duration::from_secs(20), || async {
        runner_button_value(&slack).await.is_some()
    })
    .await;
    let run_id = runner_button_value(&slack).await.unwrap();
    eventually_within("the reminder", Duration::from_secs(20), || async {
        let run: Value = http
            .get(format!("{base}/api/v1/runs/{run_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        run["reminder_sent_at"].is_string()
    })
    .await;
    let click = button_click("U1", "D1", "mark_complete", &run_id);
    let body = serde_urlencoded::to_string([("payload", click.to_string())]).unwrap();
    assert_eq!(
        signed(&http, &base, "/slack/interactions", form, body)
            .await
            .status(),
        200
    );
    // A wrong signature and a bad token are refused (and logged as such).
    http.post(format!("{base}/slack/commands"))
        .body("x=1")
        .send()
        .await
        .unwrap();
    http.get(format!("{base}/api/v1/users/U1/preferences"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut service = service.0.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || service.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    let output = std::fs::read_to_string(&logs).unwrap();
    let _ = std::fs::remove_file(&logs);
    assert!(
        output.contains("runner assigned") && output.contains("\"level\""),
        "the logs were captured as JSON:\n{output}"
    );
    for (what, secret) in [
        ("signing secret", SIGNING_SECRET),
        ("bot token", BOT_TOKEN),
        ("database password", DB_PASSWORD),
        ("bearer token", token.as_str()),
        (
            "bearer token's signature",
            token.rsplit('.').next().unwrap(),
        ),
    ] {
        assert!(!output.contains(secret), "the {what} leaked into the logs");
    }
    drop(database);
}

/// The value of the first Mark complete button the fake Slack received.
async fn runner_button_value(slack: &MockServer) -> Option<String> {
    slack
        .received_requests()
        .await?
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter_map(|body| body["blocks"].as_array().cloned())
        .flatten()
        .filter_map(|block| block["elements"].as_array().cloned())
        .flatten()
        .find(|element| element["action_id"] == "mark_complete")
        .and_then(|button| button["value"].as_str().map(str::to_owned))
}

/// Stops the service if the test fails before it is stopped on purpose.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
