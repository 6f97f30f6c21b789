//! `user_preferences` (REQ-013): each order counts towards its (user, drink, size); the
//! `place_order` SQL function writes them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct Preference {
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub order_count: i32,
    pub last_ordered_at: DateTime<Utc>,
}

/// Every preference of the user, most ordered first. A user has at most one row per drink
/// and size (15), so callers pick the top 3 and the latest from this one read.
pub async fn all_for_user(pool: &PgPool, user_id: &str) -> Result<Vec<Preference>, sqlx::Error> {
    sqlx::query_as!(
        Preference,
        "SELECT drink_type, size, customizations, order_count, last_ordered_at
         FROM user_preferences WHERE user_id = $1
         ORDER BY order_count DESC, last_ordered_at DESC",
        user_id,
    )
    .fetch_all(pool)
    .await
}
