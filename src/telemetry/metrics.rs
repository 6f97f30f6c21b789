//! The Prometheus metrics of CONTRACT "Metrics", exported through OpenTelemetry.
//!
//! Each [`Metrics`] owns its own registry and meter provider (nothing global), so several
//! apps in one test process do not mix their numbers.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _},
};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, Registry, TextEncoder};
use sqlx::PgPool;

use crate::domain::{DrinkType, RunStatus, SurveyAnswer, availability::Absence};

/// Buckets of `command_latency_seconds` (REQ-017).
const LATENCY_BUCKETS: [f64; 5] = [0.1, 0.5, 1.0, 2.0, 5.0];
/// Buckets of `run_assignment_delay_seconds`: the SPEC wants p95 under 5 minutes.
const ASSIGNMENT_DELAY_BUCKETS: [f64; 6] = [30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];
/// `runs_total`'s outcomes: how a run can end.
const RUN_OUTCOMES: [RunStatus; 2] = [RunStatus::Completed, RunStatus::Cancelled];
/// Error types pre-registered at zero so dashboards see the series before the first error.
const KNOWN_ERROR_TYPES: [&str; 11] = [
    "invalid_signature",
    "request_expired",
    "invalid_input",
    "payload_too_large",
    "request_timeout",
    "not_found",
    "method_not_allowed",
    "conflict",
    "service_unavailable",
    "internal",
    "slack_api",
];

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    provider: SdkMeterProvider,
    command_latency: Histogram<f64>,
    orders: Counter<u64>,
    active_runs: Gauge<i64>,
    runner_assignments: Counter<u64>,
    assignment_delay: Histogram<f64>,
    runs: Counter<u64>,
    survey_answers: Counter<u64>,
    runners_passed_over: Counter<u64>,
    fairness_stddev: Gauge<f64>,
    weekly_runs: Gauge<i64>,
    weekly_active_users: Gauge<i64>,
    errors: Counter<u64>,
    signature_failures: Counter<u64>,
    slack_rate_limits: Counter<u64>,
    kafka_publish_failures: Counter<u64>,
    requests_shed: Counter<u64>,
    connections_timed_out: Counter<u64>,
    jobs: Gauge<i64>,
    circuit_breaker_state: Gauge<i64>,
}

impl Metrics {
    /// Builds the instruments; `pool` feeds the `db_connections_*` gauges, and so does
    /// `also_idle`: connections checked out of the pool that wait for the next caller all
    /// the same (the warm set's).
    pub fn new(
        pool: &PgPool,
        also_idle: impl Fn() -> usize + Clone + Send + Sync + 'static,
    ) -> Self {
        let registry = Registry::new();
        // Without these the exporter renames `orders_total` to `orders_total_total`, adds unit
        // suffixes and extra labels; CONTRACT fixes the names exactly.
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_units()
            .without_counter_suffixes()
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .expect("a fresh registry accepts the exporter");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let meter = provider.meter("coffeebuddy");
        observe_pool(&meter, pool, also_idle);

        let inner = Inner {
            command_latency: meter
                .f64_histogram("command_latency_seconds")
                .with_description("Time to answer a Slack command or interaction")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            orders: counter(&meter, "orders_total", "Orders placed, by drink"),
            active_runs: meter
                .i64_gauge("active_runs")
                .with_description("Coffee runs with status active")
                .build(),
            runner_assignments: counter(&meter, "runner_assignments_total", "Runners assigned"),
            assignment_delay: meter
                .f64_histogram("run_assignment_delay_seconds")
                .with_description("From a run's first order to its runner's assignment")
                .with_boundaries(ASSIGNMENT_DELAY_BUCKETS.to_vec())
                .build(),
            runs: counter(&meter, "runs_total", "Runs ended, by outcome (completed, cancelled)"),
            survey_answers: counter(
                &meter,
                "survey_answers_total",
                "Post-run survey answers given, by answer (up, down); a changed answer counts again",
            ),
            runners_passed_over: counter(
                &meter,
                "runner_passed_over_total",
                "Candidates passed over as runner because Slack said they are out, by reason (away, dnd, status)",
            ),
            fairness_stddev: meter
                .f64_gauge("fairness_run_count_stddev")
                .with_description("Standard deviation of runs made per active user over FAIRNESS_WINDOW_DAYS, by workspace (the SPEC's target: under 2)")
                .build(),
            weekly_runs: meter
                .i64_gauge("weekly_runs")
                .with_description("Runs started in the last 7 days and not cancelled, by workspace")
                .build(),
            weekly_active_users: meter
                .i64_gauge("weekly_active_users")
                .with_description("Users who ordered in the last 7 days, by workspace")
                .build(),
            errors: counter(&meter, "errors_total", "Errors, by type"),
            signature_failures: counter(
                &meter,
                "slack_signature_verification_failures_total",
                "Slack requests refused for a missing, wrong or expired signature",
            ),
            slack_rate_limits: counter(
                &meter,
                "slack_rate_limit_events_total",
                "HTTP 429 answers from the Slack Web API",
            ),
            kafka_publish_failures: counter(
                &meter,
                "kafka_publish_failures_total",
                "Outbox events whose publication failed after every retry",
            ),
            requests_shed: counter(
                &meter,
                "requests_shed_total",
                "Requests refused with 503 because MAX_REQUESTS_IN_FLIGHT were in progress (probes and /metrics are never refused)",
            ),
            connections_timed_out: counter(
                &meter,
                "http_connections_timed_out_total",
                "HTTP connections closed for going past a time limit, by limit (header, idle); a body past its limit is answered 408 and counted in errors_total",
            ),
            circuit_breaker_state: meter
                .i64_gauge("circuit_breaker_state")
                .with_description("Database circuit breaker: 0 closed, 1 open, 2 half-open")
                .build(),
            jobs: meter
                .i64_gauge("jobs")
                .with_description("Durable jobs, by job type and state")
                .build(),
            registry,
            provider,
        };
        inner.zero_known_series();
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn record_command_latency(&self, command: &str, elapsed: Duration) {
        self.inner.command_latency.record(
            elapsed.as_secs_f64(),
            &[KeyValue::new("command", command.to_owned())],
        );
    }

    /// A new order (a changed one is still the one coffee: not counted again).
    pub fn order_placed(&self, drink: DrinkType) {
        self.inner
            .orders
            .add(1, &[KeyValue::new("drink_type", drink.as_str())]);
    }

    /// A runner was assigned, `waited` after the run's first order.
    pub fn runner_assigned(&self, waited: Duration) {
        self.inner.runner_assignments.add(1, &[]);
        self.inner
            .assignment_delay
            .record(waited.as_secs_f64(), &[]);
    }

    /// A run ended (`runs_total{outcome}`: completed or cancelled).
    pub fn run_ended(&self, outcome: RunStatus) {
        self.inner
            .runs
            .add(1, &[KeyValue::new("outcome", outcome.as_str())]);
    }

    /// A post-run survey answer (`survey_answers_total{answer}`).
    pub fn survey_answered(&self, answer: SurveyAnswer) {
        self.inner
            .survey_answers
            .add(1, &[KeyValue::new("answer", answer.as_str())]);
    }

    /// A candidate passed over as runner (`runner_passed_over_total{reason}`).
    pub fn runner_passed_over(&self, absence: Absence) {
        self.inner
            .runners_passed_over
            .add(1, &[KeyValue::new("reason", absence.as_str())]);
    }

    /// `fairness_run_count_stddev` of one workspace.
    pub fn fairness_stddev(&self, workspace_id: &str, std_dev: f64) {
        self.inner.fairness_stddev.record(
            std_dev,
            &[KeyValue::new("workspace_id", workspace_id.to_owned())],
        );
    }

    /// `weekly_runs` and `weekly_active_users` of one workspace.
    pub fn last_week(&self, workspace_id: &str, runs: i64, active_users: i64) {
        let workspace = [KeyValue::new("workspace_id", workspace_id.to_owned())];
        self.inner.weekly_runs.record(runs, &workspace);
        self.inner
            .weekly_active_users
            .record(active_users, &workspace);
    }

    pub fn error(&self, error_type: &'static str) {
        self.inner
            .errors
            .add(1, &[KeyValue::new("error_type", error_type)]);
    }

    pub fn signature_failure(&self) {
        self.inner.signature_failures.add(1, &[]);
    }

    pub fn slack_rate_limited(&self) {
        self.inner.slack_rate_limits.add(1, &[]);
    }

    pub fn kafka_publish_failed(&self) {
        self.inner.kafka_publish_failures.add(1, &[]);
    }

    /// A request refused at once for want of a place (`MAX_REQUESTS_IN_FLIGHT`); also
    /// counted as a `service_unavailable` error where it is answered.
    pub fn request_shed(&self) {
        self.inner.requests_shed.add(1, &[]);
    }

    /// A connection closed by a time limit (`header` or `idle`).
    pub fn connection_timed_out(&self, limit: &'static str) {
        self.inner
            .connections_timed_out
            .add(1, &[KeyValue::new("limit", limit)]);
    }

    /// `circuit_breaker_state`: 0 closed, 1 open, 2 half-open.
    pub fn circuit_state(&self, gauge: i64) {
        self.inner.circuit_breaker_state.record(gauge, &[]);
    }

    pub fn active_runs(&self, count: i64) {
        self.inner.active_runs.record(count, &[]);
    }

    /// Jobs of `job_type` in `state`, as the job queue stores them.
    pub fn jobs(&self, job_type: &str, state: &str, count: i64) {
        self.inner.jobs.record(
            count,
            &[
                KeyValue::new("job_type", job_type.to_owned()),
                KeyValue::new("state", state.to_owned()),
            ],
        );
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.inner.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    pub fn shutdown(&self) {
        let _ = self.inner.provider.shutdown();
    }
}

impl Inner {
    fn zero_known_series(&self) {
        for drink in DrinkType::ALL {
            self.orders
                .add(0, &[KeyValue::new("drink_type", drink.as_str())]);
        }
        for error_type in KNOWN_ERROR_TYPES {
            self.errors
                .add(0, &[KeyValue::new("error_type", error_type)]);
        }
        for counter in [
            &self.runner_assignments,
            &self.signature_failures,
            &self.slack_rate_limits,
            &self.kafka_publish_failures,
            &self.requests_shed,
        ] {
            counter.add(0, &[]);
        }
        for answer in SurveyAnswer::ALL {
            self.survey_answers
                .add(0, &[KeyValue::new("answer", answer.as_str())]);
        }
        for absence in Absence::ALL {
            self.runners_passed_over
                .add(0, &[KeyValue::new("reason", absence.as_str())]);
        }
        for outcome in RUN_OUTCOMES {
            self.runs
                .add(0, &[KeyValue::new("outcome", outcome.as_str())]);
        }
        for limit in ["header", "idle"] {
            self.connections_timed_out
                .add(0, &[KeyValue::new("limit", limit)]);
        }
        self.active_runs.record(0, &[]);
    }
}

fn counter(meter: &Meter, name: &'static str, description: &'static str) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_description(description)
        .build()
}

fn observe_pool(
    meter: &Meter,
    pool: &PgPool,
    also_idle: impl Fn() -> usize + Clone + Send + Sync + 'static,
) {
    let idle = {
        let pool = pool.clone();
        move || (pool.num_idle() + also_idle()) as i64
    };
    let (active, idle_now) = (pool.clone(), idle.clone());
    meter
        .i64_observable_gauge("db_connections_active")
        .with_description("Pool connections in use")
        .with_callback(move |gauge| {
            let busy = active.size() as i64 - idle_now();
            gauge.observe(busy.max(0), &[]);
        })
        .build();
    meter
        .i64_observable_gauge("db_connections_idle")
        .with_description("Pool connections open and idle")
        .with_callback(move |gauge| gauge.observe(idle(), &[]))
        .build();
}
