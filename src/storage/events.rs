//! The audit row and, for published event types, the outbox row of a domain event,
//! written together in the caller's transaction by the `record_event` SQL function
//! (`storage/sql/record_event.sql`), which `place_order` calls too.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::domain::{DomainEvent, EventPayload};

pub async fn record(conn: &mut PgConnection, event: &DomainEvent) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT record_event($1)", Json(row(event)) as _)
        .execute(conn)
        .await?;
    Ok(())
}

/// An event as `record_event` takes it: the payload plus where the audit and outbox rows
/// need their columns from.
#[derive(Debug, Serialize)]
pub struct EventRow<'a> {
    event_id: Uuid,
    audit_type: &'static str,
    event_type: &'static str,
    topic: Option<&'static str>,
    user_id: Option<&'a str>,
    timestamp: DateTime<Utc>,
    payload: EventPayload<'a>,
}

/// The event as `record_event` takes it; bind it as `Json(row)`, which serializes it
/// straight into the statement's parameter.
pub fn row(event: &DomainEvent) -> EventRow<'_> {
    EventRow {
        event_id: event.event_id,
        audit_type: event.kind.audit_type(),
        event_type: event.kind.event_type(),
        topic: event.kind.topic(),
        user_id: event.actor_user_id.as_deref(),
        timestamp: event.timestamp,
        payload: event.payload(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::row;
    use crate::domain::{DomainEvent, RunScope};

    #[test]
    fn a_row_carries_the_columns_and_the_payload_record_event_reads() {
        let scope = RunScope {
            run_id: Uuid::new_v4(),
            workspace_id: "T1".into(),
            channel_id: "C1".into(),
        };
        let event = DomainEvent::reminder_sent(&scope, "U9");
        let row = serde_json::to_value(row(&event)).unwrap();
        assert_eq!(row["event_id"], json!(event.event_id));
        assert_eq!(row["audit_type"], "reminder_sent");
        assert_eq!(row["event_type"], "coffee.reminder.sent");
        assert_eq!(row["topic"], serde_json::Value::Null, "audit only");
        assert_eq!(row["user_id"], "U9");
        assert_eq!(row["timestamp"], json!(event.timestamp));
        assert_eq!(
            row["payload"],
            json!({
                "event_id": event.event_id,
                "event_type": "coffee.reminder.sent",
                "run_id": scope.run_id,
                "workspace_id": "T1",
                "channel_id": "C1",
                "timestamp": event.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "runner_user_id": "U9",
            })
        );
    }
}
