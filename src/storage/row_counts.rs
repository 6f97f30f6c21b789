//! Keeps the gauges read from rows (`active_runs`, `jobs`, `fairness_run_count_stddev`,
//! `weekly_runs`, `weekly_active_users`) current. They are read from the database rather
//! than tracked in memory so every replica reports the same truth.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{job_queue, runs};
use crate::{domain::fairness, telemetry::Metrics};

pub struct RowGauges {
    pub metrics: Metrics,
    pub pool: PgPool,
    pub every: Duration,
    /// Every job type, reported at zero until it has rows.
    pub job_types: &'static [&'static str],
    /// FAIRNESS_WINDOW_DAYS, over which the fairness score is taken.
    pub fairness_window_days: u32,
}

impl RowGauges {
    /// Reports every job type in every state at zero, so dashboards see the series before
    /// the first refresh.
    pub fn zero(metrics: &Metrics, job_types: &[&str]) {
        for job_type in job_types {
            for state in job_queue::STATUSES {
                metrics.jobs(job_type, state, 0);
            }
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(err) = self.refresh().await {
                tracing::warn!(error = %err, "could not refresh row-count metrics");
            }
        }
    }

    async fn refresh(&self) -> Result<(), sqlx::Error> {
        self.metrics
            .active_runs(runs::count_active(&self.pool).await?);
        let rows = job_queue::counts(&self.pool).await?;
        for job_type in self.job_types {
            for state in job_queue::STATUSES {
                let count = rows
                    .iter()
                    .find(|(t, s, _)| t == job_type && s == state)
                    .map_or(0, |(_, _, n)| *n);
                self.metrics.jobs(job_type, state, count);
            }
        }
        // Over a week at least, so the week's gauges of a workspace fall back to zero.
        let window = self.fairness_window_days.max(7);
        for workspace in runs::workspaces_with_runs(&self.pool, window).await? {
            let counts =
                runs::runs_per_user(&self.pool, &workspace, self.fairness_window_days).await?;
            let runs: Vec<i64> = counts.iter().map(|(_, runs)| *runs).collect();
            self.metrics
                .fairness_stddev(&workspace, fairness::run_count_std_dev(&runs));
            let (runs, users) = runs::last_week(&self.pool, &workspace).await?;
            self.metrics.last_week(&workspace, runs, users);
        }
        Ok(())
    }
}
