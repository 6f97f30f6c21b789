//! The post-run survey: 👍 / 👎 on the completion reply for participants, one answer per
//! person per run (changeable), recorded, audited and counted, and the satisfaction share
//! over the REST API.

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    helpers::{ROOT_TS, TestApp, WORKSPACE, button_click, metric, spawn_app_with},
    oidc,
};

async fn completed_run(app: &TestApp) -> Uuid {
    for user in ["U1", "U2"] {
        let response = app
            .submit_order(user, "C1", Some("Latte"), Some("Large"), None)
            .await;
        assert_eq!(response.status(), 200);
    }
    app.wait_for_jobs().await;
    let run_id = app.runner_marks_complete("C1").await;
    app.wait_for_jobs().await;
    run_id
}

async fn answer(app: &TestApp, user: &str, action: &str, run_id: Uuid) -> String {
    let click = button_click(user, "C1", action, &run_id.to_string());
    assert_eq!(app.interaction(&click).await.status(), 200);
    app.wait_for_jobs().await;
    let told = app.slack_calls("chat.postEphemeral").await;
    let last = told
        .iter()
        .rev()
        .find(|e| e["user"] == user)
        .expect("an ephemeral reply");
    last["text"].as_str().unwrap().to_owned()
}

async fn answers(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT user_id, answer FROM survey_answers ORDER BY user_id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn participants_answer_once_each_and_may_change_their_answer() {
    let jwks = oidc::jwks_server("jwks.json").await;
    let mut args = oidc::oidc_settings(&jwks);
    args.extend(["--assign-max-orders", "2"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(&args).await;
    let run_id = completed_run(&app).await;

    // The completion reply carries the two buttons, each naming the run.
    let reply = app
        .slack_calls("chat.postMessage")
        .await
        .into_iter()
        .find(|p| p["thread_ts"] == ROOT_TS && p["text"].as_str().unwrap().contains("completed"))
        .expect("the completion reply");
    let survey = reply["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "survey")
        .expect("the survey's buttons");
    let buttons: Vec<(&str, &str)> = survey["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["action_id"].as_str().unwrap(),
                b["value"].as_str().unwrap(),
            )
        })
        .collect();
    let run = run_id.to_string();
    assert_eq!(
        buttons,
        [("survey_up", run.as_str()), ("survey_down", run.as_str())]
    );

    assert!(
        answer(&app, "U1", "survey_up", run_id)
            .await
            .starts_with("Thanks!")
    );
    assert!(
        answer(&app, "U2", "survey_up", run_id)
            .await
            .starts_with("Thanks!")
    );
    // U1 changes their mind: still one answer each.
    assert!(
        answer(&app, "U1", "survey_down", run_id)
            .await
            .starts_with("Thanks!")
    );
    assert_eq!(
        answers(&app).await,
        [("U1".into(), "down".into()), ("U2".into(), "up".into())]
    );
    // Someone who did not order is told so, and nothing is stored.
    let refused = answer(&app, "U9", "survey_up", run_id).await;
    assert!(refused.contains("Only people who ordered"), "{refused}");
    assert_eq!(answers(&app).await.len(), 2);

    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE event_type = 'survey_answered'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 3, "every answer given, the change too");
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "survey_answers_total{answer=\"up\"}"),
        Some(2.0)
    );
    assert_eq!(
        metric(&metrics, "survey_answers_total{answer=\"down\"}"),
        Some(1.0)
    );

    // The satisfaction share: callers of the workspace and admins; nobody else.
    let share = |token: String, workspace: &str| {
        let request = app
            .http
            .get(format!(
                "{}/api/v1/survey?workspace_id={workspace}",
                app.address
            ))
            .bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = share(oidc::user_token("U1"), WORKSPACE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["up"].as_i64(), body["down"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(body["satisfaction"], 0.5);
    let (status, _) = share(oidc::user_token("U1"), "TOTHER").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = share(oidc::admin_token("OPS1"), "TOTHER").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["satisfaction"], Value::Null, "no answers there");
}

#[tokio::test]
async fn a_run_that_is_not_completed_takes_no_answers() {
    let app = spawn_app_with(&["--assign-max-orders", "5"]).await;
    let response = app
        .submit_order("U1", "C1", Some("Latte"), Some("Large"), None)
        .await;
    assert_eq!(response.status(), 200);
    let run_id: Uuid = sqlx::query_scalar("SELECT run_id FROM coffee_runs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let told = answer(&app, "U1", "survey_up", run_id).await;
    assert!(told.contains("not completed"), "{told}");
    assert!(answers(&app).await.is_empty());
}
