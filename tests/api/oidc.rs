//! Test tokens, signed with the fixture keys as the company's issuer would sign them.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::WORKSPACE;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

pub const ISSUER: &str = "https://hydra.example.test";
pub const AUDIENCE: &str = "coffeebuddy";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("the OIDC fixture exists")
}

/// A JWKS endpoint serving `file` from the fixtures.
pub async fn jwks_server(file: &str) -> MockServer {
    let server = MockServer::start().await;
    serve_jwks(&server, file).await;
    server
}

pub async fn serve_jwks(server: &MockServer, file: &str) {
    server.reset().await;
    serve_jwks_keeping_mocks(server, file).await;
}

/// Serves `file` beside the mocks `server` has already.
pub async fn serve_jwks_keeping_mocks(server: &MockServer, file: &str) {
    let jwks: Value = serde_json::from_slice(&fixture(file)).unwrap();
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
        .mount(server)
        .await;
}

/// Settings that point the service at `jwks` as the issuer's key set.
pub fn oidc_settings(jwks: &MockServer) -> Vec<String> {
    vec![
        "--oidc-issuer".into(),
        ISSUER.into(),
        "--oidc-jwks-url".into(),
        format!("{}/.well-known/jwks.json", jwks.uri()),
    ]
}

pub fn claims(sub: &str, scope: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5, "exp": now + 300, "scope": scope, "slack_team_id": WORKSPACE})
}

/// Signs `claims` with a fixture key: `rsa-1` (RS256), `ec-1` (ES256) or `rsa-2` (rotated in later).
pub fn sign(kid: &str, claims: &Value) -> String {
    let (alg, key) = match kid {
        "rsa-1" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&fixture("rsa.pem")).unwrap(),
        ),
        "rsa-2" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&fixture("rsa-unknown.pem")).unwrap(),
        ),
        "ec-1" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&fixture("ec.pem")).unwrap(),
        ),
        other => panic!("no fixture key {other}"),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).unwrap()
}

pub fn user_token(sub: &str) -> String {
    sign("rsa-1", &claims(sub, "openid"))
}

pub fn admin_token(sub: &str) -> String {
    sign("ec-1", &claims(sub, "openid coffeebuddy:admin"))
}

/// A token claiming `alg: none`, unsigned.
pub fn unsigned_token(sub: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).to_string());
    let body = b64.encode(claims(sub, "coffeebuddy:admin").to_string());
    format!("{header}.{body}.")
}

/// A token signed with HMAC, as if the public key were a shared secret.
pub fn hmac_token(sub: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    encode(
        &header,
        &claims(sub, "coffeebuddy:admin"),
        &EncodingKey::from_secret(&fixture("jwks.json")),
    )
    .unwrap()
}
