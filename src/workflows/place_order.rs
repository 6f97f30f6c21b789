//! Order submission (REQ-006, REQ-013, CONTRACT "Order submission").

use sqlx::{FromRow, PgConnection, types::Json};
use uuid::Uuid;

use super::RunRules;
use crate::{
    domain::{DomainEvent, OrderInput, RunScope},
    jobs::{self, Announcer, AssignRunner, Job, Queued, SlackMessage},
    storage::{WarmConnections, events},
};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub run_id: Uuid,
    pub order_id: Uuid,
    /// The user already had an order in this run and it was replaced.
    pub replaced: bool,
    /// This order started the run.
    pub run_created: bool,
    pub orders_in_run: i64,
    /// The jobs it queued due now, to announce once the order commits.
    pub queued: Queued,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("a runner has already been picked for this run")]
    RunnerAssigned,
    #[error("the channel's run kept changing under us; try again")]
    Contended,
    #[error("that run is no longer taking orders")]
    RunNotActive,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// [`place_order`] on a connection of the warm set, handed on unless the database failed;
/// the order commits with its statement, and its jobs are announced.
pub async fn place_order_warm(
    warm: &WarmConnections,
    announcer: &Announcer,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<PlacedOrder, PlaceOrderError> {
    let mut conn = warm.acquire().await?;
    let placed = place_order(&mut conn, rules, request).await;
    if !matches!(placed, Err(PlaceOrderError::Database(_))) {
        conn.done();
    }
    if let Ok(placed) = &placed {
        announcer.announce(placed.queued.clone());
    }
    placed
}

/// Places (or replaces) the user's order in the channel's active run, starting the run if
/// there is none: user, run, order, preference, audit, outbox, and the jobs that post or
/// refresh the root message and assign the runner, in one statement and one commit (the
/// `place_order` SQL function, migration `20261125000003`; issue 7 measured the dozen
/// round trips it replaces as most of an order's cost).
///
/// The events and jobs are built here, as if this order started run `new_run_id` as order
/// `new_order_id`; the function fills in the ids the database decides.
pub async fn place_order(
    conn: &mut PgConnection,
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
    let run_created = DomainEvent::run_created(&scope, user);
    let order_placed = DomainEvent::order_placed(&scope, user, new_order_id, &request.order);
    let summary_job = SlackMessage::RunSummary { run_id: new_run_id };
    let assign_job = AssignRunner { run_id: new_run_id };
    let order = &request.order;

    let placed: PlacedRow = sqlx::query_as(
        "SELECT o_run_id, o_order_id, o_replaced, o_run_created, o_orders_in_run
         FROM place_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                          make_interval(secs => $15), make_interval(secs => $16), $17, $18)",
    )
    .bind(&request.workspace_id)
    .bind(&request.channel_id)
    .bind(user)
    .bind(request.display_name.as_deref())
    .bind(order.drink_type.as_str())
    .bind(order.size.as_str())
    .bind(order.customizations.as_ref().map(|c| c.as_str()))
    .bind(request.run_id)
    .bind(new_run_id)
    .bind(new_order_id)
    .bind(Json(events::row(&run_created)))
    .bind(Json(events::row(&order_placed)))
    .bind(Json(jobs::row(&summary_job)))
    .bind(Json(jobs::row(&assign_job)))
    .bind(rules.summary_refresh_delay.as_secs_f64())
    .bind(rules.assign_window.as_secs_f64())
    .bind(i32::try_from(rules.assign_max_orders).unwrap_or(i32::MAX))
    .bind([jobs::new_id(), jobs::new_id(), jobs::new_id()])
    .fetch_one(conn)
    .await
    .map_err(refusal)?;

    // What the function queues due now: a new run's first post, and the assignment when
    // this order fills the run (its `IF created` and `IF NOT o_replaced AND ... =
    // max_orders`). Its later refreshes and the window's assignment wait; polls find them.
    let mut queued = Queued::nothing();
    if placed.o_run_created {
        queued.add(SlackMessage::QUEUE);
    }
    let fills_run = i64::from(rules.assign_max_orders) == placed.o_orders_in_run;
    if !placed.o_replaced && fills_run {
        queued.add(AssignRunner::QUEUE);
    }
    Ok(PlacedOrder {
        run_id: placed.o_run_id,
        order_id: placed.o_order_id,
        replaced: placed.o_replaced,
        run_created: placed.o_run_created,
        orders_in_run: placed.o_orders_in_run,
        queued,
    })
}

#[derive(FromRow)]
struct PlacedRow {
    o_run_id: Uuid,
    o_order_id: Uuid,
    o_replaced: bool,
    o_run_created: bool,
    o_orders_in_run: i64,
}

/// The refusals `place_order` raises, by the SQLSTATE it gives each.
fn refusal(error: sqlx::Error) -> PlaceOrderError {
    let code = error.as_database_error().and_then(|e| e.code());
    match code.as_deref() {
        Some("CB001") => PlaceOrderError::RunnerAssigned,
        Some("CB002") => PlaceOrderError::RunNotActive,
        Some("CB003") => PlaceOrderError::Contended,
        _ => PlaceOrderError::Database(error),
    }
}
