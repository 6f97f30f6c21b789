//! The durable job queue: apalis' tables (schema `apalis`) on the app's own PostgreSQL.
//!
//! apalis runs the workers (`jobs/`); this module is the only place outside apalis that
//! names its schema: every statement on `apalis.jobs`, its status strings and metadata
//! keys, the functions and trigger we install on it (`sql/`), and the channel jobs are
//! announced on. `tests/api/job_queue_schema.rs` pins everything assumed here of apalis'
//! own schema, so an upgrade that changes any of it fails in CI.
//!
//! # A job's life, as stored in `apalis.jobs.status`
//!
//! ```text
//!             UnitOfWork::commit / place_order / ops retry
//!                              │
//!                              ▼
//!   ┌──────────────────────► Pending ◄──────────────────────────┐
//!   │ retry_later, postpone    │ a worker fetches it            │ release_fetched
//!   │ (the handler's stored    │ (apalis.get_jobs)              │ (its worker stopped)
//!   │  wait; apalis acks the   ▼                                │
//!   │  RetryAfter as Pending)  Queued ── the handler runs ───────┘
//!   │                          │
//!   └──────────────────────────┤ apalis acknowledges the outcome
//!                              ▼
//!           Done · Failed (attempts left: fetched again at once) · Killed (given up)
//! ```
//!
//! - **Pending**: due at `run_at`. Written by [`UnitOfWork::commit`] (and the
//!   `place_order` SQL function), by [`retry`] (an operator), and by apalis when a handler
//!   reports a stored wait.
//! - **Queued**: fetched by the worker named in `lock_by` (or by `jobs::run_due`, which
//!   tests call to run due jobs at once, through the same fetch) and, since our workers do
//!   not lock tasks (`jobs::run_workers`), also running. apalis' own `Running` is never
//!   written by our workers; rows in it count as in progress all the same.
//! - **Done**, **Failed**, **Killed**: apalis' acknowledgement of the handler's outcome.
//!   A `Failed` row with attempts left is fetched again at once; one without, and a
//!   `Killed` one, are given up and listed for operators ([`list`]). A trigger clears
//!   `lock_by` on these final states (`sql/release_finished_job.sql`).
//!
//! Jobs due now are announced on [`CHANNEL`] once the transaction that queued them has
//! committed ([`Announcer`]); one listener per process wakes the queue's worker
//! ([`Wakeups`]); a worker's poll finds whatever an announcement missed.

mod announce;
mod execution;
mod ops;
mod unit_of_work;
mod wakeups;

pub use announce::{Announcer, CHANNEL};
pub use execution::{
    Matching, Taken, acknowledge, counts, delete_finished, mark_awaiting, matching, postpone,
    push_once, register_runner, release_fetched, retry_later, take_due,
};
pub use ops::{JobRecord, JobState, Retry, list, retry};
pub use unit_of_work::{Batch, JobRow, UnitOfWork, new_id, row};
pub use wakeups::{WakeStream, Wakeups};

use serde::Serialize;

/// A job payload and where it is queued.
pub trait Job: Serialize {
    /// The apalis queue, which is also the `job_type` ops see.
    const QUEUE: &'static str;
    /// Executions before the row is left `Failed` (handlers give up earlier on their own
    /// terms; this bounds plain errors such as a lost database connection).
    const MAX_ATTEMPTS: usize;
}

/// apalis' statuses, as stored in `apalis.jobs.status` (the `jobs` gauge's `state`).
pub const STATUSES: [&str; 6] = ["Pending", "Queued", "Running", "Done", "Failed", "Killed"];

/// The metadata key (`apalis.jobs.metadata`, an hstore) holding a job's failures so far;
/// an operator's [`retry`] removes it with the failures it forgives.
pub const FAILURES_KEY: &str = "failures";

/// The metadata key naming the given-up job a job was given up with ([`mark_awaiting`]):
/// an operator's [`retry`] of that job retries this one too.
pub const AWAITS_KEY: &str = "awaits_job";
