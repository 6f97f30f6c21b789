//! Spawns the real service against a fresh PostgreSQL database and a fake Slack Web API.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use clap::Parser;
use coffeebuddy::{
    config::Settings,
    jobs::{JobContext, WorkerSettings},
    slack::{modal_metadata, payloads::OrderModalMetadata, signature},
    startup::{Application, Options, Role},
    storage::job_queue::{Announcer, Job, UnitOfWork},
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::{
    Mock, MockBuilder, MockServer, ResponseTemplate,
    matchers::{method, path},
};

pub const SIGNING_SECRET: &str = "test-signing-secret-8f742231b10e";
pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const WORKSPACE: &str = "T0TEST";
pub const ROOT_TS: &str = "1700000000.000100";

/// The server tests create their databases on; override with TEST_DATABASE_URL.
fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

#[derive(Parser)]
struct SettingsHarness {
    #[command(flatten)]
    settings: Settings,
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    /// The running service's: what a test queues itself is announced with it.
    pub announcer: Announcer,
    /// What the service's job handlers get, for `jobs::run_due`.
    pub jobs: JobContext,
    pub slack: Arc<MockServer>,
    pub http: reqwest::Client,
    database: Arc<TestDatabase>,
    shutdown: CancellationToken,
    handle: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A database of one test, dropped when the last app using it is gone.
pub struct TestDatabase {
    pub name: String,
}

impl TestDatabase {
    pub fn fresh() -> Self {
        Self {
            name: format!("cb_test_{}", Uuid::new_v4().simple()),
        }
    }

    /// Creates it, empty, and connects to it (dropped with `self`).
    pub async fn create(&self) -> PgPool {
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
            .await
            .expect("the test server answers");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("a fresh database");
        PgPool::connect(&format!("{}/{}", server_url(), self.name))
            .await
            .expect("the fresh database answers")
    }

    /// Its URL with `password` in it (the local server trusts and ignores it).
    pub fn url_with_password(&self, password: &str) -> String {
        let server = server_url().replace(
            "postgres://postgres@",
            &format!("postgres://postgres:{password}@"),
        );
        format!("{server}/{}", self.name)
    }
}

/// Settings as an operator would pass them, plus `extra` flags. `--database-url` among
/// them wins over the test database's.
pub fn test_settings(db_name: &str, slack_url: &str, extra: &[&str]) -> Settings {
    let database_url = format!("{}/{db_name}", server_url());
    let slack_api = format!("{slack_url}/api/");
    let mut args = vec!["coffeebuddy"];
    if !extra.contains(&"--database-url") {
        args.extend(["--database-url", &database_url]);
    }
    args.extend([
        "--bind-addr",
        "127.0.0.1:0",
        "--slack-signing-secret",
        SIGNING_SECRET,
        "--slack-bot-token",
        BOT_TOKEN,
        "--slack-api-url",
        &slack_api,
        "--slack-rate-limit-per-min",
        "60000",
        "--db-min-connections",
        "1",
        "--log-format",
        "pretty",
    ]);
    args.extend_from_slice(extra);
    SettingsHarness::try_parse_from(args)
        .expect("test settings parse")
        .settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the whole service (`--role all`) with `extra` settings, on a new database.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    spawn_app_tuned(extra, |_| {}).await
}

/// Like [`spawn_app_with`], with `tune` applied to the test [`Options`].
pub async fn spawn_app_tuned(extra: &[&str], tune: impl FnOnce(&mut Options)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        coffeebuddy::telemetry::init_logging(coffeebuddy::config::LogFormat::Pretty);
    }
    let slack = MockServer::start().await;
    mount_slack_defaults(&slack).await;
    let database = Arc::new(TestDatabase {
        name: format!("cb_test_{}", Uuid::new_v4().simple()),
    });
    launch(database, Arc::new(slack), extra, tune).await
}

/// Like [`spawn_app_with`], against `slack`, a fake Slack the test has prepared (its
/// default answers are added here).
pub async fn spawn_app_against(slack: MockServer, extra: &[&str]) -> TestApp {
    mount_slack_defaults(&slack).await;
    launch(
        Arc::new(TestDatabase::fresh()),
        Arc::new(slack),
        extra,
        |_| {},
    )
    .await
}

/// Like [`spawn_app_with`], with PostgreSQL reached through `db_server` (`host:port`).
pub async fn spawn_app_through(db_server: &str, extra: &[&str]) -> TestApp {
    let slack = MockServer::start().await;
    mount_slack_defaults(&slack).await;
    let database = Arc::new(TestDatabase {
        name: format!("cb_test_{}", Uuid::new_v4().simple()),
    });
    let url = format!("postgres://postgres@{db_server}/{}", database.name);
    let mut args = vec!["--database-url", url.as_str()];
    args.extend_from_slice(extra);
    launch(database, Arc::new(slack), &args, |_| {}).await
}

async fn launch(
    database: Arc<TestDatabase>,
    slack: Arc<MockServer>,
    extra: &[&str],
    tune: impl FnOnce(&mut Options),
) -> TestApp {
    launch_as(Role::All, database, slack, extra, tune).await
}

/// Starts the service with `extra` settings as `role` only, on a new database: with
/// `Role::Api` no worker runs, and jobs run when the test says (`TestApp::run_due_jobs`).
pub async fn spawn_app_as(role: Role, extra: &[&str]) -> TestApp {
    let slack = MockServer::start().await;
    mount_slack_defaults(&slack).await;
    launch_as(
        role,
        Arc::new(TestDatabase::fresh()),
        Arc::new(slack),
        extra,
        |_| {},
    )
    .await
}

async fn launch_as(
    role: Role,
    database: Arc<TestDatabase>,
    slack: Arc<MockServer>,
    extra: &[&str],
    tune: impl FnOnce(&mut Options),
) -> TestApp {
    let settings = test_settings(&database.name, &slack.uri(), extra);
    let mut options = Options {
        workers: WorkerSettings {
            poll_interval: Duration::from_millis(100),
            concurrency: 4,
            ..WorkerSettings::default()
        },
        metrics_refresh: Duration::from_millis(200),
        relay_idle_poll: Duration::from_millis(100),
        relay_message_timeout: Duration::from_secs(2),
        // Tests wait for due jobs; the debounce has its own test.
        summary_refresh_delay: Duration::ZERO,
    };
    tune(&mut options);
    let app = Application::build(settings, role, options)
        .await
        .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    let announcer = app.announcer().clone();
    let jobs = app.job_context();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let handle = tokio::spawn(async move {
        app.run_until(stop).await.expect("the app runs cleanly");
    });
    TestApp {
        address,
        pool,
        announcer,
        jobs,
        slack,
        http: reqwest::Client::new(),
        database,
        shutdown,
        handle: std::sync::Mutex::new(Some(handle)),
    }
}

/// A mock of Slack Web API method `slack_method` (`chat.postMessage`…), to answer with.
pub fn slack_call(slack_method: &str) -> MockBuilder {
    Mock::given(method("POST")).and(path(format!("/api/{slack_method}")))
}

/// How Slack refuses a call: HTTP 200 with `ok: false` and `error`.
pub fn slack_refusal(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

/// Slack answers `ok` to every method the app calls unless a test mounts otherwise.
pub async fn mount_slack_defaults(slack: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/views.open"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "view": {"id": "V1"}})),
        )
        .with_priority(10)
        .mount(slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C0TEST", "ts": ROOT_TS, "message": {}}),
            ),
        )
        .with_priority(10)
        .mount(slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postEphemeral"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "message_ts": "1700000000.000900"})),
        )
        .with_priority(10)
        .mount(slack)
        .await;
    // Everyone is in: no status, Do Not Disturb off, active.
    for (slack_method, answer) in [
        (
            "users.info",
            json!({"ok": true, "user": {"id": "U0", "profile": {"status_text": "", "status_emoji": "", "status_expiration": 0}}}),
        ),
        (
            "dnd.info",
            json!({"ok": true, "dnd_enabled": false, "snooze_enabled": false}),
        ),
        (
            "users.getPresence",
            json!({"ok": true, "presence": "active"}),
        ),
        (
            "views.publish",
            json!({"ok": true, "view": {"id": "VHOME"}}),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/api/{slack_method}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .with_priority(10)
            .mount(slack)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0TEST", "ts": ROOT_TS})),
        )
        .with_priority(10)
        .mount(slack)
        .await;
}

impl TestApp {
    /// POSTs `body` to `path` signed as Slack signs it.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        post_signed_with(&self.http, SIGNING_SECRET, &url, content_type, body).await
    }

    /// A slash command, with every field Slack sends.
    pub async fn slash_command(
        &self,
        command: &str,
        text: &str,
        user_id: &str,
        channel_id: &str,
    ) -> reqwest::Response {
        let body = slash_command_body(command, text, user_id, channel_id);
        self.post_signed("/slack/commands", "application/x-www-form-urlencoded", body)
            .await
    }

    /// An interaction: the JSON payload in the `payload` form field.
    pub async fn interaction(&self, payload: &Value) -> reqwest::Response {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.post_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
        )
        .await
    }

    /// The runner of `channel`'s latest run clicks Mark complete in their DM; the run's id.
    pub async fn runner_marks_complete(&self, channel: &str) -> Uuid {
        let (run_id, runner): (Uuid, String) = sqlx::query_as(
            "SELECT run_id, runner_user_id FROM coffee_runs
             WHERE channel_id = $1 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(channel)
        .fetch_one(&self.pool)
        .await
        .expect("the channel's run has a runner");
        let click = button_click(&runner, "D1", "mark_complete", &run_id.to_string());
        assert_eq!(self.interaction(&click).await.status(), 200);
        run_id
    }

    /// Submits the order modal the way Slack does.
    pub async fn submit_order(
        &self,
        user_id: &str,
        channel_id: &str,
        drink: Option<&str>,
        size: Option<&str>,
        customizations: Option<&str>,
    ) -> reqwest::Response {
        self.interaction(&view_submission(
            user_id,
            channel_id,
            drink,
            size,
            customizations,
        ))
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// Bodies of the fake Slack's requests to `method` (e.g. `chat.postMessage`).
    pub async fn slack_calls(&self, slack_method: &str) -> Vec<Value> {
        let target = format!("/api/{slack_method}");
        self.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == target)
            .map(|r| slack_arguments(&r.body))
            .collect()
    }

    /// Every rendering of the run's root message in `channel`, in the order Slack got them:
    /// the first post, then updates. Refreshes coalesce, so the first post may already
    /// show a later state and there may be no update at all.
    pub async fn root_renders(&self, channel: &str) -> Vec<Value> {
        self.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).ok()?;
                let is_root = match r.url.path() {
                    "/api/chat.update" => true,
                    "/api/chat.postMessage" => body.get("thread_ts").is_none(),
                    _ => false,
                };
                (is_root && body["channel"] == channel).then_some(body)
            })
            .collect()
    }

    /// Runs every job due now to completion, here (`jobs::run_due`); how many ran.
    pub async fn run_due_jobs(&self) -> usize {
        coffeebuddy::jobs::run_due(&self.jobs)
            .await
            .expect("due jobs run")
    }

    /// Queues `job` as the service would, in a statement of its own, and announces it.
    pub async fn enqueue<J: Job>(&self, job: &J, delay: Option<Duration>) {
        let mut conn = self.pool.acquire().await.unwrap();
        let mut work = UnitOfWork::single_statement(&mut conn, &self.announcer);
        work.enqueue(job, delay).await.unwrap();
        work.commit().await.unwrap();
    }

    /// Jobs of `job_type` per status.
    pub async fn job_statuses(&self, job_type: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE job_type = $1 ORDER BY id")
            .bind(job_type)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Waits until every job due by now has finished (Done, Killed or given-up Failed).
    /// Jobs first scheduled for later (an assignment window, a reminder) do not count;
    /// jobs waiting to retry do.
    pub async fn wait_for_jobs(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(19);
        eventually("every due job to finish", || async {
            if tokio::time::Instant::now() > deadline {
                let open: Vec<(String, String, i32, String, Option<String>)> = sqlx::query_as(
                    "SELECT job_type, status, attempts, (run_at - NOW())::text, last_result::text
                     FROM apalis.jobs WHERE status <> 'Done'",
                )
                .fetch_all(&self.pool)
                .await
                .unwrap();
                eprintln!("jobs still open: {open:#?}");
            }
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM apalis.jobs
                 WHERE (status IN ('Queued', 'Running')
                    OR (status IN ('Pending', 'Failed') AND attempts < max_attempts
                        AND (run_at <= NOW() OR attempts > 0)))",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            open == 0
        })
        .await;
    }
}

/// A Slack call's arguments: its JSON body, or its form fields as a JSON object (the
/// reads, `users.info` and the like, send form fields).
pub fn slack_arguments(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| {
        // A form body is a URL's query: reqwest's `Url` decodes it.
        let form = format!("http://form/?{}", String::from_utf8_lossy(body));
        let fields: serde_json::Map<String, Value> = reqwest::Url::parse(&form)
            .expect("a form body")
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        assert!(
            !fields.is_empty(),
            "the app sends JSON or form fields to Slack"
        );
        Value::Object(fields)
    })
}

/// The name of the test's database.
pub fn database_name_of(app: &TestApp) -> String {
    app.database.name.clone()
}

/// The URL of the test's database, for a connection of the test's own.
pub fn database_url_of(app: &TestApp) -> String {
    format!("{}/{}", server_url(), app.database.name)
}

impl TestApp {
    /// Stops the service as SIGTERM would and waits until it has shut down.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let handle = self.handle.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.await.expect("the app shuts down cleanly");
        }
    }

    /// A new instance of the service on the same database and fake Slack.
    pub async fn start_again(&self, extra: &[&str]) -> TestApp {
        launch(self.database.clone(), self.slack.clone(), extra, |_| {}).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.lock().unwrap().take() {
            handle.abort();
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop the database from a thread of its own: Drop cannot await, and the test's
        // runtime may be shutting down.
        let name = self.name.clone();
        let url = format!("{}/postgres", server_url());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let drop_db = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_db))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// POSTs `body` to `url` signed with `secret`, as Slack signs its requests.
pub async fn post_signed_with(
    http: &reqwest::Client,
    secret: &str,
    url: &str,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    let timestamp = Utc::now().timestamp().to_string();
    let signature = signature::sign(secret.as_bytes(), &timestamp, body.as_bytes());
    http.post(url)
        .header("Content-Type", content_type)
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Waits up to 30 s for a service started as its own process to answer `/readyz`.
pub async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    eventually_within(
        "the service to be ready",
        Duration::from_secs(30),
        || async {
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
}

/// Polls `condition` every 50 ms until it holds; fails the test after 20 s.
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(20), condition).await
}

/// Polls `condition` every 50 ms until it holds; fails the test after `limit`.
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn slash_command_body(command: &str, text: &str, user_id: &str, channel_id: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", WORKSPACE),
        ("team_domain", "acme"),
        ("channel_id", channel_id),
        ("channel_name", "coffee"),
        ("user_id", user_id),
        ("user_name", "ana"),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0TEST"),
        ("is_enterprise_install", "false"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0TEST/1/abc",
        ),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ])
    .unwrap()
}

/// The `private_metadata` `/coffee` gives `user_id`'s order modal in `channel_id`.
pub fn sealed_metadata(user_id: &str, channel_id: &str) -> String {
    let metadata = OrderModalMetadata {
        channel_id: channel_id.to_owned(),
        workspace_id: Some(WORKSPACE.to_owned()),
    };
    modal_metadata::seal(SIGNING_SECRET.as_bytes(), &metadata, user_id)
}

/// A `view_submission` payload shaped exactly as Slack sends it.
pub fn view_submission(
    user_id: &str,
    channel_id: &str,
    drink: Option<&str>,
    size: Option<&str>,
    customizations: Option<&str>,
) -> Value {
    let selected = |v: Option<&str>| {
        v.map(|v| json!({"text": {"type": "plain_text", "text": v, "emoji": true}, "value": v}))
            .unwrap_or(Value::Null)
    };
    json!({
        "type": "view_submission",
        "team": {"id": WORKSPACE, "domain": "acme"},
        "user": {"id": user_id, "username": format!("user-{user_id}"), "name": format!("user-{user_id}"), "team_id": WORKSPACE},
        "api_app_id": "A0TEST",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": "12466734323.1395872398.8ad5b2b1c8b4a5d0e8f9b7c6",
        "view": {
            "id": "V0TEST",
            "team_id": WORKSPACE,
            "type": "modal",
            "blocks": [],
            "private_metadata": sealed_metadata(user_id, channel_id),
            "callback_id": "coffee_order_modal",
            "state": {"values": {
                "drink_type": {"drink_type": {"type": "static_select", "selected_option": selected(drink)}},
                "size": {"size": {"type": "radio_buttons", "selected_option": selected(size)}},
                "customizations": {"customizations": {"type": "plain_text_input", "value": customizations}}
            }},
            "hash": "1664900000.abcdEFGH",
            "title": {"type": "plain_text", "text": "Coffee order", "emoji": true},
            "clear_on_close": false,
            "notify_on_close": false,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": true},
            "submit": {"type": "plain_text", "text": "Order", "emoji": true},
            "previous_view_id": null,
            "root_view_id": "V0TEST",
            "app_id": "A0TEST",
            "external_id": "",
            "app_installed_team_id": WORKSPACE,
            "bot_id": "B0TEST"
        },
        "response_urls": [],
        "is_enterprise_install": false,
        "enterprise": null
    })
}

/// A `block_actions` payload for a button click, shaped as Slack sends it.
pub fn button_click(user_id: &str, channel_id: &str, action_id: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user_id, "username": format!("user-{user_id}"), "name": format!("user-{user_id}"), "team_id": WORKSPACE},
        "api_app_id": "A0TEST",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "container": {"type": "message", "message_ts": ROOT_TS, "channel_id": channel_id, "is_ephemeral": false},
        "trigger_id": "12466734323.1395872398.8ad5b2b1c8b4a5d0e8f9b7c6",
        "team": {"id": WORKSPACE, "domain": "acme"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel_id, "name": "coffee"},
        "message": {"type": "message", "ts": ROOT_TS, "text": "☕"},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEST/1/abc",
        "actions": [{
            "action_id": action_id,
            "block_id": "run_controls",
            "text": {"type": "plain_text", "text": "button", "emoji": true},
            "value": value,
            "type": "button",
            "action_ts": "1700000001.000200"
        }]
    })
}

/// The value of the series `name` (with its labels, e.g. `errors_total{error_type="x"}`)
/// in a Prometheus text exposition.
pub fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
