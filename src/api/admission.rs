//! Load shedding: at most `MAX_REQUESTS_IN_FLIGHT` requests are handled at once; the next
//! one gets 503 `service_unavailable` at once, before its body is read. One layer around
//! every route, outside the body cap and the signature check.
//!
//! Without a bound, a burst the service cannot keep up with queues without limit: every
//! waiting request holds its connection, its body and its task, and the process grew past
//! 150 MiB in the benchmark's collapsed phases (README "Performance"), while each request
//! waited longer than Slack's three seconds and was answered for nobody. A 503 keeps a
//! Slack modal open (Slack tells the user to try again), so an order is refused, never
//! lost. Probes and `/metrics` are not counted: Kubernetes and Prometheus must still reach
//! a busy pod.

use std::sync::Arc;

use poem::{Endpoint, Middleware, Request, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::telemetry::Metrics;

/// Places for requests in progress, shared by every route it guards.
#[derive(Clone)]
pub struct Admission {
    places: Arc<Semaphore>,
    metrics: Metrics,
}

impl Admission {
    pub fn new(max_in_flight: usize, metrics: Metrics) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max_in_flight)),
            metrics,
        }
    }

    /// A place for one request, held until it is dropped; `Overloaded` when none is free.
    /// Requests never wait for a place: waiting is what the bound is there to stop.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.places.clone().try_acquire_owned().map_err(|_| {
            self.metrics.request_shed();
            ApiError::Overloaded
        })
    }
}

impl<E: Endpoint> Middleware<E> for Admission {
    type Output = AdmissionEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AdmissionEndpoint {
            inner,
            admission: self.clone(),
        }
    }
}

pub struct AdmissionEndpoint<E> {
    inner: E,
    admission: Admission,
}

impl<E: Endpoint> Endpoint for AdmissionEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if is_exempt(req.uri().path()) {
            return self.inner.call(req).await;
        }
        // Held until the response is built; a client that hangs up drops the future and
        // with it the place.
        let _place = self.admission.admit()?;
        self.inner.call(req).await
    }
}

/// Kubernetes' probes and Prometheus' scrape: cheap, and they must reach a busy pod.
fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}
