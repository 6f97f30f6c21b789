//! `send-slack-message`: retries on 429 and transient errors, gives up on permanent ones,
//! paces calls under SLACK_RATE_LIMIT_PER_MIN, and lets thread replies wait for their
//! root message without spending their retries.

use std::time::Duration;

use coffeebuddy::{
    jobs::SlackMessage,
    storage::{
        SlackPacer,
        job_queue::{self, Announcer, UnitOfWork},
        slack_pacer::Slot,
    },
};
use uuid::Uuid;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{
    TestApp, eventually, eventually_within, metric, slack_call, slack_refusal, spawn_app,
    spawn_app_tuned,
};

async fn enqueue_post(app: &TestApp, text: &str) {
    app.enqueue(
        &SlackMessage::Post {
            channel: "U1".into(),
            text: text.into(),
            blocks: None,
            thread_ts: None,
        },
        None,
    )
    .await;
}

/// Slack answers the next `posts` messages with a 503.
async fn slack_unavailable_for(app: &TestApp, posts: u64) {
    slack_call("chat.postMessage")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(posts)
        .with_priority(1)
        .mount(&app.slack)
        .await;
}

#[tokio::test]
async fn an_announced_job_wakes_its_worker_without_waiting_for_a_poll() {
    // Workers that poll once an hour: only the announcement can bring the job in time.
    let app = spawn_app_tuned(&[], |options| {
        options.workers.poll_interval = Duration::from_secs(3600);
        options.workers.busy_poll_interval = Duration::from_secs(3600);
    })
    .await;
    // The listener wakes every worker once it listens; let that first fetch pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    enqueue_post(&app, "announced").await;
    eventually_within("the announced message", Duration::from_secs(5), || async {
        app.slack_calls("chat.postMessage").await.len() == 1
    })
    .await;
}

/// Queuing a job sends no NOTIFY from the queuing transaction (PostgreSQL would serialize
/// the commits of every such transaction); the announcement follows the commit.
#[tokio::test]
async fn a_queued_job_is_announced_after_its_commit_not_by_it() {
    let app = spawn_app().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .unwrap();
    listener.listen("apalis::job::insert").await.unwrap();

    let hello = SlackMessage::Post {
        channel: "U1".into(),
        text: "hello".into(),
        blocks: None,
        thread_ts: None,
    };
    // Committed through an announcer that sends nothing: whatever arrives came from the
    // queuing transaction itself.
    let silent = Announcer::new();
    let mut work = UnitOfWork::begin(&app.pool, &silent).await.unwrap();
    work.enqueue(&hello, None).await.unwrap();
    work.commit().await.unwrap();
    let from_the_insert = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(from_the_insert.is_err(), "{from_the_insert:?}");

    // The service's own announcer sends the announcement once the unit of work commits.
    let mut work = UnitOfWork::begin(&app.pool, &app.announcer).await.unwrap();
    work.enqueue(&hello, None).await.unwrap();
    work.commit().await.unwrap();
    let announced = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("an announcement")
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(announced.payload()).unwrap();
    assert_eq!(payload["job_type"], "send-slack-message");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_delivered_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.slack)
        .await;
    enqueue_post(&app, "hello").await;
    app.wait_for_jobs().await;

    let calls = app.slack_calls("chat.postMessage").await;
    assert_eq!(calls.len(), 2, "one 429, then one delivery");
    assert!(calls.iter().all(|c| c["text"] == "hello"));
    assert_eq!(app.job_statuses("send-slack-message").await, ["Done"]);
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "slack_rate_limit_events_total"), Some(1.0));
    // The retry waited for Retry-After rather than hammering Slack.
    let requests = app.slack.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
}

#[tokio::test]
async fn a_5xx_is_retried_with_backoff_then_delivered() {
    let app = spawn_app().await;
    slack_unavailable_for(&app, 2).await;
    enqueue_post(&app, "after an outage").await;
    app.wait_for_jobs().await;
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 3);
    assert_eq!(app.job_statuses("send-slack-message").await, ["Done"]);
}

#[tokio::test]
async fn a_permanent_slack_error_fails_the_job_at_once() {
    let app = spawn_app().await;
    slack_call("chat.postMessage")
        .respond_with(slack_refusal("channel_not_found"))
        .with_priority(1)
        .mount(&app.slack)
        .await;
    enqueue_post(&app, "nobody home").await;
    eventually("the job to be given up", || async {
        app.job_statuses("send-slack-message").await == ["Killed"]
    })
    .await;
    // Give a wrongly retried job time to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.slack_calls("chat.postMessage").await.len(),
        1,
        "not retried"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "errors_total{error_type=\"slack_api\"}"),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_4xx_without_slacks_json_is_permanent() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>no such page</html>"))
        .with_priority(1)
        .mount(&app.slack)
        .await;
    enqueue_post(&app, "lost").await;
    eventually("the job to be given up", || async {
        app.job_statuses("send-slack-message").await == ["Killed"]
    })
    .await;
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 1);
}

#[tokio::test]
async fn the_pacer_spaces_calls_to_the_configured_rate() {
    let app = spawn_app().await;
    // One call a minute: the first slot is free, the next is a minute away.
    let pacer = SlackPacer::new(app.pool.clone(), 1);
    assert_eq!(
        pacer.reserve(Duration::ZERO).await.unwrap(),
        Slot::Reserved(Duration::ZERO)
    );
    match pacer.reserve(Duration::from_secs(5)).await.unwrap() {
        Slot::Busy(retry_in) => assert!(
            (Duration::from_secs(50)..=Duration::from_secs(60)).contains(&retry_in),
            "{retry_in:?}"
        ),
        other => panic!("expected Busy, got {other:?}"),
    }
    // A call that cannot wait takes a slot anyway and pushes the queue back.
    pacer.take_now().await.unwrap();
    match pacer.reserve(Duration::ZERO).await.unwrap() {
        Slot::Busy(retry_in) => assert!(retry_in > Duration::from_secs(100), "{retry_in:?}"),
        other => panic!("expected Busy, got {other:?}"),
    }
}

/// `lock_by` of each `send-slack-message` job, in id order.
async fn job_workers(app: &TestApp) -> Vec<Option<String>> {
    sqlx::query_scalar(
        "SELECT lock_by FROM apalis.jobs WHERE job_type = 'send-slack-message' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_finished_job_no_longer_names_its_worker() {
    let app = spawn_app().await;
    enqueue_post(&app, "hello").await;
    app.wait_for_jobs().await;
    // The worker's acknowledgement found the job by its worker and marked it done once.
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 1);
    assert_eq!(app.job_statuses("send-slack-message").await, ["Done"]);
    assert_eq!(job_workers(&app).await, [None]);

    // A job in flight, or failed with attempts left, keeps its worker; a final state drops it.
    let worker: String = sqlx::query_scalar("SELECT id FROM apalis.workers LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let set = |status: &'static str, attempts: i32| {
        let (pool, worker) = (app.pool.clone(), worker.clone());
        async move {
            sqlx::query(
                "UPDATE apalis.jobs SET status = $1, attempts = $2, lock_by = COALESCE(lock_by, $3)
                 WHERE job_type = 'send-slack-message'",
            )
            .bind(status)
            .bind(attempts)
            .bind(worker)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    for (status, attempts) in [("Queued", 0), ("Running", 0), ("Failed", 1)] {
        set(status, attempts).await;
        assert_eq!(job_workers(&app).await, [Some(worker.clone())], "{status}");
    }
    set("Failed", i32::MAX).await;
    assert_eq!(
        job_workers(&app).await,
        [None],
        "Failed with no attempts left"
    );
    set("Running", 0).await;
    set("Killed", 1).await;
    assert_eq!(job_workers(&app).await, [None], "Killed");
}

/// Migration `20261202000009` replaces apalis' `get_jobs` with a PL/pgSQL copy that keeps
/// its plan. An apalis upgrade that ships its own again fails here: compare the two and
/// carry any change over before updating the migration's copy.
#[tokio::test]
async fn apalis_job_fetch_is_our_plpgsql_version() {
    let app = spawn_app().await;
    let language: String = sqlx::query_scalar(
        "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.oid = 'apalis.get_jobs(text, text, integer)'::regprocedure",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(language, "plpgsql");

    // It fetches what apalis' version fetches: due jobs of the queue, Pending or Failed
    // with attempts left, highest priority first, then oldest; it locks them to the worker.
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         VALUES ('due-old', 'fetch-test', '\\x00', 'Pending', 0, 3, NOW() - interval '2 min', 0),
                ('due-new', 'fetch-test', '\\x00', 'Pending', 0, 3, NOW() - interval '1 min', 0),
                ('urgent', 'fetch-test', '\\x00', 'Pending', 0, 3, NOW() - interval '1 s', 5),
                ('retry', 'fetch-test', '\\x00', 'Failed', 1, 3, NOW() - interval '30 s', 0),
                ('spent', 'fetch-test', '\\x00', 'Failed', 3, 3, NOW() - interval '3 min', 0),
                ('later', 'fetch-test', '\\x00', 'Pending', 0, 3, NOW() + interval '1 h', 9),
                ('running', 'fetch-test', '\\x00', 'Running', 1, 3, NOW() - interval '5 min', 0),
                ('elsewhere', 'other-queue', '\\x00', 'Pending', 0, 3, NOW() - interval '5 min', 0)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // Our own worker: the service's workers register in the background, and `lock_by`
    // must name a registered one.
    let worker = String::from("fetch-test-worker");
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name) VALUES ($1, 'fetch-test', 'test')",
    )
    .bind(&worker)
    .execute(&app.pool)
    .await
    .unwrap();
    let fetch = |count: i32| {
        let (pool, worker) = (app.pool.clone(), worker.clone());
        async move {
            sqlx::query_as::<_, (String, String, Option<String>, bool)>(
                "SELECT id, status, lock_by, lock_at IS NOT NULL FROM apalis.get_jobs($1, 'fetch-test', $2)",
            )
            .bind(worker)
            .bind(count)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let first = fetch(3).await;
    let ids: Vec<&str> = first.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(ids, ["urgent", "due-old", "due-new"]);
    for (id, status, lock_by, locked_at) in &first {
        assert_eq!(status, "Queued", "{id}");
        assert_eq!(lock_by.as_deref(), Some(worker.as_str()), "{id}");
        assert!(locked_at, "{id}");
    }
    let rest: Vec<String> = fetch(10).await.into_iter().map(|(id, ..)| id).collect();
    assert_eq!(rest, ["retry"], "fetched jobs are not fetched again");
    assert!(fetch(10).await.is_empty());
}

/// `(status, attempts, failures in the row's metadata)` of each `send-slack-message` job
/// of `kind` (`run_summary`, `run_thread_reply`, `post`…), in id order.
async fn jobs_of_kind(app: &TestApp, kind: &str) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT status, attempts, metadata -> 'failures' FROM apalis.jobs
         WHERE job_type = 'send-slack-message'
           AND convert_from(job, 'UTF8')::jsonb ->> 'kind' = $1
         ORDER BY id",
    )
    .bind(kind)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn run_in(app: &TestApp, channel: &str) -> Uuid {
    sqlx::query_scalar("SELECT run_id FROM coffee_runs WHERE channel_id = $1")
        .bind(channel)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn enqueue_thread_reply(app: &TestApp, run_id: Uuid, text: &str, delay: Option<Duration>) {
    let reply = SlackMessage::RunThreadReply {
        run_id,
        text: text.into(),
        blocks: None,
    };
    app.enqueue(&reply, delay).await;
}

fn thread_replies(calls: &[serde_json::Value]) -> usize {
    calls
        .iter()
        .filter(|c| c.get("thread_ts").is_some())
        .count()
}

/// `POST /jobs/{id}/retry`'s work, then every due job run.
async fn retry_as_an_operator(app: &TestApp, job_id: &str) {
    let retried = job_queue::retry(&app.pool, &app.announcer, job_id)
        .await
        .unwrap();
    assert!(matches!(retried, job_queue::Retry::Requeued(_)));
    app.wait_for_jobs().await;
}

#[tokio::test]
async fn a_thread_reply_is_given_up_with_its_runs_root_message_and_retried_with_it() {
    let app = spawn_app().await;
    // The app is not in the channel: Slack refuses the root message, for good as far as
    // the job can tell (the reply never reaches Slack without its root).
    slack_call("chat.postMessage")
        .respond_with(slack_refusal("not_in_channel"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.slack)
        .await;
    let submitted = app
        .submit_order("U1", "C1", Some("Latte"), Some("Small"), None)
        .await;
    assert_eq!(submitted.status(), 200);
    let run_id = run_in(&app, "C1").await;
    // Queued while the root post may still be trying: it waits for it, then sees it end.
    enqueue_thread_reply(&app, run_id, "a runner was picked", None).await;

    eventually(
        "the root post and its thread reply to be given up",
        || async {
            let statuses = |jobs: Vec<(String, i32, Option<String>)>| {
                jobs.into_iter()
                    .map(|(status, ..)| status)
                    .collect::<Vec<_>>()
            };
            statuses(jobs_of_kind(&app, "run_summary").await) == ["Killed"]
                && statuses(jobs_of_kind(&app, "run_thread_reply").await) == ["Killed"]
        },
    )
    .await;
    let (root_id, reason, awaits): (String, String, Option<String>) = sqlx::query_as(
        "SELECT root.id, reply.last_result::text, reply.metadata -> 'awaits_job'
         FROM apalis.jobs root, apalis.jobs reply
         WHERE convert_from(root.job, 'UTF8')::jsonb ->> 'kind' = 'run_summary'
           AND convert_from(reply.job, 'UTF8')::jsonb ->> 'kind' = 'run_thread_reply'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(reason.contains("root message was never posted"), "{reason}");
    assert_eq!(awaits.as_deref(), Some(root_id.as_str()));
    let calls = app.slack_calls("chat.postMessage").await;
    assert_eq!(
        calls.len(),
        1,
        "only the root post reached Slack: {calls:?}"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "errors_total{error_type=\"slack_api\"}"),
        Some(2.0),
        "the root post and the reply are both lost"
    );

    // The app was invited meanwhile: an operator retries the root message alone.
    retry_as_an_operator(&app, &root_id).await;
    assert_eq!(
        app.job_statuses("send-slack-message").await,
        ["Done", "Done"]
    );
    let calls = app.slack_calls("chat.postMessage").await;
    assert_eq!(thread_replies(&calls), 1, "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| c["text"] == "a runner was picked" && c["channel"] == "C1"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn waiting_for_the_root_message_does_not_spend_the_retry_budget() {
    let app = spawn_app().await;
    let submitted = app
        .submit_order("U1", "C1", Some("Latte"), Some("Small"), None)
        .await;
    assert_eq!(submitted.status(), 200);
    app.wait_for_jobs().await;
    let run_id = run_in(&app, "C1").await;

    // A reply that waited twenty passes for the root message (each pass an apalis attempt,
    // and one more attempt allowed, as `wait_then_run` leaves it), now due.
    enqueue_thread_reply(
        &app,
        run_id,
        "a runner was picked",
        Some(Duration::from_secs(60)),
    )
    .await;
    sqlx::query(
        "UPDATE apalis.jobs
         SET attempts = 20, max_attempts = max_attempts + 20, run_at = NOW()
         WHERE convert_from(job, 'UTF8')::jsonb ->> 'kind' = 'run_thread_reply'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // Slack's first answer to it is a 503: its first failure, retried.
    slack_unavailable_for(&app, 1).await;

    eventually("the reply to be delivered", || async {
        jobs_of_kind(&app, "run_thread_reply")
            .await
            .first()
            .is_some_and(|(status, ..)| status == "Done")
    })
    .await;
    let reply = jobs_of_kind(&app, "run_thread_reply").await;
    assert_eq!(reply[0].1, 22, "twenty waits, the 503, the delivery");
    assert_eq!(reply[0].2.as_deref(), Some("1"), "one failure counted");
    let calls = app.slack_calls("chat.postMessage").await;
    assert_eq!(
        thread_replies(&calls),
        2,
        "a 503, then the reply: {calls:?}"
    );
}

#[tokio::test]
async fn an_operators_retry_forgives_the_counted_failures() {
    let app = spawn_app().await;
    enqueue_post(&app, "after a long outage").await;
    app.wait_for_jobs().await;
    // As if it had been given up after every failure the policy allows.
    let id: String = sqlx::query_scalar(
        "UPDATE apalis.jobs
         SET status = 'Killed', attempts = 15, metadata = hstore('failures', '15')
         WHERE job_type = 'send-slack-message' RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // Slack is still flaky once: the retried job must retry that, not give up at once.
    slack_unavailable_for(&app, 1).await;

    retry_as_an_operator(&app, &id).await;
    assert_eq!(
        jobs_of_kind(&app, "post").await,
        [("Done".to_string(), 2, Some("1".to_string()))],
        "counted afresh: one failure, then the delivery"
    );
    assert_eq!(app.slack_calls("chat.postMessage").await.len(), 3);
}
