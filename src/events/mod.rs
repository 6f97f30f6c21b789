//! Domain events leave through the transactional outbox: every state change writes its
//! `outbox` row in its own transaction, and the relay publishes the rows to Kafka.

mod relay;

pub use relay::{Pass, Relay, RelayError, RelaySettings, TOPICS};
