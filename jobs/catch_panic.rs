//! A job handler that panics fails its job instead of its worker.
//!
//! apalis polls a worker's jobs inside the worker's own future, so an uncaught panic in one
//! handler ends that future and, with it, every other job the worker had in hand. Caught
//! here, the panic becomes the job's error: the row is left `Failed` and apalis runs it
//! again until its `max_attempts` are spent, as it does any failure it was not told to wait
//! for.
//!
//! The handler itself is wrapped ([`catching_panics`]), not the worker's middleware stack:
//! apalis' lifecycle layer, between the middleware and the handler, records the job's
//! outcome only when the handler's future returns, so a panic caught above it leaves the
//! row `Running` (seen here). apalis' own `catch-panic` layer is such a middleware, and its
//! higher-ranked panic handler fails tokio's `Send` check besides.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    task::{Context, Poll},
};

use apalis::prelude::{BoxDynError, Service, TaskFn, task_fn};
use futures::{FutureExt, future::BoxFuture};

/// The error a panicking handler's job fails with.
#[derive(Debug, thiserror::Error)]
#[error("the job's handler panicked: {0}")]
pub struct HandlerPanicked(pub String);

/// `handler` (any apalis handler function) as a service whose panics fail the job: what
/// every job worker builds on (`jobs::run_workers`).
pub fn catching_panics<F, Args, FnArgs>(handler: F) -> CatchPanic<TaskFn<F, Args, FnArgs>> {
    CatchPanic {
        inner: task_fn(handler),
    }
}

#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S, Request> Service<Request> for CatchPanic<S>
where
    S: Service<Request>,
    S::Error: Into<BoxDynError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let handling = match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
        {
            Ok(handling) => handling,
            Err(panic) => return Box::pin(std::future::ready(Err(panicked(&*panic)))),
        };
        Box::pin(
            AssertUnwindSafe(handling)
                .catch_unwind()
                .map(|outcome| match outcome {
                    Ok(result) => result.map_err(Into::into),
                    Err(panic) => Err(panicked(&*panic)),
                }),
        )
    }
}

fn panicked(panic: &(dyn Any + Send)) -> BoxDynError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %message, "job handler panicked; the job fails and will be retried");
    Box::new(HandlerPanicked(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_of(panic: Box<dyn Any + Send>) -> String {
        panicked(&*panic).to_string()
    }

    #[test]
    fn the_panic_message_becomes_the_error() {
        let caught = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(message_of(caught), "the job's handler panicked: boom 7");
        let caught = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(message_of(caught), "the job's handler panicked: static");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(42)).unwrap_err();
        assert_eq!(
            message_of(caught),
            "the job's handler panicked: a panic without a message"
        );
    }
}
