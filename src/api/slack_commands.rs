//! `POST /slack/commands`: slash commands.

use std::time::Instant;

use poem::{
    Response, Result, handler,
    web::{Data, Json},
};

use super::{error::ApiError, state::AppState};
use crate::{
    slack::{
        payloads::{OrderModalMetadata, SlashCommand},
        views::{self, HELP_TEXT},
    },
    workflows::order_form,
};

#[handler]
pub async fn commands(state: Data<&AppState>, body: Vec<u8>) -> Result<Response> {
    let started = Instant::now();
    let command: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::InvalidInput(format!("not a slash command form: {e}")))?;
    let (label, answer) = match command.command.as_str() {
        "/coffee" => ("/coffee", coffee(&state, &command).await),
        other => {
            let text = format!(
                "I don't know `{}`.\n{HELP_TEXT}",
                crate::slack::escape::escape(other)
            );
            ("other", Ok(ephemeral(&text)))
        }
    };
    state
        .metrics
        .record_command_latency(label, started.elapsed());
    answer
}

/// `/coffee` opens the order modal through `views.open`; `/coffee help` explains.
async fn coffee(state: &AppState, command: &SlashCommand) -> Result<Response> {
    if command.text.trim().eq_ignore_ascii_case("help") {
        return Ok(ephemeral(HELP_TEXT));
    }
    let trigger_id = command
        .trigger_id
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::InvalidInput("trigger_id is missing".into()))?;
    // Usuals are a nicety: a slow or failing database must not keep the modal from opening.
    let prefill = match order_form::prefill(&state.pool, &command.user_id).await {
        Ok(prefill) => prefill,
        Err(err) => {
            tracing::warn!(error = %err, "could not load usual orders; opening a blank modal");
            Default::default()
        }
    };
    let metadata = serde_json::to_string(&OrderModalMetadata {
        channel_id: command.channel_id.clone(),
    })
    .map_err(|_| ApiError::Internal)?;
    let view = views::order_modal(&metadata, &prefill);
    if let Err(err) = state.pacer.take_now().await {
        tracing::warn!(error = %err, "could not count views.open against the Slack rate limit");
    }
    match state.slack.views_open(trigger_id, &view).await {
        Ok(()) => Ok(Response::builder()
            .status(poem::http::StatusCode::OK)
            .finish()),
        Err(err) => {
            state.metrics.error("slack_api");
            tracing::error!(error = %err, "views.open failed");
            Ok(ephemeral(
                "Sorry, I couldn't open the order form just now. Please try `/coffee` again.",
            ))
        }
    }
}

fn ephemeral(text: &str) -> Response {
    use poem::IntoResponse;
    Json(views::ephemeral(text)).into_response()
}
