//! The SPEC's success metrics: runs ended by outcome, the time from a run's first order to
//! its assignment, the fairness score per workspace, and each workspace's week.

use crate::helpers::{TestApp, eventually, metric, spawn_app_with};

async fn order(app: &TestApp, user: &str, channel: &str) {
    let response = app
        .submit_order(user, channel, Some("Latte"), Some("Large"), None)
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn runs_are_counted_by_outcome_with_their_wait_for_a_runner_and_the_fairness_score() {
    let app = spawn_app_with(&["--assign-max-orders", "2"]).await;
    let before = app.metrics().await;
    assert_eq!(
        metric(&before, "runs_total{outcome=\"completed\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(&before, "runs_total{outcome=\"cancelled\"}"),
        Some(0.0)
    );

    for channel in ["C1", "C2"] {
        order(&app, "U1", channel).await;
        order(&app, "U2", channel).await;
    }
    eventually("both runners", || async {
        metric(&app.metrics().await, "run_assignment_delay_seconds_count") == Some(2.0)
    })
    .await;
    // C1 completes; U1 started C2 and cancels it.
    app.runner_marks_complete("C1").await;
    assert_eq!(
        app.slash_command("/coffee-cancel", "", "U1", "C2")
            .await
            .status(),
        200
    );

    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "runs_total{outcome=\"completed\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "runs_total{outcome=\"cancelled\"}"),
        Some(1.0)
    );
    // Both runs filled at once: assigned well within the first bucket.
    assert_eq!(
        metric(&metrics, "run_assignment_delay_seconds_bucket{le=\"30\"}"),
        Some(2.0)
    );
    // Two users, one completed run between them (a cancelled one does not count): runs
    // 1 and 0, a standard deviation of 0.5.
    eventually("the fairness score", || async {
        metric(
            &app.metrics().await,
            "fairness_run_count_stddev{workspace_id=\"T0TEST\"}",
        ) == Some(0.5)
    })
    .await;
    // This week: one run that was not cancelled, two users who ordered.
    eventually("the week's runs and active users", || async {
        let metrics = app.metrics().await;
        metric(&metrics, "weekly_runs{workspace_id=\"T0TEST\"}") == Some(1.0)
            && metric(&metrics, "weekly_active_users{workspace_id=\"T0TEST\"}") == Some(2.0)
    })
    .await;
}
