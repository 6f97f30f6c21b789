//! Tells the workers of every process that jobs are due, once the transaction that queued
//! them has committed.
//!
//! apalis installs an insert trigger that sends a NOTIFY from inside the queuing
//! transaction. PostgreSQL serializes the commits of every transaction that has sent one:
//! it takes one lock on the
//! notification queue before the commit and holds it through the commit's WAL flush
//! (`PreCommit_Notify`). In the load benchmark, when runs filled together, each filling
//! order (queuing the assignment) and each assignment (queuing its reply and DM) committed
//! one at a time behind that lock, and every order meanwhile waited on `Lock:object`: order
//! p99 at 1,000/s 22–63 ms, against 10 ms with no announcements at all.
//!
//! Here the queuing transaction sends nothing (`sql/announce_after_commit.sql` drops the
//! trigger). A unit of work ([`super::UnitOfWork`]) announces what it queued once it has
//! committed, and a background task sends the announcements in a statement of their own.
//! A transaction that
//! only notifies writes no WAL, so its commit does not wait for the disk (measured here: 3
//! WAL syncs for 500 such statements, against 500 for 500 one-row inserts), and the lock is
//! held for microseconds. Announcements made while one is on its way go out together, one
//! per queue. An announcement is only a hint: one lost (the process stops
//! first, the database refuses) costs a worker's poll (`WorkerSettings::poll_interval`).

use std::{borrow::Cow, collections::BTreeSet, sync::Arc};

use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The channel workers listen on (`wakeups`), apalis' own.
pub const CHANNEL: &str = "apalis::job::insert";

/// A queue's name: ours are `&'static str`; a retried row names its own.
pub(super) type QueueName = Cow<'static, str>;

/// Queues that got a job due now in a transaction not yet announced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Queued {
    queues: BTreeSet<QueueName>,
}

impl Queued {
    /// Adds a job due now on `queue`.
    pub(super) fn add(&mut self, queue: impl Into<QueueName>) {
        self.queues.insert(queue.into());
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// Announces due jobs after commit; cheap to clone, and [`announce`](Self::announce) never
/// waits. Announcements only go out while [`run`](Self::run) runs; until then they wait,
/// at most one per queue.
#[derive(Clone, Default)]
pub struct Announcer {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: std::sync::Mutex<BTreeSet<QueueName>>,
    wake: Notify,
}

impl Announcer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces `queued`: call it once the transaction that queued the jobs has
    /// committed (an announcement before the commit would find nothing to fetch).
    pub(super) fn announce(&self, queued: Queued) {
        if queued.is_empty() {
            return;
        }
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(queued.queues);
        self.inner.wake.notify_one();
    }

    /// Sends announcements until `shutdown`.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner.wake.notified() => {}
            }
            let queues = self.take();
            if queues.is_empty() {
                continue;
            }
            let sent = async {
                let mut conn = pool.acquire().await?;
                send(&mut conn, &queues).await
            };
            if let Err(error) = sent.await {
                // A hint lost: the workers' polls find the jobs.
                tracing::debug!(%error, ?queues, "could not announce due jobs");
            }
        }
    }

    fn take(&self) -> Vec<QueueName> {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *pending).into_iter().collect()
    }
}

/// One statement, its own transaction: it writes nothing, so the notification queue's
/// lock is held only across a commit that flushes no WAL.
async fn send(conn: &mut PgConnection, queues: &[QueueName]) -> Result<(), sqlx::Error> {
    let queues: Vec<&str> = queues.iter().map(|queue| queue.as_ref()).collect();
    sqlx::query!(
        "SELECT pg_notify($1, json_build_object('job_type', queue)::text)
         FROM unnest($2::text[]) AS queue",
        CHANNEL,
        &queues as &[&str],
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(queues: &[&'static str]) -> Queued {
        let mut queued = Queued::default();
        for queue in queues {
            queued.add(*queue);
        }
        queued
    }

    #[test]
    fn queued_keeps_each_queue_once() {
        let queued = queued(&["send-slack-message", "assign-runner", "send-slack-message"]);
        assert_eq!(
            queued.queues,
            BTreeSet::from(["assign-runner".into(), "send-slack-message".into()])
        );
        assert!(Queued::default().is_empty());
    }

    #[test]
    fn announcements_wait_together_until_sent_one_per_queue() {
        let announcer = Announcer::new();
        announcer.announce(queued(&["send-slack-message"]));
        announcer.announce(queued(&["assign-runner", "send-slack-message"]));
        announcer.announce(Queued::default());
        assert_eq!(announcer.take(), ["assign-runner", "send-slack-message"]);
        assert!(announcer.take().is_empty(), "taken once");
    }
}
