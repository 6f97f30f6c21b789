//! Slack over Socket Mode: with `SLACK_APP_TOKEN`, the api role opens a WebSocket to Slack
//! (`apps.connections.open`) and takes slash commands, interactions and events from it, for
//! companies that allow Slack no inbound route. Each envelope goes through the same routes
//! as Slack's HTTP requests (less the signature check: the socket itself is authenticated
//! by the app token), and its acknowledgement carries the answer the route gave.
//!
//! Connections: each replica holds its own. A `disconnect` from Slack, or the connection's
//! announced lifetime running out, opens the next connection first and closes the old one
//! once it has acknowledged what it received, so no envelope is dropped; a connection that
//! drops is opened again with backoff (1 s doubling to 30 s). See
//! `docs/decisions/0016-socket-mode.md`.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{Method, StatusCode},
};
use serde_json::Value;
use tokio::{sync::mpsc, time::Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{ApiError, state::AppState};
use crate::slack::socket_mode::{self, ConnectError, Envelope, EnvelopeKind, Frame, Socket};

/// Waits between attempts to (re)open a connection.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection is replaced this long before the lifetime Slack announced for it.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long Slack's `hello` may take after the WebSocket opened.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the answers it still owes.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Routes an envelope into, as Slack's HTTP requests go to `/slack/…`.
pub type SlackRoutes =
    Arc<dyn Fn(Request) -> futures::future::BoxFuture<'static, Response> + Send + Sync>;

/// How one connection ended.
enum Ended {
    /// Closed after its replacement opened.
    Replaced,
    /// Dropped, refused or timed out: open another after a wait.
    Dropped(String),
}

/// Keeps a Socket Mode connection open until `shutdown`.
pub async fn run(state: AppState, routes: SlackRoutes, shutdown: CancellationToken) {
    let mut backoff = BACKOFF_START;
    let mut current: Option<(CancellationToken, tokio::task::JoinHandle<Ended>)> = None;
    let (replace_tx, mut replace_rx) = mpsc::channel::<()>(4);
    loop {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => break,
            opened = open(&state) => opened,
        };
        let (socket, lifetime) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                tracing::warn!(error = %err, retry_in_secs = backoff.as_secs(), "could not open a Socket Mode connection");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_START;
        tracing::info!("Socket Mode connection open");
        // The new one serves; the old one finishes what it owes and closes.
        if let Some((stop, _)) = current.take() {
            stop.cancel();
        }
        let stop = CancellationToken::new();
        let connection = Connection {
            routes: routes.clone(),
            replace: replace_tx.clone(),
            refresh_at: lifetime.map(|l| Instant::now() + l.saturating_sub(REFRESH_MARGIN)),
        };
        let mut task = tokio::spawn(connection.serve(socket, stop.clone()));
        // Serve until a replacement is asked for, the connection ends, or shutdown.
        let wait = tokio::select! {
            _ = shutdown.cancelled() => {
                stop.cancel();
                let _ = tokio::time::timeout(CLOSE_GRACE * 2, &mut task).await;
                break;
            }
            _ = replace_rx.recv() => None,
            ended = &mut task => Some(ended),
        };
        match wait {
            // Replace: keep this one serving while the next opens.
            None => current = Some((stop, task)),
            Some(Ok(Ended::Replaced)) => {}
            Some(Ok(Ended::Dropped(why))) => {
                tracing::warn!(reason = %why, retry_in_secs = backoff.as_secs(), "Socket Mode connection dropped; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Some(Err(err)) => tracing::error!(error = %err, "a Socket Mode connection failed"),
        }
    }
    if let Some((stop, task)) = current {
        stop.cancel();
        let _ = tokio::time::timeout(CLOSE_GRACE * 2, task).await;
    }
}

/// A new connection, once Slack said hello; with the lifetime Slack announced.
async fn open(state: &AppState) -> Result<(Socket, Option<Duration>), ConnectError> {
    let token = state
        .secrets
        .app_token()
        .ok_or_else(|| ConnectError::Slack("SLACK_APP_TOKEN is not set".into()))?;
    let url = state
        .slack
        .connections_open(&token)
        .await
        .map_err(|e| ConnectError::Slack(e.to_string()))?;
    let mut socket = socket_mode::connect(&url).await?;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        while let Some(text) = socket_mode::next_text(&mut socket).await {
            if let Some(Frame::Hello { lifetime }) = Frame::parse(&text?) {
                return Ok(lifetime);
            }
        }
        Err(ConnectError::Slack("closed before hello".into()))
    })
    .await
    .map_err(|_| ConnectError::TimedOut(HELLO_TIMEOUT))??;
    Ok((socket, hello))
}

struct Connection {
    routes: SlackRoutes,
    replace: mpsc::Sender<()>,
    refresh_at: Option<Instant>,
}

impl Connection {
    async fn serve(self, socket: Socket, stop: CancellationToken) -> Ended {
        let (mut sink, mut stream) = socket.split();
        let (acks_tx, mut acks) = mpsc::channel::<String>(64);
        let mut owed = 0usize;
        let mut stopping = false;
        let mut refresh_at = self.refresh_at;
        let mut close_by: Option<Instant> = None;
        loop {
            let refresh = async {
                match refresh_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let grace = async {
                match close_by {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => match Frame::parse(&text) {
                        Some(Frame::Envelope(envelope)) => {
                            owed += 1;
                            let (routes, acks) = (self.routes.clone(), acks_tx.clone());
                            tokio::spawn(async move {
                                let id = envelope.envelope_id.clone();
                                let answer = answer(&routes, envelope).await;
                                let _ = acks.send(socket_mode::ack(&id, answer)).await;
                            });
                        }
                        Some(Frame::Disconnect { reason }) => {
                            tracing::info!(%reason, "Slack asked to reconnect");
                            let _ = self.replace.send(()).await;
                        }
                        _ => {}
                    },
                    Some(Ok(Message::Close(_))) | None => {
                        return Ended::Dropped("closed by Slack".into());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Ended::Dropped(err.to_string()),
                },
                Some(ack) = acks.recv() => {
                    owed = owed.saturating_sub(1);
                    if let Err(err) = sink.send(Message::text(ack)).await {
                        return Ended::Dropped(err.to_string());
                    }
                    if stopping && owed == 0 {
                        let _ = sink.close().await;
                        return Ended::Replaced;
                    }
                }
                _ = stop.cancelled(), if !stopping => {
                    stopping = true;
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                    if owed == 0 {
                        let _ = sink.close().await;
                        return Ended::Replaced;
                    }
                }
                _ = refresh => {
                    tracing::info!("Socket Mode connection near its end; opening the next");
                    refresh_at = None;
                    let _ = self.replace.send(()).await;
                }
                _ = grace => {
                    tracing::warn!(owed, "closing a Socket Mode connection with answers still owed");
                    let _ = sink.close().await;
                    return Ended::Replaced;
                }
            }
        }
    }
}

/// Puts `envelope` through the Slack route its HTTP twin would reach; the route's JSON
/// answer, if any, goes back in the acknowledgement.
async fn answer(routes: &SlackRoutes, envelope: Envelope) -> Option<Value> {
    let (path, content_type, body) = match envelope.kind {
        EnvelopeKind::SlashCommands => (
            "/commands",
            "application/x-www-form-urlencoded",
            form_of(&envelope.payload),
        ),
        EnvelopeKind::Interactive => (
            "/interactions",
            "application/x-www-form-urlencoded",
            serde_urlencoded::to_string([("payload", envelope.payload.to_string())])
                .unwrap_or_default(),
        ),
        EnvelopeKind::EventsApi => ("/events", "application/json", envelope.payload.to_string()),
        EnvelopeKind::Unknown => return None,
    };
    let mut request = Request::builder()
        .method(Method::POST)
        .uri_str(path)
        .content_type(content_type);
    if envelope.retry_attempt > 0 {
        request = request.header("x-slack-retry-num", envelope.retry_attempt.to_string());
    }
    let response = routes(request.body(body)).await;
    if response.status() != StatusCode::OK {
        tracing::warn!(status = %response.status(), path, "a Socket Mode envelope was not handled");
        return None;
    }
    let bytes = response.into_body().into_vec().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A slash command's payload (an object of strings) as the form Slack posts over HTTP.
fn form_of(payload: &Value) -> String {
    let fields: Vec<(String, String)> = payload
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(key, value)| {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    (key.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    serde_urlencoded::to_string(fields).unwrap_or_default()
}

/// The Slack routes, answering as an HTTP request would be answered: errors become their
/// responses and are counted like the HTTP edge counts them.
pub fn slack_routes<E>(routes: E, state: AppState) -> SlackRoutes
where
    E: Endpoint + 'static,
{
    let routes = Arc::new(routes);
    Arc::new(move |request: Request| {
        let (routes, state) = (routes.clone(), state.clone());
        Box::pin(async move {
            match routes.call(request).await {
                Ok(response) => response.into_response(),
                Err(err) => {
                    if let Some(api_error) = err.downcast_ref::<ApiError>() {
                        state.metrics.error(api_error.code());
                    }
                    err.into_response()
                }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_command_payload_becomes_slacks_form() {
        let form =
            form_of(&serde_json::json!({"command": "/coffee", "text": "help me", "user_id": "U1"}));
        let fields: Vec<(String, String)> = serde_urlencoded::from_str(&form).unwrap();
        assert!(fields.contains(&("command".into(), "/coffee".into())));
        assert!(fields.contains(&("text".into(), "help me".into())));
        assert!(fields.contains(&("user_id".into(), "U1".into())));
    }
}
