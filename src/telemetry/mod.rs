//! Logs and metrics.

mod logging;
mod metrics;

pub use logging::init_logging;
pub use metrics::Metrics;
