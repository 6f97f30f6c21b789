use std::sync::Arc;

use secrecy::SecretString;
use sqlx::PgPool;

use crate::{
    auth::OidcVerifier,
    resilience::CircuitBreaker,
    slack::{SlackClient, SlackPacer},
    telemetry::Metrics,
    workflows::RunRules,
};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    pub slack: SlackClient,
    pub pacer: SlackPacer,
    pub signing_secret: Arc<SecretString>,
    pub rules: RunRules,
    pub breaker: CircuitBreaker,
    /// `None` when OIDC_ISSUER is unset: the REST API then answers 401.
    pub oidc: Option<Arc<OidcVerifier>>,
}
