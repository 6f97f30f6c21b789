//! The post-run survey (the SPEC's satisfaction metric): a participant of a completed run
//! answers 👍 or 👎 from the completion reply; one answer per person per run, changeable,
//! each audited (`survey_answered`).

use sqlx::PgPool;
use uuid::Uuid;

use super::scope;
use crate::{
    domain::{DomainEvent, RunStatus, SurveyAnswer},
    storage::{
        events,
        job_queue::{Announcer, UnitOfWork},
        runs, survey,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyOutcome {
    Recorded,
    /// Only those who ordered in the run answer for it.
    NotParticipant,
    /// The run is still on, or was cancelled.
    NotCompleted,
    NotFound,
}

/// Records `user_id`'s answer for the run, replacing an earlier one, with its audit row.
pub async fn answer_survey(
    pool: &PgPool,
    announcer: &Announcer,
    run_id: Uuid,
    user_id: &str,
    answer: SurveyAnswer,
) -> Result<SurveyOutcome, sqlx::Error> {
    let mut work = UnitOfWork::begin(pool, announcer).await?;
    let Some(run) = runs::find(work.conn(), run_id).await? else {
        return Ok(SurveyOutcome::NotFound);
    };
    if run.status != RunStatus::Completed {
        return Ok(SurveyOutcome::NotCompleted);
    }
    if !runs::is_participant(work.conn(), run_id, user_id).await? {
        return Ok(SurveyOutcome::NotParticipant);
    }
    survey::record(work.conn(), run_id, user_id, answer).await?;
    events::record(
        work.conn(),
        &DomainEvent::survey_answered(&scope(&run), user_id, answer),
    )
    .await?;
    work.commit().await?;
    Ok(SurveyOutcome::Recorded)
}
