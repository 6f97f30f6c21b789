//! `POST /slack/interactions`: modal submissions and button clicks.

use std::{collections::BTreeMap, time::Instant};

use poem::{
    IntoResponse, Response, Result, handler,
    web::{Data, Json},
};
use serde::Deserialize;
use serde_json::json;

use super::{acknowledge, error::ApiError, slack_actions, state::AppState};
use crate::{
    domain::{OrderField, OrderInput, OrderInputError},
    slack::{
        payloads::{Interaction, OrderModalMetadata, ViewSubmission},
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
    let form: InteractionForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::InvalidInput("expected a form field `payload`".into()))?;
    let interaction: Interaction = serde_json::from_str(&form.payload)
        .map_err(|e| ApiError::InvalidInput(format!("payload is not an interaction: {e}")))?;
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

/// A `view_submission` of the order modal (CONTRACT "Order submission").
async fn submit_order(state: &AppState, submission: ViewSubmission) -> Result<Response> {
    if submission.view.callback_id != views::ORDER_MODAL_CALLBACK_ID {
        return Ok(acknowledge());
    }
    let metadata: OrderModalMetadata = serde_json::from_str(&submission.view.private_metadata)
        .ok()
        .filter(|m: &OrderModalMetadata| !m.channel_id.is_empty())
        .ok_or_else(|| ApiError::InvalidInput("private_metadata names no channel".into()))?;
    let workspace_id = metadata
        .workspace_id
        .as_deref()
        .filter(|w| !w.is_empty())
        .or(submission.workspace_id())
        .ok_or_else(|| ApiError::InvalidInput("the submission names no workspace".into()))?
        .to_owned();
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
