//! Every setting of CONTRACT "Configuration", parsed and validated once.
//!
//! Each setting is an environment variable and the same name as a `--kebab-case` flag.
//! A bad value exits with code 2 and a message that names the variable (clap's value
//! name is the variable name). Secrets are [`SecretString`]s, so `Debug` never prints them.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{
    Args, ValueEnum,
    builder::{BoolishValueParser, PossibleValuesParser, TypedValueParser},
};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{
    availability::{AwayStatuses, BadAwayStatus, DEFAULT_AWAY_STATUSES},
    fairness::FairnessPolicy,
};

mod kafka;

pub use kafka::{KafkaCredentials, KafkaSaslMechanism, KafkaSecurity, KafkaSecurityProtocol};

/// The default database: the local PostgreSQL with trust auth.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/coffeebuddy";

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// PostgreSQL URL; the database is created if missing.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, value_parser = parse_secret, hide_env_values = true)]
    pub database_url: SecretString,
    /// Most connections the pool opens (REQ-002).
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_name = "DB_MAX_CONNECTIONS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// Connections the pool keeps open when idle.
    #[arg(long, env = "DB_MIN_CONNECTIONS", value_name = "DB_MIN_CONNECTIONS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub db_min_connections: u32,
    /// Seconds to wait for a free connection before failing the request.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", value_name = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_acquire_timeout_secs: u64,

    /// Requests handled at once (probes and /metrics aside); the next one gets 503 at once.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT", value_name = "MAX_REQUESTS_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests_in_flight: u32,

    /// Seconds a connection has to deliver a request's head, from accept or from the first
    /// byte of a kept-alive connection's next request; past it the connection is closed.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", value_name = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub http_header_timeout_secs: u64,

    /// Seconds a request's body has to arrive after its head; past it the answer is 408.
    #[arg(long, env = "HTTP_BODY_TIMEOUT_SECS", value_name = "HTTP_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub http_body_timeout_secs: u64,

    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    /// Longer than the 60 s for which Kong keeps upstream connections, so Kong, not the
    /// service, closes an idle one, and never sends a request down one being closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", value_name = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 65, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout_secs: u64,

    /// HTTP listen address.
    #[arg(
        long,
        env = "BIND_ADDR",
        value_name = "BIND_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub bind_addr: SocketAddr,

    /// Slack signing secret (from Vault when VAULT_ADDR is set).
    #[arg(long, env = "SLACK_SIGNING_SECRET", value_name = "SLACK_SIGNING_SECRET", value_parser = parse_secret, hide_env_values = true)]
    pub slack_signing_secret: Option<SecretString>,
    /// Slack bot token, `xoxb-…` (from Vault when VAULT_ADDR is set).
    #[arg(long, env = "SLACK_BOT_TOKEN", value_name = "SLACK_BOT_TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub slack_bot_token: Option<SecretString>,
    /// Slack app-level token, `xapp-…` (from Vault's `coffeebuddy/slack` `app_token` when
    /// VAULT_ADDR is set): set, the api role takes Slack's traffic over Socket Mode too.
    #[arg(long, env = "SLACK_APP_TOKEN", value_name = "SLACK_APP_TOKEN", value_parser = parse_app_token, hide_env_values = true)]
    pub slack_app_token: Option<SecretString>,
    /// Base URL of the Slack Web API.
    #[arg(long, env = "SLACK_API_URL", value_name = "SLACK_API_URL", default_value = "https://slack.com/api/", value_parser = parse_base_url)]
    pub slack_api_url: reqwest::Url,
    /// Outbound Slack calls per minute, for the whole app.
    #[arg(long, env = "SLACK_RATE_LIMIT_PER_MIN", value_name = "SLACK_RATE_LIMIT_PER_MIN", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub slack_rate_limit_per_min: u32,

    /// Kafka bootstrap servers; unset keeps events in the outbox.
    #[arg(long, env = "KAFKA_BROKERS", value_name = "KAFKA_BROKERS", value_parser = parse_non_empty)]
    pub kafka_brokers: Option<String>,
    /// Create the event topics (3 partitions) at start if missing.
    #[arg(long, env = "KAFKA_CREATE_TOPICS", value_name = "KAFKA_CREATE_TOPICS", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub kafka_create_topics: bool,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[arg(
        long,
        env = "KAFKA_SECURITY_PROTOCOL",
        value_name = "KAFKA_SECURITY_PROTOCOL",
        default_value = "plaintext"
    )]
    pub kafka_security_protocol: KafkaSecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, with a `sasl_*` protocol.
    #[arg(
        long,
        env = "KAFKA_SASL_MECHANISM",
        value_name = "KAFKA_SASL_MECHANISM"
    )]
    pub kafka_sasl_mechanism: Option<KafkaSaslMechanism>,
    /// CA bundle (PEM) that signed the brokers' certificates.
    #[arg(
        long,
        env = "KAFKA_SSL_CA_LOCATION",
        value_name = "KAFKA_SSL_CA_LOCATION"
    )]
    pub kafka_ssl_ca_location: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(
        long,
        env = "KAFKA_SSL_CERTIFICATE_LOCATION",
        value_name = "KAFKA_SSL_CERTIFICATE_LOCATION"
    )]
    pub kafka_ssl_certificate_location: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long,
        env = "KAFKA_SSL_KEY_LOCATION",
        value_name = "KAFKA_SSL_KEY_LOCATION"
    )]
    pub kafka_ssl_key_location: Option<PathBuf>,
    /// SASL username (from Vault's `coffeebuddy/kafka` when VAULT_ADDR is set).
    #[arg(long, env = "KAFKA_SASL_USERNAME", value_name = "KAFKA_SASL_USERNAME", value_parser = parse_non_empty)]
    pub kafka_sasl_username: Option<String>,
    /// SASL password (from Vault's `coffeebuddy/kafka` when VAULT_ADDR is set).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", value_name = "KAFKA_SASL_PASSWORD", value_parser = parse_secret, hide_env_values = true)]
    pub kafka_sasl_password: Option<SecretString>,

    /// Vault address; unset reads secrets from the environment.
    #[arg(long, env = "VAULT_ADDR", value_name = "VAULT_ADDR", value_parser = parse_url)]
    pub vault_addr: Option<reqwest::Url>,
    /// Vault Kubernetes-auth role.
    #[arg(long, env = "VAULT_ROLE", value_name = "VAULT_ROLE", default_value = "coffeebuddy", value_parser = parse_non_empty)]
    pub vault_role: String,
    /// Mount of Vault's Kubernetes auth method.
    #[arg(long, env = "VAULT_AUTH_MOUNT", value_name = "VAULT_AUTH_MOUNT", default_value = "kubernetes", value_parser = parse_non_empty)]
    pub vault_auth_mount: String,
    /// Mount of Vault's KV v2 engine.
    #[arg(long, env = "VAULT_KV_MOUNT", value_name = "VAULT_KV_MOUNT", default_value = "secret", value_parser = parse_non_empty)]
    pub vault_kv_mount: String,
    /// The service-account JWT presented to Vault.
    #[arg(
        long,
        env = "VAULT_K8S_TOKEN_PATH",
        value_name = "VAULT_K8S_TOKEN_PATH",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub vault_k8s_token_path: PathBuf,

    /// OIDC issuer of REST API tokens; unset answers 401 on /api/v1.
    #[arg(long, env = "OIDC_ISSUER", value_name = "OIDC_ISSUER", value_parser = parse_url)]
    pub oidc_issuer: Option<reqwest::Url>,
    /// JWKS URL; defaults to `{OIDC_ISSUER}/.well-known/jwks.json`.
    #[arg(long, env = "OIDC_JWKS_URL", value_name = "OIDC_JWKS_URL", value_parser = parse_url)]
    pub oidc_jwks_url: Option<reqwest::Url>,
    /// Audience REST API tokens must carry.
    #[arg(long, env = "OIDC_AUDIENCE", value_name = "OIDC_AUDIENCE", default_value = "coffeebuddy", value_parser = parse_non_empty)]
    pub oidc_audience: String,
    /// Token claim (a string or a list) naming the Slack workspaces a REST caller acts in.
    #[arg(long, env = "OIDC_WORKSPACE_CLAIM", value_name = "OIDC_WORKSPACE_CLAIM", default_value = "slack_team_id", value_parser = parse_non_empty)]
    pub oidc_workspace_claim: String,

    /// Assign a runner this many seconds after the run started…
    #[arg(long, env = "ASSIGN_WINDOW_SECS", value_name = "ASSIGN_WINDOW_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub assign_window_secs: u64,
    /// …or as soon as the run has this many orders.
    #[arg(long, env = "ASSIGN_MAX_ORDERS", value_name = "ASSIGN_MAX_ORDERS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub assign_max_orders: u32,
    /// Seconds between assignment and the runner's reminder.
    #[arg(long, env = "REMINDER_DELAY_SECS", value_name = "REMINDER_DELAY_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub reminder_delay_secs: u64,
    /// Days of run history the fairness rule counts.
    #[arg(long, env = "FAIRNESS_WINDOW_DAYS", value_name = "FAIRNESS_WINDOW_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub fairness_window_days: u32,
    /// Participants without an order in this many days are not candidates.
    #[arg(long, env = "ACTIVE_WINDOW_DAYS", value_name = "ACTIVE_WINDOW_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub active_window_days: u32,
    /// Audit rows older than this many days are pruned.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", value_name = "AUDIT_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,
    /// When `prune-audit` runs: cron with seconds first (`sec min hour day month weekday`).
    #[arg(long, env = "PRUNE_AUDIT_SCHEDULE", value_name = "PRUNE_AUDIT_SCHEDULE", default_value = "0 0 3 * * *", value_parser = parse_schedule)]
    pub prune_audit_schedule: cron::Schedule,
    /// How the runner is chosen.
    #[arg(
        long,
        env = "FAIRNESS_POLICY",
        value_name = "FAIRNESS_POLICY",
        default_value = "fewest-runs",
        value_parser = PossibleValuesParser::new(FairnessPolicy::NAMES)
            .try_map(|name| name.parse::<FairnessPolicy>())
    )]
    pub fairness_policy: FairnessPolicy,
    /// Ask Slack whether candidates are in (away, Do Not Disturb, an "out" status) and
    /// pass over those who are not.
    #[arg(long, env = "RUNNER_AVAILABILITY_CHECK", value_name = "RUNNER_AVAILABILITY_CHECK", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub runner_availability_check: bool,
    /// Status emoji and words (comma-separated, any case) that mean a user is out.
    #[arg(long, env = "RUNNER_AWAY_STATUSES", value_name = "RUNNER_AWAY_STATUSES", default_value = DEFAULT_AWAY_STATUSES, value_parser = parse_away_statuses)]
    pub runner_away_statuses: AwayStatuses,
    /// Longest an assignment waits for Slack's answers about who is in (milliseconds,
    /// rate-limit pacing included); then the candidates not yet asked count as in.
    #[arg(long, env = "RUNNER_AVAILABILITY_BUDGET_MS", value_name = "RUNNER_AVAILABILITY_BUDGET_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub runner_availability_budget_ms: u64,

    /// Consecutive database connection failures that open the circuit breaker.
    #[arg(long, env = "CIRCUIT_FAILURE_THRESHOLD", value_name = "CIRCUIT_FAILURE_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub circuit_failure_threshold: u32,
    /// Seconds the breaker stays open before it lets one probe through.
    #[arg(long, env = "CIRCUIT_OPEN_SECS", value_name = "CIRCUIT_OPEN_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub circuit_open_secs: u64,

    /// `json` or `pretty`.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        default_value = "json"
    )]
    pub log_format: LogFormat,
    /// Apply migrations when `serve` starts.
    #[arg(long, env = "MIGRATE_ON_START", value_name = "MIGRATE_ON_START", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A setting that parsed but makes no sense together with the others.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

impl Settings {
    /// Checks that need more than one setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Checked here rather than by clap, whose errors echo the value (and its password).
        check_database_url(self.database_url.expose_secret())
            .map_err(|message| ConfigError::new("DATABASE_URL", message))?;
        if self.db_min_connections > self.db_max_connections {
            return Err(ConfigError::new(
                "DB_MIN_CONNECTIONS",
                format!(
                    "{} is more than DB_MAX_CONNECTIONS ({}); lower it or raise the maximum",
                    self.db_min_connections, self.db_max_connections
                ),
            ));
        }
        if self.oidc_jwks_url.is_some() && self.oidc_issuer.is_none() {
            return Err(ConfigError::new(
                "OIDC_ISSUER",
                "OIDC_JWKS_URL is set but OIDC_ISSUER is not; set the issuer too",
            ));
        }
        Ok(())
    }

    /// How the relay reaches Kafka, with the environment's SASL credentials if any, checked
    /// (only processes that run the relay ask: the api role and `migrate` need none of it).
    pub fn kafka_security(&self) -> Result<KafkaSecurity, ConfigError> {
        let credentials = match (&self.kafka_sasl_username, &self.kafka_sasl_password) {
            (Some(username), Some(password)) => Some(KafkaCredentials {
                username: username.clone(),
                password: password.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "KAFKA_SASL_PASSWORD",
                    "KAFKA_SASL_USERNAME is set without its password",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "KAFKA_SASL_USERNAME",
                    "KAFKA_SASL_PASSWORD is set without its username",
                ));
            }
        };
        let security = KafkaSecurity {
            protocol: self.kafka_security_protocol,
            sasl_mechanism: self.kafka_sasl_mechanism,
            ssl_ca_location: self.kafka_ssl_ca_location.clone(),
            ssl_certificate_location: self.kafka_ssl_certificate_location.clone(),
            ssl_key_location: self.kafka_ssl_key_location.clone(),
            credentials,
        };
        security.check(self.kafka_credentials_from_vault())?;
        Ok(security)
    }

    /// Whether SASL credentials come from Vault (`coffeebuddy/kafka`): with Vault on and
    /// a SASL protocol, unless the environment gives them.
    pub fn kafka_credentials_from_vault(&self) -> bool {
        self.vault_addr.is_some()
            && self.kafka_security_protocol.uses_sasl()
            && self.kafka_sasl_username.is_none()
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }

    /// The JWKS URL: the explicit one, or the issuer's well-known document.
    pub fn jwks_url(&self) -> Option<reqwest::Url> {
        self.oidc_jwks_url.clone().or_else(|| {
            self.oidc_issuer.as_ref().and_then(|issuer| {
                let base = issuer.as_str().trim_end_matches('/');
                reqwest::Url::parse(&format!("{base}/.well-known/jwks.json")).ok()
            })
        })
    }
}

/// A secret as given, less the whitespace around it: none of these values (a database URL,
/// Slack's signing secret and bot token) holds any, and a Kubernetes Secret made from a
/// file often ends in a newline, which would fail every signature check with no hint why.
fn parse_secret(value: &str) -> Result<SecretString, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(value.to_owned()))
}

/// An app-level token: Slack's start with `xapp-`. The value is never echoed.
fn parse_app_token(value: &str) -> Result<SecretString, String> {
    let token = parse_secret(value)?;
    if !token.expose_secret().starts_with("xapp-") {
        return Err("is not an app-level token (they start with xapp-)".into());
    }
    Ok(token)
}

fn parse_away_statuses(value: &str) -> Result<AwayStatuses, String> {
    value.parse().map_err(|e: BadAwayStatus| e.to_string())
}

fn parse_schedule(value: &str) -> Result<cron::Schedule, String> {
    value
        .parse()
        .map_err(|e| format!("not a cron schedule with seconds first (e.g. \"0 0 3 * * *\"): {e}"))
}

fn parse_non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(value.to_owned())
}

fn parse_url(value: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("scheme must be http or https, not {other}")),
    }
}

/// A base URL that later joins method names (`chat.postMessage`), so it must end in `/`.
fn parse_base_url(value: &str) -> Result<reqwest::Url, String> {
    let mut url = parse_url(value)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Checked for shape only: the URL holds the password, so the error never echoes it.
fn check_database_url(value: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(value)
        .map_err(|_| "not a URL (expected postgres://user@host:port/database)".to_owned())?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err("scheme must be postgres:// or postgresql://".into());
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err("names no database (expected …/DATABASE at the end)".into());
    }
    // What the driver makes of the rest (`sslmode`, other parameters). Its messages name
    // the offending parameter, never the URL and its password.
    value
        .parse::<sqlx::postgres::PgConnectOptions>()
        .map(drop)
        .map_err(|e| format!("not usable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        settings: Settings,
    }

    /// `--help` shows each variable's value from the environment unless told not to:
    /// every setting that can hold a secret (a password in the URL, a token) hides it.
    #[test]
    fn help_never_shows_a_secrets_value() {
        use clap::CommandFactory;
        let command = Harness::command();
        for id in ["database_url", "slack_signing_secret", "slack_bot_token"] {
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no setting {id}"));
            assert!(arg.is_hide_env_values_set(), "{id}");
        }
    }

    /// A Kubernetes Secret made from a file often ends in a newline.
    #[test]
    fn secrets_lose_the_whitespace_around_them() {
        let s = parse(&[
            "--slack-signing-secret",
            "s3cret\n",
            "--slack-bot-token",
            " xoxb-1\r\n",
        ])
        .expect("parses");
        assert_eq!(s.slack_signing_secret.unwrap().expose_secret(), "s3cret");
        assert_eq!(s.slack_bot_token.unwrap().expose_secret(), "xoxb-1");
        assert!(parse(&["--slack-signing-secret", " \n"]).is_err());
    }

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        let mut argv = vec!["coffeebuddy"];
        argv.extend_from_slice(args);
        Harness::try_parse_from(argv).map(|h| h.settings)
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = parse(&[]).expect("defaults parse");
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!((s.db_max_connections, s.db_min_connections), (20, 5));
        assert_eq!(s.db_acquire_timeout(), Duration::from_secs(5));
        assert_eq!(s.max_requests_in_flight, 256);
        assert_eq!(
            (
                s.http_header_timeout_secs,
                s.http_body_timeout_secs,
                s.http_idle_timeout_secs
            ),
            (10, 10, 65)
        );
        assert_eq!(s.bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.slack_api_url.as_str(), "https://slack.com/api/");
        assert_eq!(s.slack_rate_limit_per_min, 50);
        assert!(s.kafka_brokers.is_none() && s.kafka_create_topics);
        assert_eq!(s.vault_role, "coffeebuddy");
        assert_eq!(s.oidc_audience, "coffeebuddy");
        assert_eq!(s.oidc_workspace_claim, "slack_team_id");
        assert_eq!((s.assign_window_secs, s.assign_max_orders), (300, 5));
        assert_eq!(s.reminder_delay_secs, 300);
        assert_eq!(
            (
                s.fairness_window_days,
                s.active_window_days,
                s.audit_retention_days
            ),
            (30, 14, 90)
        );
        assert_eq!(s.fairness_policy, FairnessPolicy::FewestRuns);
        assert!(s.runner_availability_check);
        assert_eq!(
            s.runner_away_statuses,
            ":palm_tree:,:face_with_thermometer:,:airplane:,ooo,out of office,vacation,holiday,sick"
                .parse::<AwayStatuses>()
                .unwrap()
        );
        assert_eq!(s.runner_availability_budget_ms, 10_000);
        assert_eq!((s.circuit_failure_threshold, s.circuit_open_secs), (5, 30));
        assert_eq!(s.log_format, LogFormat::Json);
        s.validate().expect("defaults are consistent");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (args, variable) in [
            (&["--db-max-connections", "lots"][..], "DB_MAX_CONNECTIONS"),
            (&["--db-max-connections", "0"][..], "DB_MAX_CONNECTIONS"),
            (&["--bind-addr", "localhost"][..], "BIND_ADDR"),
            (&["--fairness-policy", "random"][..], "FAIRNESS_POLICY"),
            (&["--log-format", "xml"][..], "LOG_FORMAT"),
            (&["--slack-api-url", "ftp://x/"][..], "SLACK_API_URL"),
            (
                &["--kafka-create-topics", "maybe"][..],
                "KAFKA_CREATE_TOPICS",
            ),
            (
                &["--runner-away-statuses", ":palm_tree:,--"][..],
                "RUNNER_AWAY_STATUSES",
            ),
            (
                &["--runner-availability-budget-ms", "0"][..],
                "RUNNER_AVAILABILITY_BUDGET_MS",
            ),
        ] {
            let err = parse(args).expect_err("bad value is refused");
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(variable), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_bad_database_url_is_refused_without_echoing_it() {
        for url in [
            "postgres://u:hunter2@h",
            "mysql://u:hunter2@h/db",
            "hunter2",
            "postgres://u:hunter2@h/db?sslmode=bogus",
        ] {
            let err = parse(&["--database-url", url])
                .unwrap()
                .validate()
                .unwrap_err();
            assert_eq!(err.variable, "DATABASE_URL");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn min_connections_above_max_is_refused() {
        let s = parse(&["--db-min-connections", "30"]).unwrap();
        assert_eq!(s.validate().unwrap_err().variable, "DB_MIN_CONNECTIONS");
    }

    #[test]
    fn slack_api_url_gains_a_trailing_slash() {
        let s = parse(&["--slack-api-url", "http://127.0.0.1:9/api"]).unwrap();
        assert_eq!(
            s.slack_api_url.join("chat.postMessage").unwrap().as_str(),
            "http://127.0.0.1:9/api/chat.postMessage"
        );
    }

    #[test]
    fn jwks_url_defaults_to_the_issuers_well_known_document() {
        let s = parse(&["--oidc-issuer", "https://hydra.corp/"]).unwrap();
        assert_eq!(
            s.jwks_url().unwrap().as_str(),
            "https://hydra.corp/.well-known/jwks.json"
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = parse(&["--slack-signing-secret", "s3cr3t-value"]).unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t-value"));
    }
}
