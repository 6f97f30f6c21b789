//! Block Kit: the order modal, its confirmation, the run's root message and help texts.
//! Every piece of user text passes through [`escape`] before it lands in mrkdwn.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::escape::{escape, mention, user_text};
use crate::domain::{Customizations, DrinkType, RunStatus, Size, describe_order};

mod app_home;

pub use app_home::{ActiveRunLine, HomeTab, LEDGER_LINES_SHOWN, home_tab};

pub const ORDER_MODAL_CALLBACK_ID: &str = "coffee_order_modal";
/// Slack refuses section texts over 3,000 characters; stay clear of it.
const SECTION_TEXT_LIMIT: usize = 2_900;

/// `/coffee help`, and the answer to an unknown command or a mention, with the
/// assignment rule as this deployment configures it (`ASSIGN_MAX_ORDERS`,
/// `ASSIGN_WINDOW_SECS`).
pub fn help_text(assign_max_orders: u32, assign_window: Duration) -> String {
    format!(
        "*CoffeeBuddy* coordinates coffee runs in this channel.\n\
         • `/coffee` — order a drink; the first order starts a run\n\
         • `/coffee help` — this message\n\
         • `/coffee-history` — your last 10 coffee runs\n\
         • `/coffee-cancel` — cancel the channel's run (its initiator or runner)\n\
         A runner is picked fairly once the run has {} or is {} old; \
         they get a DM with the order list.",
        counted(u64::from(assign_max_orders), "order"),
        spoken_duration(assign_window),
    )
}

/// "1 order", "5 orders".
fn counted(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Whole minutes as minutes, anything else as seconds: "5 minutes", "90 seconds".
fn spoken_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        counted(secs / 60, "minute")
    } else {
        counted(secs, "second")
    }
}

/// One of a user's usual orders, as stored in `user_preferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usual {
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
    pub order_count: i32,
}

/// What the modal pre-fills: the last order, and the top 3 to show.
#[derive(Debug, Clone, Default)]
pub struct ModalPrefill {
    pub last: Option<Usual>,
    pub top: Vec<Usual>,
}

/// The `/coffee` modal (REQ-005, AC7).
pub fn order_modal(private_metadata: &str, prefill: &ModalPrefill) -> Value {
    let last = prefill.last.as_ref();
    let mut blocks = Vec::new();
    if !prefill.top.is_empty() {
        let usuals: Vec<String> = prefill
            .top
            .iter()
            .map(|u| {
                format!(
                    "*{}* ×{}",
                    user_text(&describe_order(
                        &u.size,
                        &u.drink_type,
                        u.customizations.as_deref()
                    )),
                    u.order_count
                )
            })
            .collect();
        blocks.push(json!({
            "type": "context",
            "block_id": "usuals",
            "elements": [{"type": "mrkdwn", "text": format!("Your usuals: {}", usuals.join(" · "))}],
        }));
    }

    let mut drink = json!({
        "type": "static_select",
        "action_id": "drink_type",
        "placeholder": plain("Choose a drink"),
        "options": DrinkType::ALL.iter().map(|d| option(d.as_str())).collect::<Vec<_>>(),
    });
    if let Some(d) = last.and_then(|u| DrinkType::parse(&u.drink_type)) {
        drink["initial_option"] = option(d.as_str());
    }
    let mut size = json!({
        "type": "radio_buttons",
        "action_id": "size",
        "options": Size::ALL.iter().map(|s| option(s.as_str())).collect::<Vec<_>>(),
    });
    if let Some(s) = last.and_then(|u| Size::parse(&u.size)) {
        size["initial_option"] = option(s.as_str());
    }
    let mut customizations = json!({
        "type": "plain_text_input",
        "action_id": "customizations",
        "max_length": Customizations::MAX_CHARS,
        "placeholder": plain("Extra shot, oat milk, etc."),
    });
    if let Some(text) = last.and_then(|u| u.customizations.as_deref()) {
        customizations["initial_value"] = json!(text);
    }

    blocks.push(json!({"type": "input", "block_id": "drink_type", "label": plain("Drink"), "element": drink}));
    blocks.push(
        json!({"type": "input", "block_id": "size", "label": plain("Size"), "element": size}),
    );
    blocks.push(json!({
        "type": "input",
        "block_id": "customizations",
        "optional": true,
        "label": plain("Customizations"),
        "element": customizations,
    }));

    json!({
        "type": "modal",
        "callback_id": ORDER_MODAL_CALLBACK_ID,
        "title": plain("Coffee order"),
        "submit": plain("Order"),
        "close": plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    })
}

/// The view that replaces the modal once the order is in.
pub fn order_confirmation(
    order_description: &str,
    channel_id: &str,
    orders_in_run: i64,
    replaced: bool,
) -> Value {
    let headline = if replaced {
        "Your order was updated"
    } else {
        "Your order is in"
    };
    let count = match orders_in_run {
        1 => "1 order so far".to_owned(),
        n => format!("{n} orders so far"),
    };
    json!({
        "type": "modal",
        "callback_id": "coffee_order_confirmation",
        "title": plain("Coffee order"),
        "close": plain("Done"),
        "blocks": [{
            "type": "section",
            "block_id": "confirmation",
            "text": {
                "type": "mrkdwn",
                "text": format!(
                    "☕ {headline}: *{}*\nCoffee run in <#{}>: {count}.",
                    user_text(order_description),
                    escape(channel_id)
                ),
            },
        }],
    })
}

/// One order line of a run summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryLine {
    pub user_id: String,
    pub drink_type: String,
    pub size: String,
    pub customizations: Option<String>,
}

/// Where a run stands, for its root message.
#[derive(Debug, Clone)]
pub struct RunView<'a> {
    pub run_id: Uuid,
    pub initiator_user_id: &'a str,
    pub status: RunStatus,
    pub runner_user_id: Option<&'a str>,
}

pub const ACTION_VOLUNTEER: &str = "volunteer";
pub const ACTION_CLOSE_ORDERS: &str = "close_orders";
pub const ACTION_OPT_OUT: &str = "opt_out";
pub const ACTION_MARK_COMPLETE: &str = "mark_complete";
/// The post-run survey's buttons on the completion reply.
pub const ACTION_SURVEY_UP: &str = "survey_up";
pub const ACTION_SURVEY_DOWN: &str = "survey_down";

/// The run's root message: where it stands and every order so far, with the run controls
/// while orders are open. Returns the notification `text` and the `blocks`.
pub fn run_summary(run: &RunView<'_>, lines: &[SummaryLine]) -> (String, Value) {
    let count = match lines.len() {
        1 => "1 order".to_owned(),
        n => format!("{n} orders"),
    };
    let initiator = mention(run.initiator_user_id);
    let open = run.status.is_active() && run.runner_user_id.is_none();
    let headline = match (run.status, run.runner_user_id) {
        (RunStatus::Completed, Some(runner)) => format!(
            "*☕ Coffee run* — completed by {} ({count})",
            mention(runner)
        ),
        (RunStatus::Cancelled, _) => {
            format!("*☕ Coffee run* started by {initiator} — cancelled ({count})")
        }
        (_, Some(runner)) => format!(
            "*☕ Coffee run* started by {initiator} — {} is getting the coffee ({count})",
            mention(runner)
        ),
        _ => format!("*☕ Coffee run* started by {initiator} — {count} so far"),
    };
    let text = format!("☕ Coffee run started by {initiator} — {count}");
    let mut blocks = vec![json!({
        "type": "section",
        "block_id": "run_header",
        "text": {"type": "mrkdwn", "text": headline},
    })];
    for (i, chunk) in chunk_lines(&order_lines(lines), SECTION_TEXT_LIMIT)
        .into_iter()
        .enumerate()
    {
        blocks.push(json!({
            "type": "section",
            "block_id": format!("run_orders_{i}"),
            "text": {"type": "mrkdwn", "text": chunk},
        }));
    }
    if open {
        let run_id = run.run_id.to_string();
        blocks.push(json!({
            "type": "actions",
            "block_id": "run_controls",
            "elements": [
                button(ACTION_VOLUNTEER, "I'll go", &run_id, Some("primary")),
                button(ACTION_CLOSE_ORDERS, "Close orders now", &run_id, None),
                button(ACTION_OPT_OUT, "Can't run today", &run_id, None),
            ],
        }));
        blocks.push(json!({
            "type": "context",
            "block_id": "run_hint",
            "elements": [{"type": "mrkdwn", "text": "Type `/coffee` to add or change your order."}],
        }));
    }
    (text, Value::Array(blocks))
}

/// "• <@U1>: Large Latte (oat milk)", one per order, user text escaped.
fn order_lines(lines: &[SummaryLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            format!(
                "• {}: {}",
                mention(&l.user_id),
                user_text(&describe_order(
                    &l.size,
                    &l.drink_type,
                    l.customizations.as_deref()
                ))
            )
        })
        .collect()
}

/// The thread reply naming the runner, with the order summary.
pub fn assignment_reply(
    runner_user_id: &str,
    volunteered: bool,
    lines: &[SummaryLine],
) -> (String, Value) {
    let how = if volunteered {
        "volunteered to get"
    } else {
        "is getting"
    };
    let text = format!("☕ {} {how} the coffee!", mention(runner_user_id));
    (text.clone(), with_orders(&text, lines, None))
}

/// The runner's DM: the order list and the Mark Complete button. `reminder` gives the
/// reminder's wording (REQ-011).
pub fn runner_dm(
    run_id: Uuid,
    channel_id: &str,
    lines: &[SummaryLine],
    reminder: bool,
) -> (String, Value) {
    let text = if reminder {
        format!("Reminder: You're the runner for coffee run {run_id}")
    } else {
        format!(
            "☕ You're the runner for the coffee run in <#{}>!",
            escape(channel_id)
        )
    };
    let actions = json!({
        "type": "actions",
        "block_id": "runner_actions",
        "elements": [button(ACTION_MARK_COMPLETE, "Mark complete", &run_id.to_string(), Some("primary"))],
    });
    (text.clone(), with_orders(&text, lines, Some(actions)))
}

/// How a run ended, for the messages that say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnding {
    Completed,
    /// By whom, when known.
    Cancelled {
        by: Option<String>,
    },
}

/// The runner's DM once the run is over: the same order list, no button, and how it ended.
pub fn runner_dm_over(
    channel_id: &str,
    lines: &[SummaryLine],
    ending: &RunEnding,
) -> (String, Value) {
    let text = match ending {
        RunEnding::Completed => format!(
            "✅ Coffee run in <#{}> completed. Thanks for the run!",
            escape(channel_id)
        ),
        RunEnding::Cancelled { by: Some(by) } => format!(
            "✖️ Coffee run in <#{}> cancelled by {}.",
            escape(channel_id),
            mention(by)
        ),
        RunEnding::Cancelled { by: None } => {
            format!("✖️ Coffee run in <#{}> cancelled.", escape(channel_id))
        }
    };
    (text.clone(), with_orders(&text, lines, None))
}

/// The completion reply's blocks: its text, and the survey's 👍 / 👎 for participants.
pub fn completion_blocks(text: &str, run_id: Uuid) -> Value {
    let run = run_id.to_string();
    json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "How was this run? One answer each; you can change it."}]},
        {
            "type": "actions",
            "block_id": "survey",
            "elements": [
                button(ACTION_SURVEY_UP, "👍 Good run", &run, None),
                button(ACTION_SURVEY_DOWN, "👎 Not great", &run, None),
            ],
        },
    ])
}

/// The thread reply of a completed run: it mentions everyone who ordered, so Slack tells
/// each of them their coffee is here.
pub fn completion_reply(runner_user_id: &str, participants: &[&str]) -> String {
    let mut text = format!("Coffee run completed by {}!", mention(runner_user_id));
    if !participants.is_empty() {
        let mentions: Vec<String> = participants.iter().map(|p| mention(p)).collect();
        text.push_str(&format!(" ☕ Coffee's here: {}", mentions.join(" ")));
    }
    text
}

pub fn cancellation_reply(user_id: &str) -> String {
    format!("Coffee run cancelled by {}", mention(user_id))
}

/// One run of `/coffee-history`.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub channel_id: String,
    pub status: RunStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub runner_user_id: Option<String>,
    pub order_count: i64,
}

/// `/coffee-history` (REQ-014, AC5): an ephemeral Block Kit message, newest run first.
pub fn history(lines: &[HistoryLine]) -> Value {
    if lines.is_empty() {
        return ephemeral("No coffee runs found");
    }
    let mut blocks = vec![json!({
        "type": "section",
        "block_id": "history_header",
        "text": {"type": "mrkdwn", "text": format!("*Your last {} coffee runs*", lines.len())},
    })];
    for (i, line) in lines.iter().enumerate() {
        let when = line.created_at.timestamp();
        let fallback = line.created_at.format("%Y-%m-%d %H:%M UTC");
        let runner = line.runner_user_id.as_deref().map_or_else(
            || "no runner yet".to_owned(),
            |r| format!("runner {}", mention(r)),
        );
        let orders = match line.order_count {
            1 => "1 order".to_owned(),
            n => format!("{n} orders"),
        };
        blocks.push(json!({
            "type": "section",
            "block_id": format!("history_{i}"),
            "text": {"type": "mrkdwn", "text": format!(
                "<!date^{when}^{{date_short_pretty}} at {{time}}|{fallback}> in <#{}> — {runner}, {orders} ({})",
                escape(&line.channel_id),
                line.status,
            )},
        }));
    }
    json!({"response_type": "ephemeral", "text": format!("Your last {} coffee runs", lines.len()), "blocks": blocks})
}

fn with_orders(headline: &str, lines: &[SummaryLine], extra: Option<Value>) -> Value {
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": headline}})];
    for chunk in chunk_lines(&order_lines(lines), SECTION_TEXT_LIMIT) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}));
    }
    blocks.extend(extra);
    Value::Array(blocks)
}

fn button(action_id: &str, label: &str, value: &str, style: Option<&str>) -> Value {
    let mut b =
        json!({"type": "button", "action_id": action_id, "text": plain(label), "value": value});
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

/// Joins lines with newlines into chunks of at most `limit` characters.
fn chunk_lines(lines: &[String], limit: usize) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines {
        let needed = line.chars().count() + usize::from(!current.is_empty());
        if !current.is_empty() && current.chars().count() + needed > limit {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// `{"response_type": "ephemeral", "text": …}`: seen only by the user who asked.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "text": text})
}

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text})
}

fn option(value: &str) -> Value {
    json!({"text": plain(value), "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_states_the_configured_assignment_rule() {
        let rule = |orders, secs| {
            let text = help_text(orders, Duration::from_secs(secs));
            let start = text.find("once the run has").expect("the rule is stated");
            text[start..].split(';').next().unwrap().to_owned()
        };
        assert_eq!(
            rule(5, 300),
            "once the run has 5 orders or is 5 minutes old"
        );
        assert_eq!(rule(1, 60), "once the run has 1 order or is 1 minute old");
        assert_eq!(
            rule(3, 90),
            "once the run has 3 orders or is 90 seconds old"
        );
        assert_eq!(rule(2, 1), "once the run has 2 orders or is 1 second old");
    }

    fn usual(drink: &str, size: &str, custom: Option<&str>, count: i32) -> Usual {
        Usual {
            drink_type: drink.into(),
            size: size.into(),
            customizations: custom.map(Into::into),
            order_count: count,
        }
    }

    #[test]
    fn the_modal_matches_the_contract() {
        let view = order_modal(r#"{"channel_id":"C1"}"#, &ModalPrefill::default());
        assert_eq!(view["type"], "modal");
        assert_eq!(view["callback_id"], "coffee_order_modal");
        assert_eq!(view["private_metadata"], r#"{"channel_id":"C1"}"#);
        let blocks = view["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3, "no usuals block without preferences");
        let drink = &blocks[0];
        assert_eq!(drink["block_id"], "drink_type");
        assert_eq!(drink["element"]["type"], "static_select");
        assert_eq!(drink["element"]["action_id"], "drink_type");
        let drinks: Vec<&str> = drink["element"]["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["value"].as_str().unwrap())
            .collect();
        assert_eq!(
            drinks,
            ["Latte", "Espresso", "Cappuccino", "Americano", "Mocha"]
        );
        let size = &blocks[1];
        assert_eq!(size["block_id"], "size");
        assert_eq!(size["element"]["type"], "radio_buttons");
        assert_eq!(size["element"]["action_id"], "size");
        assert_eq!(size["element"]["options"].as_array().unwrap().len(), 3);
        let custom = &blocks[2];
        assert_eq!(custom["block_id"], "customizations");
        assert_eq!(custom["optional"], true);
        assert_eq!(custom["element"]["type"], "plain_text_input");
        assert_eq!(custom["element"]["action_id"], "customizations");
        assert_eq!(custom["element"]["max_length"], 200);
        assert_eq!(
            custom["element"]["placeholder"]["text"],
            "Extra shot, oat milk, etc."
        );
        assert!(drink["element"].get("initial_option").is_none());
    }

    #[test]
    fn the_last_order_is_preselected_and_the_usuals_escaped() {
        let prefill = ModalPrefill {
            last: Some(usual("Mocha", "Small", Some("<!channel> & oat"), 2)),
            top: vec![
                usual("Latte", "Large", None, 5),
                usual("Mocha", "Small", Some("<!channel> & oat"), 2),
            ],
        };
        let view = order_modal("{}", &prefill);
        let blocks = view["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 4);
        let usuals = blocks[0]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(
            usuals,
            "Your usuals: *Large Latte* ×5 · *Small Mocha (&lt;!channel&gt; &amp; oat)* ×2"
        );
        assert_eq!(blocks[1]["element"]["initial_option"]["value"], "Mocha");
        assert_eq!(blocks[2]["element"]["initial_option"]["value"], "Small");
        assert_eq!(blocks[3]["element"]["initial_value"], "<!channel> & oat");
    }

    #[test]
    fn the_summary_escapes_orders_and_mentions_users() {
        let run = RunView {
            run_id: Uuid::nil(),
            initiator_user_id: "U1",
            status: RunStatus::Active,
            runner_user_id: None,
        };
        let (text, blocks) = run_summary(
            &run,
            &[SummaryLine {
                user_id: "U2".into(),
                drink_type: "Latte".into(),
                size: "Large".into(),
                customizations: Some("<!here>".into()),
            }],
        );
        assert_eq!(text, "☕ Coffee run started by <@U1> — 1 order");
        assert_eq!(
            blocks[1]["text"]["text"],
            "• <@U2>: Large Latte (&lt;!here&gt;)"
        );
    }

    #[test]
    fn the_completion_reply_mentions_everyone_who_ordered() {
        assert_eq!(
            completion_reply("U2", &["U1", "U2", "U3"]),
            "Coffee run completed by <@U2>! ☕ Coffee's here: <@U1> <@U2> <@U3>"
        );
        assert_eq!(
            completion_reply("U2", &[]),
            "Coffee run completed by <@U2>!"
        );
    }

    #[test]
    fn an_ended_runs_dm_keeps_its_orders_within_slacks_limits_and_loses_its_button() {
        let lines: Vec<SummaryLine> = (0..50)
            .map(|i| SummaryLine {
                user_id: format!("U{i}"),
                drink_type: "Latte".into(),
                size: "Large".into(),
                customizations: Some("*x*".repeat(66)),
            })
            .collect();
        let cancelled = RunEnding::Cancelled {
            by: Some("U7".into()),
        };
        let (text, blocks) = runner_dm_over("C1", &lines, &cancelled);
        assert_eq!(text, "✖️ Coffee run in <#C1> cancelled by <@U7>.");
        let blocks = blocks.as_array().unwrap();
        assert!(blocks.len() <= 50, "Slack takes at most 50 blocks");
        for block in blocks {
            let section = block["text"]["text"].as_str().unwrap();
            assert!(
                section.chars().count() <= 3_000,
                "a section's text is at most 3,000"
            );
            assert!(!section.contains("*x*"), "user text is neutralised");
        }
        assert!(
            !Value::Array(blocks.clone())
                .to_string()
                .contains(ACTION_MARK_COMPLETE)
        );
        let (completed, _) = runner_dm_over("C1", &lines, &RunEnding::Completed);
        assert!(completed.starts_with("✅ Coffee run in <#C1> completed"));
    }

    #[test]
    fn long_summaries_are_split_into_sections_slack_accepts() {
        let lines: Vec<SummaryLine> = (0..40)
            .map(|i| SummaryLine {
                user_id: format!("U{i}"),
                drink_type: "Latte".into(),
                size: "Large".into(),
                customizations: Some("x".repeat(200)),
            })
            .collect();
        let run = RunView {
            run_id: Uuid::nil(),
            initiator_user_id: "U0",
            status: RunStatus::Active,
            runner_user_id: None,
        };
        let (_, blocks) = run_summary(&run, &lines);
        let sections: Vec<&Value> = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["block_id"].as_str().unwrap().starts_with("run_orders_"))
            .collect();
        assert!(sections.len() > 1);
        let total: usize = sections
            .iter()
            .map(|s| {
                let t = s["text"]["text"].as_str().unwrap();
                assert!(t.chars().count() <= SECTION_TEXT_LIMIT);
                t.lines().count()
            })
            .sum();
        assert_eq!(total, 40);
    }

    #[test]
    fn the_confirmation_names_the_order_and_channel() {
        let view = order_confirmation("Large Latte (<b>)", "C1", 3, false);
        assert_eq!(
            view["blocks"][0]["text"]["text"],
            "☕ Your order is in: *Large Latte (&lt;b&gt;)*\nCoffee run in <#C1>: 3 orders so far."
        );
    }

    #[test]
    fn the_root_message_offers_controls_only_while_orders_are_open() {
        let lines = [SummaryLine {
            user_id: "U1".into(),
            drink_type: "Latte".into(),
            size: "Large".into(),
            customizations: None,
        }];
        let run_id = Uuid::new_v4();
        let mut run = RunView {
            run_id,
            initiator_user_id: "U1",
            status: RunStatus::Active,
            runner_user_id: None,
        };
        let (_, open) = run_summary(&run, &lines);
        let controls = open
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block_id"] == "run_controls")
            .unwrap();
        let actions: Vec<&str> = controls["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["volunteer", "close_orders", "opt_out"]);
        assert!(
            controls["elements"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["value"] == run_id.to_string())
        );

        run.runner_user_id = Some("U2");
        let (_, assigned) = run_summary(&run, &lines);
        assert!(!assigned.to_string().contains("run_controls"));
        assert!(
            assigned[0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("<@U2> is getting the coffee")
        );
        run.status = RunStatus::Completed;
        let (_, done) = run_summary(&run, &lines);
        assert_eq!(
            done[0]["text"]["text"],
            "*☕ Coffee run* — completed by <@U2> (1 order)"
        );
    }

    #[test]
    fn the_runner_dm_carries_the_mark_complete_button() {
        let run_id = Uuid::new_v4();
        let (text, blocks) = runner_dm(run_id, "C1", &[], true);
        assert_eq!(
            text,
            format!("Reminder: You're the runner for coffee run {run_id}")
        );
        let button = &blocks.as_array().unwrap().last().unwrap()["elements"][0];
        assert_eq!(button["action_id"], "mark_complete");
        assert_eq!(button["value"], run_id.to_string());
    }

    #[test]
    fn empty_history_says_so() {
        assert_eq!(history(&[])["text"], "No coffee runs found");
    }
}
