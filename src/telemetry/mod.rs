//! Logs and metrics.

mod log_budget;
mod logging;
mod metrics;

pub use log_budget::LogBudget;
pub use logging::init_logging;
pub use metrics::Metrics;
