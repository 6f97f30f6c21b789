//! Bearer JWTs checked against the issuer's JWKS: signature (RS256 or ES256 only: `none`
//! and HMAC tokens are refused), `iss`, `aud`, `exp` and `nbf`. Only keys meant for
//! signatures are used (`use` absent or `sig`), each with the algorithm its `alg` names.
//! Keys are cached and fetched again on an unknown `kid`, or once they are an hour old, at
//! most once a minute: a rotation is picked up, a key the issuer withdrew stops being
//! trusted, and a flood of made-up key ids cannot hammer the issuer. A fetch holds no lock:
//! requests with known keys go on while one request asks the issuer.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

/// The scope that may act on anything.
pub const ADMIN_SCOPE: &str = "coffeebuddy:admin";
/// Fetch the key set again on an unknown key id at most this often.
const REFETCH_FLOOR: Duration = Duration::from_secs(60);
/// Keys older than this are fetched again before they are used: a key the issuer withdrew
/// (rotated out after a leak) is trusted at most this long. Should the issuer be away
/// then, the keys in hand go on serving.
const KEYS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`: a Slack user id.
    pub user_id: String,
    pub admin: bool,
    /// The Slack workspaces the token names (`OIDC_WORKSPACE_CLAIM`): where the caller
    /// may start, join and read runs. Empty: only what is the caller's own.
    pub workspaces: Vec<String>,
}

impl Caller {
    /// Whether the caller may act in `workspace`.
    pub fn acts_in(&self, workspace: &str) -> bool {
        self.admin || self.workspaces.iter().any(|w| w == workspace)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token is not acceptable: {0}")]
    Invalid(String),
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the REST API is off: OIDC_ISSUER is not set")]
    NotConfigured,
    #[error("the issuer's keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    /// Space-separated scopes (RFC 8693 / Hydra's access tokens)…
    #[serde(default)]
    scope: Option<String>,
    /// …or `scp`, which issuers send as a list or as one space-separated string.
    #[serde(default)]
    scp: Option<StringOrList>,
    /// Every other claim, among them the workspace claim, whose name is a setting.
    #[serde(flatten)]
    other: HashMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    List(Vec<String>),
}

impl StringOrList {
    /// Each entry; a single string holds space-separated ones.
    fn entries(&self) -> Vec<&str> {
        match self {
            StringOrList::One(one) => one.split_whitespace().collect(),
            StringOrList::List(list) => list.iter().map(String::as_str).collect(),
        }
    }
}

struct KeyCache {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    /// When `keys` were fetched.
    fetched_at: Option<Instant>,
    /// The latest fetch, when it failed: when, and why.
    failed: Option<(Instant, String)>,
}

/// What the cache can say about a key id without asking the issuer.
enum Lookup {
    Found((Algorithm, DecodingKey)),
    Refused(AuthError),
    /// Ask the issuer.
    Fetch,
}

impl KeyCache {
    fn lookup(&self, kid: &str, floor: Duration, max_age: Duration) -> Lookup {
        let key = self.keys.get(kid).cloned();
        let fetched_within =
            |limit: Duration| self.fetched_at.is_some_and(|at| at.elapsed() < limit);
        if let Some(key) = &key
            && fetched_within(max_age)
        {
            return Lookup::Found(key.clone());
        }
        // The issuer was asked too recently to ask again: answer from what is in hand.
        if let Some((at, why)) = &self.failed
            && at.elapsed() < floor
        {
            return match key {
                Some(key) => Lookup::Found(key),
                None => Lookup::Refused(AuthError::KeysUnavailable(why.clone())),
            };
        }
        if fetched_within(floor) {
            return match key {
                Some(key) => Lookup::Found(key),
                None => Lookup::Refused(AuthError::UnknownKey),
            };
        }
        Lookup::Fetch
    }
}

pub struct OidcVerifier {
    /// `OIDC_ISSUER` with and without a trailing slash: a URL parser adds one to a bare
    /// host, and issuers differ (Ory Hydra writes `iss` with it, others without).
    issuers: [String; 2],
    audience: String,
    /// The claim naming the caller's workspaces (`OIDC_WORKSPACE_CLAIM`).
    workspace_claim: String,
    jwks_url: Url,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Held by the one request asking the issuer; others that need a fetch wait here,
    /// not on the cache, so requests with known keys are never held up.
    fetching: Mutex<()>,
    refetch_floor: Duration,
    keys_max_age: Duration,
}

impl OidcVerifier {
    pub fn new(issuer: &Url, jwks_url: Url, audience: &str, workspace_claim: &str) -> Self {
        let bare = issuer.as_str().trim_end_matches('/');
        Self {
            issuers: [bare.to_owned(), format!("{bare}/")],
            audience: audience.to_owned(),
            workspace_claim: workspace_claim.to_owned(),
            jwks_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a reqwest client with static settings builds"),
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
                failed: None,
            }),
            fetching: Mutex::new(()),
            refetch_floor: REFETCH_FLOOR,
            keys_max_age: KEYS_MAX_AGE,
        }
    }

    /// Changes how often an unknown key id may trigger a fetch (tests use milliseconds).
    pub fn with_refetch_floor(mut self, floor: Duration) -> Self {
        self.refetch_floor = floor;
        self
    }

    /// Changes how old keys may be before they are fetched again (tests use milliseconds).
    pub fn with_keys_max_age(mut self, max_age: Duration) -> Self {
        self.keys_max_age = max_age;
        self
    }

    /// Verifies `token` and returns its caller.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("the token names no key (kid)".into()))?;
        let (alg, key) = self.key(&kid).await?;
        if alg != header.alg {
            return Err(AuthError::Invalid(
                "the token's algorithm does not match its key".into(),
            ));
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&self.issuers);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        // `sub` becomes a user id in our tables.
        crate::domain::check_slack_id(&claims.sub)
            .map_err(|e| AuthError::Invalid(format!("its subject (sub) {e}")))?;
        let admin = claims
            .scope
            .iter()
            .flat_map(|s| s.split_whitespace())
            .chain(claims.scp.iter().flat_map(StringOrList::entries))
            .any(|s| s == ADMIN_SCOPE);
        let workspaces = self.workspaces(&claims.other)?;
        Ok(Caller {
            user_id: claims.sub,
            admin,
            workspaces,
        })
    }

    /// The workspace claim's ids: a string or a list of them, each a Slack id.
    fn workspaces(&self, claims: &HashMap<String, Value>) -> Result<Vec<String>, AuthError> {
        let claim = &self.workspace_claim;
        let ids: Vec<String> = match claims.get(claim) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(value) => StringOrList::deserialize(value)
                .map_err(|_| AuthError::Invalid(format!("{claim} is not a string or a list")))?
                .entries()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        for id in &ids {
            crate::domain::check_slack_id(id)
                .map_err(|e| AuthError::Invalid(format!("a workspace in {claim} {e}")))?;
        }
        Ok(ids)
    }

    async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), AuthError> {
        let (floor, max_age) = (self.refetch_floor, self.keys_max_age);
        match self.cache.read().await.lookup(kid, floor, max_age) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Refused(err) => return Err(err),
            Lookup::Fetch => {}
        }
        // One request asks the issuer; the others needing a fetch wait for its answer.
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        match self.cache.read().await.lookup(kid, floor, max_age) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Refused(err) => return Err(err),
            Lookup::Fetch => {}
        }
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().await;
        match fetched {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the OIDC issuer's keys");
                *cache = KeyCache {
                    keys,
                    fetched_at: Some(Instant::now()),
                    failed: None,
                };
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not fetch the OIDC issuer's keys");
                let why = match &err {
                    AuthError::KeysUnavailable(why) => why.clone(),
                    other => other.to_string(),
                };
                cache.failed = Some((Instant::now(), why));
                // Keys past their age still serve while the issuer is away.
                return cache.keys.get(kid).cloned().ok_or(err);
            }
        }
        cache.keys.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    async fn fetch(&self) -> Result<HashMap<String, (Algorithm, DecodingKey)>, AuthError> {
        let unavailable =
            |e: reqwest::Error| AuthError::KeysUnavailable(e.without_url().to_string());
        let set: JwkSet = self
            .http
            .get(self.jwks_url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        Ok(set.keys.iter().filter_map(usable_key).collect())
    }
}

/// Signing keys we accept: RSA for RS256 and P-256 for ES256, meant for signatures (`use`
/// absent or `sig`), and naming no other algorithm than that (`alg`).
fn usable_key(jwk: &Jwk) -> Option<(String, (Algorithm, DecodingKey))> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|named| named != declared)
    {
        return None;
    }
    let kid = jwk.common.key_id.clone()?;
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, (alg, key)))
}
