//! The post-run survey's answers (`survey_answers`): one per participant per run.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::SurveyAnswer;

/// Records `user_id`'s answer for the run, replacing an earlier one.
pub async fn record(
    conn: &mut PgConnection,
    run_id: Uuid,
    user_id: &str,
    answer: SurveyAnswer,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO survey_answers (run_id, user_id, answer) VALUES ($1, $2, $3)
         ON CONFLICT (run_id, user_id) DO UPDATE SET answer = EXCLUDED.answer, answered_at = NOW()",
        run_id,
        user_id,
        answer.as_str(),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Answers up and down over the window in a workspace's runs.
pub async fn tally(
    pool: &PgPool,
    workspace_id: &str,
    window_days: u32,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE s.answer = 'up') AS "up!",
                  count(*) FILTER (WHERE s.answer = 'down') AS "down!"
           FROM survey_answers s JOIN coffee_runs r USING (run_id)
           WHERE r.workspace_id = $1 AND r.created_at > NOW() - make_interval(days => $2)"#,
        workspace_id,
        i32::try_from(window_days).unwrap_or(i32::MAX),
    )
    .fetch_one(pool)
    .await?;
    Ok((row.up, row.down))
}
