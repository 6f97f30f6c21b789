//! Orders: placing one (the `place_order` SQL function) and reading them.

use std::time::Duration;

use serde::Deserialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{
    events,
    job_queue::{self, Job, UnitOfWork},
};
use crate::domain::DomainEvent;

/// One line of a run's order list (also read as JSON: `begin_summary_refresh`).
#[derive(Debug, Clone, Deserialize)]
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
    sqlx::query_as!(
        OrderLine,
        "SELECT user_id, drink_type, size, customizations FROM orders
         WHERE run_id = $1 ORDER BY created_at, user_id",
        run_id,
    )
    .fetch_all(conn)
    .await
}

/// An order as the REST API shows it.
#[derive(Debug, Clone)]
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
    sqlx::query_as!(
        OrderRecord,
        "SELECT order_id, user_id, drink_type, size, customizations, created_at FROM orders
         WHERE run_id = $1 ORDER BY created_at, user_id",
        run_id,
    )
    .fetch_all(pool)
    .await
}

/// Why the `place_order` SQL function refused an order; it raises each with its own
/// SQLSTATE, so a refusal changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// `CB001`: a runner has been picked for the channel's run; orders are closed.
    #[error("a runner has already been picked for this run")]
    RunnerAssigned,
    /// `CB002`: the order was for one run only (REST `POST /runs/{id}/orders`), and that
    /// run is not the channel's active run.
    #[error("that run is no longer taking orders")]
    RunNotActive,
    /// `CB003`: the channel's active run ended and began again under the order, three
    /// times.
    #[error("the channel's run kept changing under us; try again")]
    Contended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl PlaceOrderError {
    /// The refusal `place_order` raised, or the database error it is.
    fn from_database(error: sqlx::Error) -> Self {
        let code = error.as_database_error().and_then(|e| e.code());
        match code.as_deref() {
            Some("CB001") => Self::RunnerAssigned,
            Some("CB002") => Self::RunNotActive,
            Some("CB003") => Self::Contended,
            _ => Self::Database(error),
        }
    }
}

/// An order as `place_order` takes it, with the rows it writes if the order starts run
/// `new_run_id` as order `new_order_id` (the function fills in the ids the database
/// decides otherwise).
pub struct NewOrder<'a, S, A> {
    pub workspace_id: &'a str,
    pub channel_id: &'a str,
    pub user_id: &'a str,
    pub display_name: Option<&'a str>,
    pub drink_type: &'a str,
    pub size: &'a str,
    pub customizations: Option<&'a str>,
    /// Order into this run only; never start another.
    pub only_run_id: Option<Uuid>,
    pub new_run_id: Uuid,
    pub new_order_id: Uuid,
    /// Written if this order starts the run.
    pub run_created: &'a DomainEvent,
    pub order_placed: &'a DomainEvent,
    /// Redraws the root message; queued unless one is queued.
    pub summary_job: &'a S,
    /// Assigns the runner: at the window's end, and now when this order fills the run.
    pub assign_job: &'a A,
    pub summary_delay: Duration,
    pub assign_window: Duration,
    pub max_orders: u32,
}

/// What an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub run_id: Uuid,
    pub order_id: Uuid,
    /// The user already had an order in this run and it was replaced.
    pub replaced: bool,
    /// This order started the run.
    pub run_created: bool,
    pub orders_in_run: i64,
}

/// Places (or replaces) the user's order in the channel's active run, starting the run if
/// there is none: user, run, order, usual, audit rows, outbox events and jobs, in one
/// statement (the `place_order` SQL function).
pub async fn place<S: Job, A: Job>(
    work: &mut UnitOfWork<'_>,
    order: &NewOrder<'_, S, A>,
) -> Result<Placed, PlaceOrderError> {
    let row = sqlx::query_as!(
        PlacedRow,
        r#"SELECT o_run_id AS "o_run_id!", o_order_id AS "o_order_id!",
                  o_replaced AS "o_replaced!", o_run_created AS "o_run_created!",
                  o_orders_in_run AS "o_orders_in_run!", o_due_now AS "o_due_now!"
           FROM place_order(
               workspace => $1, channel => $2, orderer => $3, orderer_name => $4,
               drink => $5, drink_size => $6, extras => $7, only_run_id => $8,
               new_run_id => $9, new_order_id => $10, run_created => $11,
               order_placed => $12, summary_job => $13, assign_job => $14,
               summary_delay => make_interval(secs => $15),
               assign_window => make_interval(secs => $16),
               max_orders => $17, job_ids => $18)"#,
        order.workspace_id,
        order.channel_id,
        order.user_id,
        order.display_name,
        order.drink_type,
        order.size,
        order.customizations,
        order.only_run_id,
        order.new_run_id,
        order.new_order_id,
        Json(events::row(order.run_created)) as _,
        Json(events::row(order.order_placed)) as _,
        Json(job_queue::row(order.summary_job)) as _,
        Json(job_queue::row(order.assign_job)) as _,
        order.summary_delay.as_secs_f64(),
        order.assign_window.as_secs_f64(),
        i32::try_from(order.max_orders).unwrap_or(i32::MAX),
        &[
            job_queue::new_id(),
            job_queue::new_id(),
            job_queue::new_id()
        ] as &[String],
    )
    .fetch_one(work.conn())
    .await
    .map_err(PlaceOrderError::from_database)?;
    for queue in row.o_due_now {
        work.made_due(queue);
    }
    Ok(Placed {
        run_id: row.o_run_id,
        order_id: row.o_order_id,
        replaced: row.o_replaced,
        run_created: row.o_run_created,
        orders_in_run: row.o_orders_in_run,
    })
}

struct PlacedRow {
    o_run_id: Uuid,
    o_order_id: Uuid,
    o_replaced: bool,
    o_run_created: bool,
    o_orders_in_run: i64,
    /// The queues of the jobs it queued due now.
    o_due_now: Vec<String>,
}
