use sqlx::PgConnection;

/// Inserts the Slack user or refreshes their display name and activity time.
pub async fn upsert(
    conn: &mut PgConnection,
    user_id: &str,
    display_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO users (user_id, display_name) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE
         SET display_name = COALESCE(EXCLUDED.display_name, users.display_name),
             updated_at = NOW()",
        user_id,
        display_name,
    )
    .execute(conn)
    .await?;
    Ok(())
}
