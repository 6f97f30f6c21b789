//! The audit row and, for published event types, the outbox row of a domain event,
//! written together in the caller's transaction.

use sqlx::PgConnection;

use crate::domain::DomainEvent;

pub async fn record(conn: &mut PgConnection, event: &DomainEvent) -> Result<(), sqlx::Error> {
    let payload = event.payload();
    sqlx::query(
        "WITH audit AS (
             INSERT INTO audit_logs (event_type, user_id, run_id, payload, timestamp)
             VALUES ($1, $2, $3, $4, $5)
         )
         INSERT INTO outbox (event_id, event_type, topic, message_key, payload, created_at)
         SELECT $6, $7, $8, $9, $4, $5 WHERE $8::text IS NOT NULL",
    )
    .bind(event.kind.audit_type())
    .bind(event.actor_user_id.as_deref())
    .bind(event.scope.run_id)
    .bind(&payload)
    .bind(event.timestamp)
    .bind(event.event_id)
    .bind(event.kind.event_type())
    .bind(event.kind.topic())
    .bind(event.scope.run_id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
