//! Connections handed from one request straight to the next, skipping sqlx's release ping.
//!
//! sqlx 0.9 pings every connection dropped back into its pool before anyone else may have
//! it: a full round trip (and a wake-up of the database backend) on a task of its own. For
//! an order, one statement and one round trip, that doubled the round trips. The request
//! paths that run one short statement (placing an order, `/coffee-history`) take their
//! connection from here instead: a set of up to `capacity` connections, checked out of the
//! pool once and handed from one request to the next.
//!
//! What keeps this as safe as the pool:
//! - Only a connection whose work succeeded is handed on ([`WarmConnection::done`]); one
//!   dropped otherwise (an error, a cancelled request) goes back through the pool, whose
//!   ping decides whether it lives.
//! - The set holds at most half the pool, so callers of the pool itself (job workers, the
//!   outbox relay) always have the rest. Nothing that waits on Slack holds one.
//! - When all of the set is in use, callers queue for the next one handed on, longest
//!   waiting first, within the pool's acquire timeout. Nobody arriving later jumps the
//!   queue, and no acquire from the pool is started only to be abandoned (an abandoned
//!   acquire can throw away a connection it was opening).
//! - A connection idle here longer than the pool would trust it unpinged, or kept for a
//!   minute in all, goes back through the pool: its ping, idle and lifetime rules apply.
//! - [`WarmConnections::drain`] returns them all before the pool closes.

use std::{
    collections::VecDeque,
    ops::{Deref, DerefMut},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool, Postgres, pool::PoolConnection};
use tokio::sync::oneshot;

/// How long a connection may be handed along before it goes back through the pool.
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
    /// Callers waiting for a connection of the set, longest first.
    waiters: VecDeque<oneshot::Sender<Kept>>,
    /// Connections in the set, idle or in use.
    kept: usize,
    drained: bool,
}

struct Kept {
    conn: PoolConnection<Postgres>,
    kept_since: Instant,
    idle_since: Instant,
}

/// What a caller gets once the set's lock is released.
enum Next {
    Ready(Kept),
    FromPool,
    Wait(oneshot::Receiver<Kept>),
}

impl WarmConnections {
    /// A set of half the pool's `max_connections`.
    pub fn new(pool: PgPool, max_connections: u32) -> Self {
        Self::with_limits(pool, max_connections as usize / 2, LEASE, MAX_IDLE)
    }

    /// A set of up to `capacity` connections, each kept for at most `lease`, none used after
    /// idling longer than `max_idle`.
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

    /// An idle connection of the set; else one from the pool while the set is not full;
    /// else the next one handed on.
    pub async fn acquire(&self) -> Result<WarmConnection, sqlx::Error> {
        let (next, stale) = self.inner.next();
        // Back through the pool, whose ping and idle rules apply (outside the lock: sqlx
        // spawns the release from `drop`).
        drop(stale);
        let kept = match next {
            Next::Ready(kept) => kept,
            Next::FromPool => return Ok(self.hand_out(self.inner.pool.acquire().await?, None)),
            Next::Wait(handed) => {
                let mut place = Place {
                    handed,
                    home: self.inner.clone(),
                };
                let timeout = self.inner.pool.options().get_acquire_timeout();
                match tokio::time::timeout(timeout, &mut place.handed).await {
                    Ok(Ok(kept)) => kept,
                    // Let go of rather than handed on (its holder failed), or drained.
                    Ok(Err(_)) => {
                        return Ok(self.hand_out(self.inner.pool.acquire().await?, None));
                    }
                    Err(_) => return Err(sqlx::Error::PoolTimedOut),
                }
            }
        };
        Ok(self.hand_out(kept.conn, Some(kept.kept_since)))
    }

    /// Connections of the set idle right now.
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
            // Waiters see their place closed and go to the pool.
            state.waiters.clear();
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

/// A caller's place in the queue. Leaving it (timed out, or cancelled) passes a connection
/// handed to it meanwhile on to the next caller, so the set never loses one.
struct Place {
    handed: oneshot::Receiver<Kept>,
    home: Arc<Inner>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.handed.close();
        if let Ok(kept) = self.handed.try_recv() {
            drop(self.home.take_back(kept.conn, Some(kept.kept_since)));
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

    /// Decides where the caller's connection comes from; also returns kept connections
    /// found stale on the way, to be dropped outside the lock.
    fn next(&self) -> (Next, Vec<PoolConnection<Postgres>>) {
        let mut state = self.lock();
        let mut stale = Vec::new();
        while let Some(kept) = state.idle.pop() {
            if kept.idle_since.elapsed() <= self.max_idle {
                return (Next::Ready(kept), stale);
            }
            state.kept -= 1;
            stale.push(kept.conn);
        }
        let next = if state.drained || state.kept < self.capacity {
            Next::FromPool
        } else {
            let (place, handed) = oneshot::channel();
            state.waiters.push_back(place);
            Next::Wait(handed)
        };
        (next, stale)
    }

    /// Keeps `conn` in the set, handing it to the longest waiting caller if there is one,
    /// or gives it back (returns it) when it may not be kept.
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
                state.release_a_waiter();
                return Some(conn);
            }
            None if !state.drained && state.kept < self.capacity => {
                state.kept += 1;
                now
            }
            None => return Some(conn),
        };
        let mut kept = Kept {
            conn,
            kept_since,
            idle_since: now,
        };
        while let Some(waiter) = state.waiters.pop_front() {
            match waiter.send(kept) {
                Ok(()) => return None,
                // That caller timed out or gave up.
                Err(back) => kept = back,
            }
        }
        state.idle.push(kept);
        None
    }

    /// A connection of the set was let go of rather than handed on.
    fn forget(&self, kept_since: Option<Instant>) {
        if kept_since.is_some() {
            let mut state = self.lock();
            state.kept -= 1;
            state.release_a_waiter();
        }
    }
}

impl State {
    /// The set has room again: the longest waiting caller goes to the pool instead of
    /// waiting for a connection that will not come.
    fn release_a_waiter(&mut self) {
        while let Some(waiter) = self.waiters.pop_front() {
            if !waiter.is_closed() {
                return;
            }
        }
    }
}

/// A connection from [`WarmConnections`]. Call [`done`](Self::done) once the work on it
/// succeeded; dropped without that, it goes back through the pool.
pub struct WarmConnection {
    conn: Option<PoolConnection<Postgres>>,
    /// When it joined the set, if it belongs to it.
    kept_since: Option<Instant>,
    home: Arc<Inner>,
}

impl WarmConnection {
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
