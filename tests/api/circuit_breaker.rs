//! AC8: PostgreSQL goes away behind a TCP proxy; the circuit opens, answers 503 at once,
//! and closes again by itself once the database is back.

use serde_json::Value;

use crate::{
    helpers::{TestApp, eventually, metric, spawn_app_through, spawn_app_with},
    oidc,
    proxy::TcpProxy,
};

async fn order(app: &TestApp, user: &str) -> (u16, Value) {
    let response = app
        .submit_order(user, "C1", Some("Latte"), Some("Small"), None)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A service that reaches PostgreSQL through a proxy the test controls, with a breaker that
/// opens after three failures for a second; it has taken one order.
async fn app_behind_a_proxy() -> (TcpProxy, TestApp) {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_through(
        &proxy.address(),
        &[
            "--circuit-failure-threshold",
            "3",
            "--circuit-open-secs",
            "1",
            "--db-acquire-timeout-secs",
            "2",
        ],
    )
    .await;
    assert_eq!(order(&app, "U1").await.0, 200);
    (proxy, app)
}

#[tokio::test]
async fn the_circuit_opens_on_a_lost_database_and_recovers() {
    let (proxy, app) = app_behind_a_proxy().await;
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(0.0)
    );

    proxy.cut();
    for user in ["U2", "U3", "U4"] {
        let (status, body) = order(&app, user).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("service_unavailable")),
            "{body}"
        );
    }
    // Open: refused at once, without touching the database, and not ready.
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(1.0)
    );
    let (status, body) = order(&app, "U5").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("service_unavailable"))
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
    // The liveness probe does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);

    proxy.restore().await;
    eventually("the circuit to close", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(0.0)
    );
    assert_eq!(order(&app, "U6").await.0, 200);
    assert!(
        app.metrics()
            .await
            .contains("errors_total{error_type=\"service_unavailable\"} 4"),
        "{}",
        app.metrics().await
    );
}

/// A load balancer in front of PostgreSQL whose backend is gone accepts each connection and
/// resets it during the start-up handshake. Those failures count like refusals.
#[tokio::test]
async fn connections_reset_during_the_handshake_open_the_circuit() {
    let (proxy, app) = app_behind_a_proxy().await;

    proxy.accept_and_reset();
    for user in ["U2", "U3", "U4"] {
        let (status, body) = order(&app, user).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("service_unavailable")),
            "{body}"
        );
    }
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(1.0),
        "three reset handshakes opened it"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    proxy.forward_again();
    eventually("the circuit to close", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(0.0)
    );
    assert_eq!(order(&app, "U5").await.0, 200);
}

/// The REST API's database failures count too (poem-openapi hands the guard their 503 as a
/// plain response, which it used to take for a success).
#[tokio::test]
async fn rest_requests_that_lose_the_database_open_the_circuit() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let mut args = oidc::oidc_settings(&jwks);
    args.extend(
        [
            "--circuit-failure-threshold",
            "3",
            "--circuit-open-secs",
            "60",
            "--db-acquire-timeout-secs",
            "1",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let app = spawn_app_through(&proxy.address(), &args).await;
    let preferences = |token: String| {
        let request = app
            .http
            .get(format!("{}/api/v1/users/U1/preferences", app.address))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(preferences(oidc::user_token("U1")).await, 200);

    proxy.cut();
    for _ in 0..3 {
        assert_eq!(preferences(oidc::user_token("U1")).await, 503);
    }
    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(1.0),
        "three lost connections opened it"
    );
    proxy.restore().await;
}

#[tokio::test]
async fn requests_that_time_out_behind_busy_connections_do_not_open_the_circuit() {
    let app = spawn_app_with(&[
        "--circuit-failure-threshold",
        "2",
        "--db-acquire-timeout-secs",
        "1",
        "--db-max-connections",
        "4",
    ])
    .await;
    assert_eq!(order(&app, "U1").await.0, 200);

    // U1's row locked: U1's next orders wait on it holding their connections, and the
    // ones queued behind them time out. The database itself answers throughout.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE user_id = 'U1' FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let app = std::sync::Arc::new(app);
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { order(&app, "U1").await.0 })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    blocker.commit().await.unwrap();
    let mut statuses = Vec::new();
    for request in burst {
        statuses.push(request.await.unwrap());
    }
    let timed_out = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        timed_out >= 2,
        "enough timeouts to reach the threshold: {statuses:?}"
    );

    assert_eq!(
        metric(&app.metrics().await, "circuit_breaker_state"),
        Some(0.0),
        "overload is not an outage"
    );
    assert_eq!(order(&app, "U2").await.0, 200);
}
