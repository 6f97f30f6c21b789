//! The database circuit breaker (REQ-018, AC8): after CIRCUIT_FAILURE_THRESHOLD consecutive
//! connection failures it opens and requests that need the database get 503 at once,
//! instead of each waiting out the pool's acquire timeout. After CIRCUIT_OPEN_SECS it
//! half-opens and lets one `SELECT 1` through: success closes it, failure reopens it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::PgPool;

use crate::telemetry::Metrics;

/// How long the half-open probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The `circuit_breaker_state` value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        since: Instant,
    },
    /// A probe is running; everyone else is refused until it answers.
    HalfOpen,
}

#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Inner>>,
    threshold: u32,
    open_for: Duration,
    metrics: Metrics,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration, metrics: Metrics) -> Self {
        metrics.circuit_state(BreakerState::Closed.gauge());
        Self {
            inner: Arc::new(Mutex::new(Inner::Closed { failures: 0 })),
            threshold: threshold.max(1),
            open_for,
            metrics,
        }
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may use the database now. When the open period is over, the
    /// first caller runs the half-open probe; the rest are refused until it answers.
    pub async fn allow(&self, pool: &PgPool) -> bool {
        {
            let mut inner = self.lock();
            match *inner {
                Inner::Closed { .. } => return true,
                Inner::HalfOpen => return false,
                Inner::Open { since } if since.elapsed() < self.open_for => return false,
                Inner::Open { .. } => *inner = Inner::HalfOpen,
            }
        }
        self.transition(BreakerState::HalfOpen);
        // The probe runs as a task of its own, so its answer is recorded even when this
        // caller goes away mid-probe (a client that hung up, a readiness check that timed
        // out): left half-open, the breaker would refuse every request until a restart.
        let (breaker, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move { breaker.probe(&pool).await })
            .await
            .unwrap_or(false)
    }

    /// The half-open probe: one `SELECT 1`, which closes the breaker or opens it again.
    async fn probe(&self, pool: &PgPool) -> bool {
        let answered = matches!(
            tokio::time::timeout(
                PROBE_TIMEOUT,
                sqlx::query!("SELECT 1 AS one").fetch_one(pool)
            )
            .await,
            Ok(Ok(_))
        );
        let mut inner = self.lock();
        if answered {
            *inner = Inner::Closed { failures: 0 };
            drop(inner);
            self.transition(BreakerState::Closed);
        } else {
            *inner = Inner::Open {
                since: Instant::now(),
            };
            drop(inner);
            self.transition(BreakerState::Open);
        }
        answered
    }

    /// A request reached the database.
    pub fn record_success(&self) {
        let mut inner = self.lock();
        if let Inner::Closed { failures } = &mut *inner {
            *failures = 0;
        }
    }

    /// A request could not reach the database.
    pub fn record_failure(&self) {
        let mut inner = self.lock();
        if let Inner::Closed { failures } = &mut *inner {
            *failures += 1;
            if *failures >= self.threshold {
                *inner = Inner::Open {
                    since: Instant::now(),
                };
                drop(inner);
                self.transition(BreakerState::Open);
            }
        }
    }

    fn transition(&self, to: BreakerState) {
        self.metrics.circuit_state(to.gauge());
        match to {
            BreakerState::Open => tracing::error!(
                threshold = self.threshold,
                open_secs = self.open_for.as_secs(),
                "database circuit breaker opened: answering 503 until a probe succeeds"
            ),
            BreakerState::HalfOpen => tracing::warn!("database circuit breaker half-open: probing"),
            BreakerState::Closed => {
                tracing::info!("database circuit breaker closed: database reachable")
            }
        }
    }

    /// Records the outcome of a database call: only connection trouble counts as failure.
    pub fn observe<T>(&self, result: &Result<T, sqlx::Error>) {
        match result {
            Err(err) if is_connection_error(err) => self.record_failure(),
            _ => self.record_success(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic mid-update of a plain enum: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Errors that mean "the database could not be reached", as opposed to a bad query: any
/// failure to establish or keep a connection, whatever variant sqlx gives it.
///
/// - `Io`, `Tls`: refused, reset, unreachable; a failed TLS handshake.
/// - `Protocol`: the byte stream was not PostgreSQL's. A TCP proxy or load balancer whose
///   backend is gone accepts the connection and then closes or resets it, and sqlx reports
///   the answer to its `SSLRequest` or start-up message as a protocol violation. On a
///   connection that has been talking, it means the stream broke; sqlx drops the connection.
/// - `PoolTimedOut`: no connection could be had within the acquire timeout, which covers
///   establishing one. A pool that is only busy also times out; the request guard tells the
///   two apart (`api::guard_database`).
/// - `PoolClosed`, `WorkerCrashed`: the pool or the connection's worker is gone.
/// - `Database` with SQLSTATE class 08 (connection exception) or 57P01–57P03 (the server is
///   shutting down, crashed, or is not yet accepting connections).
///
/// Everything else is an answer from a database that is there: a constraint violation, a
/// decode error, no row.
pub fn is_connection_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_connection_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATEs the server sends about the connection itself rather than the statement.
fn is_connection_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> CircuitBreaker {
        breaker_open_for(threshold, Duration::from_secs(30))
    }

    fn breaker_open_for(threshold: u32, open_for: Duration) -> CircuitBreaker {
        let pool = unreachable_pool();
        CircuitBreaker::new(threshold, open_for, Metrics::new(&pool, || 0))
    }

    fn unreachable_pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(200))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap()
    }

    #[tokio::test]
    async fn opens_after_the_threshold_of_consecutive_failures() {
        let b = breaker(3);
        b.record_failure();
        b.record_failure();
        b.record_success();
        b.record_failure();
        b.record_failure();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn an_open_breaker_refuses_until_its_time_is_up() {
        let b = breaker(1);
        b.record_failure();
        assert!(!b.allow(&unreachable_pool()).await);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test]
    async fn a_probe_whose_caller_went_away_still_decides() {
        let b = breaker_open_for(1, Duration::ZERO);
        b.record_failure();
        // The caller gives up while the probe waits for the pool's acquire timeout.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), b.allow(&unreachable_pool())).await;
        assert!(
            gave_up.is_err(),
            "the caller left before the probe answered"
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.state() == BreakerState::HalfOpen && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "the failed probe reopened the breaker, so the next request probes again"
        );
    }

    /// Captures what the breaker logs while `body` runs.
    fn logs_of(body: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, body);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn opening_is_logged_and_shown_in_the_gauge() {
        let b = breaker(2);
        let logs = logs_of(|| {
            b.observe::<()>(&Err(sqlx::Error::Protocol(
                "unexpected response from SSLRequest: 0x00".into(),
            )));
            b.observe::<()>(&Err(sqlx::Error::Io(
                std::io::ErrorKind::ConnectionReset.into(),
            )));
        });
        assert_eq!(b.state(), BreakerState::Open);
        assert!(
            logs.contains("ERROR") && logs.contains("database circuit breaker opened"),
            "{logs}"
        );
        assert!(
            b.metrics.render().contains("circuit_breaker_state 1"),
            "{}",
            b.metrics.render()
        );
    }

    #[test]
    fn every_way_a_connection_fails_counts() {
        let io = |kind| sqlx::Error::Io(std::io::Error::from(kind));
        for failure in [
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::UnexpectedEof),
            io(std::io::ErrorKind::TimedOut),
            sqlx::Error::Tls("invalid peer certificate: UnknownIssuer".into()),
            sqlx::Error::Protocol("unexpected response from SSLRequest: 0x48".into()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            assert!(is_connection_error(&failure), "{failure:?} counts");
        }
    }

    #[test]
    fn answers_from_a_database_that_is_there_do_not_count() {
        for answer in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::TypeNotFound {
                type_name: "x".into(),
            },
        ] {
            assert!(!is_connection_error(&answer), "{answer:?} does not count");
        }
    }

    #[test]
    fn connection_sqlstates_count_and_statement_ones_do_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03"] {
            assert!(is_connection_sqlstate(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "57014", "53300"] {
            assert!(!is_connection_sqlstate(code), "{code}");
        }
    }
}
