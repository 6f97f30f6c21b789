//! The settings the run's workflow follows, taken from configuration once.

use std::time::Duration;

use crate::{config::Settings, domain::fairness::FairnessPolicy};

#[derive(Debug, Clone, Copy)]
pub struct RunRules {
    pub policy: FairnessPolicy,
    pub fairness_window_days: u32,
    pub active_window_days: u32,
    /// Assign this long after the run starts…
    pub assign_window: Duration,
    /// …or as soon as it has this many orders.
    pub assign_max_orders: u32,
    pub reminder_delay: Duration,
    /// How long a root-message refresh waits for more orders to draw with it.
    pub summary_refresh_delay: Duration,
}

/// Slack asks apps to update a message at most about once a second; a burst of orders
/// within it becomes one `chat.update`.
pub const SUMMARY_REFRESH_DELAY: Duration = Duration::from_secs(1);

impl From<&Settings> for RunRules {
    fn from(s: &Settings) -> Self {
        Self {
            policy: s.fairness_policy,
            fairness_window_days: s.fairness_window_days,
            active_window_days: s.active_window_days,
            assign_window: Duration::from_secs(s.assign_window_secs),
            assign_max_orders: s.assign_max_orders,
            reminder_delay: Duration::from_secs(s.reminder_delay_secs),
            summary_refresh_delay: SUMMARY_REFRESH_DELAY,
        }
    }
}
