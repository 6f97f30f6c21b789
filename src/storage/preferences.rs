//! `user_preferences` (REQ-013): each order counts towards its (user, drink, size).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::domain::OrderInput;

#[derive(Debug, Clone, FromRow)]
pub struct Preference {
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub order_count: i32,
    pub last_ordered_at: DateTime<Utc>,
}

/// Remembers `order` as the user's latest of its drink and size; `counts` adds one to its
/// `order_count` (a new order does, a changed one does not).
pub async fn record(
    conn: &mut PgConnection,
    user_id: &str,
    order: &OrderInput,
    counts: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_preferences (user_id, drink_type, size, customizations)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT user_preferences_user_drink_size DO UPDATE
         SET order_count = user_preferences.order_count + CASE WHEN $5 THEN 1 ELSE 0 END,
             customizations = EXCLUDED.customizations,
             last_ordered_at = NOW()",
    )
    .bind(user_id)
    .bind(order.drink_type.as_str())
    .bind(order.size.as_str())
    .bind(order.customizations.as_ref().map(|c| c.as_str()))
    .bind(counts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every preference of the user, most ordered first. A user has at most one row per drink
/// and size (15), so callers pick the top 3 and the latest from this one read.
pub async fn all_for_user(pool: &PgPool, user_id: &str) -> Result<Vec<Preference>, sqlx::Error> {
    sqlx::query_as(
        "SELECT drink_type, size, customizations, order_count, last_ordered_at
         FROM user_preferences WHERE user_id = $1
         ORDER BY order_count DESC, last_ordered_at DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
