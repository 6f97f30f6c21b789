//! REST callers act only where they belong: the workspace claim names where a caller may
//! start, join and read runs; without it, only what is theirs. And what the verifier takes
//! from tokens and keys: `scp` as a string or a list, keys by their `use` and `alg`.

use coffeebuddy::auth::{AuthError, OidcVerifier};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{TestApp, WORKSPACE, spawn_app_with},
    oidc,
};

async fn rest_app() -> (TestApp, MockServer) {
    let jwks = oidc::jwks_server("jwks.json").await;
    let args = oidc::oidc_settings(&jwks);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (spawn_app_with(&args).await, jwks)
}

/// A user token whose workspace claim is `workspaces` (`None`: no claim at all).
fn token(sub: &str, workspaces: Option<Value>) -> String {
    let mut claims = oidc::claims(sub, "openid");
    match workspaces {
        Some(value) => claims["slack_team_id"] = value,
        None => {
            claims.as_object_mut().unwrap().remove("slack_team_id");
        }
    }
    oidc::sign("rsa-1", &claims)
}

async fn call(
    app: &TestApp,
    verb: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(verb, format!("{}/api/v1{path}", app.address))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn new_run(workspace: &str, channel: &str) -> Value {
    json!({"workspace_id": workspace, "channel_id": channel, "drink_type": "Latte", "size": "Large"})
}

fn order() -> Value {
    json!({"drink_type": "Mocha", "size": "Small"})
}

/// A run in `channel` of the test workspace, started by a member (U1): its id.
async fn started_run(app: &TestApp, channel: &str) -> String {
    let member = token("U1", Some(json!(WORKSPACE)));
    let body = Some(new_run(WORKSPACE, channel));
    let (status, run) = call(app, Method::POST, "/runs", &member, body).await;
    assert_eq!(status, 201, "{run}");
    run["run_id"].as_str().unwrap().to_owned()
}

/// The fixture key set, as JSON to change.
fn fixture_keys() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/jwks.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An issuer serving `keys`.
async fn issuer_serving(keys: Value) -> MockServer {
    let jwks = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(keys))
        .mount(&jwks)
        .await;
    jwks
}

#[tokio::test]
async fn callers_start_and_join_runs_only_in_the_workspaces_their_token_names() {
    let (app, _jwks) = rest_app().await;
    let run_id = started_run(&app, "C1").await;

    // A list naming the workspace among others will do too.
    let listed = token("U2", Some(json!(["TOTHER", WORKSPACE])));
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/runs/{run_id}/orders"),
        &listed,
        Some(order()),
    )
    .await;
    assert_eq!(status, 201);

    // Another workspace's caller, and a caller with no workspace at all, may neither
    // start a run here, nor learn the channel's active run, nor join it.
    for outsider in [token("U3", Some(json!("TOTHER"))), token("U4", None)] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/runs",
            &outsider,
            Some(new_run(WORKSPACE, "C1")),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("unauthorized")),
            "{body}"
        );
        assert!(
            !body.to_string().contains(&run_id),
            "the 409's run id is not told: {body}"
        );
        let (status, _) = call(
            &app,
            Method::POST,
            "/runs",
            &outsider,
            Some(new_run(WORKSPACE, "C9")),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/runs/{run_id}/orders"),
            &outsider,
            Some(order()),
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/runs/{run_id}"),
            &outsider,
            None,
        )
        .await;
        assert_eq!(status, 403, "they took no part in it");
    }
    // A member learns the active run from the 409.
    let member = token("U1", Some(json!(WORKSPACE)));
    let (status, body) = call(
        &app,
        Method::POST,
        "/runs",
        &member,
        Some(new_run(WORKSPACE, "C1")),
    )
    .await;
    assert_eq!(status, 409);
    assert!(body["message"].as_str().unwrap().contains(&run_id));
    // An admin acts anywhere.
    let admin = oidc::admin_token("OPS1");
    let (status, _) = call(
        &app,
        Method::POST,
        "/runs",
        &admin,
        Some(new_run("TELSEWHERE", "C5")),
    )
    .await;
    assert_eq!(status, 201);

    let orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id IN ('U3', 'U4')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(orders, 0);
}

#[tokio::test]
async fn without_a_workspace_a_caller_reads_only_what_is_theirs() {
    let (app, _jwks) = rest_app().await;
    let run_id = started_run(&app, "C1").await;

    // U1's token lost its claim (another client of the issuer): U1 still reads their
    // preferences and the run they took part in.
    let own = token("U1", None);
    let (status, _) = call(&app, Method::GET, "/users/U1/preferences", &own, None).await;
    assert_eq!(status, 200);
    let (status, body) = call(&app, Method::GET, &format!("/runs/{run_id}"), &own, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&app, Method::GET, "/users/U2/preferences", &own, None).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/fairness?workspace_id={WORKSPACE}"),
        &own,
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn fairness_answers_for_the_callers_own_workspaces() {
    let (app, _jwks) = rest_app().await;
    let member = token("U1", Some(json!(WORKSPACE)));
    let path = format!("/fairness?workspace_id={WORKSPACE}");
    let (status, body) = call(&app, Method::GET, &path, &member, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workspace_id"], WORKSPACE);
    let (status, body) = call(
        &app,
        Method::GET,
        "/fairness?workspace_id=TOTHER",
        &member,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("unauthorized"))
    );
    let (status, _) = call(
        &app,
        Method::GET,
        "/fairness?workspace_id=TOTHER",
        &oidc::admin_token("OPS1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

fn verifier(jwks: &MockServer) -> OidcVerifier {
    let url = Url::parse(&format!("{}/.well-known/jwks.json", jwks.uri())).unwrap();
    OidcVerifier::new(
        &Url::parse(oidc::ISSUER).unwrap(),
        url,
        oidc::AUDIENCE,
        "slack_team_id",
    )
}

#[tokio::test]
async fn scp_is_taken_as_a_string_or_a_list_and_the_claim_as_either() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let verifier = verifier(&jwks);
    for scp in [
        json!("openid coffeebuddy:admin"),
        json!(["openid", "coffeebuddy:admin"]),
    ] {
        let mut claims = oidc::claims("U1", "");
        claims["scp"] = scp.clone();
        let caller = verifier
            .verify(&oidc::sign("rsa-1", &claims))
            .await
            .unwrap();
        assert!(caller.admin, "scp {scp}");
    }
    let caller = verifier
        .verify(&token("U1", Some(json!(["T1", "T2"]))))
        .await
        .unwrap();
    assert_eq!(caller.workspaces, ["T1", "T2"]);
    assert!(!caller.admin);
    // A workspace that is not a Slack id, or a claim of another shape, is not accepted.
    for bad in [json!("t1|x"), json!(5), json!({"id": "T1"})] {
        let refused = verifier.verify(&token("U1", Some(bad.clone()))).await;
        assert!(
            matches!(refused, Err(AuthError::Invalid(_))),
            "{bad}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn only_keys_meant_for_signatures_with_their_declared_algorithm_are_used() {
    let fixture = fixture_keys();
    // rsa-1 is an encryption key; ec-1 declares an algorithm its curve does not sign with.
    let mut keys = fixture.clone();
    keys["keys"][0]["use"] = json!("enc");
    keys["keys"][1]["alg"] = json!("ES384");
    let jwks = issuer_serving(keys).await;
    let verifier = verifier(&jwks);
    assert_eq!(
        verifier.verify(&oidc::user_token("U1")).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(
        verifier.verify(&oidc::admin_token("OPS1")).await,
        Err(AuthError::UnknownKey)
    );
    // The same keys as signing keys are used.
    let good = issuer_serving(fixture).await;
    assert!(
        self::verifier(&good)
            .verify(&oidc::user_token("U1"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_slow_key_fetch_holds_up_no_token_whose_key_is_known() {
    let fixture = fixture_keys();
    let jwks = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture.clone()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&jwks)
        .await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture)
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .with_priority(2)
        .mount(&jwks)
        .await;
    let verifier =
        std::sync::Arc::new(verifier(&jwks).with_refetch_floor(std::time::Duration::ZERO));
    assert!(verifier.verify(&oidc::user_token("U1")).await.is_ok());

    // A token signed by a key the issuer has not published: the verifier asks again, and
    // the issuer takes three seconds to answer.
    let unknown = oidc::sign("rsa-2", &oidc::claims("U2", ""));
    let asking = tokio::spawn({
        let verifier = verifier.clone();
        async move { verifier.verify(&unknown).await }
    });
    crate::helpers::eventually("the second fetch to be under way", || async {
        jwks.received_requests().await.unwrap().len() == 2
    })
    .await;
    // Meanwhile a token whose key is in the cache is verified without waiting for it.
    let known = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        verifier.verify(&oidc::user_token("U1")),
    )
    .await;
    assert!(
        matches!(known, Ok(Ok(_))),
        "verified while the fetch was pending: {known:?}"
    );
    assert!(!asking.is_finished(), "the slow fetch was still pending");
    assert_eq!(asking.await.unwrap(), Err(AuthError::UnknownKey));
}
