//! Paces outbound Slack calls for the whole app, across replicas, with GCRA kept in one
//! PostgreSQL row: each call reserves the next slot `60 / SLACK_RATE_LIMIT_PER_MIN` seconds
//! after the previous one, so no minute ever holds more than the limit.

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
        let (wait_secs, reserved): (f64, bool) = sqlx::query_as(
            "WITH current AS (
                 SELECT GREATEST(tat, clock_timestamp()) AS start
                 FROM slack_rate_limit WHERE id = 1 FOR UPDATE
             ), reserved AS (
                 UPDATE slack_rate_limit
                 SET tat = current.start + make_interval(secs => $1)
                 FROM current
                 WHERE id = 1 AND current.start <= clock_timestamp() + make_interval(secs => $2)
                 RETURNING 1
             )
             SELECT GREATEST(EXTRACT(EPOCH FROM current.start - clock_timestamp()), 0)::float8,
                    EXISTS (SELECT 1 FROM reserved)
             FROM current",
        )
        .bind(self.interval.as_secs_f64())
        .bind(max_wait.as_secs_f64())
        .fetch_one(conn)
        .await?;
        let wait = Duration::from_secs_f64(wait_secs);
        Ok(if reserved {
            Slot::Reserved(wait)
        } else {
            Slot::Busy(
                wait.saturating_sub(max_wait)
                    .max(Duration::from_millis(100)),
            )
        })
    }

    /// Counts a call that cannot wait (`views.open` answers a user within 3 s): it takes
    /// the next slot regardless, so queued messages make room for it.
    pub async fn take_now(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE slack_rate_limit
             SET tat = GREATEST(tat, clock_timestamp()) + make_interval(secs => $1)
             WHERE id = 1",
        )
        .bind(self.interval.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
