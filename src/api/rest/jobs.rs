//! `/api/v1/jobs` and `/api/v1/fairness`: for operators.

use poem::web::Data;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    BearerToken, RestError, RestTags, authenticate, models, require_admin, require_workspace,
};
use crate::{
    api::state::AppState,
    domain::{check_slack_id, fairness},
    storage::{
        job_queue::{self, JobState},
        runs, survey,
    },
};

pub struct OpsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "RestTags::Ops")]
impl OpsApi {
    /// Jobs in a state (`failed`: given up, with their last error and attempts), newest
    /// first, at most 200. Admin only.
    #[oai(path = "/jobs", method = "get")]
    async fn list_jobs(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        #[oai(name = "state")] job_state: Query<String>,
    ) -> Result<Json<Vec<models::Job>>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        require_admin(&caller)?;
        let wanted = JobState::parse(&job_state.0)
            .ok_or_else(|| RestError::invalid("state must be failed, pending or done"))?;
        let found = job_queue::list(&state.pool, wanted, 200)
            .await
            .map_err(|e| RestError::database("list jobs", &e))?;
        Ok(Json(found.into_iter().map(Into::into).collect()))
    }

    /// Runs a failed job again from its first attempt (409 if it has not failed), with the
    /// jobs given up because it was (a root message's thread replies). Admin only.
    #[oai(path = "/jobs/:job_id/retry", method = "post")]
    async fn retry_job(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        job_id: Path<String>,
    ) -> Result<Json<models::Job>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        require_admin(&caller)?;
        match job_queue::retry(&state.pool, &state.announcer, &job_id.0)
            .await
            .map_err(|e| RestError::database("retry job", &e))?
        {
            job_queue::Retry::Requeued(job) => {
                tracing::info!(job_id = %job_id.0, by = %caller.user_id, "failed job requeued");
                Ok(Json(job.into()))
            }
            job_queue::Retry::NotFailed => {
                Err(RestError::conflict("only failed jobs can be retried"))
            }
            job_queue::Retry::NotFound => Err(RestError::not_found("no such job")),
        }
    }

    /// The post-run survey's answers in a workspace's runs over FAIRNESS_WINDOW_DAYS, and
    /// the satisfaction share: for callers whose token names the workspace, or admins.
    #[oai(path = "/survey", method = "get")]
    async fn survey(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        workspace_id: Query<String>,
    ) -> Result<Json<models::Survey>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        check_slack_id(&workspace_id.0)
            .map_err(|e| RestError::invalid(&format!("workspace_id {e}")))?;
        require_workspace(&caller, &workspace_id.0)?;
        let window_days = state.rules.fairness_window_days;
        let (up, down) = survey::tally(&state.pool, &workspace_id.0, window_days)
            .await
            .map_err(|e| RestError::database("survey", &e))?;
        let answers = up + down;
        Ok(Json(models::Survey {
            workspace_id: workspace_id.0,
            window_days,
            up,
            down,
            satisfaction: (answers > 0).then(|| up as f64 / answers as f64),
        }))
    }

    /// Runs made per active user of a workspace over FAIRNESS_WINDOW_DAYS, and their
    /// standard deviation: for callers whose token names the workspace, or admins.
    #[oai(path = "/fairness", method = "get")]
    async fn fairness(
        &self,
        state: Data<&AppState>,
        auth: BearerToken,
        workspace_id: Query<String>,
    ) -> Result<Json<models::Fairness>, RestError> {
        let caller = authenticate(&state, &auth).await?;
        check_slack_id(&workspace_id.0)
            .map_err(|e| RestError::invalid(&format!("workspace_id {e}")))?;
        require_workspace(&caller, &workspace_id.0)?;
        let window_days = state.rules.fairness_window_days;
        let counts = runs::runs_per_user(&state.pool, &workspace_id.0, window_days)
            .await
            .map_err(|e| RestError::database("fairness", &e))?;
        let runs: Vec<i64> = counts.iter().map(|(_, runs)| *runs).collect();
        let std_dev = fairness::run_count_std_dev(&runs);
        Ok(Json(models::Fairness {
            workspace_id: workspace_id.0,
            window_days,
            users: counts
                .into_iter()
                .map(|(user_id, runs)| models::UserRuns { user_id, runs })
                .collect(),
            std_dev,
        }))
    }
}
