//! Button clicks (`block_actions`): Mark complete and the run controls. Slack shows any
//! non-200 answer as a broken app, so refusals go back as ephemeral messages (queued like
//! every other Slack call) and the click itself is answered 200.

use chrono::Utc;
use poem::{Response, Result};
use uuid::Uuid;

use super::{acknowledge, error::ApiError, refuse_slack_payload, state::AppState};
use crate::{
    domain::{RunStatus, SurveyAnswer},
    slack::{
        escape::mention,
        payloads::BlockActions,
        views::{
            ACTION_CLOSE_ORDERS, ACTION_MARK_COMPLETE, ACTION_OPT_OUT, ACTION_SURVEY_DOWN,
            ACTION_SURVEY_UP, ACTION_VOLUNTEER,
        },
    },
    storage::{job_queue::UnitOfWork, runs},
    workflows::jobs::SlackMessage,
    workflows::{
        Actor,
        assign_runner::{Assignment, OrdersClosed, Trigger, assign_runner, close_orders},
        run_controls::{Completion, OptOut, complete_run, opt_out},
        survey::{SurveyOutcome, answer_survey},
    },
};

const KNOWN_ACTIONS: [&str; 6] = [
    ACTION_MARK_COMPLETE,
    ACTION_VOLUNTEER,
    ACTION_CLOSE_ORDERS,
    ACTION_OPT_OUT,
    ACTION_SURVEY_UP,
    ACTION_SURVEY_DOWN,
];

pub async fn handle(state: &AppState, click: BlockActions) -> Result<Response> {
    let Some(action) = click
        .actions
        .iter()
        .find(|a| KNOWN_ACTIONS.contains(&a.action_id.as_str()))
    else {
        return Ok(acknowledge());
    };
    let Some(run_id) = action
        .value
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok())
    else {
        let reason = "the button carries no run id";
        return Ok(refuse_slack_payload(
            state,
            "interactions",
            reason,
            acknowledge(),
        ));
    };
    let user = click.user.id.as_str();
    let run = runs::record(&state.pool, run_id)
        .await
        .map_err(|e| ApiError::from_database("button click", &e))?;
    if run.is_some_and(|run| !click.comes_from(&run.workspace_id)) {
        tracing::warn!(%run_id, "refused a click on a run of another workspace");
        let text = "That coffee run belongs to another workspace.".to_owned();
        tell(state, click.channel_id(), user, text).await?;
        return Ok(acknowledge());
    }
    let feedback = match action.action_id.as_str() {
        ACTION_MARK_COMPLETE => mark_complete(state, run_id, user).await,
        ACTION_OPT_OUT => cannot_run(state, run_id, user).await,
        ACTION_VOLUNTEER => volunteer(state, run_id, user).await,
        ACTION_SURVEY_UP => survey(state, run_id, user, SurveyAnswer::Up).await,
        ACTION_SURVEY_DOWN => survey(state, run_id, user, SurveyAnswer::Down).await,
        _ => close(state, run_id, user).await,
    }
    .map_err(|e| ApiError::from_database("button click", &e))?;
    if let Some(text) = feedback {
        tell(state, click.channel_id(), user, text).await?;
    }
    Ok(acknowledge())
}

async fn mark_complete(
    state: &AppState,
    run_id: Uuid,
    user: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(
        match complete_run(&state.pool, &state.announcer, run_id, Actor::user(user)).await? {
            Completion::Completed { .. } => {
                state.metrics.run_ended(RunStatus::Completed);
                None
            }
            Completion::NotRunner | Completion::NoRunner => {
                Some("Only the runner can mark this coffee run complete.".into())
            }
            Completion::AlreadyOver { status } => {
                Some(format!("This coffee run is already {status}."))
            }
            Completion::NotFound => Some("That coffee run no longer exists.".into()),
        },
    )
}

async fn survey(
    state: &AppState,
    run_id: Uuid,
    user: &str,
    answer: SurveyAnswer,
) -> Result<Option<String>, sqlx::Error> {
    Ok(Some(
        match answer_survey(&state.pool, &state.announcer, run_id, user, answer).await? {
            SurveyOutcome::Recorded => {
                state.metrics.survey_answered(answer);
                "Thanks! Your answer is recorded; click the other button to change it.".into()
            }
            SurveyOutcome::NotParticipant => {
                "Only people who ordered in this run answer its survey.".into()
            }
            SurveyOutcome::NotCompleted => "This coffee run was not completed.".into(),
            SurveyOutcome::NotFound => "That coffee run no longer exists.".into(),
        },
    ))
}

async fn cannot_run(
    state: &AppState,
    run_id: Uuid,
    user: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(Some(match opt_out(&state.pool, run_id, user).await? {
        OptOut::OptedOut => "Got it: you won't be picked as runner for this run.".into(),
        OptOut::AlreadyOptedOut => "You're already out of the running for this run.".into(),
        OptOut::NotParticipant => "You haven't ordered in this run.".into(),
        OptOut::RunnerPicked => "This run already has its runner.".into(),
        OptOut::RunOver => "This coffee run is over.".into(),
    }))
}

async fn volunteer(
    state: &AppState,
    run_id: Uuid,
    user: &str,
) -> Result<Option<String>, sqlx::Error> {
    let outcome = assign_runner(
        &state.pool,
        &state.announcer,
        &state.rules,
        run_id,
        Trigger::Volunteer(user),
        Utc::now(),
    )
    .await?;
    Ok(match outcome {
        Assignment::Assigned { waited, .. } => {
            state.metrics.runner_assigned(waited);
            None
        }
        Assignment::AlreadyAssigned { runner } => Some(already_running(&runner)),
        Assignment::NotParticipant => {
            Some("Order first with `/coffee`, then you can volunteer.".into())
        }
        Assignment::NotActive | Assignment::NoOrders => Some("This coffee run is over.".into()),
    })
}

async fn close(state: &AppState, run_id: Uuid, user: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(
        match close_orders(&state.pool, &state.announcer, run_id, user).await? {
            OrdersClosed::Closed => Some("Orders closed: the runner is being picked now.".into()),
            OrdersClosed::NotInitiator => {
                Some("Only the person who started this run can close its orders.".into())
            }
            OrdersClosed::AlreadyAssigned { runner } => Some(already_running(&runner)),
            OrdersClosed::NotActive => Some("This coffee run is over.".into()),
        },
    )
}

fn already_running(runner: &str) -> String {
    format!("{} is already getting the coffee.", mention(runner))
}

/// An ephemeral message in the channel of the click, or a DM when there is none.
async fn tell(state: &AppState, channel: Option<&str>, user: &str, text: String) -> Result<()> {
    let message = match channel {
        Some(channel) => SlackMessage::Ephemeral {
            channel: channel.to_owned(),
            user: user.to_owned(),
            text,
        },
        None => SlackMessage::Post {
            channel: user.to_owned(),
            text,
            blocks: None,
            thread_ts: None,
        },
    };
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| ApiError::from_database("queue feedback", &e))?;
    let mut work = UnitOfWork::single_statement(&mut conn, &state.announcer);
    work.enqueue(&message, None)
        .await
        .map_err(|e| ApiError::from_database("queue feedback", &e))?;
    work.commit()
        .await
        .map_err(|e| ApiError::from_database("queue feedback", &e))?;
    Ok(())
}
