//! Fairness simulation: 20 users, 30 simulated days, seeded random participation, through
//! the real assignment code on PostgreSQL, for both FAIRNESS_POLICY values.
//!
//! `cargo run --release --example fairness` (DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/coffeebuddy_fairness; created and migrated).

use clap::Parser;
use coffeebuddy::{
    config::Settings,
    dev::simulation::{SimulationConfig, markdown_table, simulate},
    domain::fairness::FairnessPolicy,
    storage,
};

#[derive(Parser)]
struct Args {
    /// Seed of the participation pattern.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    #[command(flatten)]
    settings: Settings,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    if std::env::var("DATABASE_URL").is_err() {
        args.settings.database_url = "postgres://postgres@127.0.0.1:5432/coffeebuddy_fairness"
            .to_owned()
            .into();
    }
    let pool = storage::connect(&args.settings, None).await?;
    storage::migrate(&pool).await?;
    let config = SimulationConfig {
        seed: args.seed,
        ..SimulationConfig::default()
    };
    let mut reports = Vec::new();
    for policy in [FairnessPolicy::FewestRuns, FairnessPolicy::Carpool] {
        reports.push(simulate(&pool, policy, config).await?);
    }
    println!(
        "{} users, {} days, {} runs a day, seed {}\n",
        config.users, config.days, config.runs_per_day, config.seed
    );
    print!("{}", markdown_table(&reports));
    storage::close(&pool).await;
    Ok(())
}
