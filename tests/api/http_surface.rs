//! Signatures, body limits, probes, metrics and the OpenAPI document, over HTTP.

use chrono::Utc;
use coffeebuddy::slack::signature;
use serde_json::{Value, json};

use crate::helpers::{SIGNING_SECRET, metric, slash_command_body, spawn_app};

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_requests_are_refused_and_counted() {
    let app = spawn_app().await;
    let body = slash_command_body("/coffee", "", "U1", "C1");
    let url = format!("{}/slack/commands", app.address);
    let now = Utc::now().timestamp();
    // Well outside the window: one second past it, a request from the future came back
    // inside it whenever the clock ticked before the service read it (CI saw that). The
    // exact boundary is unit-tested in `slack::signature`.
    let outside = signature::MAX_SKEW_SECS + 60;
    let sign =
        |ts: i64| signature::sign(SIGNING_SECRET.as_bytes(), &ts.to_string(), body.as_bytes());

    let cases: Vec<(Option<String>, Option<String>, &str)> = vec![
        (None, None, "invalid_signature"),
        (Some(now.to_string()), None, "invalid_signature"),
        (
            Some(now.to_string()),
            Some("v0=deadbeef".into()),
            "invalid_signature",
        ),
        (
            Some(now.to_string()),
            Some(signature::sign(
                b"another-secret",
                &now.to_string(),
                body.as_bytes(),
            )),
            "invalid_signature",
        ),
        (
            Some((now - outside).to_string()),
            Some(sign(now - outside)),
            "request_expired",
        ),
        (
            Some((now + outside).to_string()),
            Some(sign(now + outside)),
            "request_expired",
        ),
    ];
    let refused = cases.len() as f64;
    for (timestamp, sig, expected) in cases {
        let mut request = app.http.post(&url).body(body.clone());
        if let Some(ts) = timestamp {
            request = request.header("X-Slack-Request-Timestamp", ts);
        }
        if let Some(sig) = sig {
            request = request.header("X-Slack-Signature", sig);
        }
        let (status, code) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, expected));
    }
    // Every /slack route is guarded, including ones that do not exist.
    let (status, code) = error_of(
        app.http
            .post(format!("{}/slack/whatever", app.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));

    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "slack_signature_verification_failures_total"),
        Some(refused + 1.0)
    );
    assert_eq!(
        metric(&metrics, "errors_total{error_type=\"request_expired\"}"),
        Some(2.0)
    );

    // A request signed 4 minutes ago is still fine.
    let ts = (now - 240).to_string();
    let ok = app
        .http
        .post(&url)
        .header("X-Slack-Request-Timestamp", &ts)
        .header(
            "X-Slack-Signature",
            signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn bodies_over_64_kib_get_413() {
    let app = spawn_app().await;
    let big = format!("payload={}", "x".repeat(64 * 1024));
    let response = app
        .post_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            big,
        )
        .await;
    let (status, code) = error_of(response).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));

    // Chunked, without a Content-Length, is cut off too.
    let stream =
        futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 8 * 1024])));
    let response = app
        .http
        .post(format!("{}/slack/commands", app.address))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn probes_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    let missing = app.get("/no/such/route").await;
    assert_eq!(error_of(missing).await, (404, "not_found".to_owned()));
}

#[tokio::test]
async fn a_method_a_route_does_not_take_gets_a_json_405() {
    let app = spawn_app().await;
    let run = uuid::Uuid::new_v4();
    for (verb, path) in [
        (reqwest::Method::DELETE, format!("/api/v1/runs/{run}")),
        (reqwest::Method::POST, "/healthz".to_owned()),
    ] {
        let response = app
            .http
            .request(verb.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(response).await,
            (405, "method_not_allowed".to_owned()),
            "{verb} {path}"
        );
    }
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "errors_total{error_type=\"method_not_allowed\"}"),
        Some(1.0),
        "the REST one counted as what it is"
    );
}

#[tokio::test]
async fn metrics_export_the_contract_names() {
    let app = spawn_app().await;
    app.slash_command("/coffee", "help", "U1", "C1").await;
    app.slash_command("/coffee-history", "", "U1", "C1").await;
    app.slash_command("/coffee-cancel", "", "U1", "C1").await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Small"), None)
        .await;
    let click =
        crate::helpers::button_click("U1", "C1", "opt_out", &uuid::Uuid::new_v4().to_string());
    app.interaction(&click).await;
    let metrics = app.metrics().await;
    for command in [
        "/coffee",
        "/coffee-history",
        "/coffee-cancel",
        "view_submission",
        "block_actions",
    ] {
        let series = format!("command_latency_seconds_count{{command=\"{command}\"}} 1");
        assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
    }
    for name in [
        "command_latency_seconds_bucket{command=\"/coffee\",le=\"0.1\"}",
        "command_latency_seconds_bucket{command=\"/coffee\",le=\"0.5\"}",
        "command_latency_seconds_bucket{command=\"/coffee\",le=\"1\"}",
        "command_latency_seconds_bucket{command=\"/coffee\",le=\"2\"}",
        "command_latency_seconds_bucket{command=\"/coffee\",le=\"5\"}",
        "command_latency_seconds_count{command=\"/coffee\"}",
        "orders_total{drink_type=\"Latte\"}",
        "active_runs",
        "runner_assignments_total",
        "errors_total{error_type=\"invalid_signature\"}",
        "slack_signature_verification_failures_total",
        "slack_rate_limit_events_total",
        "kafka_publish_failures_total",
        "db_connections_active",
        "db_connections_idle",
        "circuit_breaker_state",
        "jobs{job_type=\"send-slack-message\",state=\"Pending\"}",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains("_total_total") && !metrics.contains("otel_scope"),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "command_latency_seconds_count{command=\"/coffee\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn url_verification_echoes_the_challenge() {
    let app = spawn_app().await;
    let body = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let response = app
        .post_signed("/slack/events", "application/json", body.to_string())
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_service() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let committed: Value = serde_json::from_str(include_str!("../../openapi/openapi.json"))
        .expect("openapi/openapi.json is JSON");
    let printed: Value = serde_json::from_str(&coffeebuddy::api::openapi_document()).unwrap();
    assert_eq!(
        committed, printed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(served["paths"], printed["paths"]);
    assert_eq!(app.get("/docs").await.status(), 200);
}

#[tokio::test]
async fn a_worker_serves_probes_and_metrics_only() {
    let app = spawn_app().await;
    let settings = crate::helpers::test_settings(
        &crate::helpers::database_name_of(&app),
        &app.slack.uri(),
        &[],
    );
    let worker = coffeebuddy::startup::Application::build(
        settings,
        coffeebuddy::startup::Role::Worker,
        coffeebuddy::startup::Options::default(),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", worker.port());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(worker.run_until(shutdown.clone()));
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kafka_publish_failures_total 0"),
        "{metrics}"
    );
    let slack = http
        .post(format!("{base}/slack/commands"))
        .send()
        .await
        .unwrap();
    assert_eq!(slack.status(), 404, "workers take no Slack traffic");
    shutdown.cancel();
    running.await.unwrap().unwrap();
}
