//! What users do, independent of how they asked (Slack now, the REST API later): each
//! workflow checks the rules and commits its state change, audit row, outbox event and
//! jobs in one transaction.

pub mod app_home;
pub mod assign_runner;
pub mod jobs;
pub mod order_form;
pub mod place_order;
pub mod reminder;
pub mod rules;
pub mod run_controls;
pub mod runner_dms;
pub mod survey;

pub use rules::RunRules;

use sqlx::PgConnection;
use uuid::Uuid;

use self::jobs::SlackMessage;
use crate::{
    domain::RunScope,
    slack::views::SummaryLine,
    storage::{
        job_queue::UnitOfWork,
        orders,
        runs::{self, Run},
    },
};

/// Has the run's root message redrawn, unless a refresh is queued already (it will read
/// this transaction's change: it takes the run's row lock before it reads).
async fn refresh_root_message(work: &mut UnitOfWork<'_>, run_id: Uuid) -> Result<(), sqlx::Error> {
    runs::queue_summary_refresh(work, &SlackMessage::RunSummary { run_id }, run_id).await
}

/// The run's orders as its messages list them.
pub(crate) async fn summary_lines(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Vec<SummaryLine>, sqlx::Error> {
    Ok(orders::list_for_run(conn, run_id)
        .await?
        .into_iter()
        .map(SummaryLine::from)
        .collect())
}

impl From<orders::OrderLine> for SummaryLine {
    fn from(order: orders::OrderLine) -> Self {
        Self {
            user_id: order.user_id,
            drink_type: order.drink_type,
            size: order.size,
            customizations: order.customizations,
        }
    }
}

fn scope(run: &Run) -> RunScope {
    RunScope {
        run_id: run.run_id,
        workspace_id: run.workspace_id.clone(),
        channel_id: run.channel_id.clone(),
    }
}

/// Who acts: a Slack user, or an API caller who may carry the admin scope.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub admin: bool,
}

impl<'a> Actor<'a> {
    pub fn user(user_id: &'a str) -> Self {
        Self {
            user_id,
            admin: false,
        }
    }
}
