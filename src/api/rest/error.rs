use poem_openapi::{ApiResponse, payload::Json};

use crate::{api::health::ErrorBody, resilience::is_connection_error};

/// Every error a REST operation can answer, with the contract's JSON body.
#[derive(Debug, ApiResponse)]
pub enum RestError {
    /// A missing, expired or otherwise unacceptable bearer token.
    #[oai(status = 401)]
    Unauthenticated(Json<ErrorBody>),
    /// The caller may not do this (another user's resource, or not an admin).
    #[oai(status = 403)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The resource is not in a state that allows this.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request is malformed.
    #[oai(status = 422)]
    InvalidInput(Json<ErrorBody>),
    /// The database or the token issuer is unreachable; try again shortly.
    #[oai(status = 503)]
    ServiceUnavailable(Json<ErrorBody>),
    /// Something failed on our side; it has been logged.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

fn body(error: &str, message: &str) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: error.into(),
        message: message.into(),
    })
}

impl RestError {
    pub fn unauthenticated(message: &str) -> Self {
        Self::Unauthenticated(body("unauthenticated", message))
    }
    pub fn unauthorized(message: &str) -> Self {
        Self::Unauthorized(body("unauthorized", message))
    }
    pub fn not_found(message: &str) -> Self {
        Self::NotFound(body("not_found", message))
    }
    pub fn conflict(message: &str) -> Self {
        Self::Conflict(body("conflict", message))
    }
    pub fn invalid(message: &str) -> Self {
        Self::InvalidInput(body("invalid_input", message))
    }
    pub fn unavailable(message: &str) -> Self {
        Self::ServiceUnavailable(body("service_unavailable", message))
    }

    /// Logs a database failure and answers 503 for connection trouble, else 500.
    pub fn database(context: &str, err: &sqlx::Error) -> Self {
        tracing::error!(error = %err, context, "database error");
        if is_connection_error(err) {
            crate::api::note_database_unreachable();
            Self::unavailable("the database is unavailable; try again shortly")
        } else {
            Self::Internal(body(
                "internal",
                "something went wrong on our side; it has been logged",
            ))
        }
    }

    /// The `errors_total` label of this answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidInput(_) => "invalid_input",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}
