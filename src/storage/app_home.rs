//! `app_home_publishes`: at most one queued Home tab publish per user.

use sqlx::PgConnection;

/// Marks a publish of `user_id`'s Home tab in `workspace_id` as queued; false if one is
/// queued already (less than a minute ago), so the caller queues nothing.
pub async fn claim_publish(
    conn: &mut PgConnection,
    user_id: &str,
    workspace_id: &str,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        r#"INSERT INTO app_home_publishes (user_id, workspace_id) VALUES ($1, $2)
           ON CONFLICT (workspace_id, user_id) DO UPDATE
               SET queued_at = NOW()
               WHERE app_home_publishes.queued_at < NOW() - INTERVAL '1 minute'
           RETURNING 1 AS "claimed!""#,
        user_id,
        workspace_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(claimed.is_some())
}

/// The queued publish is starting: the next `app_home_opened` queues another, which will
/// read whatever changed after this one read.
pub async fn release_publish(
    conn: &mut PgConnection,
    workspace_id: &str,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM app_home_publishes WHERE workspace_id = $1 AND user_id = $2",
        workspace_id,
        user_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}
