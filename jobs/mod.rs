//! The durable jobs: handlers, retry policies and the workers that run them (apalis, on
//! the queue `storage::job_queue` keeps). The payloads are the workflows'
//! (`workflows::jobs`); workflows queue them in a unit of work
//! (`storage::job_queue::UnitOfWork`).

pub mod assign_runner;
pub mod catch_panic;
mod poll;
pub mod prune_audit;
pub mod retry;
mod run_due;
pub mod send_reminder;
pub mod send_slack_message;

use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    slack::SlackClient,
    storage::{
        SlackPacer,
        job_queue::{self, Announcer, Job, Wakeups},
    },
    telemetry::Metrics,
    workflows::RunRules,
};

pub use assign_runner::AvailabilityCheck;
pub use run_due::{RunDueError, run_due};

pub use crate::workflows::jobs::{AssignRunner, JOB_TYPES, PruneAudit, SendReminder, SlackMessage};

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
    /// Whom Slack is asked about before a pick; `None` when RUNNER_AVAILABILITY_CHECK is off.
    pub availability: Option<AvailabilityCheck>,
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
/// [`job_queue::release_fetched`] go by; a job in progress shows as `Queued` instead of
/// `Running`.
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
    let wakeups = Wakeups::new(&JOB_TYPES);
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
    match job_queue::release_fetched(pool, worker_name).await {
        Ok(0) => {}
        Ok(jobs) => tracing::info!(
            worker = worker_name,
            jobs,
            "returned fetched jobs to the queue"
        ),
        Err(err) => {
            tracing::warn!(worker = worker_name, error = %err, "could not return fetched jobs; orphan recovery will")
        }
    }
}
