//! A job handler that panics fails that job, to be retried like any failure, and its
//! worker goes on with the next job (`jobs::catch_panic`).

use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, spawn_app};

const QUEUE: &str = "panic-test";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Chore {
    panics: bool,
}

async fn do_chore(chore: Chore) -> Result<(), BoxDynError> {
    if chore.panics {
        panic!("the chore went wrong");
    }
    Ok(())
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_and_the_worker_runs_the_next_one() {
    let app = spawn_app().await;
    let config = Config::default()
        .queue(QUEUE)
        .heartbeat_interval(Duration::from_millis(100));
    let mut storage = PostgresStorage::<Chore>::new(&app.pool).with_config(config.clone());
    storage
        .push_task(
            TaskBuilder::new(Chore { panics: true })
                .max_attempts(2)
                .build(),
        )
        .await
        .unwrap();

    let worker = WorkerBuilder::new("panic-test-worker")
        .backend(PostgresStorage::<Chore>::new(&app.pool).with_config(config))
        .build(coffeebuddy::jobs::catch_panic::catching_panics(do_chore));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let running = tokio::spawn(worker.run_until(async move {
        stopped.cancelled().await;
        Ok::<(), std::io::Error>(())
    }));

    let statuses = || async {
        sqlx::query_as::<_, (String, String, i32)>(
            "SELECT convert_from(job, 'UTF8'), status, attempts FROM apalis.jobs
             WHERE job_type = $1 ORDER BY run_at",
        )
        .bind(QUEUE)
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    eventually("the panicking job to fail on every attempt", || async {
        statuses()
            .await
            .iter()
            .any(|(_, status, attempts)| status == "Failed" && *attempts == 2)
    })
    .await;
    let jobs = statuses().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].0.contains("\"panics\":true"));
    assert!(!running.is_finished(), "the panic ended the worker");

    // The same worker takes the next job.
    storage
        .push_task(TaskBuilder::new(Chore { panics: false }).build())
        .await
        .unwrap();
    eventually("the next job to be done", || async {
        statuses()
            .await
            .iter()
            .any(|(job, status, _)| job.contains("\"panics\":false") && status == "Done")
    })
    .await;

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops")
        .expect("the worker task did not panic")
        .expect("the worker ended cleanly");
}
