//! The Home tab (CONTRACT "App Home"): `app_home_opened` queues one publish per user at a
//! time, and the publish job reads what the tab shows.

use chrono::Utc;
use sqlx::PgPool;

use super::{RunRules, jobs::SlackMessage, order_form::TOP_USUALS};
use crate::{
    domain::fairness::{self, FairnessPolicy},
    slack::views::{self, ActiveRunLine, HomeTab, SummaryLine, Usual},
    storage::{app_home, fairness::ledger_members, job_queue::UnitOfWork, preferences, runs},
};

/// Active runs listed.
const ACTIVE_RUNS_SHOWN: u32 = 20;
/// Users the ledger reads. The tab shows the first [`views::LEDGER_LINES_SHOWN`] and counts
/// the rest; under `carpool` the order is by debt, so it reads more than it shows.
const LEDGER_USERS_READ: u32 = 1_000;

/// `app_home_opened` on the Home tab: queues a publish of `user_id`'s tab in `work`, unless
/// one is queued already. True if it queued one.
pub async fn queue_publish(
    work: &mut UnitOfWork<'_>,
    workspace_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    if !app_home::claim_publish(work.conn(), user_id, workspace_id).await? {
        return Ok(false);
    }
    let publish = SlackMessage::PublishHome {
        workspace_id: workspace_id.to_owned(),
        user_id: user_id.to_owned(),
    };
    work.enqueue(&publish, None).await?;
    Ok(true)
}

/// The tab `user_id` sees in `workspace_id`, read now. Lets the next `app_home_opened`
/// queue another publish first, so nothing changed after this read goes unshown.
pub async fn home_view(
    pool: &PgPool,
    rules: &RunRules,
    workspace_id: &str,
    user_id: &str,
) -> Result<serde_json::Value, sqlx::Error> {
    let preferences = preferences::all_for_user(pool, user_id).await?;
    let mut conn = pool.acquire().await?;
    app_home::release_publish(&mut conn, workspace_id, user_id).await?;
    let usuals = preferences
        .iter()
        .take(TOP_USUALS)
        .map(Usual::from)
        .collect();
    let active_runs =
        runs::active_in_workspace(&mut conn, workspace_id, user_id, ACTIVE_RUNS_SHOWN)
            .await?
            .into_iter()
            .map(|run| ActiveRunLine {
                your_order: run
                    .drink_type
                    .zip(run.size)
                    .map(|(drink_type, size)| SummaryLine {
                        user_id: user_id.to_owned(),
                        drink_type,
                        size,
                        customizations: run.customizations,
                    }),
                channel_id: run.channel_id,
                initiator_user_id: run.initiator_user_id,
                runner_user_id: run.runner_user_id,
                created_at: run.created_at,
                order_count: run.order_count,
            })
            .collect();
    let members = ledger_members(
        &mut conn,
        workspace_id,
        rules.fairness_window_days,
        rules.policy == FairnessPolicy::Carpool,
        LEDGER_USERS_READ,
    )
    .await?;
    let runs_made: Vec<i64> = members.iter().map(|m| i64::from(m.runs)).collect();
    let home = HomeTab {
        user_id: user_id.to_owned(),
        usuals,
        active_runs,
        policy: rules.policy,
        window_days: rules.fairness_window_days,
        ledger: fairness::ledger(rules.policy, &members),
        std_dev: fairness::run_count_std_dev(&runs_made),
        as_of: Utc::now(),
    };
    Ok(views::home_tab(&home))
}
