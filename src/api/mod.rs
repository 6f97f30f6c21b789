//! HTTP routes: the Slack endpoints, probes, metrics and the OpenAPI document.

mod error;
mod health;
mod slack_actions;
mod slack_auth;
mod slack_commands;
mod slack_events;
mod slack_interactions;
mod state;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route,
    error::NotFoundError,
    get, handler,
    http::StatusCode,
    post,
    web::{Data, Json},
};
use poem_openapi::OpenApiService;
use serde_json::json;

pub use error::ApiError;
pub use slack_auth::MAX_BODY_BYTES;
pub use state::AppState;

use health::HealthApi;

fn openapi_service() -> OpenApiService<HealthApi, ()> {
    OpenApiService::new(HealthApi, "CoffeeBuddy", env!("CARGO_PKG_VERSION"))
        .description("Coordinates office coffee runs in Slack.")
}

/// The OpenAPI document, as `coffeebuddy openapi` prints it.
pub fn openapi_document() -> String {
    openapi_service().spec()
}

/// Every route, with the shared state and error accounting.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = openapi_service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let metrics = state.metrics.clone();
    let guard = state.clone();
    let slack = Route::new()
        .at("/commands", post(slack_commands::commands))
        .at("/interactions", post(slack_interactions::interactions))
        .at("/events", post(slack_events::events))
        .around(move |endpoint, request| {
            let state = guard.clone();
            async move { guard_database(&state, endpoint.call(request)).await }
        })
        .with(slack_auth::VerifySlackSignature);
    Route::new()
        .nest("/slack", slack)
        .at("/metrics", get(metrics_text))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .data(state)
        .catch_error(|_: NotFoundError| async {
            Json(json!({"error": "not_found", "message": "no such route"}))
                .with_status(StatusCode::NOT_FOUND)
                .into_response()
        })
        .around(move |endpoint, request| {
            let metrics = metrics.clone();
            async move {
                let result = endpoint.call(request).await;
                if let Err(err) = &result
                    && let Some(api_error) = err.downcast_ref::<ApiError>()
                {
                    metrics.error(api_error.code());
                }
                result
            }
        })
        .map_to_response()
}

/// Runs `call` unless the database circuit is open (then 503 at once), and counts
/// whether it reached the database.
async fn guard_database<T>(
    state: &AppState,
    call: impl std::future::Future<Output = poem::Result<T>>,
) -> poem::Result<T> {
    if !state.breaker.allow(&state.pool).await {
        return Err(ApiError::ServiceUnavailable.into());
    }
    let result = call.await;
    match &result {
        Err(err) if err.downcast_ref::<ApiError>() == Some(&ApiError::ServiceUnavailable) => {
            state.breaker.record_failure()
        }
        _ => state.breaker.record_success(),
    }
    result
}

#[handler]
fn metrics_text(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
