//! Order submission (REQ-006, REQ-013, CONTRACT "Order submission").
//!
//! The order's rules are the `place_order` SQL function's (`storage/sql/place_order.sql`),
//! one statement and one commit: which run it joins, when it is refused, what it does to
//! the user's usuals, and which jobs it queues. This module builds the events and jobs it
//! writes and says which run, if any, the order may go to.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    RunRules,
    jobs::{AssignRunner, SlackMessage},
};
use crate::{
    domain::{DomainEvent, OrderInput, RunScope},
    storage::{
        WarmConnections,
        job_queue::{Announcer, UnitOfWork},
        orders::{self, NewOrder},
    },
};

pub use crate::storage::orders::{PlaceOrderError, Placed as PlacedOrder};

#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub workspace_id: String,
    pub channel_id: String,
    pub user_id: String,
    pub display_name: Option<String>,
    pub order: OrderInput,
    /// Order into this run only (REST `POST /runs/{id}/orders`); never start another.
    pub run_id: Option<Uuid>,
}

/// [`place_order`] on a connection of the warm set, handed on unless the database failed.
pub async fn place_order_warm(
    warm: &WarmConnections,
    announcer: &Announcer,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<PlacedOrder, PlaceOrderError> {
    let mut conn = warm.acquire().await?;
    let placed = place_order(&mut conn, announcer, rules, request).await;
    if !matches!(placed, Err(PlaceOrderError::Database(_))) {
        conn.done();
    }
    placed
}

/// Places (or replaces) the user's order in the channel's active run, starting the run if
/// there is none. `conn` must not be in a transaction: the order commits with its one
/// statement, and the jobs it made due are announced then.
pub async fn place_order(
    conn: &mut PgConnection,
    announcer: &Announcer,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<PlacedOrder, PlaceOrderError> {
    let mut work = UnitOfWork::single_statement(conn, announcer);
    let placed = place(&mut work, rules, request).await?;
    work.commit().await?;
    Ok(placed)
}

/// What [`start_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartedRun {
    Started(PlacedOrder),
    /// The channel has an active run already; nothing changed.
    AlreadyActive {
        run_id: Uuid,
    },
}

/// Starts the channel's run with the caller's order, unless the channel has one: decided
/// in one transaction, so a run another request starts meanwhile is not joined.
pub async fn start_run(
    pool: &PgPool,
    announcer: &Announcer,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<StartedRun, PlaceOrderError> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let placed = place(&mut work, rules, request).await?;
    if !placed.run_created {
        // Dropped uncommitted: the order is rolled back.
        return Ok(StartedRun::AlreadyActive {
            run_id: placed.run_id,
        });
    }
    work.commit().await?;
    Ok(StartedRun::Started(placed))
}

/// The order's rows, as if it started run `new_run_id` as order `new_order_id`; the SQL
/// function fills in the ids the database decides.
async fn place(
    work: &mut UnitOfWork<'_>,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<PlacedOrder, PlaceOrderError> {
    let (new_run_id, new_order_id) = (Uuid::new_v4(), Uuid::new_v4());
    let scope = RunScope {
        run_id: new_run_id,
        workspace_id: request.workspace_id.clone(),
        channel_id: request.channel_id.clone(),
    };
    let user = request.user_id.as_str();
    let order = &request.order;
    orders::place(
        work,
        &NewOrder {
            workspace_id: &request.workspace_id,
            channel_id: &request.channel_id,
            user_id: user,
            display_name: request.display_name.as_deref(),
            drink_type: order.drink_type.as_str(),
            size: order.size.as_str(),
            customizations: order.customizations.as_ref().map(|c| c.as_str()),
            only_run_id: request.run_id,
            new_run_id,
            new_order_id,
            run_created: &DomainEvent::run_created(&scope, user),
            order_placed: &DomainEvent::order_placed(&scope, user, new_order_id, order),
            summary_job: &SlackMessage::RunSummary { run_id: new_run_id },
            assign_job: &AssignRunner { run_id: new_run_id },
            summary_delay: rules.summary_refresh_delay,
            assign_window: rules.assign_window,
            max_orders: rules.assign_max_orders,
        },
    )
    .await
}
