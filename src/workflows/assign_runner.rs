//! Runner assignment (REQ-008, REQ-009, AC2; CONTRACT "Runner assignment", "Run controls").

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    RunRules,
    jobs::{SendReminder, SlackMessage},
    refresh_root_message, scope, summary_lines,
};
use crate::{
    domain::{
        DomainEvent, EventKind,
        fairness::{self, FairnessPolicy},
    },
    slack::views,
    storage::{
        events,
        fairness::candidates,
        job_queue::{Announcer, Batch, UnitOfWork},
        runs,
    },
};

/// What started the assignment.
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    /// The run's window elapsed or it reached ASSIGN_MAX_ORDERS.
    Scheduled,
    /// `I'll go`: this participant takes the run.
    Volunteer(&'a str),
    /// `Close orders now`: the initiator wants a runner picked at once.
    CloseOrders(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned {
        runner: String,
        volunteered: bool,
        /// From the run's first order (which started it) to this assignment.
        waited: std::time::Duration,
    },
    /// Someone was assigned before; running again changes nothing.
    AlreadyAssigned { runner: String },
    /// Completed, cancelled or unknown.
    NotActive,
    /// A volunteer without an order in the run.
    NotParticipant,
    /// `Close orders now` by someone other than the initiator.
    NotInitiator,
    /// Nobody ordered (cannot happen through Slack: the first order starts the run).
    NoOrders,
}

/// Picks the run's runner and tells everyone. Safe to run any number of times: the run is
/// locked and the update only applies while it has no runner.
pub async fn assign_runner(
    pool: &PgPool,
    announcer: &Announcer,
    rules: &RunRules,
    run_id: Uuid,
    trigger: Trigger<'_>,
    as_of: DateTime<Utc>,
) -> Result<Assignment, sqlx::Error> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let Some(run) = runs::lock(work.conn(), run_id).await? else {
        return Ok(Assignment::NotActive);
    };
    if !run.status.is_active() {
        return Ok(Assignment::NotActive);
    }
    if let Some(runner) = run.runner_user_id.clone() {
        return Ok(Assignment::AlreadyAssigned { runner });
    }
    let scope = scope(&run);

    let (runner, volunteered) = match trigger {
        Trigger::Volunteer(user) => {
            if !runs::is_participant(work.conn(), run_id, user).await? {
                return Ok(Assignment::NotParticipant);
            }
            let audit = DomainEvent::run_control(EventKind::Volunteered, &scope, user);
            events::record(work.conn(), &audit).await?;
            (user.to_owned(), true)
        }
        trigger => {
            if let Trigger::CloseOrders(user) = trigger {
                if user != run.initiator_user_id {
                    return Ok(Assignment::NotInitiator);
                }
                let audit = DomainEvent::run_control(EventKind::OrdersClosed, &scope, user);
                events::record(work.conn(), &audit).await?;
            }
            let candidates = candidates(
                work.conn(),
                run_id,
                &run.workspace_id,
                rules.fairness_window_days,
                rules.active_window_days,
                as_of,
                rules.policy == FairnessPolicy::Carpool,
            )
            .await?;
            match fairness::choose(rules.policy, &candidates) {
                Some(chosen) => (chosen.user_id.clone(), false),
                None => return Ok(Assignment::NoOrders),
            }
        }
    };

    if !runs::set_runner(work.conn(), run_id, &runner, volunteered).await? {
        return Ok(Assignment::NotActive);
    }
    events::record(
        work.conn(),
        &DomainEvent::runner_assigned(&scope, &runner, volunteered),
    )
    .await?;

    let lines = summary_lines(work.conn(), run_id).await?;
    let (text, blocks) = views::assignment_reply(&runner, volunteered, &lines);
    let reply = SlackMessage::RunThreadReply {
        run_id,
        text,
        blocks: Some(blocks),
    };
    let (text, blocks) = views::runner_dm(run_id, &run.channel_id, &lines, false);
    let dm = SlackMessage::RunnerDm {
        run_id,
        runner: runner.clone(),
        text,
        blocks,
    };
    let mut batch = Batch::default();
    batch.push(&reply, None)?;
    batch.push(&dm, None)?;
    batch.push(&SendReminder { run_id }, Some(rules.reminder_delay))?;
    work.enqueue_all(batch).await?;
    refresh_root_message(&mut work, run_id).await?;
    work.commit().await?;
    let waited = (as_of - run.created_at).to_std().unwrap_or_default();
    Ok(Assignment::Assigned {
        waited,
        runner,
        volunteered,
    })
}
