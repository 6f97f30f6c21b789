//! `orders` queries.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::OrderInput;

/// The user's order in the run: inserted, or replaced if they had one.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct UpsertedOrder {
    pub order_id: Uuid,
    pub replaced: bool,
}

pub async fn upsert(
    conn: &mut PgConnection,
    run_id: Uuid,
    user_id: &str,
    order: &OrderInput,
) -> Result<UpsertedOrder, sqlx::Error> {
    // `xmax = 0` only for a freshly inserted row: it tells insert from update in one trip.
    sqlx::query_as(
        "INSERT INTO orders (run_id, user_id, drink_type, size, customizations)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT orders_one_per_user_per_run DO UPDATE
         SET drink_type = EXCLUDED.drink_type,
             size = EXCLUDED.size,
             customizations = EXCLUDED.customizations,
             updated_at = NOW()
         RETURNING order_id, (xmax <> 0) AS replaced",
    )
    .bind(run_id)
    .bind(user_id)
    .bind(order.drink_type.as_str())
    .bind(order.size.as_str())
    .bind(order.customizations.as_ref().map(|c| c.as_str()))
    .fetch_one(conn)
    .await
}

/// One line of a run's order list.
#[derive(Debug, Clone, FromRow)]
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
