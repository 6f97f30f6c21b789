//! Outbound calls honour the company's proxy settings (`HTTP_PROXY` / `HTTPS_PROXY` /
//! `NO_PROXY`): the real binary, started with them, reads Vault, sends its Slack Web API
//! calls and opens its Socket Mode WebSocket (by `CONNECT`) through a local proxy, and
//! fetches the OIDC issuer's keys from a `NO_PROXY` host directly.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use reqwest::Client;
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    forward_proxy::ForwardProxy,
    helpers::{
        SIGNING_SECRET, TestDatabase, eventually_within, free_port, post_signed_with,
        slash_command_body, wait_until_ready,
    },
    oidc,
    socket_mode::{APP_TOKEN, FakeSocketMode},
    vault::fake_vault,
};

/// Kills the service if the test fails before it stops it.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn slack_calls_go_through_the_proxy_and_no_proxy_hosts_around_it() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/views.open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&slack)
        .await;
    let socket = FakeSocketMode::start().await;
    Mock::given(method("POST"))
        .and(path("/api/apps.connections.open"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "url": socket.url()})),
        )
        .mount(&slack)
        .await;
    let jwks = oidc::jwks_server("jwks.json").await;
    let (vault, token_path) = fake_vault(SIGNING_SECRET).await;
    let vault_host = vault.address().to_string();
    let proxy = ForwardProxy::start().await;
    let database = TestDatabase::fresh();
    database.create().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let slack_host = slack.address().to_string();
    // The same server as `localhost`, which NO_PROXY names.
    let jwks_host = format!("localhost:{}", jwks.address().port());
    let _service = Service(
        Command::new(env!("CARGO_BIN_EXE_coffeebuddy"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database.url_with_password("unused"))
            // The Slack secrets and the database credentials come from Vault.
            .env("VAULT_ADDR", vault.uri())
            .env("VAULT_K8S_TOKEN_PATH", &token_path)
            .env("SLACK_APP_TOKEN", APP_TOKEN)
            .env("SLACK_API_URL", format!("http://{slack_host}/api/"))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("OIDC_ISSUER", oidc::ISSUER)
            .env(
                "OIDC_JWKS_URL",
                format!("http://{jwks_host}/.well-known/jwks.json"),
            )
            .env("HTTP_PROXY", proxy.url())
            .env("HTTPS_PROXY", proxy.url())
            .env("NO_PROXY", "localhost")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("the service starts"),
    );
    let http = Client::builder().no_proxy().build().unwrap();
    wait_until_ready(&http, &base).await;

    // The Socket Mode connection: apps.connections.open, then the WebSocket by CONNECT.
    eventually_within("the socket to open", Duration::from_secs(10), || async {
        socket.opened() == 1
    })
    .await;
    let socket_host = socket.url()["ws://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    // `/coffee` calls views.open: through the proxy.
    let body = slash_command_body("/coffee", "", "U1", "C1");
    let url = format!("{base}/slack/commands");
    let form = "application/x-www-form-urlencoded";
    let answer = post_signed_with(&http, SIGNING_SECRET, &url, form, body).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        2,
        "apps.connections.open and views.open"
    );

    // A REST call makes the service fetch the issuer's keys: directly, NO_PROXY says.
    let preferences = http
        .get(format!("{base}/api/v1/users/U1/preferences"))
        .bearer_auth(oidc::user_token("U1"))
        .send()
        .await
        .unwrap();
    assert_eq!(preferences.status(), 200);
    assert_eq!(jwks.received_requests().await.unwrap().len(), 1);

    let through = proxy.destinations();
    let count = |host: &str| through.iter().filter(|d| *d == host).count();
    assert!(
        count(&vault_host) >= 3,
        "Vault's login and reads: {through:?}"
    );
    assert_eq!(
        count(&slack_host),
        2,
        "apps.connections.open and views.open: {through:?}"
    );
    assert_eq!(count(&socket_host), 1, "the WebSocket: {through:?}");
    assert!(
        through.iter().all(|d| !d.starts_with("localhost")),
        "the NO_PROXY host was reached directly: {through:?}"
    );
    assert_eq!(
        proxy.tunnels(),
        1,
        "the WebSocket went through a CONNECT tunnel"
    );
}
