//! Wakes the worker of a job's queue when the job is announced (after the commit that
//! queued it, [`super::Announcer`]): one LISTEN connection for the whole process.
//!
//! apalis' own `with_pubsub` gives every worker a LISTEN connection of its own, held out of
//! the pool for good, and does not connect again once it fails. Here one listener reads
//! the announced `job_type`, wakes that queue's worker alone, and reconnects with backoff.
//! A worker's poll tick (`jobs/poll.rs`) still finds what an announcement missed (a job
//! queued while the listener reconnects, or one whose announcement was lost).

use std::{collections::HashMap, pin::Pin, sync::Arc, time::Duration};

use futures::{Stream, stream};
use serde::Deserialize;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::CHANNEL;

/// The listener's first pause before it connects again; doubled per failure…
const FIRST_RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

/// …up to this.
const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(30);

/// A worker's wake-ups, as the stream its poll strategy drives.
pub type WakeStream = Pin<Box<dyn Stream<Item = ()> + Send>>;

/// One wake-up per queue. Waking a worker that is busy leaves one wake-up stored, so
/// announcements that arrive while it works cost one fetch afterwards, not one each.
#[derive(Clone)]
pub struct Wakeups {
    queues: Arc<HashMap<&'static str, Arc<Notify>>>,
}

/// What an announcement carries (`{"job_type": …}`).
#[derive(Deserialize)]
struct Announcement<'a> {
    job_type: &'a str,
}

impl Wakeups {
    pub fn new(queues: &[&'static str]) -> Self {
        let queues = queues
            .iter()
            .map(|queue| (*queue, Arc::new(Notify::new())))
            .collect();
        Self {
            queues: Arc::new(queues),
        }
    }

    /// The wake-ups of `queue`'s worker; a queue this was not made with never wakes.
    pub fn stream(&self, queue: &str) -> WakeStream {
        let notify = self
            .queues
            .get(queue)
            .cloned()
            .unwrap_or_else(|| Arc::new(Notify::new()));
        Box::pin(stream::unfold(notify, |notify| async move {
            notify.notified().await;
            Some(((), notify))
        }))
    }

    /// Wakes the worker of the queue `payload` names; ignores queues of other processes'
    /// making and payloads it cannot read.
    fn announced(&self, payload: &str) {
        let Ok(announcement) = serde_json::from_str::<Announcement>(payload) else {
            tracing::debug!(payload, "unreadable job announcement");
            return;
        };
        tracing::trace!(job_type = announcement.job_type, "job announced");
        if let Some(notify) = self.queues.get(announcement.job_type) {
            notify.notify_one();
        }
    }

    /// Wakes every worker: announcements may have been missed.
    fn wake_all(&self) {
        for notify in self.queues.values() {
            notify.notify_one();
        }
    }

    /// Listens for announcements until `shutdown`, connecting again (with capped backoff)
    /// whenever the connection is lost.
    pub async fn listen(self, pool: PgPool, shutdown: CancellationToken) {
        let mut backoff = FIRST_RECONNECT_BACKOFF;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return,
                outcome = self.listen_once(&pool, &mut backoff) => outcome,
            };
            if let Err(err) = outcome {
                tracing::warn!(error = %err, retry_in_secs = backoff.as_secs_f64(), "job announcements unavailable; workers poll meanwhile");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
        }
    }

    /// One LISTEN connection's life: returns when it fails. A connection that listened
    /// starts the backoff afresh for the next one.
    async fn listen_once(&self, pool: &PgPool, backoff: &mut Duration) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        // Reconnecting is this loop's job, with backoff; sqlx's would retry at once.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        *backoff = FIRST_RECONNECT_BACKOFF;
        // Anything announced before this connection listened was missed.
        self.wake_all();
        while let Some(notification) = listener.try_recv().await? {
            self.announced(notification.payload());
        }
        Err(sqlx::Error::Protocol(
            "the LISTEN connection was lost".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    async fn woken(stream: &mut WakeStream) -> bool {
        tokio::time::timeout(Duration::from_millis(50), stream.next())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn an_announcement_wakes_its_queues_worker_alone() {
        let wakeups = Wakeups::new(&["send-slack-message", "assign-runner"]);
        let (mut slack, mut assign) = (
            wakeups.stream("send-slack-message"),
            wakeups.stream("assign-runner"),
        );
        wakeups.announced(r#"{"job_type": "assign-runner", "id": "01J0000000000000000000000"}"#);
        assert!(woken(&mut assign).await);
        assert!(!woken(&mut slack).await, "another queue's job");
        assert!(!woken(&mut assign).await, "one announcement, one wake-up");
    }

    #[tokio::test]
    async fn announcements_while_a_worker_is_busy_leave_one_wake_up() {
        let wakeups = Wakeups::new(&["send-reminder"]);
        let mut stream = wakeups.stream("send-reminder");
        for _ in 0..3 {
            wakeups.announced(r#"{"job_type": "send-reminder", "id": "x"}"#);
        }
        assert!(woken(&mut stream).await);
        assert!(!woken(&mut stream).await);
    }

    #[tokio::test]
    async fn unknown_queues_and_unreadable_payloads_wake_nobody_and_wake_all_wakes_everyone() {
        let wakeups = Wakeups::new(&["send-reminder", "prune-audit"]);
        let (mut reminder, mut prune) = (
            wakeups.stream("send-reminder"),
            wakeups.stream("prune-audit"),
        );
        wakeups.announced(r#"{"job_type": "someone-elses", "id": "x"}"#);
        wakeups.announced("not json");
        assert!(!woken(&mut reminder).await);
        assert!(!woken(&mut prune).await);
        wakeups.wake_all();
        assert!(woken(&mut reminder).await);
        assert!(woken(&mut prune).await);
    }
}
