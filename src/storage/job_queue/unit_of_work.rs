//! Queuing jobs: inside the caller's transaction, announced once it has committed.

use std::time::Duration;

use serde::Serialize;
use sqlx::{Acquire, PgConnection, PgPool, Postgres, Transaction};

use super::{
    Announcer, Job,
    announce::{QueueName, Queued},
};

/// A state change and the jobs it causes, committed together: the workflow writes its rows
/// through [`conn`](Self::conn), queues its jobs with [`enqueue`](Self::enqueue), and
/// [`commit`](Self::commit) commits, then announces what became due to the workers. Dropped
/// without a commit, it rolls everything back and announces nothing.
pub struct UnitOfWork<'c> {
    conn: Conn<'c>,
    announcer: Announcer,
    due_now: Queued,
}

enum Conn<'c> {
    Transaction(Transaction<'c, Postgres>),
    /// A change made by one statement, which commits on its own.
    SingleStatement(&'c mut PgConnection),
}

impl UnitOfWork<'static> {
    /// Begins a transaction on a connection of `pool`.
    pub async fn begin(pool: &PgPool, announcer: &Announcer) -> Result<Self, sqlx::Error> {
        Ok(Self::new(Conn::Transaction(pool.begin().await?), announcer))
    }
}

impl<'c> UnitOfWork<'c> {
    /// Begins a transaction on a connection the caller holds.
    pub async fn begin_on(
        conn: &'c mut PgConnection,
        announcer: &Announcer,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self::new(Conn::Transaction(conn.begin().await?), announcer))
    }

    /// A change that is one statement (an order: `storage::orders::place`), run on `conn`
    /// outside a transaction so that it commits with the statement: one round trip instead
    /// of three. [`commit`](Self::commit) then only announces. Whoever makes one runs that
    /// one statement in it and nothing else.
    pub fn single_statement(conn: &'c mut PgConnection, announcer: &Announcer) -> Self {
        Self::new(Conn::SingleStatement(conn), announcer)
    }

    fn new(conn: Conn<'c>, announcer: &Announcer) -> Self {
        Self {
            conn,
            announcer: announcer.clone(),
            due_now: Queued::default(),
        }
    }

    /// The connection the change's rows are written on.
    pub fn conn(&mut self) -> &mut PgConnection {
        match &mut self.conn {
            Conn::Transaction(tx) => tx,
            Conn::SingleStatement(conn) => conn,
        }
    }

    /// Queues `job` to run after `delay` (now if `None`).
    pub async fn enqueue<J: Job>(
        &mut self,
        job: &J,
        delay: Option<Duration>,
    ) -> Result<(), sqlx::Error> {
        let mut batch = Batch::default();
        batch.push(job, delay)?;
        self.enqueue_all(batch).await
    }

    /// Queues every job of `batch` in one statement.
    pub async fn enqueue_all(&mut self, batch: Batch) -> Result<(), sqlx::Error> {
        let due_now = batch.insert(self.conn()).await?;
        for queue in due_now {
            self.due_now.add(queue);
        }
        Ok(())
    }

    /// Records that a statement of this transaction queued a job due now on `queue` (SQL
    /// functions that queue jobs themselves, such as `queue_summary_refresh`).
    pub(in crate::storage) fn made_due(&mut self, queue: impl Into<QueueName>) {
        self.due_now.add(queue);
    }

    /// Commits, then announces the jobs that became due.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        if let Conn::Transaction(tx) = self.conn {
            tx.commit().await?;
        }
        self.announcer.announce(self.due_now);
        Ok(())
    }
}

/// Jobs queued together in one statement: one round trip however many a change causes.
#[derive(Debug, Default)]
pub struct Batch {
    jobs: Vec<serde_json::Value>,
    due_now: Vec<&'static str>,
}

impl Batch {
    /// Adds `job`, to run after `delay` (now if `None`).
    pub fn push<J: Job>(&mut self, job: &J, delay: Option<Duration>) -> Result<(), sqlx::Error> {
        // A batch mixes job types in one array parameter, so each row becomes a `Value`
        // here; batches come from assignments, not from the order path.
        let job = serde_json::to_value(row(job)).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        if delay.is_none_or(|d| d.is_zero()) {
            self.due_now.push(J::QUEUE);
        }
        self.jobs.push(serde_json::json!({
            "job": job,
            "id": new_id(),
            "delay_secs": delay.unwrap_or_default().as_secs_f64(),
        }));
        Ok(())
    }

    /// Writes every job's row; returns the queues that got one due now.
    async fn insert(self, conn: &mut PgConnection) -> Result<Vec<&'static str>, sqlx::Error> {
        if self.jobs.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query!(
            "SELECT enqueue_job(j->'job', j->>'id', '{}',
                                NOW() + make_interval(secs => (j->>'delay_secs')::float8))
             FROM jsonb_array_elements($1) j",
            serde_json::Value::Array(self.jobs),
        )
        .execute(conn)
        .await?;
        Ok(self.due_now)
    }
}

/// The job as the `enqueue_job` SQL function takes it: the one place a job row is written,
/// here and by the SQL functions that queue jobs themselves.
#[derive(Debug, Serialize)]
pub struct JobRow<'a, J> {
    queue: &'static str,
    max_attempts: usize,
    payload: &'a J,
}

/// `job` as `enqueue_job` takes it; bind it as `Json(row)`, which serializes it straight
/// into the statement's parameter.
#[must_use]
pub fn row<J: Job>(job: &J) -> JobRow<'_, J> {
    JobRow {
        queue: J::QUEUE,
        max_attempts: J::MAX_ATTEMPTS,
        payload: job,
    }
}

/// A fresh job id: apalis reads `apalis.jobs.id` back as a ULID.
pub fn new_id() -> String {
    ulid::Ulid::generate().to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Chore {
        id: u32,
    }

    impl Job for Chore {
        const QUEUE: &'static str = "chores";
        const MAX_ATTEMPTS: usize = 3;
    }

    #[derive(Serialize)]
    struct Errand;

    impl Job for Errand {
        const QUEUE: &'static str = "errands";
        const MAX_ATTEMPTS: usize = 1;
    }

    #[test]
    fn a_job_row_names_its_queue_and_attempts() {
        let expected = json!({"queue": "chores", "max_attempts": 3, "payload": {"id": 7}});
        assert_eq!(
            serde_json::to_value(row(&Chore { id: 7 })).unwrap(),
            expected
        );
    }

    #[test]
    fn a_batch_announces_the_queues_of_its_jobs_due_now_only() {
        let mut batch = Batch::default();
        batch
            .push(&Chore { id: 1 }, Some(Duration::from_secs(300)))
            .unwrap();
        assert!(batch.due_now.is_empty(), "a delayed job waits for a poll");
        batch.push(&Errand, None).unwrap();
        batch.push(&Chore { id: 2 }, Some(Duration::ZERO)).unwrap();
        assert_eq!(batch.due_now, ["errands", "chores"]);
        assert_eq!(batch.jobs.len(), 3);
    }
}
