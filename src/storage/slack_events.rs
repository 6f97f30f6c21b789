//! Events API deliveries already handled: Slack retries an event it thinks we missed.

use sqlx::PgConnection;

/// Records `event_id` as handled; false when it was already, by an earlier delivery.
pub async fn first_delivery(conn: &mut PgConnection, event_id: &str) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO slack_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
        event_id,
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
