//! Every request body is capped at 64 KiB (CONTRACT: `payload_too_large`): nothing the
//! service accepts comes near it, and a handler must never buffer whatever a client sends.
//! `/slack/*` reads its body here before checking the signature over it; the REST API's
//! routes sit behind [`LimitBody`], since poem-openapi reads a JSON body whole, and before
//! the handler has looked at the caller's token. The body's time limit is the server's
//! (`server`): a body that stops arriving ends in 408 here.

use bytes::Bytes;
use poem::{Body, Endpoint, Middleware, Request, Result};

use super::error::ApiError;

/// Slack's payloads and the REST API's bodies are small; anything bigger is refused.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Takes `req`'s body, refusing one that declares or turns out to be over the cap.
pub async fn read_body(req: &mut Request) -> Result<Bytes, ApiError> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    req.take_body()
        .into_bytes_limit(MAX_BODY_BYTES)
        .await
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => ApiError::PayloadTooLarge,
            poem::error::ReadBodyError::Io(err) if super::server::is_body_timeout(&err) => {
                ApiError::RequestTimeout
            }
            _ => ApiError::InvalidInput("the request body could not be read".into()),
        })
}

/// Reads the body (up to the cap) before the endpoint behind it runs.
pub struct LimitBody;

impl<E: Endpoint> Middleware<E> for LimitBody {
    type Output = LimitBodyEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        LimitBodyEndpoint { inner }
    }
}

pub struct LimitBodyEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for LimitBodyEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let body = read_body(&mut req).await?;
        req.set_body(Body::from_bytes(body));
        self.inner.call(req).await
    }
}
