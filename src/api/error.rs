//! The one error type at the HTTP edge: a contract code, a status and a message. Internal
//! causes are logged where they happen and never put in a response.

use poem::{IntoResponse, Response, error::ResponseError, http::StatusCode};
use serde_json::json;

use crate::slack::signature::SignatureError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Signature(SignatureError),
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// The body did not arrive within `HTTP_BODY_TIMEOUT_SECS` of the request's head.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("{0}")]
    InvalidInput(String),
    #[error("the database is unavailable; try again shortly")]
    ServiceUnavailable,
    /// Every place for a request in progress is taken (`MAX_REQUESTS_IN_FLIGHT`).
    #[error("too many requests in progress; try again shortly")]
    Overloaded,
    #[error("something went wrong on our side; it has been logged")]
    Internal,
}

impl ApiError {
    /// The code of [`ApiError::InvalidInput`], which Slack routes also count when they
    /// answer a bad payload with 200.
    pub const INVALID_INPUT: &'static str = "invalid_input";

    /// The contract's `error` code, also the `errors_total` label.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Signature(e) => e.code(),
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::InvalidInput(_) => Self::INVALID_INPUT,
            ApiError::ServiceUnavailable | ApiError::Overloaded => "service_unavailable",
            ApiError::Internal => "internal",
        }
    }

    /// Logs a database failure with its cause and picks the answer: connection trouble is
    /// 503 (worth retrying), anything else 500.
    pub fn from_database(context: &str, err: &sqlx::Error) -> Self {
        tracing::error!(error = %err, context, "database error");
        if crate::resilience::is_connection_error(err) {
            ApiError::ServiceUnavailable
        } else {
            ApiError::Internal
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Signature(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ServiceUnavailable | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let response = poem::web::Json(json!({"error": self.code(), "message": self.to_string()}))
            .with_status(self.status());
        match self {
            // The rest of the body may still be on its way: the connection cannot carry
            // another request, so it is closed after this answer.
            ApiError::RequestTimeout => response.with_header("connection", "close").into_response(),
            _ => response.into_response(),
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(err: SignatureError) -> Self {
        ApiError::Signature(err)
    }
}
