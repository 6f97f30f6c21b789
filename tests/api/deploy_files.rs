//! The deployment files agree with the service: every metric the Grafana dashboard and the
//! alert rules query is one a running instance exports, the Slack app manifest's
//! commands and URLs are the routes the service answers, and the Socket Mode manifest is the
//! same app with no URL at all.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{eventually, spawn_app_with};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// PromQL words that are not metric names.
const PROMQL_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "le",
    "inf",
    "nan",
];

/// The metric names a PromQL expression selects.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Drop label matchers and grouping clauses, which hold label names, not metrics.
    let mut cleaned = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => cleaned.push(c),
        }
    }
    for clause in ["by", "without", "on", "ignoring"] {
        while let Some(start) = find_clause(&cleaned, clause) {
            let end = cleaned[start..]
                .find(')')
                .map_or(cleaned.len(), |i| start + i + 1);
            cleaned.replace_range(start..end, " ");
        }
    }
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let next = bytes[i..].iter().find(|c| !c.is_whitespace());
            let is_function = next == Some(&'(');
            let in_duration = start > 0 && bytes[start - 1].is_ascii_digit();
            if !is_function && !in_duration && !PROMQL_WORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The values an expression matches `error_type` against (`="a"` or `=~"a|b"`).
fn error_types_in(expr: &str) -> Vec<String> {
    expr.split("error_type")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.strip_prefix("=~").or_else(|| rest.strip_prefix('='))?;
            let quoted = rest.strip_prefix('"')?;
            Some(quoted[..quoted.find('"')?].to_owned())
        })
        .flat_map(|values| values.split('|').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn find_clause(text: &str, clause: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(clause) {
        let at = from + i;
        let before_ok = at == 0
            || !text.as_bytes()[at - 1].is_ascii_alphanumeric() && text.as_bytes()[at - 1] != b'_';
        let after = text[at + clause.len()..].trim_start();
        if before_ok && after.starts_with('(') {
            return Some(at);
        }
        from = at + clause.len();
    }
    None
}

fn dashboard_exprs() -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let text =
        std::fs::read_to_string(format!("{ROOT}/ops/grafana/coffeebuddy-dashboard.json")).unwrap();
    let mut exprs = Vec::new();
    walk(
        &serde_json::from_str(&text).expect("the dashboard is JSON"),
        &mut exprs,
    );
    exprs
}

fn alert_exprs() -> Vec<String> {
    std::fs::read_to_string(format!("{ROOT}/ops/prometheus/alerts.yaml"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(|e| e.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
        .collect()
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, command) (rate(command_latency_seconds_bucket{command="/coffee"}[5m]))) > 2"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["command_latency_seconds_bucket".to_owned()])
    );
    let names = metric_names(
        "sum(rate(errors_total[5m])) / clamp_min(sum(rate(command_latency_seconds_count[5m])), 1e-9)",
    );
    assert_eq!(
        names,
        BTreeSet::from([
            "command_latency_seconds_count".to_owned(),
            "errors_total".to_owned()
        ])
    );
}

#[tokio::test]
async fn the_dashboard_and_alerts_query_only_exported_metrics() {
    let app = spawn_app_with(&["--assign-max-orders", "2"]).await;
    // Histograms show their series once observed, and the fairness score once a
    // workspace has a run: a command, and a run that gets its runner.
    app.slash_command("/coffee", "help", "U1", "C1").await;
    for user in ["U1", "U2"] {
        app.submit_order(user, "C1", Some("Latte"), Some("Large"), None)
            .await;
    }
    eventually("the assignment and the fairness score", || async {
        let metrics = app.metrics().await;
        metrics.contains("run_assignment_delay_seconds_count 1")
            && metrics.contains("fairness_run_count_stddev{")
    })
    .await;
    let metrics = app.metrics().await;
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    let dashboard = dashboard_exprs();
    let alerts = alert_exprs();
    assert!(
        dashboard.len() >= 10,
        "the dashboard has its panels: {dashboard:?}"
    );
    assert!(alerts.len() >= 4, "the alert rules are there: {alerts:?}");
    let mut queried = BTreeSet::new();
    for expr in dashboard.iter().chain(&alerts) {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        queried.extend(names);
    }
    let missing: Vec<&String> = queried.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {exported:?}"
    );
    // An error_type an expression picks must be one the service counts (each starts at 0).
    for expr in dashboard.iter().chain(&alerts) {
        for error_type in error_types_in(expr) {
            assert!(
                metrics.contains(&format!("errors_total{{error_type=\"{error_type}\"")),
                "{expr} picks error_type {error_type}, which the service never counts"
            );
        }
    }
    for needed in [
        "command_latency_seconds_bucket",
        "circuit_breaker_state",
        "kafka_publish_failures_total",
        "jobs",
        "errors_total",
    ] {
        assert!(
            queried.contains(needed),
            "{needed} is not on the dashboard or in an alert"
        );
    }
}

/// A Slack app manifest under slack/.
fn slack_manifest(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/slack/{file}")).unwrap())
        .unwrap_or_else(|e| panic!("slack/{file} is not JSON: {e}"))
}

/// The names of a manifest's slash commands.
fn command_names(manifest: &Value) -> BTreeSet<&str> {
    manifest["features"]["slash_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect()
}

/// A manifest's bot scopes.
fn bot_scopes(manifest: &Value) -> BTreeSet<&str> {
    manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_slack_manifest_matches_the_routes_and_commands() {
    let manifest = slack_manifest("manifest.json");
    let path_of = |url: &Value| {
        reqwest::Url::parse(url.as_str().unwrap())
            .unwrap()
            .path()
            .to_owned()
    };
    let commands = manifest["features"]["slash_commands"].as_array().unwrap();
    let names = command_names(&manifest);
    assert_eq!(
        names,
        BTreeSet::from(["/coffee", "/coffee-cancel", "/coffee-history"])
    );
    assert!(
        commands
            .iter()
            .all(|c| path_of(&c["url"]) == "/slack/commands")
    );
    assert_eq!(
        path_of(&manifest["settings"]["interactivity"]["request_url"]),
        "/slack/interactions"
    );
    assert_eq!(manifest["settings"]["interactivity"]["is_enabled"], true);
    assert_eq!(
        path_of(&manifest["settings"]["event_subscriptions"]["request_url"]),
        "/slack/events"
    );
    assert_eq!(
        manifest["settings"]["event_subscriptions"]["bot_events"],
        serde_json::json!(["app_mention", "app_home_opened"])
    );
    assert_eq!(manifest["features"]["app_home"]["home_tab_enabled"], true);
    assert_eq!(
        bot_scopes(&manifest),
        BTreeSet::from([
            "app_mentions:read",
            "chat:write",
            "commands",
            "dnd:read",
            "im:write",
            "users:read"
        ])
    );

    // The running service answers each command itself and each URL is a route.
    let app = spawn_app_with(&[]).await;
    for command in &names {
        let response = app.slash_command(command, "help", "U1", "C1").await;
        assert_eq!(response.status(), 200, "{command}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("I don't know"),
            "{command} is not handled: {text}"
        );
    }
    let challenge = serde_json::json!({"type": "url_verification", "challenge": "c"}).to_string();
    let events = path_of(&manifest["settings"]["event_subscriptions"]["request_url"]);
    assert_eq!(
        app.post_signed(&events, "application/json", challenge)
            .await
            .status(),
        200
    );
    let interactions = path_of(&manifest["settings"]["interactivity"]["request_url"]);
    let ignored = serde_urlencoded::to_string([("payload", r#"{"type":"view_closed"}"#)]).unwrap();
    assert_eq!(
        app.post_signed(&interactions, "application/x-www-form-urlencoded", ignored)
            .await
            .status(),
        200
    );
}

#[test]
fn the_socket_mode_manifest_is_the_http_one_without_urls() {
    let http = slack_manifest("manifest.json");
    let socket = slack_manifest("manifest-socket-mode.json");
    assert_eq!(http["settings"]["socket_mode_enabled"], false);
    assert_eq!(socket["settings"]["socket_mode_enabled"], true);

    // No URL anywhere: Slack sends everything over the app's own WebSocket.
    fn urls(value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{at}.{key}");
                    if key.ends_with("url") {
                        out.push(here.clone());
                    }
                    urls(v, &here, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    urls(v, &format!("{at}[{i}]"), out);
                }
            }
            Value::String(text) if text.contains("://") => out.push(format!("{at} = {text}")),
            _ => {}
        }
    }
    let mut found = Vec::new();
    urls(&socket, "", &mut found);
    assert!(
        found.is_empty(),
        "URLs in the Socket Mode manifest: {found:?}"
    );

    // The same commands (name, description, usage hint, escaping), scopes and bot events.
    let commands = socket["features"]["slash_commands"].as_array().unwrap();
    assert_eq!(
        command_names(&socket),
        BTreeSet::from(["/coffee", "/coffee-cancel", "/coffee-history"])
    );
    for command in commands {
        let keys: BTreeSet<&str> = command
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["command", "description", "should_escape", "usage_hint"]),
            "{command}"
        );
    }
    assert_eq!(bot_scopes(&socket), bot_scopes(&http));
    assert_eq!(
        socket["settings"]["event_subscriptions"]["bot_events"],
        http["settings"]["event_subscriptions"]["bot_events"]
    );
    assert_eq!(socket["settings"]["interactivity"]["is_enabled"], true);

    // Everything else is the HTTP manifest's: the HTTP one less its URLs, in Socket Mode.
    let mut expected = http.clone();
    for command in expected["features"]["slash_commands"]
        .as_array_mut()
        .unwrap()
    {
        command.as_object_mut().unwrap().remove("url");
    }
    for setting in ["event_subscriptions", "interactivity"] {
        expected["settings"][setting]
            .as_object_mut()
            .unwrap()
            .remove("request_url");
    }
    expected["settings"]["socket_mode_enabled"] = Value::Bool(true);
    assert_eq!(
        socket, expected,
        "the Socket Mode manifest differs from the HTTP one by more than its URLs"
    );
}
