//! PostgreSQL access: the pool, migrations, and one small function per query.
//!
//! Queries are runtime-checked (`sqlx::query`), not `query!` macros, so building needs no
//! database; every query runs in the integration tests against a real PostgreSQL.

pub mod events;
pub mod fairness;
pub mod job_queue;
pub mod orders;
mod pool;
pub mod preferences;
pub mod retention;
pub mod row_counts;
pub mod runs;
pub mod schema;
pub mod slack_events;
pub mod slack_pacer;
pub mod users;
pub mod warm;

pub use pool::{DatabaseError, close, connect, connect_options, migrate};
pub use slack_pacer::SlackPacer;
pub use warm::{WarmConnection, WarmConnections};
