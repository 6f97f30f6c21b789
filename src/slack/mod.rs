//! Everything Slack: request signatures, payloads, Block Kit views, the Web API client
//! and the shared pacing of outbound calls.

pub mod client;
pub mod escape;
pub mod pacer;
pub mod payloads;
pub mod signature;
pub mod views;

pub use client::{SlackApiError, SlackClient};
pub use pacer::{SlackPacer, Slot};
