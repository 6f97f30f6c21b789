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

/// An access token from the company's OIDC issuer; `sub` is the caller's Slack user id, the
/// workspace claim (`OIDC_WORKSPACE_CLAIM`, default `slack_team_id`, a string or a list)
/// names the Slack workspaces the caller may start, join and read runs in, and the scope
/// `coffeebuddy:admin` may act on anything. Without the claim a caller may read only their
/// own preferences and the runs they took part in.
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

/// Refuses a caller whose token does not name `workspace` (admins act anywhere).
fn require_workspace(caller: &Caller, workspace: &str) -> Result<(), RestError> {
    if caller.acts_in(workspace) {
        Ok(())
    } else {
        Err(RestError::unauthorized(
            "your token does not name this workspace (OIDC_WORKSPACE_CLAIM)",
        ))
    }
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
