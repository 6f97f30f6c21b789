//! The connection pool (REQ-002) and migrations.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{config::Settings, secrets::DatabaseCredentials};

/// How long `close` waits for in-flight queries (REQ-002). It runs once the service's
/// components have stopped (`startup`), 7 s after the signal at most: the whole shutdown
/// stays within CONTRACT's 10 s.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled connection idle longer than this is pinged before use.
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a usable PostgreSQL URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error(
        "cannot reach PostgreSQL at {target}: {source}; start it or point DATABASE_URL elsewhere"
    )]
    Unreachable {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot create database {database} at {target}: {source}; create it by hand or grant CREATEDB"
    )]
    CreateFailed {
        database: String,
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database failed: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Opens the pool, creating the database first if it does not exist, and checks it
/// answers `SELECT 1`.
pub async fn connect(
    settings: &Settings,
    credentials: Option<&DatabaseCredentials>,
) -> Result<PgPool, DatabaseError> {
    let options = connect_options(settings, credentials)?;
    create_database_if_missing(&options).await?;

    let pool = PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .min_connections(settings.db_min_connections)
        .acquire_timeout(settings.db_acquire_timeout())
        // sqlx pings every connection it hands out by default: a second round trip for
        // every one-statement request. Only a connection idle long enough for a firewall
        // or a database restart to have dropped it is worth checking.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options.clone())
        .await
        .map_err(|source| unreachable(&options, source))?;
    sqlx::query!("SELECT 1 AS one")
        .fetch_one(&pool)
        .await
        .map_err(|source| unreachable(&options, source))?;
    Ok(pool)
}

/// DATABASE_URL, with Vault's user and password in place of its own when given.
pub fn connect_options(
    settings: &Settings,
    credentials: Option<&DatabaseCredentials>,
) -> Result<PgConnectOptions, DatabaseError> {
    let mut options: PgConnectOptions = settings
        .database_url
        .expose_secret()
        .parse()
        .map_err(DatabaseError::BadUrl)?;
    if let Some(credentials) = credentials {
        options = options
            .username(&credentials.username)
            .password(credentials.password.expose_secret());
    }
    Ok(options.log_statements(tracing::log::LevelFilter::Debug))
}

/// Brings the database's schema up to date (`storage::schema`).
pub async fn migrate(pool: &PgPool) -> Result<(), DatabaseError> {
    super::schema::migrate(pool)
        .await
        .map_err(DatabaseError::Migrate)
}

/// Waits up to 10 s for checked-out connections to come back, then closes the pool.
pub async fn close(pool: &PgPool) {
    if tokio::time::timeout(CLOSE_TIMEOUT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!("database pool did not close in time; connections dropped");
    }
}

async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), DatabaseError> {
    let Some(database) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = PgConnection::connect_with(&maintenance)
        .await
        .map_err(|source| unreachable(options, source))?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        &database,
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|source| unreachable(options, source))?;
    if !exists {
        // Identifiers cannot be bound, so this statement is built at run time (the one
        // the service runs that sqlx cannot check at build time); `quote_identifier` makes
        // the name one token.
        let statement = format!("CREATE DATABASE {}", quote_identifier(&database));
        match sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database, "created the database"),
            // Another replica created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(source) => {
                return Err(DatabaseError::CreateFailed {
                    database,
                    target: target(options),
                    source,
                });
            }
        }
    }
    let _ = conn.close().await;
    Ok(())
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `host:port/database`, never the password.
fn target(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

fn unreachable(options: &PgConnectOptions, source: sqlx::Error) -> DatabaseError {
    DatabaseError::Unreachable {
        target: target(options),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("coffee"), "\"coffee\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn target_hides_the_password() {
        let options: PgConnectOptions = "postgres://u:hunter2@db:6543/coffee".parse().unwrap();
        assert_eq!(target(&options), "db:6543/coffee");
    }
}
