//! `POST /slack/events`: the Events API.

use poem::{
    IntoResponse, Request, Response, Result, handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::{acknowledge, error::ApiError, refuse_slack_payload, state::AppState};
use crate::{
    slack::{payloads::EventCallback, views},
    storage::{job_queue::UnitOfWork, slack_events},
    workflows::{app_home, jobs::SlackMessage},
};

#[handler]
pub async fn events(state: Data<&AppState>, req: &Request, body: Vec<u8>) -> Result<Response> {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        let reason = "the body is not an Events API JSON document";
        return Ok(refuse_slack_payload(
            &state,
            "events",
            reason,
            acknowledge(),
        ));
    };
    match event["type"].as_str() {
        // Slack checks the Request URL by asking us to echo its challenge.
        Some("url_verification") => {
            let challenge = event["challenge"].as_str().ok_or_else(|| {
                ApiError::InvalidInput("url_verification without a challenge".into())
            })?;
            Ok(Json(json!({"challenge": challenge})).into_response())
        }
        Some("event_callback") => {
            let callback: EventCallback = match serde_json::from_value(event) {
                Ok(callback) => callback,
                Err(err) => {
                    // Answered 200 all the same: Slack would retry anything else, in vain.
                    let reason = format!("not an event callback: {err}");
                    return Ok(refuse_slack_payload(
                        &state,
                        "events",
                        &reason,
                        acknowledge(),
                    ));
                }
            };
            let retry = req.header("x-slack-retry-num");
            handle_callback(&state, &callback, retry).await?;
            Ok(acknowledge())
        }
        _ => Ok(acknowledge()),
    }
}

/// Handles each event once: Slack retries deliveries it thinks failed (`X-Slack-Retry-Num`),
/// so the event id is recorded in the same transaction as the work it causes.
async fn handle_callback(
    state: &AppState,
    callback: &EventCallback,
    retry: Option<&str>,
) -> Result<()> {
    let db = |e: sqlx::Error| ApiError::from_database("event callback", &e);
    let mut work = UnitOfWork::begin(&state.pool, &state.announcer)
        .await
        .map_err(db)?;
    let first_time = slack_events::first_delivery(work.conn(), &callback.event_id)
        .await
        .map_err(db)?;
    if !first_time {
        tracing::info!(event_id = %callback.event_id, retry, "event already handled; ignoring the retry");
        return Ok(());
    }
    let event = &callback.event;
    match (
        event.kind.as_str(),
        &event.channel,
        &event.user,
        &callback.team_id,
    ) {
        ("app_mention", Some(channel), _, _) => {
            let reply = SlackMessage::Post {
                channel: channel.clone(),
                text: views::help_text(state.rules.assign_max_orders, state.rules.assign_window),
                blocks: None,
                thread_ts: event.thread_ts.clone().or_else(|| event.ts.clone()),
            };
            work.enqueue(&reply, None).await.map_err(db)?;
        }
        // The Messages tab opens the app's DM, which needs nothing from us.
        ("app_home_opened", _, Some(user), Some(workspace))
            if event.tab.as_deref() == Some("home") =>
        {
            app_home::queue_publish(&mut work, workspace, user)
                .await
                .map_err(db)?;
        }
        _ => {}
    }
    work.commit().await.map_err(db)?;
    Ok(())
}
