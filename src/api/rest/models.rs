//! The REST API's request and response bodies.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use crate::storage::{job_queue::JobRecord, orders::OrderRecord, runs::RunRecord};

/// What to order.
#[derive(Debug, Object)]
pub struct NewOrder {
    /// Latte, Espresso, Cappuccino, Americano or Mocha.
    pub drink_type: String,
    /// Small, Medium or Large.
    pub size: String,
    /// Up to 200 characters, e.g. "oat milk".
    pub customizations: Option<String>,
}

/// A new run in a channel, started with the caller's order.
#[derive(Debug, Object)]
pub struct NewRun {
    pub workspace_id: String,
    pub channel_id: String,
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
}

#[derive(Debug, Object)]
pub struct Order {
    pub order_id: Uuid,
    pub user_id: String,
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<OrderRecord> for Order {
    fn from(o: OrderRecord) -> Self {
        Self {
            order_id: o.order_id,
            user_id: o.user_id,
            drink_type: o.drink_type,
            size: o.size,
            customizations: o.customizations,
            created_at: o.created_at,
        }
    }
}

/// A coffee run with its orders.
#[derive(Debug, Object)]
pub struct Run {
    pub run_id: Uuid,
    pub workspace_id: String,
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    /// `active`, `completed` or `cancelled`.
    pub status: String,
    /// The runner took the run with `I'll go`.
    pub volunteered: bool,
    pub created_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub reminder_sent_at: Option<DateTime<Utc>>,
    pub orders: Vec<Order>,
}

impl Run {
    pub fn new(run: RunRecord, orders: Vec<OrderRecord>) -> Self {
        Self {
            run_id: run.run_id,
            workspace_id: run.workspace_id,
            channel_id: run.channel_id,
            initiator_user_id: run.initiator_user_id,
            runner_user_id: run.runner_user_id,
            status: run.status.to_string(),
            volunteered: run.volunteered,
            created_at: run.created_at,
            assigned_at: run.assigned_at,
            completed_at: run.completed_at,
            cancelled_at: run.cancelled_at,
            reminder_sent_at: run.reminder_sent_at,
            orders: orders.into_iter().map(Order::from).collect(),
        }
    }
}

/// One of a user's usual orders (REQ-013).
#[derive(Debug, Object)]
pub struct Preference {
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub order_count: i32,
}

/// A durable job, for operators.
#[derive(Debug, Object)]
pub struct Job {
    pub job_id: String,
    /// `send-slack-message`, `assign-runner`, `send-reminder` or `prune-audit`.
    pub job_type: String,
    /// apalis' status: `Killed` (given up) or `Failed` for failed jobs.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub run_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    /// The job's payload.
    pub payload: serde_json::Value,
}

/// Runs made per active user of a workspace over FAIRNESS_WINDOW_DAYS.
#[derive(Debug, Object)]
pub struct Fairness {
    pub workspace_id: String,
    pub window_days: u32,
    pub users: Vec<UserRuns>,
    /// Standard deviation of `runs` among these users (the SPEC's fairness score).
    pub std_dev: f64,
}

/// The post-run survey's answers in a workspace's runs over FAIRNESS_WINDOW_DAYS.
#[derive(Debug, Object)]
pub struct Survey {
    pub workspace_id: String,
    pub window_days: u32,
    pub up: i64,
    pub down: i64,
    /// `up / (up + down)`: the SPEC's satisfaction share (target 0.8); absent with no
    /// answers.
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Object)]
pub struct UserRuns {
    pub user_id: String,
    pub runs: i64,
}

impl From<JobRecord> for Job {
    fn from(j: JobRecord) -> Self {
        // apalis stores a result as {"Err": "..."} or {"Ok": ...}.
        let last_error = j
            .last_result
            .as_ref()
            .and_then(|r| r.get("Err"))
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned));
        Self {
            job_id: j.id,
            job_type: j.job_type,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error,
            run_at: j.run_at,
            done_at: j.done_at,
            payload: serde_json::from_slice(&j.job).unwrap_or(serde_json::Value::Null),
        }
    }
}
