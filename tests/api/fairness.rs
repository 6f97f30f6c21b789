//! The fairness simulation (issue 3): the real assignment code over a simulated month.

use coffeebuddy::{
    config::FairnessPolicy,
    simulation::{SimulationConfig, simulate},
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_simulated_month_meets_both_fairness_targets() {
    let app = spawn_app().await;
    for seed in [2026, 42] {
        let config = SimulationConfig {
            seed,
            ..SimulationConfig::default()
        };
        let fewest = simulate(&app.pool, FairnessPolicy::FewestRuns, config)
            .await
            .unwrap();
        assert_eq!((fewest.runs, fewest.active_users), (60, 20));
        assert!(fewest.std_dev < 2.0, "SPEC fairness score: {fewest:?}");

        let carpool = simulate(&app.pool, FairnessPolicy::Carpool, config)
            .await
            .unwrap();
        assert!(
            carpool.max_share_gap <= 1.0,
            "carpool keeps shares: {carpool:?}"
        );
        // The two rules really differ: carpool tracks shares better than fewest-runs.
        assert!(
            carpool.max_share_gap < fewest.max_share_gap,
            "{carpool:?} vs {fewest:?}"
        );
    }
}
