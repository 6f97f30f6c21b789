//! Slack's Socket Mode, the wire side: the app opens a WebSocket to the URL
//! `apps.connections.open` hands out (through the company's outbound proxy, if any) and
//! Slack sends its slash commands, interactions and events down it as envelopes, each to be
//! acknowledged by its `envelope_id` within 3 seconds. What an envelope does is the api
//! layer's business (`api::socket_mode`).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, client_async_tls_with_config,
    tungstenite::{Message, client::IntoClientRequest},
};

/// How long connecting (proxy, TCP, TLS, WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What Slack sends down the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The connection is ready; `lifetime` is how long Slack means to keep it.
    Hello {
        lifetime: Option<Duration>,
    },
    /// Slack will close this connection soon (`refresh_requested`, `warning`) or has
    /// disabled it (`link_disabled`): open another.
    Disconnect {
        reason: String,
    },
    Envelope(Envelope),
    /// Anything else (a type this code does not know).
    Other,
}

/// One delivery: a slash command, an interaction or an Events API callback.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope {
    pub envelope_id: String,
    #[serde(rename = "type")]
    pub kind: EnvelopeKind,
    #[serde(default)]
    pub payload: Value,
    /// Slack's redelivery count (0 the first time), as `X-Slack-Retry-Num` over HTTP.
    #[serde(default)]
    pub retry_attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKind {
    SlashCommands,
    Interactive,
    EventsApi,
    #[serde(other)]
    Unknown,
}

impl Frame {
    /// Parses one text message; `None` when it is not JSON at all.
    pub fn parse(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        Some(match value["type"].as_str() {
            Some("hello") => Frame::Hello {
                lifetime: value["debug_info"]["approximate_connection_time"]
                    .as_u64()
                    .map(Duration::from_secs),
            },
            Some("disconnect") => Frame::Disconnect {
                reason: value["reason"].as_str().unwrap_or("").to_owned(),
            },
            _ if value.get("envelope_id").is_some() => {
                match serde_json::from_value::<Envelope>(value) {
                    Ok(envelope) => Frame::Envelope(envelope),
                    Err(_) => Frame::Other,
                }
            }
            _ => Frame::Other,
        })
    }
}

/// The acknowledgement of `envelope_id`, with the answer the HTTP route would have given
/// (a modal's errors or update, a command's ephemeral reply), if any.
pub fn ack(envelope_id: &str, payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({"envelope_id": envelope_id, "payload": payload}),
        None => json!({"envelope_id": envelope_id}),
    }
    .to_string()
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Slack handed out no connection, or the one it handed out did not start.
    #[error("Slack: {0}")]
    Slack(String),
    #[error("proxy: {0}")]
    Proxy(String),
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("connecting took longer than {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Opens the WebSocket at `url`, through the proxy `HTTPS_PROXY` / `HTTP_PROXY` name for
/// it unless `NO_PROXY` exempts its host (the same rules the Web API client follows).
pub async fn connect(url: &Url) -> Result<Socket, ConnectError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_now(url))
        .await
        .map_err(|_| ConnectError::TimedOut(CONNECT_TIMEOUT))?
}

async fn connect_now(url: &Url) -> Result<Socket, ConnectError> {
    let host = url
        .host_str()
        .ok_or_else(|| ConnectError::Slack("the socket URL has no host".into()))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let stream = match proxy_for(url) {
        Some(proxy) => tunnel(&proxy, &host, port).await?,
        None => TcpStream::connect((host.as_str(), port)).await?,
    };
    let request = url.as_str().into_client_request()?;
    let (socket, _) = client_async_tls_with_config(request, stream, None, None).await?;
    Ok(socket)
}

/// The proxy's `host:port` for `url`, from the environment.
fn proxy_for(url: &Url) -> Option<String> {
    // The proxy rules are keyed by the HTTP scheme the WebSocket one rides on.
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    let target: http::Uri = format!(
        "{scheme}://{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    )
    .parse()
    .ok()?;
    let intercept = Matcher::from_env().intercept(&target)?;
    let proxy = intercept.uri();
    Some(format!(
        "{}:{}",
        proxy.host()?,
        proxy.port_u16().unwrap_or(80)
    ))
}

/// A TCP stream to `host:port` through the proxy's `CONNECT` tunnel.
async fn tunnel(proxy: &str, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let mut stream = TcpStream::connect(proxy).await?;
    stream
        .write_all(
            format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).await?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(ConnectError::Proxy(format!(
            "CONNECT {host}:{port} answered {}",
            status.trim()
        )));
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    // The proxy sends nothing more until the tunnel carries the TLS handshake.
    Ok(reader.into_inner())
}

/// Sends a text message.
pub async fn send(socket: &mut Socket, text: String) -> Result<(), ConnectError> {
    socket.send(Message::text(text)).await?;
    Ok(())
}

/// The next text message, answering pings on the way; `None` when the socket closed.
pub async fn next_text(socket: &mut Socket) -> Option<Result<String, ConnectError>> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => return Some(Ok(text.to_string())),
            Ok(Message::Close(_)) => return None,
            // tungstenite answers pings itself on the next send or flush.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_)) => {
                if let Err(err) = socket.flush().await {
                    return Some(Err(err.into()));
                }
            }
            Err(err) => return Some(Err(err.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_told_apart() {
        assert_eq!(
            Frame::parse(
                r#"{"type":"hello","num_connections":1,"debug_info":{"approximate_connection_time":18060}}"#
            ),
            Some(Frame::Hello {
                lifetime: Some(Duration::from_secs(18060))
            })
        );
        assert_eq!(
            Frame::parse(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Some(Frame::Disconnect {
                reason: "refresh_requested".into()
            })
        );
        let Some(Frame::Envelope(envelope)) = Frame::parse(
            r#"{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,"payload":{"command":"/coffee"},"retry_attempt":0}"#,
        ) else {
            panic!("an envelope");
        };
        assert_eq!(envelope.envelope_id, "e1");
        assert_eq!(envelope.kind, EnvelopeKind::SlashCommands);
        assert_eq!(envelope.payload["command"], "/coffee");
        assert_eq!(Frame::parse("not json"), None);
        assert_eq!(
            Frame::parse(r#"{"type":"something_new"}"#),
            Some(Frame::Other)
        );
    }

    #[test]
    fn acks_carry_the_envelope_id_and_the_answer() {
        assert_eq!(ack("e1", None), r#"{"envelope_id":"e1"}"#);
        let with: Value = serde_json::from_str(&ack("e2", Some(json!({"text": "hi"})))).unwrap();
        assert_eq!(
            with,
            json!({"envelope_id": "e2", "payload": {"text": "hi"}})
        );
    }
}
