//! The durable jobs (apalis on the app's own PostgreSQL): payloads, handlers, retry
//! policies and the workers that run them.
//!
//! Jobs are enqueued with [`enqueue`] (or several at once with [`Batch`]) inside the
//! caller's transaction, so a state change and the work it causes commit together or not
//! at all. What they queue due now is announced to the workers after the commit
//! ([`Announcer`]).

mod announce;
pub mod assign_runner;
pub mod catch_panic;
mod poll;
pub mod prune_audit;
pub mod retry;
pub mod send_reminder;
pub mod send_slack_message;
mod wakeups;

use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::{
    slack::{SlackClient, SlackPacer},
    telemetry::Metrics,
    workflows::RunRules,
};

pub use announce::{Announcer, Queued};
pub use assign_runner::AssignRunner;
pub use prune_audit::PruneAudit;
pub use send_reminder::SendReminder;
pub use send_slack_message::SlackMessage;

/// Every job type, as stored in `apalis.jobs.job_type`.
pub const JOB_TYPES: [&str; 4] = [
    AssignRunner::QUEUE,
    SendReminder::QUEUE,
    SlackMessage::QUEUE,
    PruneAudit::QUEUE,
];

/// A job payload and where it is queued.
pub trait Job: Serialize {
    /// The apalis queue, which is also the `job_type` ops see.
    const QUEUE: &'static str;
    /// Executions before the row is left `Failed` (handlers give up earlier on their own
    /// terms; this bounds plain errors such as a lost database connection).
    const MAX_ATTEMPTS: usize;
}

/// Queues `job` on the caller's connection or transaction, to run after `delay`.
pub async fn enqueue<J: Job>(
    conn: &mut PgConnection,
    job: &J,
    delay: Option<Duration>,
) -> Result<Queued, sqlx::Error> {
    let mut batch = Batch::default();
    batch.push(job, delay)?;
    batch.enqueue(conn).await
}

/// Jobs queued together in one statement: one round trip however many a change causes.
#[derive(Debug, Default)]
pub struct Batch {
    jobs: Vec<serde_json::Value>,
    due_now: Queued,
}

impl Batch {
    /// Adds `job`, to run after `delay`.
    pub fn push<J: Job>(&mut self, job: &J, delay: Option<Duration>) -> Result<(), sqlx::Error> {
        // A batch mixes job types in one array parameter, so each row becomes a `Value`
        // here; batches come from assignments, not from the order path.
        let job = serde_json::to_value(row(job)).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        if delay.is_none_or(|d| d.is_zero()) {
            self.due_now.add(J::QUEUE);
        }
        self.jobs.push(serde_json::json!({
            "job": job,
            "id": new_id(),
            "delay_secs": delay.unwrap_or_default().as_secs_f64(),
        }));
        Ok(())
    }

    /// Queues every job on the caller's connection or transaction; what it returns is to
    /// be announced once that commits.
    pub async fn enqueue(self, conn: &mut PgConnection) -> Result<Queued, sqlx::Error> {
        if self.jobs.is_empty() {
            return Ok(Queued::nothing());
        }
        sqlx::query(
            "SELECT enqueue_job(j->'job', j->>'id', '{}',
                                NOW() + make_interval(secs => (j->>'delay_secs')::float8))
             FROM jsonb_array_elements($1) j",
        )
        .bind(serde_json::Value::Array(self.jobs))
        .execute(conn)
        .await?;
        Ok(self.due_now)
    }
}

/// The job as the `enqueue_job` SQL function takes it (migration
/// `20261125000003`): the one place a job row is written, here and by `place_order`.
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

/// What job handlers need.
#[derive(Clone)]
pub struct JobContext {
    pub pool: PgPool,
    pub slack: SlackClient,
    pub pacer: SlackPacer,
    /// Announces the jobs a job queued, after its commit.
    pub announcer: Announcer,
    pub metrics: Metrics,
    pub rules: RunRules,
    pub audit_retention_days: u32,
}

/// Daily at 03:00 UTC.
pub const DEFAULT_PRUNE_SCHEDULE: &str = "0 0 3 * * *";

/// How workers find due jobs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// LISTEN/NOTIFY wakes workers for jobs due now; this poll catches delayed ones.
    pub poll_interval: Duration,
    /// The poll after one that found work comes this soon, so that delayed jobs falling
    /// due under load run in small batches rather than one burst per `poll_interval`
    /// (`poll::Tick`).
    pub busy_poll_interval: Duration,
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// When `prune-audit` runs (cron, seconds first).
    pub prune_schedule: cron::Schedule,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            busy_poll_interval: Duration::from_millis(100),
            concurrency: 4,
            prune_schedule: DEFAULT_PRUNE_SCHEDULE
                .parse()
                .expect("the default prune schedule parses"),
        }
    }
}

/// How a worker of `queue` talks to its table.
///
/// `lock_tasks(false)`: apalis would otherwise mark each job `Running` as it starts, in a
/// transaction of its own (BEGIN, UPDATE, COMMIT and the pool's release ping: four round
/// trips a job, a quarter of a Slack job's). The fetch has already taken the job for this
/// worker (`Queued`, `lock_by`), which is what the acknowledgement, orphan recovery and
/// [`release_fetched`] go by; a job in progress shows as `Queued` instead of `Running`.
fn job_config(queue: &str) -> Config {
    Config::default().queue(queue).lock_tasks(false)
}

/// Longest pause between restarts of a worker that keeps failing (the database is down).
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// Runs every worker until `shutdown` fires, then lets in-flight jobs finish.
///
/// Each worker runs under its own supervision loop rather than apalis' `Monitor`: a worker
/// whose database connection fails ends with an error, and the Monitor would either give
/// up on it or restart it in a tight loop. Here it restarts with capped backoff.
pub async fn run_workers(
    ctx: JobContext,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    // Worker names are advisory locks in apalis: unique per process and per restart.
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let wakeups = wakeups::Wakeups::new(&JOB_TYPES);
    let listener = tokio::spawn(wakeups.clone().listen(ctx.pool.clone(), shutdown.clone()));
    // Backends are built afresh for each start: `PollWith` is only `Clone` when its
    // strategy is, and `.clone()` on it silently derefs to the bare storage, dropping the
    // wake-ups (seen here: delayed jobs waited for the 30 s heartbeat).
    macro_rules! supervise {
        ($job:ty, $handler:path) => {{
            let (ctx, settings, instance, shutdown, wakeups) = (
                ctx.clone(),
                settings.clone(),
                instance.clone(),
                shutdown.clone(),
                wakeups.clone(),
            );
            tokio::spawn(async move {
                let pool = ctx.pool.clone();
                supervise(
                    <$job>::QUEUE,
                    shutdown.clone(),
                    Some(pool),
                    instance.clone(),
                    move |worker_name| {
                        let backend = PostgresStorage::<$job>::new(&ctx.pool)
                            .with_config(job_config(<$job>::QUEUE))
                            .poll_with_stream(wakeups.stream(<$job>::QUEUE))
                            .poll_with_strategy(poll::Tick::new(
                                settings.poll_interval,
                                settings.busy_poll_interval,
                            ));
                        let worker = WorkerBuilder::new(worker_name)
                            .backend(backend)
                            .data(ctx.clone())
                            .concurrency(settings.concurrency)
                            .build(catch_panic::catching_panics($handler));
                        let stop = shutdown.clone();
                        worker.run_until(async move {
                            stop.cancelled().await;
                            Ok::<(), std::io::Error>(())
                        })
                    },
                )
                .await
            })
        }};
    }
    let cron = {
        let (pool, schedule, instance, shutdown) = (
            ctx.pool.clone(),
            settings.prune_schedule.clone(),
            instance.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            supervise(
                "prune-audit-cron",
                shutdown.clone(),
                None,
                instance,
                move |worker_name| {
                    let worker = WorkerBuilder::new(worker_name)
                        .backend(apalis_cron::CronScheduler::new(schedule.clone()))
                        .data(pool.clone())
                        .build(prune_audit::on_tick);
                    let stop = shutdown.clone();
                    worker.run_until(async move {
                        stop.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    })
                },
            )
            .await
        })
    };
    let workers = [
        supervise!(SlackMessage, send_slack_message::handle),
        supervise!(AssignRunner, assign_runner::handle),
        supervise!(SendReminder, send_reminder::handle),
        supervise!(PruneAudit, prune_audit::handle),
        cron,
    ];
    for worker in workers {
        worker.await.map_err(std::io::Error::other)?;
    }
    listener.await.map_err(std::io::Error::other)?;
    Ok(())
}

/// Runs the worker `start` makes (given its unique name) until `shutdown`, starting it
/// again after a failure. When a worker of a job queue (`pool`) ends, the jobs it had
/// fetched and not finished go back to the queue at once, instead of waiting minutes for
/// apalis' orphan recovery (seen: a restart left such a job `Queued`).
async fn supervise<F, Fut>(
    name: &'static str,
    shutdown: CancellationToken,
    pool: Option<PgPool>,
    instance: String,
    start: F,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), apalis::prelude::WorkerError>>,
{
    let mut backoff = Duration::from_millis(500);
    for restart in 0.. {
        let worker_name = format!("{name}-{instance}-{restart}");
        let outcome = start(worker_name.clone()).await;
        if let Some(pool) = &pool {
            release_fetched(pool, &worker_name).await;
        }
        if shutdown.is_cancelled() {
            return;
        }
        match outcome {
            Ok(()) => tracing::warn!(
                worker = name,
                "worker stopped on its own; starting it again"
            ),
            Err(err) => {
                tracing::error!(worker = name, error = %err, retry_in_secs = backoff.as_secs_f64(), "worker failed; starting it again")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}

/// Puts the jobs a stopped worker had fetched and not finished back to `Pending`. Safe
/// because apalis polls a worker's jobs inside the worker's own future (it spawns none):
/// once that future has returned, none of them is still running.
async fn release_fetched(pool: &PgPool, worker_name: &str) {
    let released = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL
         WHERE lock_by = $1 AND status = 'Queued'",
    )
    .bind(worker_name)
    .execute(pool)
    .await;
    match released {
        Ok(done) if done.rows_affected() > 0 => {
            tracing::info!(
                worker = worker_name,
                jobs = done.rows_affected(),
                "returned fetched jobs to the queue"
            )
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(worker = worker_name, error = %err, "could not return fetched jobs; orphan recovery will")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use uuid::Uuid;

    use super::{AssignRunner, Batch, Job, Queued, SendReminder, SlackMessage, row};

    #[test]
    fn a_job_row_names_its_queue_and_attempts() {
        let job = AssignRunner {
            run_id: Uuid::new_v4(),
        };
        let expected = json!({
            "queue": "assign-runner",
            "max_attempts": AssignRunner::MAX_ATTEMPTS,
            "payload": {"run_id": job.run_id},
        });
        assert_eq!(serde_json::to_value(row(&job)).unwrap(), expected);
    }

    #[test]
    fn a_batch_announces_the_queues_of_its_jobs_due_now_only() {
        let run_id = Uuid::new_v4();
        let mut batch = Batch::default();
        batch
            .push(&SendReminder { run_id }, Some(Duration::from_secs(300)))
            .unwrap();
        assert_eq!(
            batch.due_now,
            Queued::nothing(),
            "a delayed job waits for a poll"
        );
        batch.push(&AssignRunner { run_id }, None).unwrap();
        batch
            .push(&SlackMessage::RunSummary { run_id }, Some(Duration::ZERO))
            .unwrap();
        assert_eq!(
            batch.due_now,
            Queued::on(AssignRunner::QUEUE).and(Queued::on(SlackMessage::QUEUE))
        );
    }
}
