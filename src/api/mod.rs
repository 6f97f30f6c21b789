//! HTTP routes: the Slack endpoints, probes, metrics and the OpenAPI document.

mod admission;
mod body_limit;
mod error;
mod health;
mod rest;
mod server;
mod slack_actions;
mod slack_auth;
mod slack_commands;
mod slack_events;
mod slack_interactions;
pub mod socket_mode;
mod state;

use std::cell::Cell;

use futures::TryFutureExt;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route,
    error::{MethodNotAllowedError, NotFoundError},
    get, handler,
    http::StatusCode,
    post,
    web::{Data, Json},
};
use poem_openapi::OpenApiService;
use serde_json::json;

pub use admission::Admission;
pub use body_limit::MAX_BODY_BYTES;
pub use error::ApiError;
pub use server::{ConnectionLimits, serve};
pub use state::AppState;

use health::HealthApi;
use rest::{OpsApi, RunsApi, UsersApi};

type Apis = (HealthApi, RunsApi, UsersApi, OpsApi);

fn openapi_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (HealthApi, RunsApi, UsersApi, OpsApi),
        "CoffeeBuddy",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Coordinates office coffee runs in Slack. `/api/v1` serves internal callers and \
         operators with bearer tokens from the company's OIDC issuer.",
    )
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
    let rest_guard = state.clone();
    let slack = slack_routes(&state).with(slack_auth::VerifySlackSignature::default());
    Route::new()
        .nest("/slack", slack)
        .at("/metrics", get(metrics_text))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest(
            "/",
            api.around(move |endpoint, request| {
                let state = rest_guard.clone();
                let rest = request.uri().path().starts_with("/api/v1");
                async move {
                    if rest {
                        guard_database(
                            &state,
                            endpoint.call(request).map_ok(IntoResponse::into_response),
                        )
                        .await
                    } else {
                        endpoint
                            .call(request)
                            .await
                            .map(IntoResponse::into_response)
                    }
                }
            })
            .with(body_limit::LimitBody),
        )
        .with(state.admission.clone())
        .data(state)
        .catch_error(|_: NotFoundError| async {
            Json(json!({"error": "not_found", "message": "no such route"}))
                .with_status(StatusCode::NOT_FOUND)
                .into_response()
        })
        .catch_error(|_: MethodNotAllowedError| async { method_not_allowed() })
        .map_to_response()
        .around(move |endpoint, request| {
            let metrics = metrics.clone();
            let rest = request.uri().path().starts_with("/api/v1");
            async move {
                let result = endpoint.call(request).await.map_err(rest_edge);
                match &result {
                    Err(err) => match err.downcast_ref::<ApiError>() {
                        Some(api_error) => metrics.error(api_error.code()),
                        None if rest => metrics.error(code_of(err.status())),
                        None => {}
                    },
                    Ok(response) if rest && !response.status().is_success() => {
                        metrics.error(code_of(response.status()));
                    }
                    Ok(_) => {}
                }
                result
            }
        })
}

/// `/slack/commands`, `/slack/interactions` and `/slack/events` (under `/slack` here),
/// behind the database guard: what Slack's HTTP requests reach after their signature is
/// checked, and what Socket Mode's envelopes reach.
fn slack_routes(state: &AppState) -> impl Endpoint<Output = Response> + 'static {
    let guard = state.clone();
    Route::new()
        .at("/commands", post(slack_commands::commands))
        .at("/interactions", post(slack_interactions::interactions))
        .at("/events", post(slack_events::events))
        .around(move |endpoint, request| {
            let state = guard.clone();
            async move { guard_database(&state, endpoint.call(request)).await }
        })
}

/// The Slack routes for Socket Mode's envelopes, with the shared state.
pub fn socket_mode_routes(state: AppState) -> socket_mode::SlackRoutes {
    let routes = slack_routes(&state).data(state.clone());
    socket_mode::slack_routes(routes, state)
}

tokio::task_local! {
    /// Set while a guarded request runs, when it found the database unreachable. A REST
    /// handler's error reaches the guard as a plain response (poem-openapi converts it), so
    /// the guard cannot tell the database's 503 from the identity provider's by looking.
    static DATABASE_UNREACHABLE: Cell<bool>;
}

/// Tells the guard of the request being handled that the database could not be reached.
pub(crate) fn note_database_unreachable() {
    // Outside a guarded request (a job, a test) there is nothing to tell.
    let _ = DATABASE_UNREACHABLE.try_with(|unreachable| unreachable.set(true));
}

/// Runs `call` unless the database circuit is open (then 503 at once), and counts
/// whether it reached the database.
async fn guard_database<T: IntoResponse>(
    state: &AppState,
    call: impl std::future::Future<Output = poem::Result<T>>,
) -> poem::Result<Response> {
    if !state.breaker.allow(&state.pool).await {
        return Err(ApiError::ServiceUnavailable.into());
    }
    let (result, noted) = DATABASE_UNREACHABLE
        .scope(Cell::new(false), async {
            let result = call.await.map(IntoResponse::into_response);
            (result, DATABASE_UNREACHABLE.with(Cell::get))
        })
        .await;
    let (unreachable, status) = match &result {
        Err(err) => (
            err.downcast_ref::<ApiError>() == Some(&ApiError::ServiceUnavailable),
            err.status(),
        ),
        Ok(response) => (
            response.status() == StatusCode::SERVICE_UNAVAILABLE,
            response.status(),
        ),
    };
    if noted || unreachable {
        // Overload is not an outage: counted, a burst that queued requests past the acquire
        // timeout would open the breaker and refuse everything for CIRCUIT_OPEN_SECS. A
        // database that is really gone breaks connections (errors that shrink the pool) or
        // refuses new ones, and those failures still count.
        if !state.database_saturated() {
            state.breaker.record_failure();
        }
    } else if status != StatusCode::SERVICE_UNAVAILABLE {
        // Another 503 (the OIDC issuer's keys out of reach) says nothing of the database.
        state.breaker.record_success();
    }
    result
}

/// poem-openapi answers a missing token and unparsable input itself, with plain text;
/// the contract wants its JSON codes (and 422 for bad input).
fn rest_edge(err: poem::Error) -> poem::Error {
    if err.is::<ApiError>() {
        return err;
    }
    match err.status() {
        StatusCode::UNAUTHORIZED => poem::Error::from_response(
            Json(json!({"error": "unauthenticated", "message": "a bearer token is required"}))
                .with_status(StatusCode::UNAUTHORIZED)
                .into_response(),
        ),
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::InvalidInput(err.to_string()).into()
        }
        _ => err,
    }
}

/// A route asked with a method it does not take: JSON like every other error. CONTRACT
/// lists no code for it; this one says what happened.
fn method_not_allowed() -> Response {
    Json(json!({"error": "method_not_allowed", "message": "the route does not take this method"}))
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .into_response()
}

fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthenticated",
        403 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        422 => "invalid_input",
        503 => "service_unavailable",
        _ => "internal",
    }
}

/// 200 with an empty body: Slack's "received, nothing to show".
fn acknowledge() -> Response {
    Response::builder().status(StatusCode::OK).finish()
}

/// A signed Slack request whose payload cannot be taken: a field missing or malformed, an
/// id that is not a Slack id. Slack shows any answer but 200 as a broken app (and retries
/// events), so the request gets `answer` with 200; the refusal is logged and counted as
/// `invalid_input`.
fn refuse_slack_payload(state: &AppState, route: &str, reason: &str, answer: Response) -> Response {
    state.metrics.error(ApiError::INVALID_INPUT);
    tracing::warn!(route, reason, "refused a Slack payload");
    answer
}

/// What a `--role worker` process serves: probes and metrics, so Kubernetes can check it
/// and Prometheus can scrape what only workers count (Kafka failures, job outcomes).
pub fn ops_app(state: AppState) -> impl Endpoint<Output = Response> {
    let api = OpenApiService::new(HealthApi, "CoffeeBuddy worker", env!("CARGO_PKG_VERSION"));
    Route::new()
        .at("/metrics", get(metrics_text))
        .nest("/", api)
        .data(state)
        .catch_error(|_: NotFoundError| async {
            Json(json!({"error": "not_found", "message": "a worker serves only /healthz, /readyz and /metrics"}))
                .with_status(StatusCode::NOT_FOUND)
                .into_response()
        })
        .catch_error(|_: MethodNotAllowedError| async { method_not_allowed() })
        .map_to_response()
}

#[handler]
fn metrics_text(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
