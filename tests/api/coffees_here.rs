//! Coffee's here: completing a run tells every participant in one thread reply that
//! mentions them, and the runner's DMs (assignment and reminder) are redrawn in place
//! without their button; a cancelled run redraws them saying who cancelled.

use serde_json::Value;

use crate::helpers::{ROOT_TS, TestApp, eventually, spawn_app_as, spawn_app_with};

async fn order(app: &TestApp, user: &str) {
    let response = app
        .submit_order(user, "C1", Some("Latte"), Some("Medium"), None)
        .await;
    assert_eq!(response.status(), 200);
}

async fn dms_recorded(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM runner_dms")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The `chat.update` calls whose text starts with `start`.
async fn updates_saying(app: &TestApp, start: &str) -> Vec<Value> {
    app.slack_calls("chat.update")
        .await
        .into_iter()
        .filter(|u| u["text"].as_str().unwrap_or("").starts_with(start))
        .collect()
}

fn has_button(message: &Value) -> bool {
    message["blocks"].to_string().contains("mark_complete")
}

#[tokio::test]
async fn completing_tells_everyone_and_the_runners_dms_lose_their_button() {
    let app = spawn_app_with(&["--assign-max-orders", "3", "--reminder-delay-secs", "1"]).await;
    for user in ["U1", "U2", "U3"] {
        order(&app, user).await;
    }
    eventually("the assignment DM and the reminder", || async {
        dms_recorded(&app).await == 2
    })
    .await;
    app.runner_marks_complete("C1").await;
    app.wait_for_jobs().await;

    let replies: Vec<Value> = app
        .slack_calls("chat.postMessage")
        .await
        .into_iter()
        .filter(|p| p["thread_ts"] == ROOT_TS && p["text"].as_str().unwrap().contains("completed"))
        .collect();
    assert_eq!(replies.len(), 1, "one reply: {replies:?}");
    let runner: String =
        sqlx::query_scalar("SELECT runner_user_id FROM coffee_runs WHERE channel_id = 'C1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let text = replies[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("Coffee run completed by <@{runner}>!")),
        "{text}"
    );
    for user in ["U1", "U2", "U3"] {
        assert!(
            text.contains(&format!("<@{user}>")),
            "{user} is mentioned: {text}"
        );
    }

    // Both DMs, redrawn where they were posted, with the orders and no button.
    let redrawn = updates_saying(&app, "✅ Coffee run in <#C1> completed").await;
    assert_eq!(redrawn.len(), 2, "{redrawn:?}");
    for dm in &redrawn {
        assert!(!has_button(dm), "{dm}");
        assert!(
            dm["blocks"].to_string().contains("<@U2>: Medium Latte"),
            "{dm}"
        );
    }
}

#[tokio::test]
async fn a_cancelled_run_redraws_the_runners_dm_saying_who_cancelled() {
    let app = spawn_app_with(&["--assign-max-orders", "2", "--reminder-delay-secs", "60"]).await;
    order(&app, "U1").await;
    order(&app, "U2").await;
    eventually("the assignment DM", || async {
        dms_recorded(&app).await == 1
    })
    .await;

    // U1 started the run and may cancel it.
    let answer = app.slash_command("/coffee-cancel", "", "U1", "C1").await;
    assert_eq!(answer.status(), 200);
    app.wait_for_jobs().await;
    let redrawn = updates_saying(&app, "✖️ Coffee run in <#C1> cancelled by <@U1>.").await;
    assert_eq!(
        redrawn.len(),
        1,
        "{:?}",
        app.slack_calls("chat.update").await
    );
    assert!(!has_button(&redrawn[0]));
}

/// The run ends before its assignment DM went out: the DM, once posted, is redrawn at once.
#[tokio::test]
async fn a_dm_posted_after_the_run_ended_is_redrawn_at_once() {
    let app = spawn_app_as(
        coffeebuddy::startup::Role::Api,
        &["--assign-max-orders", "2", "--reminder-delay-secs", "60"],
    )
    .await;
    order(&app, "U1").await;
    order(&app, "U2").await;
    app.run_due_jobs().await; // the assignment: its DM is queued, not sent
    app.runner_marks_complete("C1").await;
    while app.run_due_jobs().await > 0 {}

    assert_eq!(dms_recorded(&app).await, 1);
    let redrawn = updates_saying(&app, "✅ Coffee run in <#C1> completed").await;
    assert!(
        !redrawn.is_empty(),
        "{:?}",
        app.slack_calls("chat.update").await
    );
    assert!(redrawn.iter().all(|dm| !has_button(dm)));
}
