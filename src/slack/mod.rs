//! Everything Slack: request signatures, payloads, Block Kit views and the Web API client.
//! The shared pacing of outbound calls is kept in the database (`storage::slack_pacer`).

pub mod client;
pub mod escape;
pub mod modal_metadata;
pub mod payloads;
pub mod signature;
pub mod socket_mode;
pub mod views;

pub use client::{SlackApiError, SlackClient};
