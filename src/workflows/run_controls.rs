//! Ending a run and leaving it: Mark complete (REQ-012, AC4), cancel (REQ-015) and
//! `Can't run today`. Slack and the REST API share these.

use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, jobs::SlackMessage, refresh_root_message, scope, summary_lines};
use crate::{
    domain::{DomainEvent, EventKind, RunStatus},
    slack::views,
    storage::{
        events,
        job_queue::{Announcer, Batch, UnitOfWork},
        runs, users,
    },
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Completed {
        runner: String,
    },
    /// The caller is not the runner (and not an admin).
    NotRunner,
    /// No runner was assigned yet.
    NoRunner,
    /// Already completed or cancelled: nothing changes.
    AlreadyOver {
        status: RunStatus,
    },
    NotFound,
}

/// The runner (or an admin) marks the run complete.
pub async fn complete_run(
    pool: &PgPool,
    announcer: &Announcer,
    run_id: Uuid,
    actor: Actor<'_>,
) -> Result<Completion, sqlx::Error> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let Some(run) = runs::lock(work.conn(), run_id).await? else {
        return Ok(Completion::NotFound);
    };
    // Who may comes first: anyone else learns nothing of the run's state.
    if run.runner_user_id.as_deref() != Some(actor.user_id) && !actor.admin {
        return Ok(Completion::NotRunner);
    }
    if !run.status.is_active() {
        return Ok(Completion::AlreadyOver { status: run.status });
    }
    let Some(runner) = run.runner_user_id.clone() else {
        return Ok(Completion::NoRunner);
    };
    // An admin acting through the REST API may never have ordered: audit rows need them.
    users::upsert(work.conn(), actor.user_id, None).await?;
    if !runs::finish(work.conn(), run_id, true).await? {
        return Ok(Completion::AlreadyOver { status: run.status });
    }
    let completed = DomainEvent::run_completed(&scope(&run), &runner, actor.user_id);
    events::record(work.conn(), &completed).await?;
    let lines = summary_lines(work.conn(), run_id).await?;
    let participants: Vec<&str> = lines.iter().map(|l| l.user_id.as_str()).collect();
    let text = views::completion_reply(&runner, &participants);
    let reply = SlackMessage::RunThreadReply {
        run_id,
        blocks: Some(views::completion_blocks(&text, run_id)),
        text,
    };
    let dms = SlackMessage::RunnerDmsOver {
        run_id,
        cancelled_by: None,
    };
    let mut batch = Batch::default();
    batch.push(&reply, None)?;
    batch.push(&dms, None)?;
    work.enqueue_all(batch).await?;
    refresh_root_message(&mut work, run_id).await?;
    work.commit().await?;
    Ok(Completion::Completed { runner })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    Cancelled,
    /// Only the initiator, the runner or an admin may cancel.
    NotAllowed {
        initiator: String,
    },
    AlreadyOver {
        status: RunStatus,
    },
    NotFound,
}

/// The initiator, the runner or an admin cancels the run. A pending assignment or
/// reminder finds the run over and does nothing.
pub async fn cancel_run(
    pool: &PgPool,
    announcer: &Announcer,
    run_id: Uuid,
    actor: Actor<'_>,
) -> Result<Cancellation, sqlx::Error> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let Some(run) = runs::lock(work.conn(), run_id).await? else {
        return Ok(Cancellation::NotFound);
    };
    // Who may comes first: anyone else learns nothing of the run's state.
    let allowed = actor.admin
        || run.initiator_user_id == actor.user_id
        || run.runner_user_id.as_deref() == Some(actor.user_id);
    if !allowed {
        return Ok(Cancellation::NotAllowed {
            initiator: run.initiator_user_id,
        });
    }
    if !run.status.is_active() {
        return Ok(Cancellation::AlreadyOver { status: run.status });
    }
    users::upsert(work.conn(), actor.user_id, None).await?;
    if !runs::finish(work.conn(), run_id, false).await? {
        return Ok(Cancellation::AlreadyOver { status: run.status });
    }
    events::record(
        work.conn(),
        &DomainEvent::run_cancelled(&scope(&run), actor.user_id),
    )
    .await?;
    let reply = SlackMessage::RunThreadReply {
        run_id,
        text: views::cancellation_reply(actor.user_id),
        blocks: None,
    };
    let mut batch = Batch::default();
    batch.push(&reply, None)?;
    if run.runner_user_id.is_some() {
        let dms = SlackMessage::RunnerDmsOver {
            run_id,
            cancelled_by: Some(actor.user_id.to_owned()),
        };
        batch.push(&dms, None)?;
    }
    work.enqueue_all(batch).await?;
    refresh_root_message(&mut work, run_id).await?;
    work.commit().await?;
    Ok(Cancellation::Cancelled)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptOut {
    OptedOut,
    AlreadyOptedOut,
    NotParticipant,
    /// A runner is picked already.
    RunnerPicked,
    /// Completed, cancelled or gone.
    RunOver,
}

/// `Can't run today`: the participant is left out of this run's candidates.
pub async fn opt_out(pool: &PgPool, run_id: Uuid, user_id: &str) -> Result<OptOut, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(run) = runs::lock(&mut tx, run_id).await? else {
        return Ok(OptOut::RunOver);
    };
    if !run.status.is_active() {
        return Ok(OptOut::RunOver);
    }
    if run.runner_user_id.is_some() {
        return Ok(OptOut::RunnerPicked);
    }
    if !runs::is_participant(&mut tx, run_id, user_id).await? {
        return Ok(OptOut::NotParticipant);
    }
    if !runs::opt_out(&mut tx, run_id, user_id).await? {
        return Ok(OptOut::AlreadyOptedOut);
    }
    let audit = DomainEvent::run_control(EventKind::OptedOut, &scope(&run), user_id);
    events::record(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(OptOut::OptedOut)
}
