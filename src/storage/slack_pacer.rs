//! Paces outbound Slack calls for the whole app, across replicas, with GCRA kept in one
//! PostgreSQL row: each call reserves the next slot `60 / SLACK_RATE_LIMIT_PER_MIN` seconds
//! after the previous one, so no minute ever holds more than the limit. The reservation is
//! the SQL function `reserve_slack_slot` (`storage/sql/reserve_slack_slot.sql`), which a root-message
//! refresh also calls from the statement that begins it.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// The outcome of asking for a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// A slot is reserved; call Slack after this wait.
    Reserved(Duration),
    /// Every slot within the wait budget is taken; ask again after this long.
    Busy(Duration),
}

impl Slot {
    /// What the SQL function `reserve_slack_slot` answered, asked with `max_wait`: how far
    /// away the next slot is and whether it was reserved.
    pub fn from_reservation(wait_secs: f64, reserved: bool, max_wait: Duration) -> Self {
        let wait = Duration::try_from_secs_f64(wait_secs).unwrap_or_default();
        if reserved {
            Slot::Reserved(wait)
        } else {
            Slot::Busy(
                wait.saturating_sub(max_wait)
                    .max(Duration::from_millis(100)),
            )
        }
    }
}

#[derive(Clone)]
pub struct SlackPacer {
    pool: PgPool,
    interval: Duration,
}

impl SlackPacer {
    pub fn new(pool: PgPool, calls_per_minute: u32) -> Self {
        Self {
            pool,
            interval: Duration::from_secs(60) / calls_per_minute.max(1),
        }
    }

    /// Reserves the next slot if it starts within `max_wait`.
    pub async fn reserve(&self, max_wait: Duration) -> Result<Slot, sqlx::Error> {
        self.reserve_on(&mut *self.pool.acquire().await?, max_wait)
            .await
    }

    /// [`reserve`](Self::reserve) on a connection the caller already holds.
    pub async fn reserve_on(
        &self,
        conn: &mut PgConnection,
        max_wait: Duration,
    ) -> Result<Slot, sqlx::Error> {
        self.reserve_calls_on(conn, 1, max_wait).await
    }

    /// Reserves `calls` consecutive slots at once, if the first starts within `max_wait`:
    /// the caller may make that many calls from then on, one statement instead of one per
    /// call. Slots left unused stay spent.
    pub async fn reserve_calls(&self, calls: u32, max_wait: Duration) -> Result<Slot, sqlx::Error> {
        self.reserve_calls_on(&mut *self.pool.acquire().await?, calls, max_wait)
            .await
    }

    async fn reserve_calls_on(
        &self,
        conn: &mut PgConnection,
        calls: u32,
        max_wait: Duration,
    ) -> Result<Slot, sqlx::Error> {
        let slot = sqlx::query!(
            r#"SELECT wait_secs AS "wait_secs!", reserved AS "reserved!"
               FROM reserve_slack_slot($1, $2)"#,
            (self.interval * calls.max(1)).as_secs_f64(),
            max_wait.as_secs_f64(),
        )
        .fetch_one(conn)
        .await?;
        Ok(Slot::from_reservation(
            slot.wait_secs,
            slot.reserved,
            max_wait,
        ))
    }

    /// Seconds between two calls: what a slot reservation made elsewhere (a refresh takes
    /// its slot in the statement that begins it) must ask for.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Counts a call that cannot wait (`views.open` answers a user within 3 s): it takes
    /// the next slot regardless, so queued messages make room for it.
    pub async fn take_now(&self) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "UPDATE slack_rate_limit
             SET tat = GREATEST(tat, clock_timestamp()) + make_interval(secs => $1)
             WHERE id = 1",
            self.interval.as_secs_f64(),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
