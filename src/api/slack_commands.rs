//! `POST /slack/commands`: slash commands.

use std::time::Instant;

use poem::{
    IntoResponse, Response, Result, handler,
    web::{Data, Json},
};
use secrecy::ExposeSecret;

use super::{acknowledge, error::ApiError, refuse_slack_payload, state::AppState};
use crate::{
    domain::RunStatus,
    slack::{
        escape::{escape, user_text},
        modal_metadata,
        payloads::{OrderModalMetadata, SlashCommand},
        views,
    },
    storage::runs,
    workflows::{
        Actor, order_form,
        run_controls::{Cancellation, cancel_run},
    },
};

/// How many runs `/coffee-history` shows (REQ-014).
const HISTORY_LENGTH: i64 = 10;

#[handler]
pub async fn commands(state: Data<&AppState>, body: Vec<u8>) -> Result<Response> {
    let started = Instant::now();
    let command: SlashCommand = match serde_urlencoded::from_bytes(&body) {
        Ok(command) => command,
        Err(err) => {
            let reason = format!("not a slash command form: {err}");
            let answer = ephemeral("Sorry, I couldn't read that command. Please try again.");
            return Ok(refuse_slack_payload(&state, "commands", &reason, answer));
        }
    };
    let (label, answer) = match command.command.as_str() {
        "/coffee" => ("/coffee", coffee(&state, &command).await),
        "/coffee-history" => ("/coffee-history", history(&state, &command).await),
        "/coffee-cancel" => ("/coffee-cancel", cancel(&state, &command).await),
        other => {
            let text = format!("I don't know `{}`.\n{}", user_text(other), help(&state));
            ("other", Ok(ephemeral(&text)))
        }
    };
    state
        .metrics
        .record_command_latency(label, started.elapsed());
    answer
}

fn help(state: &AppState) -> String {
    views::help_text(state.rules.assign_max_orders, state.rules.assign_window)
}

/// `/coffee` opens the order modal through `views.open`; `/coffee help` explains.
async fn coffee(state: &AppState, command: &SlashCommand) -> Result<Response> {
    if command.text.trim().eq_ignore_ascii_case("help") {
        return Ok(ephemeral(&help(state)));
    }
    let Some(trigger_id) = command.trigger_id.as_deref().filter(|t| !t.is_empty()) else {
        let answer =
            ephemeral("Sorry, I couldn't open the order form. Please try `/coffee` again.");
        return Ok(refuse_slack_payload(
            state,
            "commands",
            "trigger_id is missing",
            answer,
        ));
    };
    // Usuals are a nicety: a failing query must not keep the modal from opening. An
    // unreachable database is another matter: nobody could submit the order.
    let prefill = match order_form::prefill(&state.pool, &command.user_id).await {
        Ok(prefill) => prefill,
        Err(err) if crate::resilience::is_connection_error(&err) => {
            return Err(ApiError::from_database("usual orders", &err).into());
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not load usual orders; opening a blank modal");
            Default::default()
        }
    };
    let secret = state.secrets.signing_secret().ok_or(ApiError::Internal)?;
    let metadata = modal_metadata::seal(
        secret.expose_secret().as_bytes(),
        &OrderModalMetadata {
            channel_id: command.channel_id.clone(),
            workspace_id: Some(command.team_id.clone()),
        },
        &command.user_id,
    );
    let view = views::order_modal(&metadata, &prefill);
    if let Err(err) = state.pacer.take_now().await {
        tracing::warn!(error = %err, "could not count views.open against the Slack rate limit");
    }
    match state.slack.views_open(trigger_id, &view).await {
        Ok(()) => Ok(acknowledge()),
        Err(err) => {
            state.metrics.error("slack_api");
            tracing::error!(error = %err, "views.open failed");
            Ok(ephemeral(
                "Sorry, I couldn't open the order form just now. Please try `/coffee` again.",
            ))
        }
    }
}

/// `/coffee-history`: the user's last 10 runs (REQ-014, AC5).
async fn history(state: &AppState, command: &SlashCommand) -> Result<Response> {
    let database = |e: sqlx::Error| ApiError::from_database("coffee history", &e);
    let mut conn = state.warm.acquire().await.map_err(database)?;
    let entries = runs::history(&mut conn, &command.user_id, HISTORY_LENGTH)
        .await
        .map_err(database)?;
    conn.done();
    let lines: Vec<views::HistoryLine> = entries
        .into_iter()
        .map(|e| views::HistoryLine {
            channel_id: e.channel_id,
            status: e.status,
            created_at: e.created_at,
            runner_user_id: e.runner_user_id,
            order_count: e.order_count,
        })
        .collect();
    Ok(Json(views::history(&lines)).into_response())
}

/// `/coffee-cancel`: the initiator or the runner cancels the channel's run (REQ-015).
async fn cancel(state: &AppState, command: &SlashCommand) -> Result<Response> {
    let run = runs::find_active(&state.pool, &command.team_id, &command.channel_id)
        .await
        .map_err(|e| ApiError::from_database("find the channel's run", &e))?;
    let Some(run) = run else {
        return Ok(ephemeral("There's no active coffee run in this channel."));
    };
    let outcome = cancel_run(
        &state.pool,
        &state.announcer,
        run.run_id,
        Actor::user(&command.user_id),
    )
    .await
    .map_err(|e| ApiError::from_database("cancel run", &e))?;
    Ok(ephemeral(&match outcome {
        Cancellation::Cancelled => {
            state.metrics.run_ended(RunStatus::Cancelled);
            "You cancelled the coffee run.".to_owned()
        }
        Cancellation::NotAllowed { initiator } => format!(
            "Only the run's initiator (<@{}>) or its runner can cancel it.",
            escape(&initiator)
        ),
        Cancellation::AlreadyOver { .. } | Cancellation::NotFound => {
            "There's no active coffee run in this channel.".to_owned()
        }
    }))
}

fn ephemeral(text: &str) -> Response {
    Json(views::ephemeral(text)).into_response()
}
