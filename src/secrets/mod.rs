//! Where the service's secrets come from (REQ-003): HashiCorp Vault when VAULT_ADDR is set,
//! else the environment. Consumers read them through [`Secrets`] on every use, so a secret
//! rotated in Vault is picked up by the next refresh without a restart.

pub mod vault;

use std::sync::{Arc, RwLock};

use secrecy::SecretString;

use crate::config::KafkaCredentials;

pub use vault::{DatabaseCredentials, SecretBundle, VaultError, VaultSecrets, VaultSettings};

/// The Slack secrets and Kafka's SASL credentials in force now.
#[derive(Clone, Default)]
pub struct Secrets {
    inner: Arc<RwLock<SlackSecrets>>,
}

#[derive(Clone, Default)]
struct SlackSecrets {
    signing_secret: Option<SecretString>,
    bot_token: Option<SecretString>,
    /// The app-level token (`xapp-…`) that opens Socket Mode connections.
    app_token: Option<SecretString>,
    /// Kafka's SASL credentials when Vault supplies them (`coffeebuddy/kafka`).
    kafka: Option<KafkaCredentials>,
}

impl Secrets {
    pub fn new(signing_secret: Option<SecretString>, bot_token: Option<SecretString>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(SlackSecrets {
                signing_secret,
                bot_token,
                app_token: None,
                kafka: None,
            })),
        }
    }

    pub fn signing_secret(&self) -> Option<SecretString> {
        self.read().signing_secret.clone()
    }

    pub fn bot_token(&self) -> Option<SecretString> {
        self.read().bot_token.clone()
    }

    pub fn app_token(&self) -> Option<SecretString> {
        self.read().app_token.clone()
    }

    /// Takes the app-level token (from the environment, or Vault as it rotates it).
    pub fn replace_app_token(&self, app_token: SecretString) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .app_token = Some(app_token);
    }

    /// Kafka's SASL credentials from Vault, if it supplies them.
    pub fn kafka_credentials(&self) -> Option<KafkaCredentials> {
        self.read().kafka.clone()
    }

    /// Takes Kafka credentials read from Vault.
    pub fn replace_kafka_credentials(&self, credentials: KafkaCredentials) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).kafka = Some(credentials);
    }

    /// Takes rotated values.
    pub fn replace(&self, signing_secret: SecretString, bot_token: SecretString) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.signing_secret = Some(signing_secret);
        inner.bot_token = Some(bot_token);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SlackSecrets> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}
