//! The REST API (`/api/v1`): OIDC tokens, every endpoint's answers, and the same events and
//! audit rows as Slack.

use std::time::Duration;

use coffeebuddy::{
    auth::{AuthError, OidcVerifier},
    jobs::SlackMessage,
    storage::job_queue::{Announcer, UnitOfWork},
};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use wiremock::matchers::body_partial_json;

use crate::{
    helpers::{
        TestApp, WORKSPACE, eventually, eventually_within, slack_call, slack_refusal,
        spawn_app_tuned, spawn_app_with,
    },
    oidc::{self, ISSUER},
};

async fn rest_app(extra: &[&str]) -> (TestApp, wiremock::MockServer) {
    rest_app_tuned(extra, |_| {}).await
}

async fn rest_app_tuned(
    extra: &[&str],
    tune: impl FnOnce(&mut coffeebuddy::startup::Options),
) -> (TestApp, wiremock::MockServer) {
    let jwks = oidc::jwks_server("jwks.json").await;
    let mut args: Vec<String> = oidc::oidc_settings(&jwks);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    (spawn_app_tuned(&refs, tune).await, jwks)
}

async fn call(
    app: &TestApp,
    verb: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(verb, format!("{}/api/v1{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn error_code(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<no error code>")
}

fn new_run(channel: &str) -> Value {
    json!({"workspace_id": WORKSPACE, "channel_id": channel, "drink_type": "Latte", "size": "Large", "customizations": "oat milk"})
}

#[tokio::test]
async fn bad_tokens_are_refused_and_good_ones_accepted() {
    let (app, _jwks) = rest_app(&[]).await;
    let now = chrono::Utc::now().timestamp();
    let mut expired = oidc::claims("U1", "");
    expired["exp"] = json!(now - 120);
    let mut wrong_audience = oidc::claims("U1", "");
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = oidc::claims("U1", "");
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut not_yet = oidc::claims("U1", "");
    not_yet["nbf"] = json!(now + 600);
    let refused = [
        ("missing", None),
        ("garbage", Some("not.a.jwt".to_owned())),
        ("expired", Some(oidc::sign("rsa-1", &expired))),
        ("wrong audience", Some(oidc::sign("rsa-1", &wrong_audience))),
        ("wrong issuer", Some(oidc::sign("rsa-1", &wrong_issuer))),
        ("not valid yet", Some(oidc::sign("rsa-1", &not_yet))),
        (
            "unknown key",
            Some(oidc::sign("rsa-2", &oidc::claims("U1", ""))),
        ),
        ("alg none", Some(oidc::unsigned_token("U1"))),
        ("HMAC", Some(oidc::hmac_token("U1"))),
    ];
    for (case, token) in refused {
        let (status, body) = call(
            &app,
            Method::GET,
            "/users/U1/preferences",
            token.as_deref(),
            None,
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "unauthenticated"),
            "{case}: {body}"
        );
    }
    for token in [
        oidc::user_token("U1"),
        oidc::sign("ec-1", &oidc::claims("U1", "")),
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            "/users/U1/preferences",
            Some(&token),
            None,
        )
        .await;
        assert_eq!((status, body), (200, json!([])));
    }
    assert!(
        app.metrics()
            .await
            .contains("errors_total{error_type=\"unauthenticated\"} 9")
    );
}

#[tokio::test]
async fn without_an_issuer_the_api_answers_401() {
    let app = spawn_app_with(&[]).await;
    let (status, body) = call(
        &app,
        Method::GET,
        "/users/U1/preferences",
        Some(&oidc::user_token("U1")),
        None,
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "unauthenticated"));
}

#[tokio::test]
async fn keys_are_fetched_again_for_an_unknown_kid_at_most_once_a_minute() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let url = Url::parse(&format!("{}/.well-known/jwks.json", jwks.uri())).unwrap();
    let verifier = OidcVerifier::new(
        &Url::parse(ISSUER).unwrap(),
        url,
        oidc::AUDIENCE,
        "slack_team_id",
    )
    .with_refetch_floor(Duration::from_millis(300));
    assert!(verifier.verify(&oidc::user_token("U1")).await.is_ok());
    // The issuer rotates to a new key.
    oidc::serve_jwks(&jwks, "jwks-rotated.json").await;
    let rotated = oidc::sign("rsa-2", &oidc::claims("U1", ""));
    assert_eq!(
        verifier.verify(&rotated).await,
        Err(AuthError::UnknownKey),
        "too soon to refetch"
    );
    assert_eq!(
        jwks.received_requests().await.unwrap().len(),
        0,
        "no refetch within the floor"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(verifier.verify(&rotated).await.unwrap().user_id, "U1");
    assert_eq!(jwks.received_requests().await.unwrap().len(), 1);
    // Known keys are served from the cache.
    assert!(verifier.verify(&rotated).await.is_ok());
    assert_eq!(jwks.received_requests().await.unwrap().len(), 1);
}

/// A verifier of the test's own against `jwks`, for the issuer `issuer`.
fn verifier(jwks: &wiremock::MockServer, issuer: &str) -> OidcVerifier {
    let url = Url::parse(&format!("{}/.well-known/jwks.json", jwks.uri())).unwrap();
    OidcVerifier::new(
        &Url::parse(issuer).unwrap(),
        url,
        oidc::AUDIENCE,
        "slack_team_id",
    )
}

#[tokio::test]
async fn an_issuer_is_the_same_with_or_without_its_trailing_slash() {
    let jwks = oidc::jwks_server("jwks.json").await;
    // Ory Hydra writes `iss` with the slash; others without.
    for configured in [ISSUER.to_owned(), format!("{ISSUER}/")] {
        let verifier = verifier(&jwks, &configured);
        for iss in [ISSUER.to_owned(), format!("{ISSUER}/")] {
            let mut claims = oidc::claims("U1", "");
            claims["iss"] = iss.clone().into();
            let verified = verifier.verify(&oidc::sign("rsa-1", &claims)).await;
            assert!(
                verified.is_ok(),
                "OIDC_ISSUER {configured}, iss {iss}: {verified:?}"
            );
        }
        let mut claims = oidc::claims("U1", "");
        claims["iss"] = "https://hydra.example.test.evil/".into();
        assert!(
            verifier
                .verify(&oidc::sign("rsa-1", &claims))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn an_issuer_briefly_away_gets_503_not_401_and_is_asked_again() {
    let jwks = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/.well-known/jwks.json"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&jwks)
        .await;
    oidc::serve_jwks_keeping_mocks(&jwks, "jwks.json").await;
    let verifier = verifier(&jwks, ISSUER).with_refetch_floor(Duration::from_millis(300));
    let token = oidc::user_token("U1");
    for _ in 0..2 {
        // The first asks the issuer; the second is within the floor and must not call the
        // token's key unknown (401) when it was the issuer that failed.
        assert!(
            matches!(
                verifier.verify(&token).await,
                Err(AuthError::KeysUnavailable(_))
            ),
            "a failed fetch is the service's trouble (503)"
        );
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(verifier.verify(&token).await.unwrap().user_id, "U1");
}

#[tokio::test]
async fn a_key_the_issuer_withdrew_stops_being_trusted() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let verifier = verifier(&jwks, ISSUER)
        .with_refetch_floor(Duration::from_millis(100))
        .with_keys_max_age(Duration::from_secs(1));
    let token = oidc::user_token("U1");
    assert!(verifier.verify(&token).await.is_ok());
    // `rsa-1` is rotated out (leaked, say).
    oidc::serve_jwks(&jwks, "jwks-rotated.json").await;
    assert!(
        verifier.verify(&token).await.is_ok(),
        "still trusted while the keys are young"
    );
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(verifier.verify(&token).await, Err(AuthError::UnknownKey));
    // While the issuer is away, keys past their age go on serving.
    oidc::serve_jwks(&jwks, "jwks.json").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(verifier.verify(&token).await.is_ok());
    jwks.reset().await;
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert!(
        verifier.verify(&token).await.is_ok(),
        "the issuer is away: the keys in hand serve"
    );
}

#[tokio::test]
async fn runs_orders_completion_and_cancellation_through_the_api() {
    let (app, _jwks) = rest_app(&["--assign-max-orders", "2"]).await;
    let u1 = oidc::user_token("U1");
    let u2 = oidc::user_token("U2");
    let outsider = oidc::user_token("U9");
    let admin = oidc::admin_token("OPS1");

    let (status, run) = call(&app, Method::POST, "/runs", Some(&u1), Some(new_run("C1"))).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["status"], "active");
    assert_eq!(run["initiator_user_id"], "U1");
    assert_eq!(run["orders"][0]["customizations"], "oat milk");
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let (status, body) = call(&app, Method::POST, "/runs", Some(&u2), Some(new_run("C1"))).await;
    assert_eq!((status, error_code(&body)), (409, "conflict"));
    let mut bad = new_run("C2");
    bad["drink_type"] = json!("Tea");
    let (status, body) = call(&app, Method::POST, "/runs", Some(&u1), Some(bad)).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "invalid_input"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/runs",
        Some(&u1),
        Some(json!({"workspace_id": 5})),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "invalid_input"),
        "{body}"
    );

    // Reading: the people in the run and admins.
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/runs/{run_id}"),
            Some(&u1),
            None
        )
        .await
        .0,
        200
    );
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/runs/{run_id}"),
        Some(&outsider),
        None,
    )
    .await;
    assert_eq!((status, error_code(&body)), (403, "unauthorized"));
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/runs/{run_id}"),
            Some(&admin),
            None
        )
        .await
        .0,
        200
    );
    let missing = uuid::Uuid::new_v4();
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/runs/{missing}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let (status, body) = call(&app, Method::GET, "/runs/not-a-uuid", Some(&admin), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "invalid_input"),
        "{body}"
    );

    // The second order fills the run (ASSIGN_MAX_ORDERS=2): a runner is picked.
    let order = json!({"drink_type": "Mocha", "size": "Small"});
    let (status, run) = call(
        &app,
        Method::POST,
        &format!("/runs/{run_id}/orders"),
        Some(&u2),
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["orders"].as_array().unwrap().len(), 2);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/runs/{missing}/orders"),
        Some(&u2),
        Some(order.clone()),
    )
    .await;
    assert_eq!(status, 404);
    eventually("a runner", || async {
        call(
            &app,
            Method::GET,
            &format!("/runs/{run_id}"),
            Some(&u1),
            None,
        )
        .await
        .1["runner_user_id"]
            .is_string()
    })
    .await;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/runs/{run_id}/orders"),
        Some(&outsider),
        Some(order),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "conflict"),
        "orders close once a runner is picked"
    );

    // Completing: the runner (U1, the lowest id among newcomers) only.
    let complete = format!("/runs/{run_id}/complete");
    let (status, body) = call(&app, Method::PATCH, &complete, Some(&u2), None).await;
    assert_eq!((status, error_code(&body)), (403, "unauthorized"));
    let (status, run) = call(&app, Method::PATCH, &complete, Some(&u1), None).await;
    assert_eq!((status, run["status"].as_str()), (200, Some("completed")));
    let (status, body) = call(&app, Method::PATCH, &complete, Some(&u1), None).await;
    assert_eq!((status, error_code(&body)), (409, "conflict"));
    for (verb, action) in [(Method::PATCH, "complete"), (Method::POST, "cancel")] {
        let (status, body) = call(
            &app,
            verb,
            &format!("/runs/{missing}/{action}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!((status, error_code(&body)), (404, "not_found"), "{action}");
    }

    // Cancelling: not a stranger; an admin may.
    let (_, second) = call(&app, Method::POST, "/runs", Some(&u2), Some(new_run("C2"))).await;
    let cancel = format!("/runs/{}/cancel", second["run_id"].as_str().unwrap());
    let (status, body) = call(&app, Method::POST, &cancel, Some(&outsider), None).await;
    assert_eq!((status, error_code(&body)), (403, "unauthorized"));
    let (status, run) = call(&app, Method::POST, &cancel, Some(&admin), None).await;
    assert_eq!((status, run["status"].as_str()), (200, Some("cancelled")));
    let (status, _) = call(&app, Method::POST, &cancel, Some(&admin), None).await;
    assert_eq!(status, 409);

    // The same events and audit rows as through Slack.
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for expected in [
        "coffee.run.created",
        "coffee.order.placed",
        "coffee.runner.assigned",
        "coffee.run.completed",
        "coffee.run.cancelled",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    let cancelled_by: String = sqlx::query_scalar(
        "SELECT payload->>'cancelled_by_user_id' FROM audit_logs WHERE event_type = 'run_cancelled'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(cancelled_by, "OPS1");
}

#[tokio::test]
async fn an_admin_completes_as_themselves_and_strangers_learn_nothing_of_ended_runs() {
    let (app, _jwks) = rest_app(&["--assign-max-orders", "2"]).await;
    let (u1, u2) = (oidc::user_token("U1"), oidc::user_token("U2"));
    let (outsider, admin) = (oidc::user_token("U9"), oidc::admin_token("OPS1"));
    let (_, run) = call(&app, Method::POST, "/runs", Some(&u1), Some(new_run("C1"))).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let order = json!({"drink_type": "Mocha", "size": "Small"});
    let orders = format!("/runs/{run_id}/orders");
    let (status, _) = call(&app, Method::POST, &orders, Some(&u2), Some(order)).await;
    assert_eq!(status, 201);
    let runner = || async {
        call(
            &app,
            Method::GET,
            &format!("/runs/{run_id}"),
            Some(&admin),
            None,
        )
        .await
        .1["runner_user_id"]
            .as_str()
            .map(str::to_owned)
    };
    eventually("a runner", || async { runner().await.is_some() }).await;

    let complete = format!("/runs/{run_id}/complete");
    let (status, _) = call(&app, Method::PATCH, &complete, Some(&admin), None).await;
    assert_eq!(status, 200);
    let (actor, in_payload): (String, String) = sqlx::query_as(
        "SELECT user_id, payload->>'runner_user_id' FROM audit_logs
         WHERE event_type = 'run_completed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "OPS1", "the audit row names who completed the run");
    assert_eq!(Some(in_payload), runner().await, "and the event its runner");

    // Refused as for an active run: not told that it is over.
    let cancel = format!("/runs/{run_id}/cancel");
    for (verb, path) in [(Method::PATCH, &complete), (Method::POST, &cancel)] {
        let (status, body) = call(&app, verb, path, Some(&outsider), None).await;
        assert_eq!((status, error_code(&body)), (403, "unauthorized"), "{path}");
    }
}

#[tokio::test]
async fn of_simultaneous_new_runs_in_a_channel_one_starts_and_the_rest_get_409() {
    let (app, _jwks) = rest_app(&[]).await;
    let tokens: Vec<String> = (1..=8)
        .map(|i| oidc::user_token(&format!("U{i}")))
        .collect();
    let answers = futures::future::join_all(tokens.iter().map(|token| {
        call(
            &app,
            Method::POST,
            "/runs",
            Some(token),
            Some(new_run("C1")),
        )
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 409, 409, 409, 409, 409, 409, 409],
        "{answers:?}"
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1, "nobody's order joined a run they did not start");
}

#[tokio::test]
async fn preferences_are_the_users_own_business() {
    let (app, _jwks) = rest_app(&[]).await;
    for channel in ["C1", "C2", "C3", "C4"] {
        app.submit_order(
            "U1",
            channel,
            Some(if channel == "C4" { "Mocha" } else { "Latte" }),
            Some("Large"),
            None,
        )
        .await;
    }
    let (status, body) = call(
        &app,
        Method::GET,
        "/users/U1/preferences",
        Some(&oidc::user_token("U1")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([
            {"drink_type": "Latte", "size": "Large", "customizations": null, "order_count": 3},
            {"drink_type": "Mocha", "size": "Large", "customizations": null, "order_count": 1}
        ])
    );
    let (status, _) = call(
        &app,
        Method::GET,
        "/users/U1/preferences",
        Some(&oidc::user_token("U2")),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::GET,
        "/users/U1/preferences",
        Some(&oidc::admin_token("OPS")),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn operators_list_and_retry_failed_jobs_and_read_fairness() {
    let (app, _jwks) = rest_app(&["--assign-max-orders", "1"]).await;
    let admin = oidc::admin_token("OPS1");
    // Slack refuses the run's root message for good (the first message to the channel:
    // the DM to the runner goes to the user, and thread replies wait for the root).
    slack_call("chat.postMessage")
        .and(body_partial_json(json!({"channel": "C1"})))
        .respond_with(slack_refusal("not_in_channel"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.slack)
        .await;
    app.submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    app.wait_for_jobs().await;

    let (status, body) = call(
        &app,
        Method::GET,
        "/jobs?state=failed",
        Some(&oidc::user_token("U1")),
        None,
    )
    .await;
    assert_eq!((status, error_code(&body)), (403, "unauthorized"));
    let (status, body) = call(
        &app,
        Method::GET,
        "/jobs?state=sideways",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_input"));
    let (status, failed) = call(&app, Method::GET, "/jobs?state=failed", Some(&admin), None).await;
    assert_eq!(status, 200, "{failed}");
    let failed = failed.as_array().unwrap().clone();
    // The root message; and the assignment's reply in its thread when the assignment came
    // before the root post was tried (it then queued no refresh to post the root again).
    let root = failed
        .iter()
        .find(|j| j["payload"]["kind"] == "run_summary")
        .unwrap_or_else(|| panic!("{failed:?}"))
        .clone();
    assert_eq!(root["job_type"], "send-slack-message");
    assert_eq!(root["status"], "Killed");
    assert!(
        root["last_error"]
            .as_str()
            .unwrap()
            .contains("not_in_channel"),
        "{root}"
    );
    assert_eq!(root["attempts"], 1);
    for other in failed.iter().filter(|j| j["job_id"] != root["job_id"]) {
        assert_eq!(other["payload"]["kind"], "run_thread_reply", "{failed:?}");
        let error = other["last_error"].as_str().unwrap();
        assert!(error.contains("root message was never posted"), "{error}");
    }

    // The bot was invited meanwhile: retry the root message (a reply given up with it
    // comes back with it).
    let job_id = root["job_id"].as_str().unwrap();
    let (status, job) = call(
        &app,
        Method::POST,
        &format!("/jobs/{job_id}/retry"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, job["status"].as_str()), (200, Some("Pending")));
    app.wait_for_jobs().await;
    let (_, failed) = call(&app, Method::GET, "/jobs?state=failed", Some(&admin), None).await;
    assert_eq!(failed, json!([]));
    let posts = app.slack_calls("chat.postMessage").await;
    let to_c1 = |threaded: bool| {
        posts
            .iter()
            .any(|p| p["channel"] == "C1" && p.get("thread_ts").is_some() == threaded)
    };
    assert!(
        to_c1(false) && to_c1(true),
        "the root and the assignment reply: {posts:?}"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/jobs/{job_id}/retry"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 409, "a done job is not retried");
    let (status, _) = call(&app, Method::POST, "/jobs/nope/retry", Some(&admin), None).await;
    assert_eq!(status, 404);

    let (status, fairness) = call(
        &app,
        Method::GET,
        &format!("/fairness?workspace_id={WORKSPACE}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{fairness}");
    assert_eq!(fairness["users"], json!([{"user_id": "U1", "runs": 1}]));
    assert_eq!(fairness["std_dev"], 0.0);
    assert_eq!(fairness["window_days"], 30);
    let (status, body) = call(&app, Method::GET, "/fairness", Some(&admin), None).await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "invalid_input"),
        "{body}"
    );
}

#[tokio::test]
async fn ids_a_column_cannot_hold_are_refused_as_bad_input() {
    let (app, _jwks) = rest_app(&[]).await;
    let u1 = oidc::user_token("U1");
    let too_long = "C".repeat(65);
    for (field, value) in [
        ("channel_id", too_long.as_str()),
        ("channel_id", "C1\u{0}"),
        ("workspace_id", too_long.as_str()),
        ("workspace_id", " "),
    ] {
        let mut body = new_run("C1");
        body[field] = json!(value);
        let (status, answer) = call(&app, Method::POST, "/runs", Some(&u1), Some(body)).await;
        assert_eq!(
            (status, error_code(&answer)),
            (422, "invalid_input"),
            "{field} {value:?}: {answer}"
        );
        assert!(answer["message"].as_str().unwrap().contains(field));
    }
    // A token's subject becomes a user id: one that no user id can be is not accepted.
    let (status, answer) = call(
        &app,
        Method::POST,
        "/runs",
        Some(&oidc::user_token(&"U".repeat(65))),
        Some(new_run("C1")),
    )
    .await;
    assert_eq!((status, error_code(&answer)), (401, "unauthenticated"));
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(runs, 0, "nothing was written");
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_before_the_token_is_read() {
    let (app, _jwks) = rest_app(&[]).await;
    let mut body = new_run("C1");
    body["customizations"] = json!("x".repeat(70 * 1024));
    for token in [None, Some(oidc::user_token("U1"))] {
        let (status, answer) = call(
            &app,
            Method::POST,
            "/runs",
            token.as_deref(),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, error_code(&answer)),
            (413, "payload_too_large"),
            "{answer}"
        );
    }
    // A body sent without a declared length is cut off at the cap all the same.
    let chunks = futures::stream::iter((0..70).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = app
        .http
        .post(format!("{}/api/v1/runs", app.address))
        .bearer_auth(oidc::user_token("U1"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // Within the cap, the API answers as before.
    let (status, _) = call(
        &app,
        Method::POST,
        "/runs",
        Some(&oidc::user_token("U1")),
        Some(new_run("C1")),
    )
    .await;
    assert_eq!(status, 201);
}

/// The job an operator retries reaches a worker at once, not at its next poll.
#[tokio::test]
async fn an_operators_retry_is_announced_to_the_workers() {
    let (app, _jwks) = rest_app_tuned(&[], |options| {
        options.workers.poll_interval = Duration::from_secs(3600);
        options.workers.busy_poll_interval = Duration::from_secs(3600);
    })
    .await;
    // The listener wakes every worker once it listens; let that first fetch pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A message given up for good (as a permanent Slack error leaves it), queued
    // unannounced: with hourly polls no worker looks at it.
    let mut conn = app.pool.acquire().await.unwrap();
    let message = SlackMessage::Post {
        channel: "C9".into(),
        text: "hello".into(),
        blocks: None,
        thread_ts: None,
    };
    let mut work = UnitOfWork::single_statement(&mut conn, &Announcer::new());
    work.enqueue(&message, None).await.unwrap();
    work.commit().await.unwrap();
    let job_id: String = sqlx::query_scalar(
        "UPDATE apalis.jobs SET status = 'Killed', attempts = 1, done_at = NOW()
         RETURNING id",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    let admin = oidc::admin_token("OPS1");
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/jobs/{job_id}/retry"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually_within("the retried message", Duration::from_secs(5), || async {
        app.slack_calls("chat.postMessage").await.len() == 1
    })
    .await;
}
