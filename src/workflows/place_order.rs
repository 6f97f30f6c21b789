//! Order submission (REQ-006, REQ-013, CONTRACT "Order submission").

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{RunRules, assign_runner};
use crate::{
    domain::{DomainEvent, OrderInput, RunScope},
    jobs::{self, SlackMessage},
    storage::{events, orders, preferences, runs, users},
};

/// Concurrent transactions can finish the run we conflicted with between our two
/// statements; a handful of tries always converges.
const MAX_RUN_LOOKUPS: usize = 3;

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

/// Places (or replaces) the user's order in the channel's active run, starting the run if
/// there is none. One transaction: user, run, order, preference, audit, outbox, and the
/// job that posts or refreshes the run's root message.
pub async fn place_order(
    pool: &PgPool,
    rules: &RunRules,
    request: &OrderRequest,
) -> Result<PlacedOrder, PlaceOrderError> {
    let mut tx = pool.begin().await?;
    users::upsert(&mut tx, &request.user_id, request.display_name.as_deref()).await?;
    let (run, run_created) = active_run(&mut tx, request).await?;
    if request.run_id.is_some_and(|wanted| wanted != run.run_id) {
        return Err(PlaceOrderError::RunNotActive);
    }
    if run.runner_user_id.is_some() {
        return Err(PlaceOrderError::RunnerAssigned);
    }
    let order = orders::upsert(&mut tx, run.run_id, &request.user_id, &request.order).await?;
    // A changed order is still one coffee: only a new order counts towards the usuals.
    preferences::record(&mut tx, &request.user_id, &request.order, !order.replaced).await?;
    let (version, orders_in_run) = runs::bump_summary_version(&mut tx, run.run_id).await?;

    let scope = RunScope {
        run_id: run.run_id,
        workspace_id: run.workspace_id.clone(),
        channel_id: run.channel_id.clone(),
    };
    if run_created {
        events::record(&mut tx, &DomainEvent::run_created(&scope, &request.user_id)).await?;
    }
    let placed =
        DomainEvent::order_placed(&scope, &request.user_id, order.order_id, &request.order);
    events::record(&mut tx, &placed).await?;
    jobs::enqueue(
        &mut tx,
        &SlackMessage::RunSummary {
            run_id: run.run_id,
            version,
        },
        None,
    )
    .await?;
    // The first order schedules the assignment for the end of the window; the order that
    // fills the run asks for it now. Either job finding a runner already does nothing.
    if run_created {
        assign_runner::schedule(&mut tx, run.run_id, Some(rules.assign_window)).await?;
    }
    if !order.replaced && orders_in_run == i64::from(rules.assign_max_orders) {
        assign_runner::schedule(&mut tx, run.run_id, None).await?;
    }
    tx.commit().await?;

    Ok(PlacedOrder {
        run_id: run.run_id,
        order_id: order.order_id,
        replaced: order.replaced,
        run_created,
        orders_in_run,
    })
}

/// The channel's active run, locked for this transaction, created if there is none.
async fn active_run(
    conn: &mut PgConnection,
    request: &OrderRequest,
) -> Result<(runs::Run, bool), PlaceOrderError> {
    for _ in 0..MAX_RUN_LOOKUPS {
        if let Some(run) = runs::create_if_none_active(
            conn,
            &request.workspace_id,
            &request.channel_id,
            &request.user_id,
        )
        .await?
        {
            return Ok((run, true));
        }
        if let Some(run) =
            runs::lock_active(conn, &request.workspace_id, &request.channel_id).await?
        {
            return Ok((run, false));
        }
    }
    Err(PlaceOrderError::Contended)
}
