//! Secrets from Vault (REQ-003) against a fake Vault speaking Vault's real response shapes.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use coffeebuddy::secrets::{VaultError, VaultSecrets, VaultSettings};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{header, method, path},
};

use coffeebuddy::slack::signature;

use crate::helpers::{TestApp, slash_command_body, spawn_app_with};

const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.service-account.token";
const CLIENT_TOKEN: &str = "hvs.CAESIJx-test-client-token";

fn envelope(data: Value) -> Value {
    json!({
        "request_id": "5f1d8a51-0f6c-4a6e-9d34-3c2b0e3c1f10",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null
    })
}

fn kv2(data: Value, version: u64) -> Value {
    envelope(json!({
        "data": data,
        "metadata": {
            "created_time": "2026-11-20T09:00:00.000000Z",
            "custom_metadata": null,
            "deletion_time": "",
            "destroyed": false,
            "version": version
        }
    }))
}

fn login_answer() -> Value {
    let mut answer = envelope(Value::Null);
    answer["auth"] = json!({
        "client_token": CLIENT_TOKEN,
        "accessor": "8609694a-cdbc-db9b-d345-e782dbb562ed",
        "policies": ["default", "coffeebuddy"],
        "token_policies": ["default", "coffeebuddy"],
        "metadata": {
            "role": "coffeebuddy",
            "service_account_name": "coffeebuddy",
            "service_account_namespace": "coffee",
            "service_account_secret_name": "",
            "service_account_uid": "d1b2c3a4-0000-4000-8000-000000000001"
        },
        "lease_duration": 3600,
        "renewable": true,
        "entity_id": "7d2e3179-f69b-450c-7179-ac8ee8bd8ca9",
        "token_type": "service",
        "orphan": true,
        "mfa_requirement": null,
        "num_uses": 0
    });
    answer
}

/// A fake Vault with the coffeebuddy secrets, and a service-account token file.
pub async fn fake_vault(signing_secret: &str) -> (MockServer, PathBuf) {
    let vault = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/auth/kubernetes/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(login_answer()))
        .mount(&vault)
        .await;
    mount_slack_secret(&vault, signing_secret, "xoxb-from-vault", 10).await;
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/db"))
        .and(header("X-Vault-Token", CLIENT_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(kv2(
            json!({"username": "postgres", "password": "from-vault"}),
            1,
        )))
        .mount(&vault)
        .await;
    let token_path = std::env::temp_dir().join(format!("sa-token-{}", uuid::Uuid::new_v4()));
    std::fs::write(&token_path, format!("{JWT}\n")).unwrap();
    (vault, token_path)
}

async fn mount_slack_secret(vault: &MockServer, signing: &str, bot: &str, priority: u8) {
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/slack"))
        .and(header("X-Vault-Token", CLIENT_TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(kv2(json!({"signing_secret": signing, "bot_token": bot}), 3)),
        )
        .with_priority(priority)
        .mount(vault)
        .await;
}

fn settings(vault: &MockServer, token_path: &Path) -> VaultSettings {
    let mut settings = VaultSettings::new(
        &vault.uri(),
        "coffeebuddy",
        "kubernetes",
        "secret",
        token_path.to_path_buf(),
    );
    settings.backoff = vec![Duration::from_millis(10); 4];
    settings
}

async fn requests_to(vault: &MockServer, suffix: &str) -> Vec<Request> {
    vault
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with(suffix))
        .collect()
}

#[tokio::test]
async fn logs_in_with_the_service_account_and_reads_both_secrets() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    let secrets = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    let bundle = secrets.get().await.unwrap();
    assert_eq!(bundle.signing_secret.expose_secret(), "vault-signing");
    assert_eq!(bundle.bot_token.expose_secret(), "xoxb-from-vault");
    assert_eq!(bundle.database.username, "postgres");
    assert_eq!(bundle.database.password.expose_secret(), "from-vault");
    let logins = requests_to(&vault, "/login").await;
    assert_eq!(logins.len(), 1);
    let body: Value = serde_json::from_slice(&logins[0].body).unwrap();
    assert_eq!(body, json!({"role": "coffeebuddy", "jwt": JWT}));
}

#[tokio::test]
async fn slack_values_lose_the_whitespace_around_them() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    mount_slack_secret(&vault, "vault-signing\n", " xoxb-from-vault\n", 1).await;
    let secrets = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    let bundle = secrets.get().await.unwrap();
    assert_eq!(bundle.signing_secret.expose_secret(), "vault-signing");
    assert_eq!(bundle.bot_token.expose_secret(), "xoxb-from-vault");
}

#[tokio::test]
async fn a_5xx_is_retried_with_backoff() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/slack"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"errors": ["Vault is sealed"]})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&vault)
        .await;
    let secrets = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    assert_eq!(
        secrets.get().await.unwrap().signing_secret.expose_secret(),
        "vault-signing"
    );
    assert_eq!(requests_to(&vault, "/coffeebuddy/slack").await.len(), 3);
}

#[tokio::test]
async fn a_vault_that_stays_down_is_a_clear_error() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/slack"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"errors": ["internal error"]})),
        )
        .with_priority(1)
        .mount(&vault)
        .await;
    let secrets = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    let err = secrets.get().await.err().expect("Vault stays down");
    assert!(matches!(err, VaultError::Unreachable(_)), "{err}");
    assert!(err.to_string().contains("VAULT_ADDR"), "{err}");
    assert_eq!(
        requests_to(&vault, "/coffeebuddy/slack").await.len(),
        5,
        "1 try + 4 backoffs"
    );
}

#[tokio::test]
async fn an_expired_token_forces_a_new_login() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    let mut short = settings(&vault, &token_path);
    short.cache_ttl = Duration::from_millis(50);
    let secrets = VaultSecrets::new(short).unwrap();
    secrets.get().await.unwrap();
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/slack"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"errors": ["permission denied"]})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&vault)
        .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(secrets.get().await.is_ok());
    assert_eq!(requests_to(&vault, "/login").await.len(), 2);
}

#[tokio::test]
async fn secrets_are_cached_for_their_ttl_then_read_again_so_rotation_lands() {
    let (vault, token_path) = fake_vault("before-rotation").await;
    let mut short = settings(&vault, &token_path);
    short.cache_ttl = Duration::from_millis(300);
    let secrets = VaultSecrets::new(short).unwrap();
    assert_eq!(
        secrets.get().await.unwrap().signing_secret.expose_secret(),
        "before-rotation"
    );
    mount_slack_secret(&vault, "after-rotation", "xoxb-rotated", 1).await;
    assert_eq!(
        secrets.get().await.unwrap().signing_secret.expose_secret(),
        "before-rotation",
        "served from the cache"
    );
    assert_eq!(requests_to(&vault, "/coffeebuddy/slack").await.len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let rotated = secrets.get().await.unwrap();
    assert_eq!(rotated.signing_secret.expose_secret(), "after-rotation");
    assert_eq!(rotated.bot_token.expose_secret(), "xoxb-rotated");
    assert_eq!(
        requests_to(&vault, "/login").await.len(),
        1,
        "the token is reused"
    );
}

#[tokio::test]
async fn the_service_takes_its_secrets_from_vault() {
    let (vault, token_path) = fake_vault("signing-secret-in-vault").await;
    let token_path = token_path.display().to_string();
    let vault_addr = vault.uri();
    // The test settings also carry environment secrets; with VAULT_ADDR set, Vault's win.
    let app: TestApp = spawn_app_with(&[
        "--vault-addr",
        &vault_addr,
        "--vault-k8s-token-path",
        &token_path,
    ])
    .await;
    let refused = app.slash_command("/coffee", "", "U1", "C1").await;
    assert_eq!(
        refused.status(),
        401,
        "signed with the environment's secret"
    );

    let body = slash_command_body("/coffee", "", "U1", "C1");
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = signature::sign(b"signing-secret-in-vault", &timestamp, body.as_bytes());
    let accepted = app
        .http
        .post(format!("{}/slack/commands", app.address))
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200, "signed with Vault's secret");
    let request = &app.slack.received_requests().await.unwrap()[0];
    assert_eq!(
        request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        "Bearer xoxb-from-vault"
    );
}

#[tokio::test]
async fn the_service_refuses_to_start_while_vault_is_unreachable() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffeebuddy"))
        .args([
            "serve",
            "--vault-addr",
            "http://127.0.0.1:9",
            "--vault-k8s-token-path",
            "/dev/null",
        ])
        .env_clear()
        .env("LOG_FORMAT", "pretty")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("VAULT_ADDR"), "{stderr}");
}

/// With SASL to Kafka and no credentials in the environment, Vault's `coffeebuddy/kafka`
/// supplies them; without SASL it is never read.
#[tokio::test]
async fn kafkas_sasl_credentials_come_from_vault_when_asked_for() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/kafka"))
        .and(header("X-Vault-Token", CLIENT_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(kv2(
            json!({"username": "coffeebuddy", "password": "kafka-from-vault"}),
            2,
        )))
        .mount(&vault)
        .await;
    let plain = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    assert!(plain.get().await.unwrap().kafka.is_none());
    assert!(requests_to(&vault, "/coffeebuddy/kafka").await.is_empty());

    let with_kafka = VaultSecrets::new(VaultSettings {
        read_kafka: true,
        ..settings(&vault, &token_path)
    })
    .unwrap();
    let kafka = with_kafka
        .get()
        .await
        .unwrap()
        .kafka
        .expect("Kafka credentials");
    assert_eq!(kafka.username, "coffeebuddy");
    assert_eq!(kafka.password.expose_secret(), "kafka-from-vault");
}

#[tokio::test]
async fn a_missing_kafka_secret_is_a_clear_error() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    // What Vault answers for a path with no secret.
    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/kafka"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": []})))
        .mount(&vault)
        .await;
    let secrets = VaultSecrets::new(VaultSettings {
        read_kafka: true,
        ..settings(&vault, &token_path)
    })
    .unwrap();
    let err = secrets.get().await.err().expect("refused");
    assert!(err.to_string().contains("coffeebuddy/kafka"), "{err}");
}

/// Socket Mode's app-level token may live beside the other Slack secrets.
#[tokio::test]
async fn the_app_token_comes_with_the_slack_secrets_when_vault_has_it() {
    let (vault, token_path) = fake_vault("vault-signing").await;
    let plain = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    assert!(plain.get().await.unwrap().app_token.is_none());

    Mock::given(method("GET"))
        .and(path("/v1/secret/data/coffeebuddy/slack"))
        .and(header("X-Vault-Token", CLIENT_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(kv2(
            json!({"signing_secret": "s", "bot_token": "xoxb-b", "app_token": "xapp-1-from-vault\n"}),
            4,
        )))
        .with_priority(1)
        .mount(&vault)
        .await;
    let with_app_token = VaultSecrets::new(settings(&vault, &token_path)).unwrap();
    let bundle = with_app_token.get().await.unwrap();
    assert_eq!(
        bundle.app_token.map(|t| t.expose_secret().to_owned()),
        Some("xapp-1-from-vault".to_owned())
    );
}
