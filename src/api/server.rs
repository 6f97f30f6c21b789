//! The HTTP server: the routes on hyper, with a time limit on every phase of a connection.
//!
//! A connection is always in one of three phases, each with its own limit:
//!
//! - **head**: from accept, or from the first byte of a kept-alive connection's next
//!   request, until the request's head is complete (`HTTP_HEADER_TIMEOUT_SECS`). Past it
//!   the connection is closed.
//! - **busy**: a request is being handled. Its body must arrive within
//!   `HTTP_BODY_TIMEOUT_SECS` of the head; past it the body reads as an error, the request
//!   is answered 408 (`body_limit`) and its place (`admission`) is free at once.
//! - **idle**: between a response and the next request's first byte
//!   (`HTTP_IDLE_TIMEOUT_SECS`). Past it the connection is closed.
//!
//! poem's own server sets none of these: it gives hyper no timer, so hyper's header timer
//! never runs, and its idle timeout waits for a request in progress to finish, however
//! slowly its body arrives. See `docs/decisions/0014-connection-time-limits.md`.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{
    Addr, Body, Endpoint, IntoEndpoint, Request, Response,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::telemetry::Metrics;

/// How long each phase of a connection may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown` fires; then stops accepting, lets requests in
/// progress finish for up to `drain`, and returns.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    limits: ConnectionLimits,
    metrics: Metrics,
    shutdown: CancellationToken,
    drain: Duration,
) where
    E: IntoEndpoint,
    E::Endpoint: Endpoint<Output = Response> + 'static,
{
    let app: Arc<dyn DynEndpoint> = Arc::new(app.into_endpoint());
    let local = LocalAddr(
        listener
            .local_addr()
            .map(Addr::SocketAddr)
            .unwrap_or_default(),
    );
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %err, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            local: local.clone(),
            remote: RemoteAddr(Addr::SocketAddr(remote)),
            limits,
            metrics: metrics.clone(),
        };
        connections.spawn(connection.serve(stream, shutdown.clone()));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_secs = drain.as_secs(),
            "requests still in progress when the drain time ran out"
        );
    }
}

/// What one connection needs to serve its requests.
struct Connection {
    app: Arc<dyn DynEndpoint>,
    local: LocalAddr,
    remote: RemoteAddr,
    limits: ConnectionLimits,
    metrics: Metrics,
}

impl Connection {
    async fn serve(self, stream: TcpStream, shutdown: CancellationToken) {
        let clock = Clock::new(self.limits);
        let io = TokioIo::new(Watched {
            inner: stream,
            clock: clock.clone(),
        });
        let service = hyper::service::service_fn({
            let clock = clock.clone();
            move |request: http::Request<Incoming>| {
                let busy = clock.request_started();
                let request = Request::from((
                    request,
                    self.local.clone(),
                    self.remote.clone(),
                    Scheme::HTTP,
                ));
                let app = self.app.clone();
                let body_deadline = Instant::now() + self.limits.body;
                async move {
                    let response = app.call(with_body_deadline(request, body_deadline)).await;
                    drop(busy);
                    Ok::<_, Infallible>(http::Response::from(response))
                }
            }
        });
        let builder = auto::Builder::new(TokioExecutor::new());
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            limit = clock.expired() => {
                self.metrics.connection_timed_out(limit);
                return;
            }
            _ = shutdown.cancelled() => {}
        }
        // Shutting down: finish the request in progress, take no other.
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// Gives `request`'s body until `deadline` to arrive; past it, the body reads as an error
/// that [`is_body_timeout`] recognises.
fn with_body_deadline(mut request: Request, deadline: Instant) -> Request {
    let body = request.take_body();
    if body.is_empty() {
        request.set_body(body);
        return request;
    }
    let mut chunks = body.into_bytes_stream().boxed();
    let mut timer = Box::pin(tokio::time::sleep_until(deadline));
    let mut timed_out = false;
    let limited = futures::stream::poll_fn(move |cx| {
        if timed_out {
            return Poll::Ready(None);
        }
        if let Poll::Ready(chunk) = chunks.poll_next_unpin(cx) {
            return Poll::Ready(chunk);
        }
        if timer.as_mut().poll(cx).is_ready() {
            timed_out = true;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                BodyTimedOut,
            ))));
        }
        Poll::Pending
    });
    request.set_body(Body::from_bytes_stream(limited));
    request
}

/// The error a body reads as once its time is up.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within its time limit")]
struct BodyTimedOut;

/// Whether a body read failed because its time limit passed.
pub fn is_body_timeout(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<BodyTimedOut>())
}

/// A connection's phase and the instant it must end by.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Head { until: Instant },
    Busy { requests: usize },
    Idle { until: Instant },
}

impl Phase {
    fn deadline(self) -> Option<(Instant, &'static str)> {
        match self {
            Phase::Head { until } => Some((until, "header")),
            Phase::Idle { until } => Some((until, "idle")),
            Phase::Busy { .. } => None,
        }
    }
}

/// One connection's phase, moved on by its reads and its requests. Moving it wakes
/// nobody: the watchdog ([`Clock::expired`]) sleeps until the deadline it last saw and
/// then looks again, so a request costs a few uncontended lock operations, not a wake-up
/// and a timer reset for each phase.
#[derive(Clone)]
struct Clock {
    limits: ConnectionLimits,
    phase: Arc<Mutex<Phase>>,
}

impl Clock {
    /// A new connection owes its first request's head within the header limit.
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            phase: Arc::new(Mutex::new(Phase::Head {
                until: Instant::now() + limits.header,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic mid-update of a plain enum: keep going.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: on an idle connection they begin the next request's head.
    fn bytes_read(&self) {
        let mut phase = self.lock();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                until: Instant::now() + self.limits.header,
            };
        }
    }

    /// A request's head is complete; the connection is busy until the returned guard drops.
    fn request_started(&self) -> Busy {
        let mut phase = self.lock();
        *phase = match *phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        };
        Busy(self.clone())
    }

    fn request_finished(&self) {
        let mut phase = self.lock();
        *phase = match *phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                until: Instant::now() + self.limits.idle,
            },
        };
    }

    /// Resolves with the limit's name once the current phase has outlived its limit.
    async fn expired(&self) -> &'static str {
        loop {
            let now = Instant::now();
            let deadline = self.lock().deadline();
            let wake_at = match deadline {
                Some((until, limit)) if until <= now => return limit,
                Some((until, _)) => until,
                // Busy: no limit of the connection's own; look again later.
                None => now + self.limits.header.min(self.limits.idle),
            };
            tokio::time::sleep_until(wake_at).await;
        }
    }
}

/// A request in progress; dropping it (answered, or the client went away) ends it.
struct Busy(Clock);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The connection's socket, telling its clock when bytes arrive.
struct Watched {
    inner: TcpStream,
    clock: Clock,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The app behind a pointer every connection shares.
trait DynEndpoint: Send + Sync {
    fn call(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>>;
}

impl<E: Endpoint<Output = Response>> DynEndpoint for E {
    fn call(&self, request: Request) -> Pin<Box<dyn Future<Output = Response> + Send + '_>> {
        Box::pin(self.get_response(request))
    }
}
