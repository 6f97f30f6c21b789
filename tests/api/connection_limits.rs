//! Every connection has header, body and idle time limits: slow clients cannot hold the
//! places of `MAX_REQUESTS_IN_FLIGHT`, nor connections, for longer than the limits allow.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, eventually_within, metric, spawn_app_with};

/// Limits of one second, and fewer places than the slow clients below.
async fn app_with_short_limits() -> TestApp {
    spawn_app_with(&[
        "--max-requests-in-flight",
        "4",
        "--http-header-timeout-secs",
        "1",
        "--http-body-timeout-secs",
        "1",
        "--http-idle-timeout-secs",
        "1",
    ])
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Everything the server sends until it closes the connection; fails the test if it is
/// still open after 10 s (ten times the limits).
async fn until_closed(mut stream: TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the server closed the connection");
    String::from_utf8_lossy(&received).into_owned()
}

/// A head announcing 100 bytes of body, and 10 of them.
async fn slow_body(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    stream
        .write_all(
            b"POST /api/v1/runs HTTP/1.1\r\nhost: coffeebuddy\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"channel",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn slow_bodies_get_408_and_free_their_places_for_everyone_else() {
    let app = app_with_short_limits().await;
    let mut slow = Vec::new();
    for _ in 0..6 {
        slow.push(slow_body(&app).await);
    }

    // Within the body limit the slow ones are answered and their places are free again.
    eventually_within(
        "another request to be served",
        Duration::from_secs(5),
        || async { app.get("/openapi.json").await.status() == 200 },
    )
    .await;

    let mut timed_out = 0;
    for stream in slow {
        let answer = until_closed(stream).await;
        if answer.starts_with("HTTP/1.1 408") {
            assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
            timed_out += 1;
        } else {
            // More slow clients than places: those past the bound were refused at once.
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        }
    }
    assert_eq!(
        timed_out, 4,
        "each place was held by a slow body, then freed"
    );
    assert_eq!(
        metric(
            &app.metrics().await,
            "errors_total{error_type=\"request_timeout\"}"
        ),
        Some(4.0)
    );
}

#[tokio::test]
async fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    let app = app_with_short_limits().await;
    // One sends half a head and stops; one trickles a byte every 100 ms, which no
    // inactivity timer would catch.
    let mut stalled = connect(&app).await;
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: coff")
        .await
        .unwrap();
    let mut trickling = connect(&app).await;
    let trickle = tokio::spawn(async move {
        for byte in
            b"GET /healthz HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if trickling.write_all(&[*byte]).await.is_err() {
                return trickling;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        trickling
    });
    // A connection that never sends anything at all.
    let silent = connect(&app).await;

    assert_eq!(until_closed(stalled).await, "");
    assert_eq!(until_closed(silent).await, "");
    let trickling = trickle.await.unwrap();
    assert_eq!(until_closed(trickling).await, "");
    assert_eq!(
        metric(
            &app.metrics().await,
            "http_connections_timed_out_total{limit=\"header\"}"
        ),
        Some(3.0)
    );
    // Meanwhile the server serves everyone else.
    assert_eq!(app.get("/openapi.json").await.status(), 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_limit() {
    let app = app_with_short_limits().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: coffeebuddy\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        metric(
            &app.metrics().await,
            "http_connections_timed_out_total{limit=\"idle\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_kept_alive_connection_serves_request_after_request() {
    let app = app_with_short_limits().await;
    let mut stream = connect(&app).await;
    // Each request comes within the idle limit of the last answer; the connection stays.
    for _ in 0..3 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: coffeebuddy\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 1024];
        let n = stream.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
