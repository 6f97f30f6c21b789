//! Load benchmark: the release binary as its own process against the local PostgreSQL and a
//! fake Slack, driven with correctly signed Slack requests.
//!
//! `scripts/bench.sh` (builds the release binary and this example, then runs it).
//!
//! For each request kind (order `view_submission`s across many channels and users,
//! `/coffee-history`, `/coffee`) it offers 100, 300 and 1,000 requests/s open loop —
//! latency counted from each request's scheduled send time, so a stall shows up as the
//! queue it causes — then saturates it closed loop. It reports throughput, p50/p95/p99,
//! the service process's CPU per request (from /proc; PostgreSQL's is not counted),
//! read once the jobs the phase caused are done and again less what the idle service
//! burns over the same time, and its RSS idle and under load.
//!
//! The service runs one tokio worker thread, as it does when deployed: the chart limits an
//! api pod to one CPU and tokio sizes its runtime from that quota. `BENCH_WORKER_THREADS=2`
//! (or any count) runs it otherwise.
//!
//! The service connects to PostgreSQL without TLS (loopback); `BENCH_DATABASE_TLS=1` lets it
//! negotiate TLS as a `DATABASE_URL` without `sslmode` does.
//!
//! `BENCH_ONLY=order` (or `history`, `coffee`) runs one request kind's phases, for profiling.
//! `BENCH_ONLY=history` first places RUN_SIZE orders per user (untimed), so that each
//! `/coffee-history` reads a full page of runs, as in the full run after the order phases.
//! `BENCH_TRACE=<dir>` writes each open-loop phase's latencies in send order to
//! `<dir>/<kind>-<rate>.csv`, to see whether a p99 comes from a stall or from spread, and
//! when (each line carries its scheduled Unix time).

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use coffeebuddy::slack::{modal_metadata, payloads::OrderModalMetadata, signature};
use futures::StreamExt;
use poem::{
    EndpointExt, Route, Server, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Json,
};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, postgres::PgConnectOptions};
use tokio::sync::Mutex;

const SECRET: &str = "bench-signing-secret";
const PHASE: Duration = Duration::from_secs(5);
const RATES: [u32; 3] = [100, 300, 1_000];
const SATURATION_CLIENTS: usize = 64;
/// Jobs due this soon count as work a phase left behind (a refresh waits 1 s for more
/// orders, then up to a poll interval for a worker).
const SETTLE_HORIZON_SECS: f64 = 2.5;
/// How long the idle service's CPU is measured.
const IDLE: Duration = Duration::from_secs(10);
const CHANNELS: usize = 200;
/// Orders in one run.
const RUN_SIZE: usize = 10;
/// One user per order of a round of runs: a run's orders come from RUN_SIZE people.
const USERS: usize = CHANNELS * RUN_SIZE;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Order,
    History,
    Coffee,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::History => "history",
            Kind::Coffee => "coffee",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Order => "order `view_submission`",
            Kind::History => "`/coffee-history`",
            Kind::Coffee => "`/coffee` (views.open)",
        }
    }
}

struct Result_ {
    kind: Kind,
    offered: Option<u32>,
    done: usize,
    errors: usize,
    throughput: f64,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    sent_late_p99: Option<Duration>,
    cpu_per_request: Duration,
    cpu_above_idle: Duration,
    rss_mib: f64,
    /// Share of the machine's CPU time the hypervisor gave to other guests meanwhile.
    stolen: f64,
}

/// What one phase measured on the client side.
struct Phase {
    latencies: Vec<Duration>,
    /// Open loop: how long after its scheduled time each request left (the benchmark's
    /// own error, already inside its latency). Empty for a closed-loop phase.
    lateness: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
    /// Wall-clock time of the first scheduled send, to line a trace up with other records
    /// of the machine (`perf sched`, `/proc` samples).
    started_at: std::time::SystemTime,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workers = match std::env::var("BENCH_WORKER_THREADS") {
        Ok(count) => count
            .parse::<std::num::NonZeroUsize>()
            .map_err(|e| format!("BENCH_WORKER_THREADS={count:?}: {e}"))?,
        Err(_) => std::num::NonZeroUsize::MIN,
    };
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut admin = format!("{server}/postgres")
        .parse::<PgConnectOptions>()?
        .connect()
        .await?;
    reset_database(&mut admin).await?;
    let reference = MachineReference::measure(&mut admin).await?;
    sqlx::Connection::close(admin).await?;
    let slack = fake_slack().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut service = start_service(&server, &slack, port, workers)?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    wait_ready(&http, &base).await?;
    let mut db = format!("{server}/coffeebuddy_bench")
        .parse::<PgConnectOptions>()?
        .connect()
        .await?;
    // Each run fills at its tenth order (ASSIGN_MAX_ORDERS=RUN_SIZE) and gets its runner;
    // its channel's next orders go to a new channel id (`signed_request`), so no order is
    // refused. Warm up, then take the idle footprint.
    warm_up(&http, &base).await;
    settle(&mut db).await?;
    let autovacuum = autovacuum_stand_in(&mut db).await?;
    let idle_rss = rss_mib(service.id());
    let pid = service.id();
    let before = cpu_time(pid);
    tokio::time::sleep(IDLE).await;
    let idle_cpu = (cpu_time(pid) - before).as_secs_f64() / IDLE.as_secs_f64();

    let mut results = Vec::new();
    let mut sequence = 1_000;
    let only = std::env::var("BENCH_ONLY").ok();
    let trace = std::env::var_os("BENCH_TRACE").map(std::path::PathBuf::from);
    let kinds = [Kind::Order, Kind::History, Kind::Coffee]
        .into_iter()
        .filter(|k| only.as_deref().is_none_or(|o| k.name() == o));
    if only.as_deref() == Some(Kind::History.name()) {
        give_everyone_history(&http, &base, &mut sequence).await;
        autovacuum_stand_in(&mut db).await?;
        warm_up(&http, &base).await;
        settle(&mut db).await?;
    }
    for kind in kinds {
        for offered in RATES.map(Some).into_iter().chain([None]) {
            let cpu_before = cpu_time(pid);
            let machine_before = MachineTicks::now();
            let started = Instant::now();
            let phase = match offered {
                Some(rate) => open_loop(&http, &base, kind, rate, &mut sequence).await,
                None => saturate(&http, &base, kind, &mut sequence).await,
            };
            if let (Some(dir), Some(rate)) = (&trace, offered) {
                write_trace(dir, kind, rate, &phase)?;
            }
            let rss = rss_mib(pid);
            // The work a request leaves behind (an order's root-message refresh job) counts
            // toward it, not toward the next phase: read the CPU once the jobs are done.
            settle(&mut db).await?;
            let cpu = cpu_time(pid).saturating_sub(cpu_before);
            let idle = Duration::from_secs_f64(idle_cpu * started.elapsed().as_secs_f64());
            let stolen = MachineTicks::now().stolen_since(&machine_before);
            let mut result = summarize(kind, offered, phase, cpu, idle, rss);
            result.stolen = stolen;
            results.push(result);
            // The vacuum invalidates every cached plan; warm up again so that the next
            // phase's first requests do not each plan their statements afresh.
            autovacuum_stand_in(&mut db).await?;
            warm_up(&http, &base).await;
            settle(&mut db).await?;
        }
    }
    Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status()?;
    service.wait()?;

    println!(
        "Service RSS idle: {idle_rss:.1} MiB; peak under load: {:.1} MiB; idle CPU: {:.1} ms/s",
        results.iter().map(|r| r.rss_mib).fold(0.0, f64::max),
        idle_cpu * 1_000.0
    );
    println!("{reference}");
    println!(
        "{} s per phase; open loop at fixed offered rates, then {SATURATION_CLIENTS} closed-loop clients; \
         service on {workers} tokio worker thread(s), connected to PostgreSQL with sslmode={}; {autovacuum}.\n",
        PHASE.as_secs(),
        sslmode()
    );
    println!(
        "| request | offered | done | errors | throughput/s | p50 | p95 | p99 | sent late p99 | server CPU / request | above idle | RSS MiB | CPU stolen |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.3} ms | {:.3} ms | {:.1} | {:.0} % |",
            r.kind.label(),
            r.offered
                .map_or("saturation".to_owned(), |o| format!("{o}/s")),
            r.done,
            r.errors,
            r.throughput,
            ms(r.p50),
            ms(r.p95),
            ms(r.p99),
            r.sent_late_p99
                .map_or("–".to_owned(), |d| format!("{:.2} ms", ms(d))),
            ms(r.cpu_per_request),
            ms(r.cpu_above_idle),
            r.rss_mib,
            r.stolen * 100.0
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Requests sent before each phase, so that no phase pays for first uses: the first order
/// on a database connection compiles `place_order` and plans each of its statements, every
/// connection prepares its statements once, and a vacuum or analyze makes them plan again.
/// Sent by as many clients at a time as the warm set has connections (half of the
/// service's default pool of 20): with one at a time a single connection was warm, and the
/// 1,000/s phase, the first to need more, paid for the rest in its first 60 ms (orders
/// there took 10–40 ms).
async fn warm_up(http: &reqwest::Client, base: &str) {
    const CLIENTS: usize = 10;
    const PER_KIND: usize = 200;
    for kind in [Kind::Order, Kind::History] {
        futures::stream::iter(0..PER_KIND)
            .for_each_concurrent(CLIENTS, |n| async move {
                send(http, base, kind, n).await;
            })
            .await;
    }
}

/// Places RUN_SIZE orders for every user, each in a different run, untimed: without the
/// order phases before it a history phase would read empty histories, and measure less
/// than the full run's `/coffee-history` (up to ten runs per user) does.
async fn give_everyone_history(http: &reqwest::Client, base: &str, sequence: &mut usize) {
    const CLIENTS: usize = 64;
    let orders = USERS * RUN_SIZE;
    futures::stream::iter(*sequence..*sequence + orders)
        .for_each_concurrent(CLIENTS, |n| async move {
            send(http, base, Kind::Order, n).await;
        })
        .await;
    *sequence += orders;
}

/// Offers `rate` requests a second for one phase, open loop: each request goes out at its
/// scheduled time whatever the earlier ones are doing, and its latency counts from that
/// time, so a stall shows up as the queue it causes.
///
/// The schedule is kept by an OS thread rather than tokio's timer: tokio rounds every
/// deadline up to its next millisecond tick and parks in whole milliseconds, which sent
/// requests 1.3 ms late at the median and 2.3 ms at p99 (measured here), an error as large
/// as the `/coffee-history` latency being measured. A sleeping thread wakes within tens
/// of microseconds. How late each request still left is reported beside its latency.
async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    kind: Kind,
    rate: u32,
    sequence: &mut usize,
) -> Phase {
    let total = (rate as u64 * PHASE.as_secs()) as usize;
    let interval = Duration::from_secs(1) / rate;
    // Built and signed before the phase: the machine's CPU during it goes to sending them.
    let requests: Vec<SignedRequest> = (*sequence..*sequence + total)
        .map(|n| signed_request(kind, n))
        .collect();
    let lead = Duration::from_millis(50);
    let (start, started_at) = (Instant::now() + lead, std::time::SystemTime::now() + lead);
    let (runtime, http, base) = (
        tokio::runtime::Handle::current(),
        http.clone(),
        base.to_owned(),
    );
    // The thread spawns each request's task itself: a hop through a task of ours would
    // wait for a busy worker to get round to it.
    let pacer = std::thread::spawn(move || {
        requests
            .into_iter()
            .enumerate()
            .map(|(i, request)| {
                let scheduled = start + interval * i as u32;
                if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let (http, base) = (http.clone(), base.clone());
                runtime.spawn(async move {
                    let late = scheduled.elapsed();
                    let ok = deliver(&http, &base, kind, request).await;
                    (scheduled.elapsed(), late, ok)
                })
            })
            .collect::<Vec<_>>()
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().expect("the pacing thread"))
        .await
        .expect("the pacing thread's join");
    *sequence += total;
    let mut latencies = Vec::with_capacity(total);
    let mut lateness = Vec::with_capacity(total);
    let mut errors = 0;
    for task in tasks {
        let (latency, late, ok) = task.await.expect("a request task");
        // A failed request's latency says nothing of the service's: counted apart.
        if ok {
            latencies.push(latency);
        }
        lateness.push(late);
        errors += usize::from(!ok);
    }
    Phase {
        latencies,
        lateness,
        errors,
        elapsed: start.elapsed(),
        started_at,
    }
}

async fn saturate(http: &reqwest::Client, base: &str, kind: Kind, sequence: &mut usize) -> Phase {
    let (start, started_at) = (Instant::now(), std::time::SystemTime::now());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(*sequence));
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let mut clients = Vec::new();
    for _ in 0..SATURATION_CLIENTS {
        let (http, base, next, results) =
            (http.clone(), base.to_owned(), next.clone(), results.clone());
        clients.push(tokio::spawn(async move {
            while start.elapsed() < PHASE {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = Instant::now();
                let ok = send(&http, &base, kind, n).await;
                let mut r = results.lock().await;
                if ok {
                    r.0.push(sent.elapsed());
                }
                r.1 += usize::from(!ok);
            }
        }));
    }
    for client in clients {
        client.await.expect("a client");
    }
    *sequence = next.load(std::sync::atomic::Ordering::Relaxed);
    let (latencies, errors) = std::mem::take(&mut *results.lock().await);
    Phase {
        latencies,
        lateness: Vec::new(),
        errors,
        elapsed: start.elapsed(),
        started_at,
    }
}

/// One line per request of an open-loop phase, in the order they were scheduled:
/// `scheduled ms from the phase's start,latency ms,scheduled Unix time in ms`. Tells a
/// stall (a run of slow requests) from a spread of slow ones; the Unix time lines a stall
/// up with what else the machine recorded then.
fn write_trace(dir: &std::path::Path, kind: Kind, rate: u32, phase: &Phase) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let interval = 1_000.0 / f64::from(rate);
    let epoch_ms = phase
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, ms);
    let mut csv = String::from("scheduled_ms,latency_ms,unix_ms\n");
    for (i, latency) in phase.latencies.iter().enumerate() {
        let at = i as f64 * interval;
        let _ = writeln!(csv, "{at:.1},{:.2},{:.1}", ms(*latency), epoch_ms + at);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{}-{rate}.csv", kind.name())), csv)
}

/// `cpu`: the service's CPU from the phase's start until its background work settled;
/// `idle`: what it would have used idle over that time.
fn summarize(
    kind: Kind,
    offered: Option<u32>,
    phase: Phase,
    cpu: Duration,
    idle: Duration,
    rss_mib: f64,
) -> Result_ {
    let Phase {
        latencies,
        lateness,
        errors,
        elapsed,
        ..
    } = phase;
    // `latencies` holds the successful requests' only.
    let succeeded = latencies.len();
    let done = succeeded + errors;
    let latency = Quantiles::of(latencies);
    Result_ {
        kind,
        offered,
        done,
        errors,
        throughput: succeeded as f64 / elapsed.as_secs_f64(),
        p50: latency.at(0.50),
        p95: latency.at(0.95),
        p99: latency.at(0.99),
        sent_late_p99: (!lateness.is_empty()).then(|| Quantiles::of(lateness).at(0.99)),
        cpu_per_request: cpu / done.max(1) as u32,
        cpu_above_idle: cpu.saturating_sub(idle) / done.max(1) as u32,
        rss_mib,
        stolen: 0.0,
    }
}

/// Sorted durations, read by quantile.
struct Quantiles(Vec<Duration>);

impl Quantiles {
    fn of(mut durations: Vec<Duration>) -> Self {
        durations.sort_unstable();
        Self(durations)
    }

    fn at(&self, q: f64) -> Duration {
        let last = self.0.len().saturating_sub(1);
        self.0
            .get(((self.0.len() as f64 * q) as usize).min(last))
            .copied()
            .unwrap_or_default()
    }
}

/// Sends request number `n` of `kind`; true when the service answered as Slack expects.
/// A request as Slack would send it, signed and ready to go.
struct SignedRequest {
    path: &'static str,
    body: String,
    timestamp: String,
    signature: String,
}

async fn send(http: &reqwest::Client, base: &str, kind: Kind, n: usize) -> bool {
    deliver(http, base, kind, signed_request(kind, n)).await
}

/// Request `n` of `kind`.
fn signed_request(kind: Kind, n: usize) -> SignedRequest {
    // Requests go round the channels and the users, so requests in flight together come
    // from different people. Every RUN_SIZE rounds each channel moves on to a new channel
    // id: a run collects RUN_SIZE new orders from different users, as an office's do,
    // instead of growing for the whole benchmark or replacing orders.
    let user = format!("U{:05}", n % USERS);
    let channel = format!("C{:04}R{}", n % CHANNELS, n / (CHANNELS * RUN_SIZE));
    let (path, body) = match kind {
        Kind::Order => {
            let option = |v: &str| json!({"text": {"type": "plain_text", "text": v}, "value": v});
            let drinks = ["Latte", "Espresso", "Cappuccino", "Americano", "Mocha"];
            let metadata = OrderModalMetadata {
                channel_id: channel.clone(),
                workspace_id: Some("T0BENCH".to_owned()),
            };
            let metadata = modal_metadata::seal(SECRET.as_bytes(), &metadata, &user);
            let payload = json!({
                "type": "view_submission",
                "team": {"id": "T0BENCH"},
                "user": {"id": user, "username": user, "team_id": "T0BENCH"},
                "view": {"callback_id": "coffee_order_modal", "private_metadata": metadata,
                    "state": {"values": {
                        "drink_type": {"drink_type": {"type": "static_select", "selected_option": option(drinks[n % 5])}},
                        "size": {"size": {"type": "radio_buttons", "selected_option": option("Medium")}},
                        "customizations": {"customizations": {"type": "plain_text_input", "value": "oat milk"}}}}}
            });
            (
                "/slack/interactions",
                serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap(),
            )
        }
        Kind::History | Kind::Coffee => {
            let command = if matches!(kind, Kind::History) {
                "/coffee-history"
            } else {
                "/coffee"
            };
            let form = [
                ("command", command),
                ("text", ""),
                ("team_id", "T0BENCH"),
                ("channel_id", &channel),
                ("user_id", &user),
                ("trigger_id", "bench.trigger"),
            ];
            (
                "/slack/commands",
                serde_urlencoded::to_string(form).unwrap(),
            )
        }
    };
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = signature::sign(SECRET.as_bytes(), &timestamp, body.as_bytes());
    SignedRequest {
        path,
        body,
        timestamp,
        signature,
    }
}

async fn deliver(http: &reqwest::Client, base: &str, kind: Kind, request: SignedRequest) -> bool {
    let response = http
        .post(format!("{base}{}", request.path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", request.timestamp)
        .header("X-Slack-Signature", request.signature)
        .body(request.body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => match kind {
            Kind::Order => r
                .json::<Value>()
                .await
                .is_ok_and(|v| v["response_action"] == "update"),
            // An opened modal is acknowledged with an empty body; a failed `views.open`
            // is a 200 with an apology in it.
            Kind::Coffee => r.bytes().await.is_ok_and(|b| b.is_empty()),
            Kind::History => true,
        },
        _ => false,
    }
}

/// `disable` unless BENCH_DATABASE_TLS asks for the default (`prefer`).
fn sslmode() -> &'static str {
    match std::env::var("BENCH_DATABASE_TLS").as_deref() {
        Ok("1") => "prefer",
        _ => "disable",
    }
}

fn start_service(
    server: &str,
    slack: &str,
    port: u16,
    workers: std::num::NonZeroUsize,
) -> std::io::Result<Child> {
    let binary = std::env::current_exe()?
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("coffeebuddy"))
        .expect("target/<profile>/coffeebuddy");
    Command::new(binary)
        .arg("serve")
        // The database is on loopback, where TLS protects nothing and costs PostgreSQL
        // about a tenth of its CPU (README "Performance"); a URL without `sslmode` gets
        // `prefer`, which negotiates it. `BENCH_DATABASE_TLS=1` measures with it.
        .env(
            "DATABASE_URL",
            format!("{server}/coffeebuddy_bench?sslmode={}", sslmode()),
        )
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_BOT_TOKEN", "xoxb-bench")
        .env("SLACK_API_URL", slack)
        .env("SLACK_RATE_LIMIT_PER_MIN", "100000")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        // A run is full at its RUN_SIZE-th order, as the default (5) fills an office's: the
        // assignment, its thread reply and DM, and the reminder a second on run within the
        // phase's settling and count in the CPU per order. The next order to the channel
        // starts a new run, so none is refused.
        .env("ASSIGN_MAX_ORDERS", RUN_SIZE.to_string())
        .env("ASSIGN_WINDOW_SECS", "86400")
        .env("REMINDER_DELAY_SECS", "1")
        .env("RUST_LOG", "warn")
        // What tokio reads first; without it, it takes the CPUs this process may use.
        .env("TOKIO_WORKER_THREADS", workers.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

/// Waits until the service has no job running, queued or due within the settle horizon:
/// the work the last phase caused is done (or 30 s have passed).
async fn settle(db: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs
             WHERE status IN ('Pending', 'Queued', 'Running')
               AND run_at <= NOW() + make_interval(secs => $1)",
        )
        .bind(SETTLE_HORIZON_SECS)
        .fetch_one(&mut *db)
        .await?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            eprintln!(
                "warning: {pending} jobs still due after 30 s; CPU per request undercounts them"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Between phases, does what autovacuum would have done on a deployed PostgreSQL, where
/// this host's runs with it turned off (`autovacuum = off`). Without it the benchmark's
/// tables, created empty, are never analyzed, so the planner keeps the empty tables'
/// estimates, and never vacuumed, so index scans step over every dead entry that updated
/// jobs and runs leave behind. Says which it was, for the table's header.
async fn autovacuum_stand_in(db: &mut sqlx::PgConnection) -> Result<&'static str, sqlx::Error> {
    let setting: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut *db)
        .await?;
    if setting == "on" {
        return Ok("PostgreSQL's autovacuum on");
    }
    sqlx::query("VACUUM (ANALYZE)").execute(&mut *db).await?;
    Ok("PostgreSQL's autovacuum is off on this host: `VACUUM (ANALYZE)` between phases")
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..100 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("the service did not become ready".into())
}

/// How fast this machine is right now, measured before the service starts, so that runs
/// made at different times can be compared: the machine this benchmark was written on ran
/// up to three times slower at some hours than at others. Each figure is the best of three.
struct MachineReference {
    /// One Slack signature (HMAC-SHA256) over a 1 KiB body: the service's kind of CPU work.
    signature: Duration,
    /// PostgreSQL counting two million generated rows: its executor's speed.
    count_rows: Duration,
}

impl MachineReference {
    const SIGNATURES: u32 = 50_000;

    async fn measure(admin: &mut sqlx::PgConnection) -> Result<Self, sqlx::Error> {
        let body = vec![b'x'; 1024];
        let mut signature = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            for _ in 0..Self::SIGNATURES {
                std::hint::black_box(signature::sign(
                    SECRET.as_bytes(),
                    "1700000000",
                    std::hint::black_box(&body),
                ));
            }
            signature = signature.min(started.elapsed() / Self::SIGNATURES);
        }
        let mut count_rows = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            sqlx::query("SELECT count(*) FROM generate_series(1, 2000000)")
                .execute(&mut *admin)
                .await?;
            count_rows = count_rows.min(started.elapsed());
        }
        Ok(Self {
            signature,
            count_rows,
        })
    }
}

impl std::fmt::Display for MachineReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Machine reference (lower is faster): one HMAC-SHA256 of 1 KiB {:.2} µs; \
             PostgreSQL counts 2M rows in {:.0} ms",
            self.signature.as_secs_f64() * 1e6,
            ms(self.count_rows)
        )
    }
}

async fn reset_database(admin: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DROP DATABASE IF EXISTS coffeebuddy_bench WITH (FORCE)")
        .execute(admin)
        .await?;
    Ok(())
}

/// CPU time of a process so far: the sum over its threads of the nanoseconds each spent
/// on a CPU (`/proc/<pid>/task/*/schedstat`), where `/proc/<pid>/stat` counts 10 ms ticks.
/// Threads that exited are not counted; the service's threads live as long as it does.
fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// The machine's CPU time in clock ticks, all CPUs (`/proc/stat`): in total and stolen by
/// the hypervisor for other guests. This VM's speed varies by the hour; steal is the part
/// of that the guest can see, and it shows when a phase ran on a crowded host.
struct MachineTicks {
    total: u64,
    steal: u64,
}

impl MachineTicks {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        Self {
            // user nice system idle iowait irq softirq steal (guest time is inside user)
            total: ticks.iter().take(8).sum(),
            steal: ticks.get(7).copied().unwrap_or(0),
        }
    }

    fn stolen_since(&self, before: &Self) -> f64 {
        let total = self.total.saturating_sub(before.total);
        self.steal.saturating_sub(before.steal) as f64 / total.max(1) as f64
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Slack's Web API, answering `ok` at once.
async fn fake_slack() -> std::io::Result<String> {
    #[handler]
    fn ok() -> Json<Value> {
        // `presence` answers users.getPresence: everyone is in (users.info and dnd.info
        // read an empty status and no Do Not Disturb from the same answer).
        Json(json!({"ok": true, "channel": "C0", "ts": "1700000000.000100", "presence": "active"}))
    }
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .unwrap_or_default();
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor)
            .run(
                Route::new()
                    .at("/api/:method", poem::post(ok))
                    .map_to_response(),
            )
            .await;
    });
    Ok(format!("http://127.0.0.1:{port}/api/"))
}
