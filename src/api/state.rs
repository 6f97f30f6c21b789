use std::sync::Arc;

use secrecy::SecretString;
use sqlx::PgPool;

use crate::{
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
}
