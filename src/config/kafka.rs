//! How the outbox relay reaches Kafka: plaintext, TLS, SASL, or SASL over TLS, with the
//! company's CA and, for mutual TLS, a client certificate. Checked at start: a combination
//! that cannot work exits 2 naming the variable.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

/// `KAFKA_SECURITY_PROTOCOL`, librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum KafkaSecurityProtocol {
    #[default]
    #[value(name = "plaintext")]
    Plaintext,
    #[value(name = "ssl")]
    Ssl,
    #[value(name = "sasl_plaintext")]
    SaslPlaintext,
    #[value(name = "sasl_ssl")]
    SaslSsl,
}

impl KafkaSecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// `KAFKA_SASL_MECHANISM`, librdkafka's `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaSaslMechanism {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

impl KafkaSaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL username and password, from the environment or Vault (`coffeebuddy/kafka`).
#[derive(Debug, Clone)]
pub struct KafkaCredentials {
    pub username: String,
    pub password: SecretString,
}

impl PartialEq for KafkaCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.username == other.username
            && self.password.expose_secret() == other.password.expose_secret()
    }
}

/// Everything about reaching Kafka securely, as checked at start.
#[derive(Debug, Clone, Default)]
pub struct KafkaSecurity {
    pub protocol: KafkaSecurityProtocol,
    pub sasl_mechanism: Option<KafkaSaslMechanism>,
    pub ssl_ca_location: Option<PathBuf>,
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    /// Set with SASL; Vault's, when it has them, replace these at start and on rotation.
    pub credentials: Option<KafkaCredentials>,
}

impl KafkaSecurity {
    /// librdkafka's settings for this security; the password is exposed here only, into
    /// the client's configuration.
    pub fn client_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![("security.protocol", self.protocol.as_str().to_owned())];
        let paths = [
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        for (key, path) in paths {
            if let Some(path) = path {
                settings.push((key, path.display().to_string()));
            }
        }
        if self.protocol.uses_tls() {
            // The broker's name must match its certificate, as for any TLS client.
            settings.push(("ssl.endpoint.identification.algorithm", "https".into()));
        }
        if let Some(mechanism) = self.sasl_mechanism {
            settings.push(("sasl.mechanism", mechanism.as_str().to_owned()));
        }
        if let Some(credentials) = &self.credentials {
            settings.push(("sasl.username", credentials.username.clone()));
            settings.push((
                "sasl.password",
                credentials.password.expose_secret().to_owned(),
            ));
        }
        settings
    }

    /// The combination's own rules. `credentials_from_vault`: Vault will supply SASL
    /// credentials, so none are needed from the environment.
    pub fn check(&self, credentials_from_vault: bool) -> Result<(), ConfigError> {
        let protocol = self.protocol;
        match (protocol.uses_sasl(), self.sasl_mechanism) {
            (true, None) => {
                return Err(ConfigError::new(
                    "KAFKA_SASL_MECHANISM",
                    format!(
                        "KAFKA_SECURITY_PROTOCOL={} needs a mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                        protocol.as_str()
                    ),
                ));
            }
            (false, Some(_)) => {
                return Err(ConfigError::new(
                    "KAFKA_SASL_MECHANISM",
                    format!(
                        "is set but KAFKA_SECURITY_PROTOCOL={} uses no SASL; use sasl_ssl or unset it",
                        protocol.as_str()
                    ),
                ));
            }
            _ => {}
        }
        if protocol.uses_sasl() && self.credentials.is_none() && !credentials_from_vault {
            return Err(ConfigError::new(
                "KAFKA_SASL_USERNAME",
                "SASL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or Vault's coffeebuddy/kafka)",
            ));
        }
        if !protocol.uses_sasl() && self.credentials.is_some() {
            return Err(ConfigError::new(
                "KAFKA_SASL_USERNAME",
                format!(
                    "is set but KAFKA_SECURITY_PROTOCOL={} uses no SASL",
                    protocol.as_str()
                ),
            ));
        }
        let files = [
            ("KAFKA_SSL_CA_LOCATION", &self.ssl_ca_location),
            (
                "KAFKA_SSL_CERTIFICATE_LOCATION",
                &self.ssl_certificate_location,
            ),
            ("KAFKA_SSL_KEY_LOCATION", &self.ssl_key_location),
        ];
        for (variable, path) in files {
            let Some(path) = path else { continue };
            if !protocol.uses_tls() {
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "is set but KAFKA_SECURITY_PROTOCOL={} uses no TLS; use ssl or sasl_ssl",
                        protocol.as_str()
                    ),
                ));
            }
            check_readable(variable, path)?;
        }
        match (&self.ssl_certificate_location, &self.ssl_key_location) {
            (Some(_), None) => Err(ConfigError::new(
                "KAFKA_SSL_KEY_LOCATION",
                "a client certificate needs its key (KAFKA_SSL_KEY_LOCATION)",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "KAFKA_SSL_CERTIFICATE_LOCATION",
                "a client key needs its certificate (KAFKA_SSL_CERTIFICATE_LOCATION)",
            )),
            _ => Ok(()),
        }
    }
}

fn check_readable(variable: &'static str, path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path).map(drop).map_err(|err| {
        ConfigError::new(
            variable,
            format!("{} cannot be read: {err}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(protocol: KafkaSecurityProtocol) -> KafkaSecurity {
        KafkaSecurity {
            protocol,
            ..KafkaSecurity::default()
        }
    }

    fn credentials() -> Option<KafkaCredentials> {
        Some(KafkaCredentials {
            username: "coffeebuddy".into(),
            password: SecretString::from("s3cret".to_owned()),
        })
    }

    fn refused_variable(security: &KafkaSecurity, from_vault: bool) -> &'static str {
        security.check(from_vault).unwrap_err().variable
    }

    #[test]
    fn plaintext_needs_nothing_and_sets_only_the_protocol() {
        let plain = security(KafkaSecurityProtocol::Plaintext);
        assert!(plain.check(false).is_ok());
        assert_eq!(
            plain.client_settings(),
            [("security.protocol", "plaintext".to_owned())]
        );
    }

    #[test]
    fn sasl_over_tls_sets_everything_librdkafka_needs() {
        let ca = std::env::temp_dir().join("coffeebuddy-kafka-ca-test.pem");
        std::fs::write(&ca, "x").unwrap();
        let secure = KafkaSecurity {
            protocol: KafkaSecurityProtocol::SaslSsl,
            sasl_mechanism: Some(KafkaSaslMechanism::ScramSha512),
            ssl_ca_location: Some(ca.clone()),
            credentials: credentials(),
            ..KafkaSecurity::default()
        };
        assert!(secure.check(false).is_ok());
        let settings = secure.client_settings();
        for expected in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "coffeebuddy"),
            ("sasl.password", "s3cret"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            assert!(
                settings.iter().any(|(k, v)| (*k, v.as_str()) == expected),
                "{expected:?}"
            );
        }
        assert!(
            !format!("{secure:?}").contains("s3cret"),
            "Debug hides the password"
        );
        let _ = std::fs::remove_file(ca);
    }

    #[test]
    fn inconsistent_combinations_name_the_variable_to_fix() {
        use KafkaSecurityProtocol::*;
        assert_eq!(
            refused_variable(&security(SaslSsl), false),
            "KAFKA_SASL_MECHANISM"
        );
        let mechanism_without_sasl = KafkaSecurity {
            sasl_mechanism: Some(KafkaSaslMechanism::Plain),
            ..security(Ssl)
        };
        assert_eq!(
            refused_variable(&mechanism_without_sasl, false),
            "KAFKA_SASL_MECHANISM"
        );
        let sasl_without_credentials = KafkaSecurity {
            sasl_mechanism: Some(KafkaSaslMechanism::Plain),
            ..security(SaslPlaintext)
        };
        assert_eq!(
            refused_variable(&sasl_without_credentials, false),
            "KAFKA_SASL_USERNAME"
        );
        assert!(
            sasl_without_credentials.check(true).is_ok(),
            "Vault has them"
        );
        let credentials_without_sasl = KafkaSecurity {
            credentials: credentials(),
            ..security(Ssl)
        };
        assert_eq!(
            refused_variable(&credentials_without_sasl, false),
            "KAFKA_SASL_USERNAME"
        );
        let ca_without_tls = KafkaSecurity {
            ssl_ca_location: Some("/etc/hosts".into()),
            ..security(Plaintext)
        };
        assert_eq!(
            refused_variable(&ca_without_tls, false),
            "KAFKA_SSL_CA_LOCATION"
        );
        let missing_ca = KafkaSecurity {
            ssl_ca_location: Some("/nonexistent/ca.pem".into()),
            ..security(Ssl)
        };
        assert_eq!(
            refused_variable(&missing_ca, false),
            "KAFKA_SSL_CA_LOCATION"
        );
        let certificate_without_key = KafkaSecurity {
            ssl_certificate_location: Some("/etc/hosts".into()),
            ..security(Ssl)
        };
        assert_eq!(
            refused_variable(&certificate_without_key, false),
            "KAFKA_SSL_KEY_LOCATION"
        );
    }
}
