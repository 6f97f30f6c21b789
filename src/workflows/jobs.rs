//! The jobs workflows queue: each payload and the queue it goes to. `jobs/` runs them;
//! `storage::job_queue` stores them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{domain::RetryPolicy, storage::job_queue::Job};

/// Every job type, as the job queue stores it.
pub const JOB_TYPES: [&str; 4] = [
    AssignRunner::QUEUE,
    SendReminder::QUEUE,
    SlackMessage::QUEUE,
    PruneAudit::QUEUE,
];

/// `send-slack-message`: every Slack Web API call except `views.open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SlackMessage {
    /// Post the run's root message, or redraw it as the run is now. At most one is queued
    /// per run (`coffee_runs.summary_refresh_queued_at`).
    RunSummary { run_id: Uuid },
    /// A reply in the run's thread; waits for the root message while it is being posted,
    /// and is given up with it.
    RunThreadReply {
        run_id: Uuid,
        text: String,
        #[serde(default)]
        blocks: Option<Value>,
    },
    /// A message only `user` sees (refusals and confirmations of button clicks).
    Ephemeral {
        channel: String,
        user: String,
        text: String,
    },
    /// The runner's assignment DM. Where it went is recorded (`runner_dms`), so it can be
    /// redrawn without its button once the run is over.
    RunnerDm {
        run_id: Uuid,
        runner: String,
        text: String,
        blocks: Value,
    },
    /// Redraws the runner's DMs in place once the run is over: how it ended, no button.
    RunnerDmsOver {
        run_id: Uuid,
        /// Who cancelled it; `None` for a completed run.
        #[serde(default)]
        cancelled_by: Option<String>,
    },
    /// `views.publish` of `user_id`'s Home tab, read when the job runs. At most one is
    /// queued per user (`app_home_publishes`).
    PublishHome {
        workspace_id: String,
        user_id: String,
    },
    /// A prepared message: a DM (`channel` = a user id) or a reply in a thread.
    Post {
        channel: String,
        text: String,
        #[serde(default)]
        blocks: Option<Value>,
        #[serde(default)]
        thread_ts: Option<String>,
    },
}

impl Job for SlackMessage {
    const QUEUE: &'static str = "send-slack-message";
    const MAX_ATTEMPTS: usize = RetryPolicy::SLACK.max_attempts;
}

/// `assign-runner`: picks the run's runner when its window ends or it fills up
/// (`workflows::assign_runner`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignRunner {
    pub run_id: Uuid,
}

impl Job for AssignRunner {
    const QUEUE: &'static str = "assign-runner";
    const MAX_ATTEMPTS: usize = RetryPolicy::DATABASE.max_attempts;
}

/// `send-reminder`: DMs the runner their reminder `REMINDER_DELAY_SECS` after assignment
/// (`workflows::reminder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReminder {
    pub run_id: Uuid,
}

impl Job for SendReminder {
    const QUEUE: &'static str = "send-reminder";
    const MAX_ATTEMPTS: usize = RetryPolicy::SLACK.max_attempts;
}

/// `prune-audit` (REQ-016): deletes what has been kept long enough; a cron tick in every
/// worker queues one per tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneAudit {
    /// The cron tick (Unix seconds) that asked for it.
    pub tick: u64,
}

impl Job for PruneAudit {
    const QUEUE: &'static str = "prune-audit";
    const MAX_ATTEMPTS: usize = RetryPolicy::DATABASE.max_attempts;
}
