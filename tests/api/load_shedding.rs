//! `MAX_REQUESTS_IN_FLIGHT`: past the bound a Slack or REST request gets 503 at once
//! instead of queueing; probes and metrics still answer, and the place comes back when the
//! request in progress ends.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{TestApp, eventually, metric, slack_call, spawn_app_with};

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Slack takes `delay` to open a modal, so a `/coffee` holds its place that long.
async fn slow_views_open(app: &TestApp, delay: Duration) {
    slack_call("views.open")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "view": {"id": "V1"}}))
                .set_delay(delay),
        )
        .with_priority(1)
        .mount(&app.slack)
        .await;
}

#[tokio::test]
async fn a_request_past_the_bound_gets_503_at_once_and_probes_still_answer() {
    let app = spawn_app_with(&["--max-requests-in-flight", "1"]).await;
    slow_views_open(&app, Duration::from_secs(2)).await;

    let in_progress = app.slash_command("/coffee", "", "U1", "C1");
    let (opened, ()) = tokio::join!(in_progress, async {
        eventually("the /coffee to be waiting on Slack", || async {
            !app.slack_calls("views.open").await.is_empty()
        })
        .await;

        let started = std::time::Instant::now();
        let (status, body) =
            error_of(app.slash_command("/coffee-history", "", "U2", "C1").await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("service_unavailable")),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused without waiting for the request in progress"
        );
        let (status, body) = error_of(app.get("/api/v1/jobs").await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("service_unavailable")),
            "{body}"
        );

        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(
            app.get("/readyz").await.status(),
            200,
            "busy is not unready"
        );
        let metrics = app.metrics().await;
        assert_eq!(
            metric(&metrics, "errors_total{error_type=\"service_unavailable\"}"),
            Some(2.0),
            "{metrics}"
        );
        assert_eq!(metric(&metrics, "requests_shed_total"), Some(2.0));
        // Overload says nothing about the database: the circuit stays closed.
        assert_eq!(metric(&metrics, "circuit_breaker_state"), Some(0.0));
    });
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.text().await.unwrap(), "", "the modal opened");

    let history = app.slash_command("/coffee-history", "", "U2", "C1").await;
    assert_eq!(history.status(), 200, "the place came back");
}
