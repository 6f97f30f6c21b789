//! Graceful shutdown: a request and a job in flight when the signal comes both finish,
//! and what has not finished within the deadline is stopped.

use std::time::{Duration, Instant};

use coffeebuddy::jobs::SlackMessage;
use wiremock::ResponseTemplate;

use crate::helpers::{TestApp, database_url_of, eventually, slack_call, spawn_app};

/// Slack answers `slack_method` with `ok`, but only after `delay`.
async fn slack_answers_after(app: &TestApp, slack_method: &str, delay: Duration) {
    slack_call(slack_method)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "channel": "U1", "ts": "1.2"}))
                .set_delay(delay),
        )
        .with_priority(1)
        .mount(&app.slack)
        .await;
}

/// Queues a DM and waits until its job is calling Slack.
async fn dm_in_flight(app: &TestApp, text: &str) {
    let dm = SlackMessage::Post {
        channel: "U1".into(),
        text: text.into(),
        blocks: None,
        thread_ts: None,
    };
    app.enqueue(&dm, None).await;
    eventually("the job to call Slack", || async {
        !app.slack_calls("chat.postMessage").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn in_flight_requests_and_jobs_finish_after_the_signal() {
    let app = spawn_app().await;
    // Slack is slow today: every call takes a second.
    slack_answers_after(&app, "views.open", Duration::from_secs(1)).await;
    slack_answers_after(&app, "chat.postMessage", Duration::from_secs(1)).await;
    dm_in_flight(&app, "in flight").await;

    let command = app.slash_command("/coffee", "", "U1", "C1");
    let (response, ()) = tokio::join!(command, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.stop().await;
    });
    assert_eq!(response.status(), 200, "the request in flight was answered");

    let pool = sqlx::PgPool::connect(&crate::helpers::database_url_of(&app))
        .await
        .unwrap();
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE job_type = 'send-slack-message'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        ["Done"],
        "the job in flight finished and was recorded"
    );
    assert_eq!(app.slack_calls("views.open").await.len(), 1);
}

#[tokio::test]
async fn shutdown_ends_within_ten_seconds_whatever_is_still_running() {
    let app = spawn_app().await;
    // Slack hangs: the call would give up only after the client's 10 s timeout.
    slack_answers_after(&app, "chat.postMessage", Duration::from_secs(30)).await;
    dm_in_flight(&app, "stuck").await;

    let signalled = Instant::now();
    app.stop().await;
    let stopping = signalled.elapsed();
    assert!(
        stopping < Duration::from_secs(10),
        "CONTRACT: the pool closes within 10 s of the signal; took {stopping:?}"
    );
    // The job stopped mid-call stays on record, to run again: `Running` (or `Queued`, when
    // apalis had not yet written its lock) until its worker is seen gone, then `Pending`.
    let pool = sqlx::PgPool::connect(&database_url_of(&app)).await.unwrap();
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE job_type = 'send-slack-message'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(statuses.len(), 1);
    assert!(
        ["Running", "Queued", "Pending"].contains(&statuses[0].as_str()),
        "{statuses:?}"
    );
}
