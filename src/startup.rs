//! Builds the service from its settings and runs it until the shutdown token fires.
//! Tests build it the same way, on port 0 and a database of their own.

use std::{sync::Arc, time::Duration};

use clap::ValueEnum;
use poem::EndpointExt;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{self, Admission, AppState, ConnectionLimits},
    auth::OidcVerifier,
    config::{ConfigError, Settings},
    events::{Relay, RelaySettings},
    jobs::{self, AvailabilityCheck, JobContext, WorkerSettings},
    resilience::CircuitBreaker,
    secrets::{DatabaseCredentials, Secrets, VaultSecrets, VaultSettings, vault},
    slack::SlackClient,
    storage::{
        self, DatabaseError, SlackPacer, WarmConnections, job_queue::Announcer,
        row_counts::RowGauges,
    },
    telemetry::{self, Metrics},
    workflows::{RunRules, jobs::JOB_TYPES, rules::SUMMARY_REFRESH_DELAY},
};

/// The parts of the service one process runs, so API and workers can scale apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// HTTP server only.
    Api,
    /// Job workers, outbox relay and scheduler only.
    Worker,
    /// Everything.
    All,
}

impl Role {
    pub fn runs_http(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }
    pub fn runs_workers(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }
}

/// From the shutdown signal, how long requests, jobs and the other components get to
/// finish before they are stopped where they are. CONTRACT: the pool is closed within
/// 10 s of the signal; closing it (`storage::close`) takes up to 2 s more, and a second
/// is left for stopping the components.
const COMPONENTS_DEADLINE: Duration = Duration::from_secs(7);
/// In-flight requests get this long to finish after shutdown begins.
const HTTP_DRAIN_TIMEOUT: Duration = COMPONENTS_DEADLINE;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(ConfigError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("cannot listen on {addr}: {source}; free the port or set BIND_ADDR")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(#[source] std::io::Error),
}

/// Knobs that are not configuration: tests and the demo turn them for speed.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: WorkerSettings,
    /// How often `active_runs` and `jobs` are re-read from the database.
    pub metrics_refresh: Duration,
    /// Outbox relay pacing: pause when idle, and how long one send may take.
    pub relay_idle_poll: Duration,
    pub relay_message_timeout: Duration,
    /// How long a root-message refresh waits for more changes to draw with it.
    pub summary_refresh_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: WorkerSettings::default(),
            metrics_refresh: Duration::from_secs(15),
            relay_idle_poll: Duration::from_millis(500),
            relay_message_timeout: Duration::from_secs(10),
            summary_refresh_delay: SUMMARY_REFRESH_DELAY,
        }
    }
}

pub struct Application {
    role: Role,
    options: Options,
    listener: tokio::net::TcpListener,
    connection_limits: ConnectionLimits,
    port: u16,
    pool: PgPool,
    state: AppState,
    audit_retention_days: u32,
    availability: Option<AvailabilityCheck>,
    /// Set when KAFKA_BROKERS is.
    relay: Option<RelaySettings>,
    /// Set when VAULT_ADDR is.
    vault: Option<VaultRefresh>,
}

/// Re-reads Vault when its cache expires, so rotated secrets take effect without a restart.
struct VaultRefresh {
    vault: Arc<VaultSecrets>,
    credentials: Option<DatabaseCredentials>,
    settings: Settings,
}

impl VaultRefresh {
    async fn run(mut self, secrets: Secrets, pool: PgPool, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(vault::CACHE_TTL) => {}
            }
            match self.vault.get().await {
                Ok(bundle) => {
                    secrets.replace(bundle.signing_secret, bundle.bot_token);
                    if let Some(app_token) = bundle.app_token {
                        // The next Socket Mode connection opens with it.
                        secrets.replace_app_token(app_token);
                    }
                    if let Some(kafka) = bundle.kafka {
                        // The relay makes a new producer with them before its next pass.
                        secrets.replace_kafka_credentials(kafka);
                    }
                    let rotated = self.credentials.as_ref().is_none_or(|old| {
                        old.username != bundle.database.username
                            || old.password.expose_secret()
                                != bundle.database.password.expose_secret()
                    });
                    if rotated {
                        match storage::connect_options(&self.settings, Some(&bundle.database)) {
                            Ok(options) => {
                                pool.set_connect_options(options);
                                tracing::info!(
                                    "database credentials rotated; new connections use them"
                                );
                            }
                            Err(err) => {
                                tracing::error!(error = %err, "rotated database credentials are unusable")
                            }
                        }
                        self.credentials = Some(bundle.database);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not refresh secrets from Vault; keeping the current ones")
                }
            }
        }
    }
}

impl Application {
    pub async fn build(
        settings: Settings,
        role: Role,
        mut options: Options,
    ) -> Result<Self, StartError> {
        settings.validate().map_err(StartError::Config)?;
        options.workers.prune_schedule = settings.prune_audit_schedule.clone();
        let relay = match (&settings.kafka_brokers, role.runs_workers()) {
            (Some(brokers), true) => Some(RelaySettings {
                idle_poll: options.relay_idle_poll,
                message_timeout: options.relay_message_timeout,
                security: settings.kafka_security().map_err(StartError::Config)?,
                ..RelaySettings::new(brokers.clone(), settings.kafka_create_topics)
            }),
            (None, true) => {
                tracing::info!(
                    "KAFKA_BROKERS is not set: the outbox relay is off and events stay in the outbox table"
                );
                None
            }
            (_, false) => None,
        };
        let (secrets, vault, credentials) = load_secrets(&settings, role).await?;

        let pool = storage::connect(&settings, credentials.as_ref()).await?;
        if settings.migrate_on_start {
            storage::migrate(&pool).await?;
        }
        let warm = WarmConnections::new(pool.clone(), settings.db_max_connections);
        let metrics = Metrics::new(&pool, {
            let warm = warm.clone();
            move || warm.idle()
        });
        RowGauges::zero(&metrics, &JOB_TYPES);
        let breaker = CircuitBreaker::new(
            settings.circuit_failure_threshold,
            Duration::from_secs(settings.circuit_open_secs),
            metrics.clone(),
        );
        let oidc = settings
            .oidc_issuer
            .as_ref()
            .zip(settings.jwks_url())
            .map(|(issuer, jwks)| {
                Arc::new(OidcVerifier::new(
                    issuer,
                    jwks,
                    &settings.oidc_audience,
                    &settings.oidc_workspace_claim,
                ))
            });
        if oidc.is_none() && role.runs_http() {
            tracing::info!("OIDC_ISSUER is not set: /api/v1 answers 401 to every request");
        }
        let state = AppState {
            oidc,
            breaker,
            admission: Admission::new(settings.max_requests_in_flight as usize, metrics.clone()),
            slack: SlackClient::new(settings.slack_api_url.clone(), secrets.clone()),
            pacer: SlackPacer::new(pool.clone(), settings.slack_rate_limit_per_min),
            secrets,
            rules: RunRules {
                summary_refresh_delay: options.summary_refresh_delay,
                ..RunRules::from(&settings)
            },
            metrics,
            pool: pool.clone(),
            warm,
            announcer: Announcer::new(),
        };

        // Workers listen too, for probes and metrics (`api::ops_app`).
        let listener = tokio::net::TcpListener::bind(settings.bind_addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.bind_addr,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_or(settings.bind_addr.port(), |addr| addr.port());
        let vault = vault.map(|vault| VaultRefresh {
            vault,
            credentials,
            settings: settings.clone(),
        });
        Ok(Self {
            vault,
            relay,
            audit_retention_days: settings.audit_retention_days,
            availability: settings
                .runner_availability_check
                .then(|| AvailabilityCheck {
                    away_statuses: settings.runner_away_statuses.clone(),
                    budget: Duration::from_millis(settings.runner_availability_budget_ms),
                }),
            role,
            options,
            listener,
            connection_limits: ConnectionLimits {
                header: Duration::from_secs(settings.http_header_timeout_secs),
                body: Duration::from_secs(settings.http_body_timeout_secs),
                idle: Duration::from_secs(settings.http_idle_timeout_secs),
            },
            port,
            pool,
            state,
        })
    }

    /// The bound HTTP port (useful with `BIND_ADDR=…:0`): the whole API, or for
    /// `--role worker` only probes and metrics.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Announces jobs queued from outside the service (tests) to its workers.
    pub fn announcer(&self) -> &Announcer {
        &self.state.announcer
    }

    /// What the job handlers get: the workers', and `jobs::run_due`'s in tests.
    pub fn job_context(&self) -> JobContext {
        JobContext {
            pool: self.pool.clone(),
            slack: self.state.slack.clone(),
            pacer: self.state.pacer.clone(),
            announcer: self.state.announcer.clone(),
            metrics: self.state.metrics.clone(),
            rules: self.state.rules,
            availability: self.availability.clone(),
            audit_retention_days: self.audit_retention_days,
        }
    }

    /// Serves until `shutdown` fires; then stops accepting, lets in-flight requests and
    /// jobs finish, and closes the pool.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let mut tasks = tokio::task::JoinSet::new();
        let job_context = self.job_context();
        let app = if self.role.runs_http() {
            api::app(self.state.clone()).boxed()
        } else {
            api::ops_app(self.state.clone()).boxed()
        };
        tasks.spawn({
            let (limits, metrics, stop) = (
                self.connection_limits,
                self.state.metrics.clone(),
                shutdown.clone(),
            );
            async move {
                api::serve(
                    self.listener,
                    app,
                    limits,
                    metrics,
                    stop,
                    HTTP_DRAIN_TIMEOUT,
                )
                .await;
                Ok(())
            }
        });
        if self.role.runs_http() && self.state.secrets.app_token().is_some() {
            tracing::info!("SLACK_APP_TOKEN is set: taking Slack's traffic over Socket Mode too");
            let (state, stop) = (self.state.clone(), shutdown.clone());
            tasks.spawn(async move {
                let routes = api::socket_mode_routes(state.clone());
                api::socket_mode::run(state, routes, stop).await;
                Ok(())
            });
        }
        if self.role.runs_workers() {
            tasks.spawn(jobs::run_workers(
                job_context,
                self.options.workers.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(relay_settings) = self.relay.clone() {
            let relay = Relay::new(
                self.pool.clone(),
                self.state.metrics.clone(),
                relay_settings,
            )
            .map_err(|e| StartError::Runtime(std::io::Error::other(e)))?;
            let relay = if self.vault.is_some() {
                relay.with_vault_credentials(self.state.secrets.clone())
            } else {
                relay
            };
            let stop = shutdown.clone();
            tasks.spawn(async move {
                relay.run(stop).await;
                Ok(())
            });
        }
        if let Some(vault) = self.vault {
            let (secrets, pool, stop) = (
                self.state.secrets.clone(),
                self.pool.clone(),
                shutdown.clone(),
            );
            tasks.spawn(async move {
                vault.run(secrets, pool, stop).await;
                Ok(())
            });
        }
        tasks.spawn({
            let (announcer, pool, stop) = (
                self.state.announcer.clone(),
                self.pool.clone(),
                shutdown.clone(),
            );
            async move {
                announcer.run(pool, stop).await;
                Ok(())
            }
        });
        tasks.spawn({
            let (warm, stop) = (self.state.warm.clone(), shutdown.clone());
            async move {
                warm.sweep_until(stop).await;
                Ok(())
            }
        });
        let refresher = RowGauges {
            metrics: self.state.metrics.clone(),
            pool: self.pool.clone(),
            every: self.options.metrics_refresh,
            job_types: &JOB_TYPES,
            fairness_window_days: self.state.rules.fairness_window_days,
        };
        tasks.spawn({
            let stop = shutdown.clone();
            async move {
                refresher.run(stop).await;
                Ok(())
            }
        });

        let mut failure = None;
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(COMPONENTS_DEADLINE).await;
        };
        tokio::pin!(deadline);
        loop {
            let joined = tokio::select! {
                joined = tasks.join_next() => joined,
                () = &mut deadline => {
                    // A job stopped here is still `Running` in its row; apalis puts it back
                    // in the queue once its worker is seen gone, and it runs again.
                    tracing::warn!(
                        still_running = tasks.len(),
                        "stopping what did not finish within the shutdown deadline"
                    );
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            };
            let Some(joined) = joined else { break };
            let outcome = joined.map_err(std::io::Error::other).and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %err, "a service component stopped with an error");
                failure.get_or_insert(err);
                // One part failing takes the rest down with it, cleanly.
                shutdown.cancel();
            }
        }
        self.state.warm.drain();
        storage::close(&self.pool).await;
        self.state.metrics.shutdown();
        tracing::info!("stopped");
        failure.map_or(Ok(()), |e| Err(StartError::Runtime(e)))
    }
}

/// The Slack secrets and database credentials: from Vault when VAULT_ADDR is set (exit 2
/// when it stays unreachable), else from the environment.
async fn load_secrets(
    settings: &Settings,
    role: Role,
) -> Result<
    (
        Secrets,
        Option<Arc<VaultSecrets>>,
        Option<DatabaseCredentials>,
    ),
    StartError,
> {
    let Some(addr) = &settings.vault_addr else {
        if settings.slack_signing_secret.is_none() && role.runs_http() {
            return Err(StartError::Config(ConfigError::new(
                "SLACK_SIGNING_SECRET",
                "is not set; copy it from your Slack app's Basic Information page",
            )));
        }
        if settings.slack_bot_token.is_none() {
            tracing::warn!("SLACK_BOT_TOKEN is not set: every Slack call will fail until it is");
        }
        let secrets = Secrets::new(
            settings.slack_signing_secret.clone(),
            settings.slack_bot_token.clone(),
        );
        if let Some(app_token) = settings.slack_app_token.clone() {
            secrets.replace_app_token(app_token);
        }
        return Ok((secrets, None, None));
    };
    let vault = VaultSecrets::new(VaultSettings {
        read_kafka: settings.kafka_brokers.is_some()
            && role.runs_workers()
            && settings.kafka_credentials_from_vault(),
        ..VaultSettings::new(
            addr.as_str(),
            &settings.vault_role,
            &settings.vault_auth_mount,
            &settings.vault_kv_mount,
            settings.vault_k8s_token_path.clone(),
        )
    })
    .map_err(|e| StartError::Config(ConfigError::new("VAULT_ADDR", e.to_string())))?;
    let bundle = vault
        .get()
        .await
        .map_err(|e| StartError::Config(ConfigError::new("VAULT_ADDR", e.to_string())))?;
    tracing::info!("secrets read from Vault");
    let secrets = Secrets::new(Some(bundle.signing_secret), Some(bundle.bot_token));
    if let Some(app_token) = bundle
        .app_token
        .or_else(|| settings.slack_app_token.clone())
    {
        secrets.replace_app_token(app_token);
    }
    if let Some(kafka) = bundle.kafka {
        secrets.replace_kafka_credentials(kafka);
    }
    Ok((secrets, Some(Arc::new(vault)), Some(bundle.database)))
}

/// `coffeebuddy serve`.
pub async fn serve(settings: Settings, role: Role) -> Result<(), StartError> {
    telemetry::init_logging(settings.log_format);
    let app = Application::build(settings, role, Options::default()).await?;
    tracing::info!(port = app.port(), ?role, "CoffeeBuddy is serving");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until(shutdown).await
}

/// `coffeebuddy migrate`.
pub async fn migrate(settings: Settings) -> Result<(), StartError> {
    telemetry::init_logging(settings.log_format);
    settings.validate().map_err(StartError::Config)?;
    let (_, _, credentials) = load_secrets(&settings, Role::Worker).await?;
    let pool = storage::connect(&settings, credentials.as_ref()).await?;
    storage::migrate(&pool).await?;
    storage::close(&pool).await;
    tracing::info!("migrations applied");
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested: finishing in-flight work");
    shutdown.cancel();
}
