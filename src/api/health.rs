//! Probes for Kubernetes, documented in the OpenAPI document.

use std::time::Duration;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use super::state::AppState;

/// How long readiness waits for `SELECT 1`.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Tags)]
enum ApiTags {
    /// Probes and operations.
    Ops,
}

/// A probe's verdict.
#[derive(Debug, Object)]
pub struct ProbeStatus {
    /// `ok` or `ready`.
    pub status: String,
}

/// The contract's error body.
#[derive(Debug, Object)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `service_unavailable`.
    pub error: String,
    /// What happened and what to do.
    pub message: String,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database answers: send traffic.
    #[oai(status = 200)]
    Ready(Json<ProbeStatus>),
    /// The database does not answer: keep traffic away.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Ops")]
impl HealthApi {
    /// Liveness: 200 while the process runs.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<ProbeStatus> {
        Json(ProbeStatus {
            status: "ok".into(),
        })
    }

    /// Readiness: 200 when the database answers and the circuit breaker is closed, else 503.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self, state: Data<&AppState>) -> ReadyResponse {
        if !state.breaker.allow(&state.pool).await {
            return unavailable("the database circuit breaker is open");
        }
        let probe = sqlx::query!("SELECT 1 AS one").fetch_one(&state.pool);
        let outcome = tokio::time::timeout(READY_TIMEOUT, probe)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        state.breaker.observe(&outcome);
        match outcome {
            Ok(_) => ReadyResponse::Ready(Json(ProbeStatus {
                status: "ready".into(),
            })),
            Err(err) => {
                let reason = err.to_string();
                tracing::warn!(reason, "not ready: the database does not answer");
                unavailable("the database does not answer")
            }
        }
    }
}

fn unavailable(message: &str) -> ReadyResponse {
    ReadyResponse::Unavailable(Json(ErrorBody {
        error: "service_unavailable".into(),
        message: message.into(),
    }))
}
