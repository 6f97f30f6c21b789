use std::sync::Arc;

use sqlx::PgPool;

use super::admission::Admission;
use crate::{
    auth::OidcVerifier,
    resilience::CircuitBreaker,
    secrets::Secrets,
    slack::SlackClient,
    storage::{SlackPacer, WarmConnections, job_queue::Announcer},
    telemetry::Metrics,
    workflows::RunRules,
};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Connections for the hot paths ([`WarmConnections`]).
    pub warm: WarmConnections,
    pub metrics: Metrics,
    pub slack: SlackClient,
    pub pacer: SlackPacer,
    /// Announces the jobs a request queued, after its commit.
    pub announcer: Announcer,
    /// The Slack secrets in force (rotated from Vault).
    pub secrets: Secrets,
    pub rules: RunRules,
    pub breaker: CircuitBreaker,
    /// Bounds the requests in progress, probes and `/metrics` aside (`MAX_REQUESTS_IN_FLIGHT`).
    pub admission: Admission,
    /// `None` when OIDC_ISSUER is unset: the REST API then answers 401.
    pub oidc: Option<Arc<OidcVerifier>>,
}

impl AppState {
    /// Whether the database connections are all busy: every connection the pool may open
    /// is open and in use, or every place of the warm set is taken. A request that timed
    /// out waiting for a connection then was behind other requests, not cut off from the
    /// database.
    pub fn database_saturated(&self) -> bool {
        let max = self.pool.options().get_max_connections();
        (self.pool.size() >= max && self.pool.num_idle() == 0) || self.warm.full()
    }
}
