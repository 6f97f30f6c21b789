//! Fairness simulation: drives the real assignment code against PostgreSQL with seeded
//! random participation, and measures how even the outcome is (SPEC "Fairness
//! Score"). `examples/fairness.rs` prints the table; a test holds both policies to target.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use sqlx::PgPool;

use crate::{
    domain::fairness::FairnessPolicy,
    storage::job_queue::Announcer,
    workflows::{
        Actor, RunRules,
        assign_runner::{Assignment, Trigger, assign_runner},
        run_controls::complete_run,
    },
};

#[derive(Debug, Clone, Copy)]
pub struct SimulationConfig {
    pub users: usize,
    pub days: u32,
    pub runs_per_day: u32,
    pub seed: u64,
}

impl Default for SimulationConfig {
    /// The setting: 20 users over 30 days, two runs a day.
    fn default() -> Self {
        Self {
            users: 20,
            days: 30,
            runs_per_day: 2,
            seed: 2026,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReport {
    pub policy: FairnessPolicy,
    pub runs: u32,
    /// Users who took part in at least one run.
    pub active_users: usize,
    pub fewest_runs_made: u32,
    pub most_runs_made: u32,
    /// SPEC's fairness score: standard deviation of run counts among active users.
    pub std_dev: f64,
    /// Largest |fair share − runs| (each run adds 1/participants to each participant).
    pub max_share_gap: f64,
}

/// Plays `config` under `policy` in its own workspace of `pool`'s database.
pub async fn simulate(
    pool: &PgPool,
    policy: FairnessPolicy,
    config: SimulationConfig,
) -> Result<PolicyReport, sqlx::Error> {
    let rules = RunRules {
        policy,
        fairness_window_days: config.days + 1,
        active_window_days: 14,
        assign_window: std::time::Duration::from_secs(300),
        assign_max_orders: u32::MAX,
        reminder_delay: std::time::Duration::from_secs(300),
        summary_refresh_delay: crate::workflows::rules::SUMMARY_REFRESH_DELAY,
    };
    let workspace = format!("SIM-{policy:?}-{}", uuid::Uuid::new_v4().simple());
    let mut random = SplitMix64(config.seed);
    // Each user's appetite for coffee: between 15 % and 95 % of runs.
    let users: Vec<(String, f64)> = (0..config.users)
        .map(|i| {
            (
                format!("{}U{i:02}", &workspace[..12]),
                0.15 + 0.8 * random.unit(),
            )
        })
        .collect();
    let mut made: BTreeMap<String, u32> = BTreeMap::new();
    let mut share: BTreeMap<String, f64> = BTreeMap::new();
    let start = Utc::now() - Duration::days(i64::from(config.days));
    let mut runs = 0;
    // No workers deliver the simulated runs' messages: their jobs are never announced.
    let announcer = Announcer::new();

    for day in 0..config.days {
        for slot in 0..config.runs_per_day {
            let as_of =
                start + Duration::days(i64::from(day)) + Duration::hours(9 + 4 * i64::from(slot));
            let mut participants: Vec<&str> = users
                .iter()
                .filter(|(_, appetite)| random.unit() < *appetite)
                .map(|(id, _)| id.as_str())
                .collect();
            if participants.is_empty() {
                participants.push(&users[random.below(users.len())].0);
            }
            let run_id = start_run(pool, &workspace, &participants, as_of).await?;
            let runner = match assign_runner(
                pool,
                &announcer,
                &rules,
                run_id,
                Trigger::Scheduled { out: &[] },
                as_of,
            )
            .await?
            {
                Assignment::Assigned { runner, .. } => runner,
                other => unreachable!("a fresh run with orders is assigned, got {other:?}"),
            };
            complete_run(pool, &announcer, run_id, Actor::user(&runner)).await?;
            *made.entry(runner).or_default() += 1;
            for p in &participants {
                *share.entry((*p).to_owned()).or_default() += 1.0 / participants.len() as f64;
            }
            runs += 1;
        }
    }

    let counts: Vec<f64> = share
        .keys()
        .map(|u| f64::from(made.get(u).copied().unwrap_or(0)))
        .collect();
    let mean = counts.iter().sum::<f64>() / counts.len() as f64;
    let variance = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / counts.len() as f64;
    let max_share_gap = share
        .iter()
        .map(|(u, s)| (s - f64::from(made.get(u).copied().unwrap_or(0))).abs())
        .fold(0.0, f64::max);
    Ok(PolicyReport {
        policy,
        runs,
        active_users: share.len(),
        fewest_runs_made: counts.iter().copied().fold(f64::MAX, f64::min) as u32,
        most_runs_made: counts.iter().copied().fold(0.0, f64::max) as u32,
        std_dev: variance.sqrt(),
        max_share_gap,
    })
}

/// A run created `as_of`, with one order per participant at that time.
async fn start_run(
    pool: &PgPool,
    workspace: &str,
    participants: &[&str],
    as_of: chrono::DateTime<Utc>,
) -> Result<uuid::Uuid, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO users (user_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        participants as &[&str],
    )
    .execute(&mut *tx)
    .await?;
    let run_id = sqlx::query_scalar!(
        "INSERT INTO coffee_runs (workspace_id, channel_id, initiator_user_id, created_at)
         VALUES ($1, 'C_SIM', $2, $3) RETURNING run_id",
        workspace,
        participants[0],
        as_of,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO orders (run_id, user_id, drink_type, size, created_at)
         SELECT $1, unnest($2::text[]), 'Latte', 'Medium', $3",
        run_id,
        participants as &[&str],
        as_of,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(run_id)
}

/// A tiny seeded generator (SplitMix64): the same seed gives the same month.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The README's table.
pub fn markdown_table(reports: &[PolicyReport]) -> String {
    let mut out = String::from(
        "| policy | runs | active users | runs made (min–max) | std dev of runs (target < 2) | largest \\|fair share − runs\\| |\n|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let name = r.policy;
        out.push_str(&format!(
            "| `{name}` | {} | {} | {}–{} | {:.2} | {:.2} |\n",
            r.runs,
            r.active_users,
            r.fewest_runs_made,
            r.most_runs_made,
            r.std_dev,
            r.max_share_gap
        ));
    }
    out
}
