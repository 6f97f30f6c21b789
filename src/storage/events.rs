//! The audit row and, for published event types, the outbox row of a domain event,
//! written together in the caller's transaction by the `record_event` SQL function
//! (migration `20261125000003`), which `place_order` calls too.

use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::domain::DomainEvent;

pub async fn record(conn: &mut PgConnection, event: &DomainEvent) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT record_event($1)")
        .bind(row(event))
        .execute(conn)
        .await?;
    Ok(())
}

/// The event as `record_event` takes it.
pub fn row(event: &DomainEvent) -> Value {
    json!({
        "event_id": event.event_id,
        "audit_type": event.kind.audit_type(),
        "event_type": event.kind.event_type(),
        "topic": event.kind.topic(),
        "user_id": event.actor_user_id,
        "timestamp": event.timestamp,
        "payload": event.payload(),
    })
}
