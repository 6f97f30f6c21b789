//! Slack over Socket Mode, against a local fake of Slack's Socket Mode server: a whole
//! coffee run through the socket, the acknowledgements and what they carry, and a
//! `disconnect` and a dropped socket mid-run with nothing lost.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_tungstenite::tungstenite::Message;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::helpers::{
    TestApp, button_click, eventually, eventually_within, slash_command_body, spawn_app_against,
    view_submission,
};

pub const APP_TOKEN: &str = "xapp-1-A0TEST-1-socket";

enum Control {
    Send(String),
    /// Drops the TCP connection without a WebSocket close.
    Drop,
}

/// Slack's Socket Mode server: it says hello on each connection, sends what the test
/// gives it, and records every acknowledgement.
pub struct FakeSocketMode {
    port: u16,
    connections: Arc<Mutex<Vec<mpsc::UnboundedSender<Control>>>>,
    opened: Arc<AtomicUsize>,
    acks: Arc<Mutex<Vec<Value>>>,
    accept: JoinHandle<()>,
}

impl FakeSocketMode {
    pub async fn start() -> Self {
        Self::with_lifetime(18_060).await
    }

    /// Says each connection will last `lifetime_secs` (Slack says about five hours).
    async fn with_lifetime(lifetime_secs: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let opened = Arc::new(AtomicUsize::new(0));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (connections, opened, acks) = (connections.clone(), opened.clone(), acks.clone());
            async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                        continue;
                    };
                    let hello = json!({"type": "hello", "num_connections": 1,
                        "debug_info": {"host": "fake", "approximate_connection_time": lifetime_secs},
                        "connection_info": {"app_id": "A0TEST"}});
                    if socket.send(Message::text(hello.to_string())).await.is_err() {
                        continue;
                    }
                    let (control, mut commands) = mpsc::unbounded_channel();
                    connections.lock().unwrap().push(control);
                    opened.fetch_add(1, Ordering::SeqCst);
                    let acks = acks.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                command = commands.recv() => match command {
                                    Some(Control::Send(text)) => {
                                        if socket.send(Message::text(text)).await.is_err() {
                                            return;
                                        }
                                    }
                                    Some(Control::Drop) | None => return,
                                },
                                message = socket.next() => match message {
                                    Some(Ok(Message::Text(text))) => {
                                        if let Ok(ack) = serde_json::from_str(&text) {
                                            acks.lock().unwrap().push(ack);
                                        }
                                    }
                                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                                    Some(Ok(_)) => {}
                                },
                            }
                        }
                    });
                }
            }
        });
        Self {
            port,
            connections,
            opened,
            acks,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/link/?ticket=test", self.port)
    }

    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    fn latest(&self) -> mpsc::UnboundedSender<Control> {
        self.connections.lock().unwrap().last().unwrap().clone()
    }

    fn send(&self, message: Value) {
        let _ = self.latest().send(Control::Send(message.to_string()));
    }

    /// Sends an envelope of `kind` on the newest connection and waits for its ack.
    async fn deliver(&self, kind: &str, payload: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        self.send(json!({"envelope_id": id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": 0}));
        let mut found = None;
        eventually_within("the envelope's ack", Duration::from_secs(3), || {
            let ack = self
                .acks
                .lock()
                .unwrap()
                .iter()
                .find(|a| a["envelope_id"] == id.as_str())
                .cloned();
            found = ack.clone();
            async move { ack.is_some() }
        })
        .await;
        found.unwrap()
    }
}

impl Drop for FakeSocketMode {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A service whose fake Slack hands out `socket`'s URL for the app token.
async fn app_on(socket: &FakeSocketMode, extra: &[&str]) -> TestApp {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/apps.connections.open"))
        .and(header(
            "authorization",
            format!("Bearer {APP_TOKEN}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "url": socket.url()})),
        )
        .mount(&slack)
        .await;
    let mut args = vec!["--slack-app-token", APP_TOKEN];
    args.extend_from_slice(extra);
    let app = spawn_app_against(slack, &args).await;
    eventually("the socket to open", || async { socket.opened() == 1 }).await;
    app
}

/// A slash command's payload as Socket Mode sends it: the HTTP form's fields as JSON.
fn command(name: &str, text: &str, user: &str, channel: &str) -> Value {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_str(&slash_command_body(name, text, user, channel)).unwrap();
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

fn order(user: &str, channel: &str, drink: &str) -> Value {
    view_submission(user, channel, Some(drink), Some("Large"), None)
}

/// Orders in C1 through the socket; the modal's update comes back in the ack.
async fn order_through(socket: &FakeSocketMode, user: &str, drink: &str) {
    let ack = socket
        .deliver("interactive", order(user, "C1", drink))
        .await;
    assert_eq!(ack["payload"]["response_action"], "update", "{ack}");
}

/// Waits for the service to open its second connection.
async fn second_connection(socket: &FakeSocketMode) {
    eventually_within("a second connection", Duration::from_secs(10), || async {
        socket.opened() == 2
    })
    .await;
}

async fn orders_in(app: &TestApp, channel: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM orders o JOIN coffee_runs r USING (run_id) WHERE r.channel_id = $1",
    )
    .bind(channel)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_whole_coffee_run_through_the_socket() {
    let socket = FakeSocketMode::start().await;
    let app = app_on(&socket, &["--assign-max-orders", "2"]).await;

    // `/coffee help`: the ephemeral usage text comes back in the ack.
    let ack = socket
        .deliver("slash_commands", command("/coffee", "help", "U1", "C1"))
        .await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    // `/coffee`: the modal opens through views.open; the ack has nothing to say.
    let ack = socket
        .deliver("slash_commands", command("/coffee", "", "U1", "C1"))
        .await;
    assert!(ack.get("payload").is_none(), "{ack}");
    assert_eq!(app.slack_calls("views.open").await.len(), 1);

    // A bad field keeps the modal open with its error, as over HTTP.
    let mut no_size = order("U1", "C1", "Latte");
    no_size["view"]["state"]["values"]["size"]["size"]["selected_option"] = Value::Null;
    let ack = socket.deliver("interactive", no_size).await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");

    // Two orders: the modal's update in each ack, then a runner.
    for (user, drink) in [("U1", "Latte"), ("U2", "Mocha")] {
        let ack = socket
            .deliver("interactive", order(user, "C1", drink))
            .await;
        assert_eq!(ack["payload"]["response_action"], "update", "{ack}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let runner: String = loop {
        let runner: Option<String> =
            sqlx::query_scalar("SELECT runner_user_id FROM coffee_runs WHERE channel_id = 'C1'")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if let Some(runner) = runner {
            break runner;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no runner was picked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let run_id: uuid::Uuid =
        sqlx::query_scalar("SELECT run_id FROM coffee_runs WHERE channel_id = 'C1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();

    // The runner marks it complete from their DM.
    let ack = socket
        .deliver(
            "interactive",
            button_click(&runner, "D1", "mark_complete", &run_id.to_string()),
        )
        .await;
    assert!(ack.get("payload").is_none(), "{ack}");
    let status: String =
        sqlx::query_scalar("SELECT status::text FROM coffee_runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "completed");

    // An Events API callback: acknowledged, handled once.
    let mention = json!({"type": "event_callback", "team_id": "T0TEST", "event_id": "Ev0SOCKET1",
        "event": {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1700000099.000100"}});
    socket.deliver("events_api", mention.clone()).await;
    socket.deliver("events_api", mention).await;
    app.wait_for_jobs().await;
    let replies = app
        .slack_calls("chat.postMessage")
        .await
        .into_iter()
        .filter(|p| p["thread_ts"] == "1700000099.000100")
        .count();
    assert_eq!(replies, 1, "the redelivered event was handled once");
    assert_eq!(socket.opened(), 1, "one connection served it all");
}

#[tokio::test]
async fn a_disconnect_mid_run_moves_to_a_new_connection_and_loses_nothing() {
    let socket = FakeSocketMode::start().await;
    let app = app_on(&socket, &["--assign-max-orders", "10"]).await;
    order_through(&socket, "U1", "Latte").await;

    // Slack asks for a refresh: a second connection opens before the first closes.
    socket.send(json!({"type": "disconnect", "reason": "refresh_requested",
        "debug_info": {"host": "fake"}}));
    second_connection(&socket).await;
    order_through(&socket, "U2", "Mocha").await;
    assert_eq!(orders_in(&app, "C1").await, 2);
}

#[tokio::test]
async fn a_dropped_socket_mid_run_is_opened_again_and_loses_nothing() {
    let socket = FakeSocketMode::start().await;
    let app = app_on(&socket, &["--assign-max-orders", "10"]).await;
    order_through(&socket, "U1", "Latte").await;

    let _ = socket.latest().send(Control::Drop);
    second_connection(&socket).await;
    order_through(&socket, "U2", "Mocha").await;
    assert_eq!(orders_in(&app, "C1").await, 2);
    // The HTTP route still works beside the socket.
    let response = app
        .submit_order("U3", "C1", Some("Espresso"), Some("Small"), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(orders_in(&app, "C1").await, 3);
}

#[tokio::test]
async fn a_connection_is_replaced_before_its_time_is_up() {
    // Slack says 62 s; the service opens the next connection a minute before that.
    let socket = FakeSocketMode::with_lifetime(62).await;
    let app = app_on(&socket, &["--assign-max-orders", "10"]).await;
    second_connection(&socket).await;
    order_through(&socket, "U1", "Latte").await;
    assert_eq!(orders_in(&app, "C1").await, 1);
}
