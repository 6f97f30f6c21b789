//! `coffeebuddy demo`: a whole coffee run for someone without a Slack workspace. The real
//! service runs against the local PostgreSQL (its own `coffeebuddy_demo` database) and a
//! built-in fake Slack; three people order through signed Slack requests, a runner is
//! picked, reminded and completes; the conversation is printed as Slack would show it.

use std::{sync::Arc, time::Duration};

use poem::{
    EndpointExt, Route, Server, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json, Path},
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{LogFormat, Settings},
    slack::{modal_metadata, payloads::OrderModalMetadata, signature},
    startup::{Application, Options, Role, StartError},
};

const SIGNING_SECRET: &str = "demo-signing-secret";
const CHANNEL: &str = "C0DEMO";
const PEOPLE: [(&str, &str, &str, &str, Option<&str>); 3] = [
    ("U0ANA", "ana", "Latte", "Large", Some("oat milk")),
    ("U0BEN", "ben", "Espresso", "Small", None),
    (
        "U0CHO",
        "cho",
        "Mocha",
        "Medium",
        Some("extra <hot> & sweet"),
    ),
];

/// Runs the demo and prints its conversation.
pub async fn run(mut settings: Settings) -> Result<(), StartError> {
    settings.database_url = demo_database_url(settings.database_url.expose_secret()).into();
    reset_database(&settings).await?;
    let (slack_url, mut said, stop_slack) = fake_slack().await?;
    settings.slack_api_url = slack_url;
    settings.slack_signing_secret = Some(SIGNING_SECRET.to_owned().into());
    settings.slack_bot_token = Some("xoxb-demo".to_owned().into());
    settings.bind_addr = "127.0.0.1:0".parse().expect("a literal address");
    settings.assign_max_orders = 3;
    settings.reminder_delay_secs = 2;
    settings.kafka_brokers = None;
    settings.vault_addr = None;
    // The database was just created empty, whatever MIGRATE_ON_START says.
    settings.migrate_on_start = true;
    settings.log_format = LogFormat::Pretty;

    let app = Application::build(settings, Role::All, Options::default()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until(shutdown.clone()));
    let http = reqwest::Client::new();

    let played = play(&http, &base, &mut said).await;
    if played.is_ok() {
        println!(
            "\nDone. The run, its orders, audit rows and outbox events are in the coffeebuddy_demo database."
        );
    }
    shutdown.cancel();
    stop_slack.cancel();
    running
        .await
        .map_err(|e| StartError::Runtime(std::io::Error::other(e)))??;
    // A conversation that stopped short fails the command, after the service has stopped.
    played.map_err(|e| StartError::Runtime(std::io::Error::other(e)))
}

fn say(what: &str) {
    println!("\n▶ {what}");
}

fn name_of(user_id: &str) -> &'static str {
    PEOPLE
        .iter()
        .find(|p| p.0 == user_id)
        .map_or("someone", |p| p.1)
}

/// Prints what Slack shows until a line matches; returns that line.
async fn print_until(
    said: &mut mpsc::UnboundedReceiver<String>,
    awaited: &'static str,
    mut done: impl FnMut(&str) -> bool,
) -> Result<String, DemoError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, said.recv()).await {
            Ok(Some(line)) => {
                println!("{line}");
                if done(&line) {
                    return Ok(line);
                }
            }
            _ => {
                println!("(nothing more from CoffeeBuddy within 30 s)");
                return Err(DemoError::Silent(awaited));
            }
        }
    }
}

fn run_id_from(line: &str) -> Option<String> {
    line.split("[run ")
        .nth(1)?
        .split(']')
        .next()
        .map(str::to_owned)
}

/// `url` with its database swapped for the demo's; the server, credentials and parameters
/// (`?sslmode=`, `?host=`) stay. A URL that does not parse is left for validation to name.
fn demo_database_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path("coffeebuddy_demo");
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Every demo starts from an empty database of its own.
async fn reset_database(settings: &Settings) -> Result<(), StartError> {
    use sqlx::{ConnectOptions, postgres::PgConnectOptions};
    let options: PgConnectOptions = settings
        .database_url
        .expose_secret()
        .parse()
        .map_err(|e| StartError::Runtime(std::io::Error::other(e)))?;
    let mut conn = options.database("postgres").connect().await.map_err(|e| {
        StartError::Runtime(std::io::Error::other(format!(
            "cannot reach PostgreSQL: {e}"
        )))
    })?;
    sqlx::query("DROP DATABASE IF EXISTS coffeebuddy_demo WITH (FORCE)")
        .execute(&mut conn)
        .await
        .map_err(|e| StartError::Runtime(std::io::Error::other(e)))?;
    Ok(())
}

/// Why the conversation stopped short.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("the demo could not reach its own service: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("CoffeeBuddy did not post {0} within 30 s")]
    Silent(&'static str),
}

/// The coffee run itself, told as the channel sees it.
async fn play(
    http: &reqwest::Client,
    base: &str,
    said: &mut mpsc::UnboundedReceiver<String>,
) -> Result<(), DemoError> {
    println!("☕ CoffeeBuddy demo: the real service on {base}, a fake Slack, channel #coffee\n");
    let (first, ..) = PEOPLE[0];
    say(&format!("{} types /coffee", name_of(first)));
    post_command(http, base, first).await?;
    print_until(said, "the order form", |line| line.contains("order form")).await?;
    for (user, _, drink, size, custom) in PEOPLE {
        let what = custom.map_or(format!("{size} {drink}"), |c| {
            format!("{size} {drink} ({c})")
        });
        say(&format!("{} orders a {what}", name_of(user)));
        let answer = submit_order(http, base, user, drink, size, custom).await?;
        let text = answer["view"]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or_default();
        println!(
            "    modal → {}",
            render(text).replace('\n', "\n            ")
        );
    }
    say("the third order fills the run (ASSIGN_MAX_ORDERS=3): CoffeeBuddy picks a runner");
    let runner = print_until(said, "the runner's announcement", |line| {
        line.contains("is getting the coffee")
    })
    .await?;
    let runner_id = PEOPLE
        .iter()
        .map(|p| p.0)
        .find(|id| runner.contains(&format!("@{}", name_of(id))))
        .unwrap_or(first);
    say("two seconds later (REMINDER_DELAY_SECS=2) the runner is reminded");
    let reminder = print_until(said, "the reminder", |line| line.contains("Reminder:")).await?;
    // The reminder's Mark complete button carries the run id.
    let run_id = run_id_from(&reminder).unwrap_or_default();
    say(&format!(
        "{} clicks Mark complete in the DM",
        name_of(runner_id)
    ));
    click(
        http,
        base,
        runner_id,
        &format!("D0{runner_id}"),
        "mark_complete",
        &run_id,
    )
    .await?;
    // The thread reply mentioning everyone, the root message's last refresh and the
    // redraw of the runner's two DMs are separate jobs: they come in any order.
    let mut awaited = vec![
        "Coffee run completed by",
        "— completed by",
        "✅ Coffee run in #coffee completed",
        "✅ Coffee run in #coffee completed",
    ];
    print_until(said, "the completion", |line| {
        if let Some(seen) = awaited.iter().position(|text| line.contains(text)) {
            awaited.remove(seen);
        }
        awaited.is_empty()
    })
    .await?;

    let (ben, ..) = PEOPLE[1];
    say("ben answers the post-run survey in the thread: 👍");
    click(http, base, ben, CHANNEL, "survey_up", &run_id).await?;
    print_until(said, "the survey's thanks", |line| {
        line.contains("Your answer is recorded")
    })
    .await?;

    Ok(())
}

async fn post_signed(
    http: &reqwest::Client,
    url: String,
    body: String,
) -> Result<reqwest::Response, DemoError> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let sig = signature::sign(SIGNING_SECRET.as_bytes(), &timestamp, body.as_bytes());
    http.post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", sig)
        .body(body)
        .send()
        .await
        .map_err(DemoError::from)
}

async fn post_command(http: &reqwest::Client, base: &str, user: &str) -> Result<(), DemoError> {
    let body = serde_urlencoded::to_string([
        ("command", "/coffee"),
        ("text", ""),
        ("team_id", "T0DEMO"),
        ("channel_id", CHANNEL),
        ("user_id", user),
        ("user_name", name_of(user)),
        ("trigger_id", "demo.trigger"),
    ])
    .expect("a form");
    post_signed(http, format!("{base}/slack/commands"), body).await?;
    Ok(())
}

async fn submit_order(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    drink: &str,
    size: &str,
    custom: Option<&str>,
) -> Result<Value, DemoError> {
    let option = |v: &str| json!({"text": {"type": "plain_text", "text": v}, "value": v});
    let payload = json!({
        "type": "view_submission",
        "team": {"id": "T0DEMO"},
        "user": {"id": user, "username": name_of(user), "team_id": "T0DEMO"},
        "view": {
            "callback_id": "coffee_order_modal",
            "private_metadata": sealed_metadata(user),
            "state": {"values": {
                "drink_type": {"drink_type": {"type": "static_select", "selected_option": option(drink)}},
                "size": {"size": {"type": "radio_buttons", "selected_option": option(size)}},
                "customizations": {"customizations": {"type": "plain_text_input", "value": custom}}
            }}
        }
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("a form");
    let answer = post_signed(http, format!("{base}/slack/interactions"), body).await?;
    Ok(answer.json().await.unwrap_or(Value::Null))
}

/// The `private_metadata` `/coffee` would have given `user`'s modal.
fn sealed_metadata(user: &str) -> String {
    let metadata = OrderModalMetadata {
        channel_id: CHANNEL.to_owned(),
        workspace_id: Some("T0DEMO".to_owned()),
    };
    modal_metadata::seal(SIGNING_SECRET.as_bytes(), &metadata, user)
}

/// `user` clicks the button `action` of run `run_id` in `channel`.
async fn click(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    channel: &str,
    action: &str,
    run_id: &str,
) -> Result<(), DemoError> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": name_of(user)},
        "team": {"id": "T0DEMO"},
        "channel": {"id": channel},
        "actions": [{"action_id": action, "value": run_id, "type": "button"}]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("a form");
    post_signed(http, format!("{base}/slack/interactions"), body).await?;
    Ok(())
}

/// Slack's mrkdwn as a person reads it: mentions as @names, entities unescaped.
fn render(text: &str) -> String {
    let mut out = text.to_owned();
    for (id, name, ..) in PEOPLE {
        out = out.replace(&format!("<@{id}>"), &format!("@{name}"));
    }
    out.replace(&format!("<#{CHANNEL}>"), "#coffee")
        .replace('*', "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

struct FakeSlack {
    said: mpsc::UnboundedSender<String>,
    counter: std::sync::atomic::AtomicU64,
}

/// A Slack Web API stand-in on a free local port: answers `ok` and reports each message.
async fn fake_slack() -> Result<
    (
        reqwest::Url,
        mpsc::UnboundedReceiver<String>,
        CancellationToken,
    ),
    StartError,
> {
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .map_err(StartError::Runtime)?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .unwrap_or_default();
    let state = Arc::new(FakeSlack {
        said: tx,
        counter: Default::default(),
    });
    let app = Route::new()
        .at("/api/users.info", poem::post(everyone_is_in))
        .at("/api/dnd.info", poem::post(everyone_is_in))
        .at("/api/users.getPresence", poem::post(everyone_is_in))
        .at("/api/:method", poem::post(slack_method))
        .data(state);
    let stop = CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, until.cancelled_owned(), None)
            .await;
    });
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/api/")).expect("a URL");
    Ok((url, rx, stop))
}

/// What the runner check reads: no status, Do Not Disturb off, active.
#[handler]
fn everyone_is_in() -> Json<Value> {
    Json(json!({"ok": true, "presence": "active", "dnd_enabled": false, "user": {"profile": {}}}))
}

#[handler]
fn slack_method(
    Path(method): Path<String>,
    body: Json<Value>,
    state: Data<&Arc<FakeSlack>>,
) -> Json<Value> {
    let n = state
        .counter
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let ts = format!("1700000000.{n:06}");
    let text = body["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| {
                    b["text"]["text"]
                        .as_str()
                        .or(b["elements"][0]["text"].as_str())
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| body["text"].as_str().unwrap_or_default().to_owned());
    let channel = body["channel"].as_str().unwrap_or_default();
    let place = if channel.starts_with('U') {
        format!("DM to @{}", name_of(channel))
    } else if body.get("thread_ts").is_some() {
        "#coffee, in the run's thread".to_owned()
    } else {
        "#coffee".to_owned()
    };
    let buttons: Vec<&Value> = body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["elements"].as_array())
        .flatten()
        .filter(|e| e["type"] == "button")
        .collect();
    let button = match buttons.first() {
        Some(first) if first["action_id"] == "mark_complete" => first["value"]
            .as_str()
            .map(|run| format!("  [Mark complete] [run {run}]"))
            .unwrap_or_default(),
        Some(_) => {
            let labels: Vec<String> = buttons
                .iter()
                .filter_map(|b| b["text"]["text"].as_str())
                .map(|label| format!("[{label}]"))
                .collect();
            format!("\n    {}", labels.join(" "))
        }
        None => String::new(),
    };
    let line = match method.as_str() {
        "views.open" => "  (Slack shows the order form: drink, size, customizations)".to_owned(),
        "chat.update" => format!(
            "  {place} (the message is redrawn in place)\n{}",
            indent(&render(&text))
        ),
        "chat.postEphemeral" => format!(
            "  #coffee (only @{} sees this)\n{}",
            name_of(body["user"].as_str().unwrap_or_default()),
            indent(&render(&text))
        ),
        _ => format!("  {place}\n{}{button}", indent(&render(&text))),
    };
    let _ = state.said.send(line);
    Json(json!({"ok": true, "channel": channel, "ts": ts, "message_ts": ts}))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    CoffeeBuddy: {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_database_is_on_the_same_server_with_the_same_parameters() {
        for (given, demo) in [
            (
                "postgres://postgres@127.0.0.1:5432/coffeebuddy",
                "postgres://postgres@127.0.0.1:5432/coffeebuddy_demo",
            ),
            (
                "postgres://postgres@127.0.0.1:5432",
                "postgres://postgres@127.0.0.1:5432/coffeebuddy_demo",
            ),
            (
                "postgres://u:pw@db.internal/app?sslmode=require",
                "postgres://u:pw@db.internal/coffeebuddy_demo?sslmode=require",
            ),
        ] {
            assert_eq!(demo_database_url(given), demo, "{given}");
        }
    }

    #[test]
    fn mentions_and_entities_read_as_people_see_them() {
        assert_eq!(
            render("*Hi* <@U0ANA> in <#C0DEMO>: a &lt;b&gt; &amp; c"),
            "Hi @ana in #coffee: a <b> & c"
        );
        assert_eq!(
            demo_database_url("postgres://postgres@h:5432/coffeebuddy"),
            "postgres://postgres@h:5432/coffeebuddy_demo"
        );
        assert_eq!(
            run_id_from("x [Mark complete] [run abc-1]"),
            Some("abc-1".into())
        );
    }
}
