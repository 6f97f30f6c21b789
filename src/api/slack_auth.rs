//! Every `/slack/*` request passes here first: body capped at 64 KiB, then the signature
//! checked over the exact bytes (REQ-004). Handlers behind it read the verified body.
//! Every refusal is counted (`slack_signature_verification_failures_total`); anyone can
//! send unsigned requests, so refusals are logged at most once per [`LOG_PERIOD`].

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, Middleware, Request, Result};
use secrecy::ExposeSecret;

use super::{body_limit::read_body, error::ApiError, state::AppState};
use crate::{slack::signature, telemetry::LogBudget};

/// At most one log line about refused requests per this period.
const LOG_PERIOD: Duration = Duration::from_secs(10);

pub struct VerifySlackSignature {
    refusals: Arc<LogBudget>,
}

impl Default for VerifySlackSignature {
    fn default() -> Self {
        Self {
            refusals: Arc::new(LogBudget::new(LOG_PERIOD)),
        }
    }
}

impl<E: Endpoint> Middleware<E> for VerifySlackSignature {
    type Output = VerifySlackSignatureEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        VerifySlackSignatureEndpoint {
            inner,
            refusals: self.refusals.clone(),
        }
    }
}

pub struct VerifySlackSignatureEndpoint<E> {
    inner: E,
    refusals: Arc<LogBudget>,
}

impl<E: Endpoint> Endpoint for VerifySlackSignatureEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let state = req.data::<AppState>().cloned().ok_or(ApiError::Internal)?;
        let body = read_body(&mut req).await?;
        let now = chrono::Utc::now().timestamp();
        let secret = state.secrets.signing_secret().ok_or(ApiError::Internal)?;
        if let Err(err) = signature::verify(
            secret.expose_secret().as_bytes(),
            req.header("x-slack-request-timestamp"),
            req.header("x-slack-signature"),
            &body,
            now,
        ) {
            state.metrics.signature_failure();
            if let Some(unlogged) = self.refusals.take() {
                tracing::warn!(
                    path = %req.uri().path(),
                    reason = %err,
                    unlogged_since_last = unlogged,
                    "refused a Slack request"
                );
            }
            return Err(ApiError::from(err).into());
        }
        req.set_body(body);
        self.inner.call(req).await
    }
}
