//! Tools for developers, outside the service: `coffeebuddy demo` (a whole coffee run
//! against a built-in fake Slack) and the fairness simulation (`examples/fairness.rs` and
//! the fairness tests). They build on the service's public API; nothing in the service
//! imports them.

pub mod demo;
pub mod simulation;
