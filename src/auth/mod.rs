//! Who is calling the REST API: OIDC bearer tokens from the company's issuer (Ory Hydra).

mod oidc;

pub use oidc::{ADMIN_SCOPE, AuthError, Caller, OidcVerifier};
