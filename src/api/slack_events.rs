//! `POST /slack/events`: the Events API.

use poem::{
    IntoResponse, Response, Result, handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::{error::ApiError, state::AppState};

#[handler]
pub async fn events(_state: Data<&AppState>, body: Vec<u8>) -> Result<Response> {
    let event: Value = serde_json::from_slice(&body).map_err(|_| {
        ApiError::InvalidInput("the body is not an Events API JSON document".into())
    })?;
    match event["type"].as_str() {
        // Slack checks the Request URL by asking us to echo its challenge.
        Some("url_verification") => {
            let challenge = event["challenge"].as_str().ok_or_else(|| {
                ApiError::InvalidInput("url_verification without a challenge".into())
            })?;
            Ok(Json(json!({"challenge": challenge})).into_response())
        }
        _ => Ok(Response::builder()
            .status(poem::http::StatusCode::OK)
            .finish()),
    }
}
