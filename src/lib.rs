//! CoffeeBuddy: an on-prem Slack app that coordinates office coffee runs.
//!
//! The binary only parses the command line; everything lives in this library so tests
//! reach it directly. `jobs/` sits at the top of the repository (the owner's layout) and is
//! compiled as this crate's `jobs` module: it needs the storage and Slack code, and the
//! binary needs it, so a separate crate would form a cycle.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dev;
pub mod domain;
pub mod events;
#[path = "../jobs/mod.rs"]
pub mod jobs;
pub mod resilience;
pub mod secrets;
pub mod slack;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod workflows;
