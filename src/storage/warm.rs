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
//! - The set has `capacity` places, half the pool, and a caller takes a place before it
//!   opens a connection from the pool, so callers of the pool itself (job workers, the
//!   outbox relay) always have the other half. Nothing that waits on Slack holds one.
//! - When every place is taken, callers queue, longest waiting first, within the pool's
//!   acquire timeout. A connection handed on goes to the head of the queue; a place given
//!   up (its connection failed) passes to the head of the queue, which opens a connection
//!   from the pool in it. Nobody arriving later jumps the queue, and a waiter never races
//!   an acquire from the pool that it would abandon (an abandoned acquire can throw away a
//!   connection it was opening).
//! - A connection idle longer than the pool would trust it unpinged, or in the set for a
//!   minute in all, goes back through the pool: its ping, idle and lifetime rules apply.
//!   [`WarmConnections::sweep`] returns idle ones even when no request comes.
//! - [`WarmConnections::drain`] returns them all before the pool closes.

use std::{
    collections::VecDeque,
    ops::{Deref, DerefMut},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool, Postgres, pool::PoolConnection};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long a connection may be handed along before it goes back through the pool.
const LEASE: Duration = Duration::from_secs(60);

/// Idle longer than this, a connection of the set goes back through the pool.
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
    /// Callers waiting for a place, longest first.
    waiters: VecDeque<oneshot::Sender<Grant>>,
    /// Places taken: by idle connections, connections in use, and callers opening one.
    taken: usize,
    drained: bool,
}

struct Kept {
    conn: PoolConnection<Postgres>,
    kept_since: Instant,
    idle_since: Instant,
}

/// What a waiting caller is given.
enum Grant {
    /// A connection of the set, handed on.
    Handed(Kept),
    /// A place given up: open a connection from the pool in it.
    Place,
}

/// Where a caller's connection comes from, decided under the lock.
enum Next {
    Idle(Kept),
    /// A place is taken for the caller: open a connection from the pool.
    Open,
    /// No set (drained, or a pool too small to halve): the pool, as if there were none.
    Pool,
    Wait(oneshot::Receiver<Grant>),
}

impl WarmConnections {
    /// A set of half the pool's `max_connections`.
    pub fn new(pool: PgPool, max_connections: u32) -> Self {
        Self::with_limits(pool, max_connections as usize / 2, LEASE, MAX_IDLE)
    }

    /// A set of `capacity` places, each connection in it for at most `lease`, none used
    /// after idling longer than `max_idle`.
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

    /// An idle connection of the set; else one opened from the pool in a free place; else
    /// the next connection or place given up, in turn.
    pub async fn acquire(&self) -> Result<WarmConnection, sqlx::Error> {
        let (next, stale) = self.inner.next();
        // Back through the pool, whose ping and idle rules apply (outside the lock: sqlx
        // spawns the release from `drop`).
        drop(stale);
        match next {
            Next::Idle(kept) => Ok(self.in_set(kept.conn, kept.kept_since)),
            Next::Open => self.open().await,
            Next::Pool => Ok(self.outside_set(self.inner.pool.acquire().await?)),
            Next::Wait(granted) => {
                let mut place = Place {
                    granted,
                    home: self.inner.clone(),
                };
                let timeout = self.inner.pool.options().get_acquire_timeout();
                match tokio::time::timeout(timeout, &mut place.granted).await {
                    Ok(Ok(Grant::Handed(kept))) => Ok(self.in_set(kept.conn, kept.kept_since)),
                    Ok(Ok(Grant::Place)) => self.open().await,
                    // Drained meanwhile.
                    Ok(Err(_)) => Ok(self.outside_set(self.inner.pool.acquire().await?)),
                    Err(_) => Err(sqlx::Error::PoolTimedOut),
                }
            }
        }
    }

    /// Whether every place of the set is taken by a connection in use or being opened: a
    /// caller that timed out now waited behind the others.
    pub fn full(&self) -> bool {
        let state = self.inner.lock();
        state.taken >= self.inner.capacity && state.idle.is_empty()
    }

    /// Connections of the set idle right now.
    pub fn idle(&self) -> usize {
        self.inner.lock().idle.len()
    }

    /// Returns idle connections past `max_idle` to the pool.
    pub fn sweep(&self) {
        let stale = {
            let mut state = self.inner.lock();
            let (fresh, stale): (Vec<Kept>, Vec<Kept>) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|kept| kept.idle_since.elapsed() <= self.inner.max_idle);
            state.idle = fresh;
            // Idle connections mean nobody waits: the places just become free.
            state.taken -= stale.len();
            stale
        };
        drop(stale);
    }

    /// Sweeps now and then until `stop`, so a quiet service does not keep idle connections
    /// checked out.
    pub async fn sweep_until(self, stop: CancellationToken) {
        let mut every = tokio::time::interval(self.inner.max_idle / 2);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => self.sweep(),
            }
        }
    }

    /// Returns every idle connection to the pool and keeps none from now on; the pool's
    /// `close` waits for checked-out connections, so this comes first.
    pub fn drain(&self) {
        let idle = {
            let mut state = self.inner.lock();
            state.drained = true;
            state.taken -= state.idle.len();
            // Waiters see their place closed and go to the pool.
            state.waiters.clear();
            std::mem::take(&mut state.idle)
        };
        drop(idle);
    }

    /// Opens a connection from the pool in the place taken for this caller.
    async fn open(&self) -> Result<WarmConnection, sqlx::Error> {
        // Gives the place up if the pool fails or this caller is cancelled meanwhile.
        let mut place = TakenPlace(Some(self.inner.clone()));
        let conn = self.inner.pool.acquire().await?;
        place.0 = None;
        Ok(self.in_set(conn, Instant::now()))
    }

    fn in_set(&self, conn: PoolConnection<Postgres>, kept_since: Instant) -> WarmConnection {
        WarmConnection {
            conn: Some(conn),
            kept_since: Some(kept_since),
            home: self.inner.clone(),
        }
    }

    fn outside_set(&self, conn: PoolConnection<Postgres>) -> WarmConnection {
        WarmConnection {
            conn: Some(conn),
            kept_since: None,
            home: self.inner.clone(),
        }
    }
}

/// A caller's place in the queue. Leaving it (timed out, or cancelled) passes on whatever
/// was granted to it meanwhile, so the set never loses a connection or a place.
struct Place {
    granted: oneshot::Receiver<Grant>,
    home: Arc<Inner>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.granted.close();
        match self.granted.try_recv() {
            Ok(Grant::Handed(kept)) => drop(self.home.take_back(kept.conn, Some(kept.kept_since))),
            Ok(Grant::Place) => self.home.give_up_place(),
            Err(_) => {}
        }
    }
}

/// A place taken for a caller still opening its connection.
struct TakenPlace(Option<Arc<Inner>>);

impl Drop for TakenPlace {
    fn drop(&mut self) {
        if let Some(home) = self.0.take() {
            home.give_up_place();
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

    /// Decides where the caller's connection comes from; also returns connections of the
    /// set found stale on the way, to be dropped outside the lock.
    fn next(&self) -> (Next, Vec<PoolConnection<Postgres>>) {
        let mut state = self.lock();
        let mut stale = Vec::new();
        while let Some(kept) = state.idle.pop() {
            if kept.idle_since.elapsed() <= self.max_idle {
                return (Next::Idle(kept), stale);
            }
            // Idle connections mean nobody waits: the place just becomes free.
            state.taken -= 1;
            stale.push(kept.conn);
        }
        let next = if state.drained || self.capacity == 0 {
            Next::Pool
        } else if state.taken < self.capacity {
            state.taken += 1;
            Next::Open
        } else {
            let (place, granted) = oneshot::channel();
            state.waiters.push_back(place);
            Next::Wait(granted)
        };
        (next, stale)
    }

    /// Puts a connection of the set back in it: to the longest waiting caller, else idle.
    /// Returns it instead when it may not stay (its lease is over, or the set is drained);
    /// a connection from outside the set (`kept_since` is `None`) always goes back.
    fn take_back(
        &self,
        conn: PoolConnection<Postgres>,
        kept_since: Option<Instant>,
    ) -> Option<PoolConnection<Postgres>> {
        let Some(since) = kept_since else {
            return Some(conn);
        };
        let mut state = self.lock();
        if state.drained || since.elapsed() >= self.lease {
            state.give_up_place();
            return Some(conn);
        }
        let mut kept = Kept {
            conn,
            kept_since: since,
            idle_since: Instant::now(),
        };
        while let Some(waiter) = state.waiters.pop_front() {
            match waiter.send(Grant::Handed(kept)) {
                Ok(()) => return None,
                // That caller timed out or gave up; `send` gives back what it was given.
                Err(Grant::Handed(back)) => kept = back,
                Err(Grant::Place) => return None,
            }
        }
        state.idle.push(kept);
        None
    }

    fn give_up_place(&self) {
        self.lock().give_up_place();
    }
}

impl State {
    /// A place is given up: it passes to the longest waiting caller, or becomes free.
    fn give_up_place(&mut self) {
        while let Some(waiter) = self.waiters.pop_front() {
            if waiter.send(Grant::Place).is_ok() {
                return;
            }
        }
        self.taken -= 1;
    }
}

/// A connection from [`WarmConnections`]. Call [`done`](Self::done) once the work on it
/// succeeded; dropped without that, it goes back through the pool.
pub struct WarmConnection {
    conn: Option<PoolConnection<Postgres>>,
    /// When it joined the set; `None` for a connection from outside it.
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
        if self.conn.is_some() && self.kept_since.is_some() {
            self.home.give_up_place();
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
