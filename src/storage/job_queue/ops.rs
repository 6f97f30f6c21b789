//! Operators' view of the job queue: given-up jobs listed and retried. apalis-postgres 1.0
//! has no "retry a failed job" call, so it is SQL here.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{AWAITS_KEY, Announcer, FAILURES_KEY, announce::Queued};

/// The job states operators ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Given up: `Killed`, or `Failed` with every attempt spent.
    Failed,
    Pending,
    Done,
}

impl JobState {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "failed" => Some(Self::Failed),
            "pending" => Some(Self::Pending),
            "done" => Some(Self::Done),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: String,
    pub job_type: String,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_result: Option<serde_json::Value>,
    pub run_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub job: Vec<u8>,
}

pub async fn list(
    pool: &PgPool,
    state: JobState,
    limit: i64,
) -> Result<Vec<JobRecord>, sqlx::Error> {
    match state {
        // Given up: apalis leaves a `Failed` row with attempts to spare for another try.
        JobState::Failed => {
            sqlx::query_as!(
                JobRecord,
                "SELECT id, job_type, status, attempts, max_attempts, last_result, run_at,
                        done_at, job
                 FROM apalis.jobs
                 WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)
                 ORDER BY run_at DESC LIMIT $1",
                limit,
            )
            .fetch_all(pool)
            .await
        }
        JobState::Pending => {
            sqlx::query_as!(
                JobRecord,
                "SELECT id, job_type, status, attempts, max_attempts, last_result, run_at,
                        done_at, job
                 FROM apalis.jobs WHERE status IN ('Pending', 'Queued', 'Running')
                 ORDER BY run_at DESC LIMIT $1",
                limit,
            )
            .fetch_all(pool)
            .await
        }
        JobState::Done => {
            sqlx::query_as!(
                JobRecord,
                "SELECT id, job_type, status, attempts, max_attempts, last_result, run_at,
                        done_at, job
                 FROM apalis.jobs WHERE status = 'Done' ORDER BY done_at DESC LIMIT $1",
                limit,
            )
            .fetch_all(pool)
            .await
        }
    }
}

pub enum Retry {
    Requeued(JobRecord),
    NotFailed,
    NotFound,
}

/// Puts a failed job back in its queue as if new: pending now, attempts and counted
/// failures ([`FAILURES_KEY`]) reset, and announced. The jobs given up because this one
/// was (a thread reply whose root message never got posted: [`AWAITS_KEY`]) come back
/// with it.
pub async fn retry(
    pool: &PgPool,
    announcer: &Announcer,
    job_id: &str,
) -> Result<Retry, sqlx::Error> {
    let requeued = sqlx::query_as!(
        JobRecord,
        r#"WITH retried AS (
             UPDATE apalis.jobs
             SET status = 'Pending', attempts = 0, run_at = NOW(), lock_by = NULL,
                 lock_at = NULL, done_at = NULL, metadata = delete(metadata, $2)
             WHERE id = $1
               AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))
             RETURNING id, job_type, status, attempts, max_attempts, last_result, run_at,
                       done_at, job
           ), dependents AS (
             UPDATE apalis.jobs j
             SET status = 'Pending', attempts = 0, run_at = NOW(), lock_by = NULL,
                 lock_at = NULL, done_at = NULL, metadata = delete(j.metadata, ARRAY[$2, $3])
             FROM retried
             WHERE j.metadata -> $3 = retried.id AND j.status = 'Killed'
           )
           SELECT id AS "id!", job_type AS "job_type!", status AS "status!",
                  attempts AS "attempts!", max_attempts AS "max_attempts!", last_result,
                  run_at AS "run_at!", done_at, job AS "job!"
           FROM retried"#,
        job_id,
        FAILURES_KEY,
        AWAITS_KEY,
    )
    .fetch_optional(pool)
    .await?;
    if let Some(job) = requeued {
        let mut due_now = Queued::default();
        due_now.add(job.job_type.clone());
        announcer.announce(due_now);
        return Ok(Retry::Requeued(job));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM apalis.jobs WHERE id = $1) AS "exists!""#,
        job_id,
    )
    .fetch_one(pool)
    .await?;
    Ok(if exists {
        Retry::NotFailed
    } else {
        Retry::NotFound
    })
}
