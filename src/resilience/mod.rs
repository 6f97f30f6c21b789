//! Staying useful when PostgreSQL is not.

mod circuit_breaker;

pub use circuit_breaker::{BreakerState, CircuitBreaker, is_connection_error};
