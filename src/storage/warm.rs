//! Connections handed from one caller straight to the next, skipping sqlx's release ping.
//!
//! sqlx 0.9 pings every connection dropped back into its pool before anyone else may have
//! it: a full round trip (and a wake-up of the database backend) on a task of its own. For
//! an order, one statement and one round trip, that doubles the round trips. The hot paths
//! (orders, `/coffee-history`, root-message refreshes) take their connection from here
//! instead: up to `capacity` connections stay checked out of the pool and pass from one
//! caller to the next.
//!
//! What keeps this as safe as the pool:
//! - Only a connection whose work succeeded comes back ([`WarmConnection::done`]); one
//!   dropped otherwise (an error, a cancelled request) goes back through the pool, whose
//!   ping decides whether it lives.
//! - At most `capacity` connections are kept, at most half the pool, so callers waiting on
//!   the pool itself (job workers, the outbox relay) always have the rest.
//! - A connection idle here longer than the pool would trust it unpinged, or kept for a
//!   minute in all, goes back through the pool: its ping, idle and lifetime rules apply.
//! - [`WarmConnections::drain`] returns them all before the pool closes.

use std::{
    ops::{Deref, DerefMut},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool, Postgres, pool::PoolConnection};

/// How long a connection may be passed along before it goes back through the pool.
const LEASE: Duration = Duration::from_secs(60);

/// Idle longer than this, a kept connection goes back through the pool before use.
const MAX_IDLE: Duration = super::pool::PING_AFTER_IDLE;

#[derive(Clone)]
pub struct WarmConnections {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    capacity: usize,
    lease: Duration,
    max_idle: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    idle: Vec<Kept>,
    /// Connections kept here, idle or in use.
    kept: usize,
    drained: bool,
}

struct Kept {
    conn: PoolConnection<Postgres>,
    kept_since: Instant,
    idle_since: Instant,
}

impl WarmConnections {
    /// Keeps up to half of the pool's `max_connections`.
    pub fn new(pool: PgPool, max_connections: u32) -> Self {
        Self::with_limits(pool, max_connections as usize / 2, LEASE, MAX_IDLE)
    }

    /// Keeps up to `capacity` connections, each for at most `lease`, none idle longer than
    /// `max_idle`.
    pub fn with_limits(pool: PgPool, capacity: usize, lease: Duration, max_idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                capacity,
                lease,
                max_idle,
                state: Mutex::default(),
            }),
        }
    }

    /// A kept connection if one is idle, else one from the pool.
    pub async fn acquire(&self) -> Result<WarmConnection, sqlx::Error> {
        loop {
            let Some(kept) = self.inner.lock().idle.pop() else {
                break;
            };
            if kept.idle_since.elapsed() <= self.inner.max_idle {
                return Ok(self.hand_out(kept.conn, Some(kept.kept_since)));
            }
            self.inner.lock().kept -= 1;
            drop(kept.conn);
        }
        let conn = self.inner.pool.acquire().await?;
        Ok(self.hand_out(conn, None))
    }

    /// Connections kept and idle right now.
    pub fn idle(&self) -> usize {
        self.inner.lock().idle.len()
    }

    /// Returns every kept connection to the pool and keeps none from now on; the pool's
    /// `close` waits for checked-out connections, so this comes first.
    pub fn drain(&self) {
        let idle = {
            let mut state = self.inner.lock();
            state.drained = true;
            state.kept -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        drop(idle);
    }

    fn hand_out(
        &self,
        conn: PoolConnection<Postgres>,
        kept_since: Option<Instant>,
    ) -> WarmConnection {
        WarmConnection {
            conn: Some(conn),
            kept_since,
            home: self.inner.clone(),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot tear it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `conn` for the next caller if it may be kept; otherwise hands it back.
    fn take_back(
        &self,
        conn: PoolConnection<Postgres>,
        kept_since: Option<Instant>,
    ) -> Option<PoolConnection<Postgres>> {
        let mut state = self.lock();
        let now = Instant::now();
        let kept_since = match kept_since {
            Some(since) if !state.drained && since.elapsed() < self.lease => since,
            Some(_) => {
                state.kept -= 1;
                return Some(conn);
            }
            None if !state.drained && state.kept < self.capacity => {
                state.kept += 1;
                now
            }
            None => return Some(conn),
        };
        state.idle.push(Kept {
            conn,
            kept_since,
            idle_since: now,
        });
        None
    }

    fn forget(&self, kept_since: Option<Instant>) {
        if kept_since.is_some() {
            self.lock().kept -= 1;
        }
    }
}

/// A connection from [`WarmConnections`]. Call [`done`](Self::done) once the work on it
/// succeeded; dropped without that, it goes back through the pool.
pub struct WarmConnection {
    conn: Option<PoolConnection<Postgres>>,
    /// When it was first kept, if it is a kept connection.
    kept_since: Option<Instant>,
    home: Arc<Inner>,
}

impl WarmConnection {
    /// Closes the connection when it is dropped instead of returning it: for a session
    /// that may hold state no other caller must inherit (a session advisory lock).
    pub fn close_on_drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }

    /// Hands the connection to the next caller.
    pub fn done(mut self) {
        if let Some(conn) = self.conn.take() {
            // Dropped outside the lock: sqlx spawns the pool's release from `drop`.
            drop(self.home.take_back(conn, self.kept_since));
        }
    }
}

impl Drop for WarmConnection {
    fn drop(&mut self) {
        if self.conn.is_some() {
            self.home.forget(self.kept_since);
        }
    }
}

impl Deref for WarmConnection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn.as_deref().expect("held until done or dropped")
    }
}

impl DerefMut for WarmConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_deref_mut()
            .expect("held until done or dropped")
    }
}
