//! PostgreSQL access: the pool, the schema, and one small function per query.
//!
//! Queries are sqlx's `query!` macros, checked at build time against `.sqlx/` (committed;
//! `scripts/sqlx-prepare.sh` regenerates it), so building needs no database. The only
//! statements built at run time are the SQL function files (`schema`) and `CREATE
//! DATABASE` (identifiers cannot be bound).

pub mod app_home;
pub mod events;
pub mod fairness;
pub mod job_queue;
pub mod orders;
mod pool;
pub mod preferences;
pub mod retention;
pub mod row_counts;
pub mod runner_dms;
pub mod runs;
pub mod schema;
pub mod slack_events;
pub mod slack_pacer;
pub mod survey;
pub mod users;
pub mod warm;

pub use pool::{DatabaseError, close, connect, connect_options, migrate};
pub use slack_pacer::SlackPacer;
pub use warm::{WarmConnection, WarmConnections};
