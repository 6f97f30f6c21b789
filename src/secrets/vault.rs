//! Vault with vaultrs: Kubernetes auth (the service account's JWT), KV v2 reads of
//! `coffeebuddy/slack` (`signing_secret`, `bot_token`, and for Socket Mode `app_token`),
//! `coffeebuddy/db` (`username`,
//! `password`) and, when Kafka uses SASL, `coffeebuddy/kafka` (`username`, `password`),
//! cached for five minutes, with 1, 2, 4, 8 s backoff on 5xx and a fresh
//! login when the token has expired.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use secrecy::SecretString;
use serde::Deserialize;

use crate::config::KafkaCredentials;
use tokio::sync::Mutex;
use vaultrs::{
    client::{Client, VaultClient, VaultClientSettingsBuilder},
    error::ClientError,
};

/// Waits between tries when Vault answers 5xx or cannot be reached.
const BACKOFF: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];
/// How long read secrets are trusted before Vault is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
const SLACK_PATH: &str = "coffeebuddy/slack";
const DB_PATH: &str = "coffeebuddy/db";
const KAFKA_PATH: &str = "coffeebuddy/kafka";

#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub addr: String,
    pub role: String,
    pub auth_mount: String,
    pub kv_mount: String,
    pub token_path: PathBuf,
    pub cache_ttl: Duration,
    /// The waits between tries (tests shorten them).
    pub backoff: Vec<Duration>,
    /// Read Kafka's SASL credentials (`coffeebuddy/kafka`) too.
    pub read_kafka: bool,
}

impl VaultSettings {
    pub fn new(
        addr: &str,
        role: &str,
        auth_mount: &str,
        kv_mount: &str,
        token_path: PathBuf,
    ) -> Self {
        Self {
            addr: addr.to_owned(),
            role: role.to_owned(),
            auth_mount: auth_mount.to_owned(),
            kv_mount: kv_mount.to_owned(),
            token_path,
            cache_ttl: CACHE_TTL,
            backoff: BACKOFF.to_vec(),
            read_kafka: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read the service account token at {path}: {source}; set VAULT_K8S_TOKEN_PATH")]
    ServiceAccountToken {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Vault at VAULT_ADDR is unreachable or failing after retries: {0}")]
    Unreachable(String),
    #[error("Vault refused: {0}; check VAULT_ROLE and the policy for the coffeebuddy paths")]
    Refused(String),
    #[error("Vault's secret {path} lacks {field}")]
    Missing {
        path: &'static str,
        field: &'static str,
    },
    #[error("Vault client: {0}")]
    Client(String),
}

#[derive(Deserialize)]
struct SlackSecret {
    signing_secret: Option<String>,
    bot_token: Option<String>,
    /// Optional: only Socket Mode needs it.
    #[serde(default)]
    app_token: Option<String>,
}

#[derive(Deserialize)]
struct UsernamePassword {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Clone)]
pub struct DatabaseCredentials {
    pub username: String,
    pub password: SecretString,
}

/// Everything read from Vault at once.
#[derive(Clone)]
pub struct SecretBundle {
    pub signing_secret: SecretString,
    pub bot_token: SecretString,
    /// `app_token`, when `coffeebuddy/slack` has one (Socket Mode).
    pub app_token: Option<SecretString>,
    pub database: DatabaseCredentials,
    /// With `read_kafka`.
    pub kafka: Option<KafkaCredentials>,
}

struct State {
    client: VaultClient,
    logged_in: bool,
    cached: Option<(Instant, SecretBundle)>,
}

pub struct VaultSecrets {
    settings: VaultSettings,
    state: Mutex<State>,
}

impl VaultSecrets {
    pub fn new(settings: VaultSettings) -> Result<Self, VaultError> {
        let client_settings = VaultClientSettingsBuilder::default()
            .address(&settings.addr)
            .timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| VaultError::Client(e.to_string()))?;
        let client =
            VaultClient::new(client_settings).map_err(|e| VaultError::Client(e.to_string()))?;
        Ok(Self {
            settings,
            state: Mutex::new(State {
                client,
                logged_in: false,
                cached: None,
            }),
        })
    }

    /// The secrets, from the cache while it is fresh, else from Vault.
    pub async fn get(&self) -> Result<SecretBundle, VaultError> {
        let mut state = self.state.lock().await;
        if let Some((at, bundle)) = &state.cached
            && at.elapsed() < self.settings.cache_ttl
        {
            return Ok(bundle.clone());
        }
        let bundle = self.read_all(&mut state).await?;
        state.cached = Some((Instant::now(), bundle.clone()));
        Ok(bundle)
    }

    async fn read_all(&self, state: &mut State) -> Result<SecretBundle, VaultError> {
        let slack: SlackSecret = self.read(state, SLACK_PATH).await?;
        let db: UsernamePassword = self.read(state, DB_PATH).await?;
        let required = |value: Option<String>, path, field| {
            value
                .filter(|v| !v.is_empty())
                .ok_or(VaultError::Missing { path, field })
        };
        // Slack's values hold no whitespace; one stored with a trailing newline would fail
        // every signature check, or every call's Authorization header.
        let slack_value = |value: Option<String>, field| {
            required(value.map(|v| v.trim().to_owned()), SLACK_PATH, field)
        };
        let kafka = if self.settings.read_kafka {
            let kafka: UsernamePassword = self.read(state, KAFKA_PATH).await?;
            Some(KafkaCredentials {
                username: required(kafka.username, KAFKA_PATH, "username")?,
                password: required(kafka.password, KAFKA_PATH, "password")?.into(),
            })
        } else {
            None
        };
        Ok(SecretBundle {
            signing_secret: slack_value(slack.signing_secret, "signing_secret")?.into(),
            bot_token: slack_value(slack.bot_token, "bot_token")?.into(),
            app_token: slack
                .app_token
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            database: DatabaseCredentials {
                username: required(db.username, DB_PATH, "username")?,
                password: required(db.password, DB_PATH, "password")?.into(),
            },
            kafka,
        })
    }

    /// Reads one KV v2 secret: logs in first if needed, again once if the token expired,
    /// and backs off on 5xx or an unreachable server.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        state: &mut State,
        path: &'static str,
    ) -> Result<T, VaultError> {
        let mut waits = self.settings.backoff.iter();
        let mut relogged = false;
        loop {
            let outcome = async {
                if !state.logged_in {
                    self.login(&mut state.client).await?;
                    state.logged_in = true;
                }
                vaultrs::kv2::read::<T>(&state.client, &self.settings.kv_mount, path).await
            }
            .await;
            match outcome {
                Ok(value) => return Ok(value),
                // An expired or revoked token: log in again, once.
                Err(ClientError::APIError { code: 403, .. }) if state.logged_in && !relogged => {
                    tracing::info!("Vault token refused; logging in again");
                    state.logged_in = false;
                    relogged = true;
                }
                Err(err) if retryable(&err) => match waits.next() {
                    Some(wait) => {
                        tracing::warn!(error = %err, retry_in_secs = wait.as_secs(), path, "Vault read failed; retrying");
                        tokio::time::sleep(*wait).await;
                    }
                    None => return Err(VaultError::Unreachable(err.to_string())),
                },
                Err(ClientError::APIError { code, errors }) => {
                    return Err(VaultError::Refused(format!(
                        "{path}: HTTP {code} {}",
                        errors.join("; ")
                    )));
                }
                Err(ClientError::FileReadError { source, path }) => {
                    return Err(VaultError::ServiceAccountToken { path, source });
                }
                Err(err) => return Err(VaultError::Client(err.to_string())),
            }
        }
    }

    async fn login(&self, client: &mut VaultClient) -> Result<(), ClientError> {
        let jwt = std::fs::read_to_string(&self.settings.token_path).map_err(|source| {
            ClientError::FileReadError {
                source,
                path: self.settings.token_path.display().to_string(),
            }
        })?;
        let auth = vaultrs::auth::kubernetes::login(
            client,
            &self.settings.auth_mount,
            &self.settings.role,
            jwt.trim(),
        )
        .await?;
        client.set_token(&auth.client_token);
        tracing::info!(role = %self.settings.role, "logged in to Vault");
        Ok(())
    }
}

fn retryable(err: &ClientError) -> bool {
    match err {
        ClientError::APIError { code, .. } => *code >= 500,
        ClientError::RestClientError { .. } => true,
        _ => false,
    }
}
