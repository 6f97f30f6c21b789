//! Runner assignment (REQ-008, REQ-009, AC2; CONTRACT "Runner assignment", "Run controls").

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    RunRules,
    jobs::{AssignRunner, SendReminder, SlackMessage},
    refresh_root_message, scope, summary_lines,
};
use crate::{
    domain::{
        DomainEvent, EventKind,
        availability::Absence,
        fairness::{self, Candidate, FairnessPolicy},
    },
    slack::views,
    storage::{
        events,
        fairness::candidates,
        job_queue::{Announcer, Batch, UnitOfWork},
        runs::{self, Run},
    },
};

/// What started the assignment.
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    /// The run's window elapsed, it reached ASSIGN_MAX_ORDERS, or its initiator closed its
    /// orders: the fairness rule picks. `out` holds the candidates Slack said are out
    /// ([`candidates_in_order`] is the order to ask in); empty when nobody was asked.
    Scheduled { out: &'a [(String, Absence)] },
    /// `I'll go`: this participant takes the run.
    Volunteer(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned {
        runner: String,
        volunteered: bool,
        /// From the run's first order (which started it) to this assignment.
        waited: std::time::Duration,
        /// Candidates ahead of the runner who were out, with why.
        passed_over: Vec<(String, Absence)>,
    },
    /// Someone was assigned before; running again changes nothing.
    AlreadyAssigned { runner: String },
    /// Completed, cancelled or unknown.
    NotActive,
    /// A volunteer without an order in the run.
    NotParticipant,
    /// Nobody ordered (cannot happen through Slack: the first order starts the run).
    NoOrders,
}

/// The run's candidates in the order the fairness rule would pick them, read without the
/// run's lock: whom to ask Slack about, first to last, before [`assign_runner`] takes the
/// lock. Empty when the run is over or has its runner.
pub async fn candidates_in_order(
    pool: &PgPool,
    rules: &RunRules,
    run_id: Uuid,
    as_of: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some(run) = runs::find(&mut conn, run_id).await? else {
        return Ok(Vec::new());
    };
    if !run.status.is_active() || run.runner_user_id.is_some() {
        return Ok(Vec::new());
    }
    let candidates = load_candidates(&mut conn, rules, &run, as_of).await?;
    Ok(fairness::rank(rules.policy, &candidates)
        .into_iter()
        .map(|c| c.user_id.clone())
        .collect())
}

async fn load_candidates(
    conn: &mut PgConnection,
    rules: &RunRules,
    run: &Run,
    as_of: DateTime<Utc>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    candidates(
        conn,
        run.run_id,
        &run.workspace_id,
        rules.fairness_window_days,
        rules.active_window_days,
        as_of,
        rules.policy == FairnessPolicy::Carpool,
    )
    .await
}

/// What `Close orders now` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrdersClosed {
    /// The assignment is queued to run at once.
    Closed,
    /// Only the run's initiator closes its orders.
    NotInitiator,
    AlreadyAssigned {
        runner: String,
    },
    /// Completed, cancelled or unknown.
    NotActive,
}

/// `Close orders now`: the initiator wants a runner at once. The pick itself is the
/// `assign-runner` job's, queued due now, so that it asks Slack who is in like any
/// scheduled one (Slack calls are never made on a request's path).
pub async fn close_orders(
    pool: &PgPool,
    announcer: &Announcer,
    run_id: Uuid,
    user_id: &str,
) -> Result<OrdersClosed, sqlx::Error> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let Some(run) = runs::lock(work.conn(), run_id).await? else {
        return Ok(OrdersClosed::NotActive);
    };
    if !run.status.is_active() {
        return Ok(OrdersClosed::NotActive);
    }
    if let Some(runner) = run.runner_user_id {
        return Ok(OrdersClosed::AlreadyAssigned { runner });
    }
    if user_id != run.initiator_user_id {
        return Ok(OrdersClosed::NotInitiator);
    }
    let audit = DomainEvent::run_control(EventKind::OrdersClosed, &scope(&run), user_id);
    events::record(work.conn(), &audit).await?;
    work.enqueue(&AssignRunner { run_id }, None).await?;
    work.commit().await?;
    Ok(OrdersClosed::Closed)
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

    let (runner, volunteered, passed_over) = match trigger {
        Trigger::Volunteer(user) => {
            if !runs::is_participant(work.conn(), run_id, user).await? {
                return Ok(Assignment::NotParticipant);
            }
            let audit = DomainEvent::run_control(EventKind::Volunteered, &scope, user);
            events::record(work.conn(), &audit).await?;
            (user.to_owned(), true, Vec::new())
        }
        Trigger::Scheduled { out } => {
            let mut candidates = load_candidates(work.conn(), rules, &run, as_of).await?;
            for candidate in &mut candidates {
                candidate.unavailable = out
                    .iter()
                    .find(|(user, _)| *user == candidate.user_id)
                    .map(|(_, absence)| *absence);
            }
            let Some(pick) = fairness::choose(rules.policy, &candidates) else {
                return Ok(Assignment::NoOrders);
            };
            let passed_over: Vec<(String, Absence)> = pick
                .passed_over
                .iter()
                .filter_map(|c| Some((c.user_id.clone(), c.unavailable?)))
                .collect();
            for (user, absence) in &passed_over {
                let audit = DomainEvent::runner_passed_over(&scope, user, *absence);
                events::record(work.conn(), &audit).await?;
            }
            (pick.runner.user_id.clone(), false, passed_over)
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
        passed_over,
    })
}
