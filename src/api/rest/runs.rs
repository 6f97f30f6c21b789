//! `/api/v1/runs`: create, read, order into, complete and cancel runs.

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{BearerToken, RestError, RestTags, authenticate, models, require_workspace};
use crate::{
    api::state::AppState,
    auth::Caller,
    domain::{OrderInput, OrderInputError, RunStatus, check_slack_id},
    storage::{orders, runs},
    workflows::{
        Actor,
        place_order::{self, OrderRequest, PlaceOrderError, StartedRun, place_order_warm},
        run_controls::{Cancellation, Completion, cancel_run, complete_run},
    },
};

pub struct RunsApi;

#[derive(ApiResponse)]
pub enum Created {
    /// Created; the body is the run as it is now.
    #[oai(status = 201)]
    Run(Json<models::Run>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "RestTags::Runs")]
impl RunsApi {
    /// Starts a coffee run in a channel with the caller's order (409 if the channel has an
    /// active run: order into that one instead). The caller's token must name the workspace.
    #[oai(path = "/runs", method = "post")]
    async fn create_run(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        body: Json<models::NewRun>,
    ) -> Result<Created, RestError> {
        let caller = authenticate(&state, &auth).await?;
        let body = body.0;
        for (field, value) in [
            ("workspace_id", &body.workspace_id),
            ("channel_id", &body.channel_id),
        ] {
            check_slack_id(value).map_err(|e| RestError::invalid(&format!("{field} {e}")))?;
        }
        require_workspace(&caller, &body.workspace_id)?;
        let order = parse_order(&body.drink_type, &body.size, body.customizations.as_deref())?;
        let request = OrderRequest {
            workspace_id: body.workspace_id,
            channel_id: body.channel_id,
            user_id: caller.user_id,
            display_name: None,
            order,
            run_id: None,
        };
        let run_id = start_run(&state, request).await?;
        Ok(Created::Run(Json(load(&state, run_id).await?)))
    }

    /// A run with its orders: for its initiator, runner and participants, or an admin.
    #[oai(path = "/runs/:run_id", method = "get")]
    async fn get_run(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        run_id: Path<Uuid>,
    ) -> Result<Json<models::Run>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        let run = load(&state, run_id.0).await?;
        let involved = caller.admin
            || run.initiator_user_id == caller.user_id
            || run.runner_user_id.as_deref() == Some(caller.user_id.as_str())
            || run.orders.iter().any(|o| o.user_id == caller.user_id);
        if !involved {
            return Err(RestError::unauthorized("you have no part in this run"));
        }
        Ok(Json(run))
    }

    /// Places or replaces the caller's order in the run (409 once a runner is picked or the
    /// run is over). The caller's token must name the run's workspace.
    #[oai(path = "/runs/:run_id/orders", method = "post")]
    async fn add_order(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        run_id: Path<Uuid>,
        body: Json<models::NewOrder>,
    ) -> Result<Created, RestError> {
        let caller = authenticate(&state, &auth).await?;
        let order = parse_order(&body.drink_type, &body.size, body.customizations.as_deref())?;
        let run = runs::record(&state.pool, run_id.0)
            .await
            .map_err(|e| RestError::database("load run", &e))?
            .ok_or_else(|| RestError::not_found("no such run"))?;
        require_workspace(&caller, &run.workspace_id)?;
        let request = OrderRequest {
            workspace_id: run.workspace_id,
            channel_id: run.channel_id,
            user_id: caller.user_id,
            display_name: None,
            order,
            run_id: Some(run.run_id),
        };
        order_into(&state, request).await?;
        Ok(Created::Run(Json(load(&state, run.run_id).await?)))
    }

    /// Marks the run complete: its runner, or an admin.
    #[oai(path = "/runs/:run_id/complete", method = "patch")]
    async fn complete(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        run_id: Path<Uuid>,
    ) -> Result<Json<models::Run>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        let outcome = complete_run(&state.pool, &state.announcer, run_id.0, actor(&caller))
            .await
            .map_err(|e| RestError::database("complete run", &e))?;
        match outcome {
            Completion::Completed { .. } => {
                state.metrics.run_ended(RunStatus::Completed);
                Ok(Json(load(&state, run_id.0).await?))
            }
            Completion::NotRunner => Err(RestError::unauthorized(
                "only the runner can complete the run",
            )),
            Completion::NoRunner => Err(RestError::conflict("the run has no runner yet")),
            Completion::AlreadyOver { status } => {
                Err(RestError::conflict(&format!("the run is already {status}")))
            }
            Completion::NotFound => Err(RestError::not_found("no such run")),
        }
    }

    /// Cancels the run: its initiator or runner, or an admin.
    #[oai(path = "/runs/:run_id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        run_id: Path<Uuid>,
    ) -> Result<Json<models::Run>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        let outcome = cancel_run(&state.pool, &state.announcer, run_id.0, actor(&caller))
            .await
            .map_err(|e| RestError::database("cancel run", &e))?;
        match outcome {
            Cancellation::Cancelled => {
                state.metrics.run_ended(RunStatus::Cancelled);
                Ok(Json(load(&state, run_id.0).await?))
            }
            Cancellation::NotAllowed { .. } => Err(RestError::unauthorized(
                "only the run's initiator or runner can cancel it",
            )),
            Cancellation::AlreadyOver { status } => {
                Err(RestError::conflict(&format!("the run is already {status}")))
            }
            Cancellation::NotFound => Err(RestError::not_found("no such run")),
        }
    }
}

fn actor(caller: &Caller) -> Actor<'_> {
    Actor {
        user_id: &caller.user_id,
        admin: caller.admin,
    }
}

fn parse_order(
    drink: &str,
    size: &str,
    customizations: Option<&str>,
) -> Result<OrderInput, RestError> {
    OrderInput::parse(Some(drink), Some(size), customizations).map_err(
        |errors: Vec<OrderInputError>| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            RestError::invalid(&text.join("; "))
        },
    )
}

async fn order_into(state: &AppState, request: OrderRequest) -> Result<Uuid, RestError> {
    let placed = place_order_warm(&state.warm, &state.announcer, &state.rules, &request)
        .await
        .map_err(refused)?;
    if !placed.replaced {
        state.metrics.order_placed(request.order.drink_type);
    }
    Ok(placed.run_id)
}

/// Starts the channel's run with the caller's order, or answers 409 when the channel has
/// one. Decided in one transaction: a run another request starts in the meantime is not
/// joined, the order is rolled back.
async fn start_run(state: &AppState, request: OrderRequest) -> Result<Uuid, RestError> {
    let started = place_order::start_run(&state.pool, &state.announcer, &state.rules, &request)
        .await
        .map_err(refused)?;
    match started {
        StartedRun::Started(placed) => {
            state.metrics.order_placed(request.order.drink_type);
            Ok(placed.run_id)
        }
        StartedRun::AlreadyActive { run_id } => Err(RestError::conflict(&format!(
            "the channel already has an active run ({run_id}); order into it"
        ))),
    }
}

fn refused(error: PlaceOrderError) -> RestError {
    match error {
        PlaceOrderError::RunnerAssigned => {
            RestError::conflict("a runner has already been picked for this run")
        }
        PlaceOrderError::RunNotActive => RestError::conflict("the run is no longer taking orders"),
        PlaceOrderError::Contended => {
            RestError::conflict("the channel's run changed meanwhile; try again")
        }
        PlaceOrderError::Database(e) => RestError::database("place order", &e),
    }
}

async fn load(state: &AppState, run_id: Uuid) -> Result<models::Run, RestError> {
    let run = runs::record(&state.pool, run_id)
        .await
        .map_err(|e| RestError::database("load run", &e))?
        .ok_or_else(|| RestError::not_found("no such run"))?;
    let orders = orders::records_for_run(&state.pool, run_id)
        .await
        .map_err(|e| RestError::database("load orders", &e))?;
    Ok(models::Run::new(run, orders))
}
