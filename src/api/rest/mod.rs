//! The REST API (`/api/v1`) for internal callers and ops, behind OIDC bearer tokens. It
//! shares the Slack handlers' workflows: same rules, same events, same audit rows.

mod error;
mod jobs;
mod models;
mod runs;
mod users;

pub use error::RestError;
pub use jobs::OpsApi;
pub use runs::RunsApi;
pub use users::UsersApi;

use poem_openapi::{SecurityScheme, Tags, auth::Bearer};

use super::state::AppState;
use crate::auth::{AuthError, Caller};

#[derive(Tags)]
pub enum RestTags {
    /// Coffee runs and their orders.
    Runs,
    /// Users' usual orders.
    Users,
    /// Failed jobs and fairness, for operators.
    Ops,
}

/// An access token from the company's OIDC issuer; `sub` is the caller's Slack user id and
/// the scope `coffeebuddy:admin` may act on anything.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerToken(Bearer);

/// Checks the caller's token.
async fn authenticate(state: &AppState, token: &BearerToken) -> Result<Caller, RestError> {
    let Some(verifier) = state.oidc.as_deref() else {
        return Err(RestError::unauthenticated(
            &AuthError::NotConfigured.to_string(),
        ));
    };
    verifier.verify(&token.0.token).await.map_err(|err| {
        tracing::info!(error = %err, "refused a REST API token");
        match err {
            AuthError::KeysUnavailable(_) => RestError::unavailable(&err.to_string()),
            other => RestError::unauthenticated(&other.to_string()),
        }
    })
}

fn require_admin(caller: &Caller) -> Result<(), RestError> {
    if caller.admin {
        Ok(())
    } else {
        Err(RestError::unauthorized(
            "this needs the coffeebuddy:admin scope",
        ))
    }
}
