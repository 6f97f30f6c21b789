//! `orders` queries.

use serde::Deserialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// One line of a run's order list (also read as JSON: `begin_summary_refresh`).
#[derive(Debug, Clone, FromRow, Deserialize)]
pub struct OrderLine {
    pub user_id: String,
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
}

/// The run's orders in the order they were first placed.
pub async fn list_for_run(
    conn: &mut PgConnection,
    run_id: Uuid,
) -> Result<Vec<OrderLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, drink_type, size, customizations FROM orders
         WHERE run_id = $1 ORDER BY created_at, user_id",
    )
    .bind(run_id)
    .fetch_all(conn)
    .await
}

/// An order as the REST API shows it.
#[derive(Debug, Clone, FromRow)]
pub struct OrderRecord {
    pub order_id: Uuid,
    pub user_id: String,
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn records_for_run(
    pool: &sqlx::PgPool,
    run_id: Uuid,
) -> Result<Vec<OrderRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT order_id, user_id, drink_type, size, customizations, created_at FROM orders
         WHERE run_id = $1 ORDER BY created_at, user_id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await
}
