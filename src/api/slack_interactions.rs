//! `POST /slack/interactions`: modal submissions and button clicks.

use std::{collections::BTreeMap, time::Instant};

use poem::{
    IntoResponse, Response, Result, handler,
    web::{Data, Json},
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{acknowledge, error::ApiError, refuse_slack_payload, slack_actions, state::AppState};
use crate::{
    domain::{OrderField, OrderInput, OrderInputError},
    slack::{
        modal_metadata,
        payloads::{Interaction, ViewSubmission},
        views,
    },
    workflows::place_order::{OrderRequest, PlaceOrderError, place_order_warm},
};

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

#[handler]
pub async fn interactions(state: Data<&AppState>, body: Vec<u8>) -> Result<Response> {
    let started = Instant::now();
    let Ok(form) = serde_urlencoded::from_bytes::<InteractionForm>(&body) else {
        let reason = "expected a form field `payload`";
        return Ok(refuse_slack_payload(
            &state,
            "interactions",
            reason,
            acknowledge(),
        ));
    };
    let interaction: Interaction = match serde_json::from_str(&form.payload) {
        Ok(interaction) => interaction,
        Err(err) => {
            let reason = format!("payload is not an interaction: {err}");
            let answer = if is_view_submission(&form.payload) {
                unreadable_submission()
            } else {
                acknowledge()
            };
            return Ok(refuse_slack_payload(
                &state,
                "interactions",
                &reason,
                answer,
            ));
        }
    };
    let (label, answer) = match interaction {
        Interaction::ViewSubmission(submission) => {
            ("view_submission", submit_order(&state, submission).await)
        }
        Interaction::BlockActions(click) => {
            ("block_actions", slack_actions::handle(&state, click).await)
        }
        Interaction::Other => return Ok(acknowledge()),
    };
    state
        .metrics
        .record_command_latency(label, started.elapsed());
    answer
}

/// Whether an interaction that did not parse was a modal's submission, which Slack
/// expects an answer to (an empty one closes the modal as if the order had been taken).
fn is_view_submission(payload: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(payload).is_ok_and(|v| v["type"] == "view_submission")
}

/// The answer to a submission that cannot be taken: the modal stays open and says so.
fn unreadable_submission() -> Response {
    field_errors(&[OrderInputError {
        field: OrderField::DrinkType,
        message: "Sorry, this order form could not be read. Close it and run `/coffee` again."
            .into(),
    }])
}

/// A `view_submission` of the order modal (CONTRACT "Order submission").
async fn submit_order(state: &AppState, submission: ViewSubmission) -> Result<Response> {
    if submission.view.callback_id != views::ORDER_MODAL_CALLBACK_ID {
        return Ok(acknowledge());
    }
    let secret = state.secrets.signing_secret().ok_or(ApiError::Internal)?;
    let metadata = match modal_metadata::open(
        secret.expose_secret().as_bytes(),
        &submission.view.private_metadata,
        &submission.user.id,
    ) {
        Ok(metadata) => metadata,
        Err(err) => {
            let reason = err.to_string();
            return Ok(refuse_slack_payload(
                state,
                "interactions",
                &reason,
                unreadable_submission(),
            ));
        }
    };
    // `/coffee` names its workspace in the sealed metadata: on Enterprise Grid a
    // submission's `team` can name another workspace of the org than the command did.
    let Some(workspace_id) = metadata
        .workspace_id
        .clone()
        .or_else(|| submission.workspace_id().map(str::to_owned))
    else {
        let reason = "the submission names no workspace";
        return Ok(refuse_slack_payload(
            state,
            "interactions",
            reason,
            unreadable_submission(),
        ));
    };
    let values = &submission.view.state;
    let order = match OrderInput::parse(
        values.value("drink_type", "drink_type"),
        values.value("size", "size"),
        values.value("customizations", "customizations"),
    ) {
        Ok(order) => order,
        Err(errors) => return Ok(field_errors(&errors)),
    };
    let request = OrderRequest {
        workspace_id,
        channel_id: metadata.channel_id,
        user_id: submission.user.id.clone(),
        display_name: submission.user.display_name().map(str::to_owned),
        order,
        run_id: None,
    };
    match place_order_warm(&state.warm, &state.announcer, &state.rules, &request).await {
        Ok(placed) => {
            if !placed.replaced {
                state.metrics.order_placed(request.order.drink_type);
            }
            let view = views::order_confirmation(
                &request.order.describe(),
                &request.channel_id,
                placed.orders_in_run,
                placed.replaced,
            );
            Ok(Json(json!({"response_action": "update", "view": view})).into_response())
        }
        Err(PlaceOrderError::RunnerAssigned) => Ok(field_errors(&[OrderInputError {
            field: OrderField::DrinkType,
            message: "A runner has already been picked for this run. Order in the next one!".into(),
        }])),
        Err(PlaceOrderError::Contended | PlaceOrderError::RunNotActive) => {
            Ok(field_errors(&[OrderInputError {
                field: OrderField::DrinkType,
                message: "Lots of orders at once. Please submit again.".into(),
            }]))
        }
        Err(PlaceOrderError::Database(err)) => {
            Err(ApiError::from_database("place order", &err).into())
        }
    }
}

/// `{"response_action": "errors", "errors": {BLOCK_ID: TEXT}}`: Slack shows each text
/// under its field and keeps the modal open.
fn field_errors(errors: &[OrderInputError]) -> Response {
    let map: BTreeMap<&str, &str> = errors
        .iter()
        .map(|e| (e.field.block_id(), e.message.as_str()))
        .collect();
    Json(json!({"response_action": "errors", "errors": map})).into_response()
}
