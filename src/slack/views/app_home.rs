//! The Home tab (`views.publish`, CONTRACT "App Home"): the user's usual orders, the
//! workspace's active runs, their runs against their fair share, and the workspace's
//! fairness ledger. A Home view holds at most 100 blocks; this one holds under 20 whatever
//! the workspace's size, its long lists cut into sections of at most
//! [`SECTION_TEXT_LIMIT`](super::SECTION_TEXT_LIMIT) characters.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{SECTION_TEXT_LIMIT, SummaryLine, Usual, chunk_lines, counted, plain};
use crate::{
    domain::{
        describe_order,
        fairness::{FairnessPolicy, LedgerLine},
    },
    slack::escape::{escape, mention, user_text},
};

/// Ledger lines shown; the rest are counted.
pub const LEDGER_LINES_SHOWN: usize = 50;

/// An active run of the workspace.
#[derive(Debug, Clone)]
pub struct ActiveRunLine {
    pub channel_id: String,
    pub initiator_user_id: String,
    pub runner_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub order_count: i64,
    /// The viewer's order in it, if they ordered.
    pub your_order: Option<SummaryLine>,
}

/// What the Home tab shows.
#[derive(Debug, Clone)]
pub struct HomeTab {
    pub user_id: String,
    /// The usual orders (REQ-013), most ordered first.
    pub usuals: Vec<Usual>,
    pub active_runs: Vec<ActiveRunLine>,
    pub policy: FairnessPolicy,
    pub window_days: u32,
    /// Every active user of the window, the most likely next runner first.
    pub ledger: Vec<LedgerLine>,
    /// The SPEC's fairness score over the same users.
    pub std_dev: f64,
    pub as_of: DateTime<Utc>,
}

/// The `views.publish` view.
pub fn home_tab(home: &HomeTab) -> Value {
    let mut blocks = vec![json!({"type": "header", "text": plain("☕ CoffeeBuddy")})];
    for chunk in chunk_lines(&usuals(&home.usuals), SECTION_TEXT_LIMIT) {
        blocks.push(section(&chunk));
    }
    blocks.push(json!({"type": "divider"}));
    for chunk in chunk_lines(&active_runs(&home.active_runs), SECTION_TEXT_LIMIT) {
        blocks.push(section(&chunk));
    }
    blocks.push(json!({"type": "divider"}));
    blocks.push(section(&your_share(home)));
    blocks.push(json!({"type": "divider"}));
    blocks.extend(ledger(home));
    let when = home.as_of.timestamp();
    let fallback = home.as_of.format("%Y-%m-%d %H:%M UTC");
    blocks.push(context(&format!(
        "As of <!date^{when}^{{date_short_pretty}} at {{time}}|{fallback}>; opening this tab again brings it up to date."
    )));
    json!({"type": "home", "blocks": blocks})
}

fn usuals(usuals: &[Usual]) -> Vec<String> {
    let mut lines = vec!["*Your usual orders*".to_owned()];
    if usuals.is_empty() {
        lines.push(
            "None yet: `/coffee` in a channel orders one, and the form suggests it next time."
                .into(),
        );
    }
    lines.extend(usuals.iter().map(|u| {
        format!(
            "• {} ({})",
            user_text(&describe_order(
                &u.size,
                &u.drink_type,
                u.customizations.as_deref()
            )),
            counted(u64::try_from(u.order_count).unwrap_or(0), "time"),
        )
    }));
    lines
}

fn active_runs(runs: &[ActiveRunLine]) -> Vec<String> {
    let mut lines = vec!["*Active runs*".to_owned()];
    if runs.is_empty() {
        lines.push("No coffee run is open: `/coffee` in a channel starts one.".into());
    }
    for run in runs {
        let channel = escape(&run.channel_id);
        let orders = counted(u64::try_from(run.order_count).unwrap_or(0), "order");
        // Who started and runs a run the viewer is not in stays in its channel, which may
        // be private: Slack shows a private channel's link to outsiders without its name.
        let Some(yours) = &run.your_order else {
            lines.push(format!(
                "• <#{channel}>: {orders}, open · `/coffee` there to join"
            ));
            continue;
        };
        let when = run.created_at.timestamp();
        let runner = run.runner_user_id.as_deref().map_or_else(
            || "no runner yet".to_owned(),
            |r| format!("runner {}", mention(r)),
        );
        lines.push(format!(
            "• <#{channel}>: {orders}, started by {} <!date^{when}^{{time}}|{}>, {runner} · you ordered a {}",
            mention(&run.initiator_user_id),
            run.created_at.format("%H:%M UTC"),
            user_text(&describe_order(
                &yours.size,
                &yours.drink_type,
                yours.customizations.as_deref()
            )),
        ));
    }
    lines
}

fn your_share(home: &HomeTab) -> String {
    match home.ledger.iter().find(|l| l.user_id == home.user_id) {
        Some(mine) => format!(
            "*Your share*\nYou made {} in the last {} days, against a fair share of {:.1}.",
            counted(u64::from(mine.runs), "run"),
            home.window_days,
            mine.fair_share,
        ),
        None => format!(
            "*Your share*\nYou have not ordered in a run in the last {} days.",
            home.window_days
        ),
    }
}

fn ledger(home: &HomeTab) -> Vec<Value> {
    let rule = match home.policy {
        FairnessPolicy::FewestRuns => {
            "the fewest runs in the window goes next, then whoever ran least recently; the fair share is the runs split evenly"
        }
        FairnessPolicy::Carpool => {
            "each run adds 1/participants to everyone's fair share; the largest debt (fair share − runs) goes next"
        }
    };
    let mut blocks = vec![
        json!({"type": "header", "text": plain("Fairness ledger")}),
        context(&format!(
            "Policy *{}*: {rule}. Window: the last {} days. {}; standard deviation of runs {:.2} (the target is under 2).",
            home.policy,
            home.window_days,
            counted(home.ledger.len() as u64, "active user"),
            home.std_dev,
        )),
    ];
    if home.ledger.is_empty() {
        blocks.push(section("Nobody has ordered in the window yet."));
        return blocks;
    }
    let next: Vec<String> = home
        .ledger
        .iter()
        .take(3)
        .map(|l| mention(&l.user_id))
        .collect();
    blocks.push(section(&format!(
        "*Most likely next*, were everyone in the next run: {}",
        next.join(", then ")
    )));
    let lines: Vec<String> = home
        .ledger
        .iter()
        .take(LEDGER_LINES_SHOWN)
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{}. {}: {}, fair share {:.1}",
                i + 1,
                mention(&l.user_id),
                counted(u64::from(l.runs), "run"),
                l.fair_share
            )
        })
        .collect();
    for chunk in chunk_lines(&lines, SECTION_TEXT_LIMIT) {
        blocks.push(section(&chunk));
    }
    let hidden = home.ledger.len().saturating_sub(LEDGER_LINES_SHOWN);
    if hidden > 0 {
        let who = if hidden == 1 { "user" } else { "users" };
        blocks.push(context(&format!(
            "…and {hidden} more active {who}; `GET /api/v1/fairness` lists everyone."
        )));
    }
    blocks
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn long_id(i: usize) -> String {
        format!("U{i:031}")
    }

    fn big_home(users: usize) -> HomeTab {
        let as_of = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let sneaky = Some("*bold* <!channel> http://evil.example ".repeat(6));
        HomeTab {
            user_id: long_id(7),
            usuals: (0..3)
                .map(|i| Usual {
                    drink_type: "Latte".into(),
                    size: "Large".into(),
                    customizations: sneaky.clone(),
                    order_count: 40 - i,
                })
                .collect(),
            active_runs: (0..20)
                .map(|i| ActiveRunLine {
                    channel_id: format!("C{i:031}"),
                    initiator_user_id: long_id(i),
                    runner_user_id: (i % 2 == 0).then(|| long_id(i + 1)),
                    created_at: as_of,
                    order_count: 50,
                    your_order: (i % 3 != 0).then(|| SummaryLine {
                        user_id: long_id(7),
                        drink_type: "Cappuccino".into(),
                        size: "Medium".into(),
                        customizations: sneaky.clone(),
                    }),
                })
                .collect(),
            policy: FairnessPolicy::Carpool,
            window_days: 30,
            ledger: (0..users)
                .map(|i| LedgerLine {
                    user_id: long_id(i),
                    runs: 1000 + i as u32,
                    fair_share: 1234.56,
                })
                .collect(),
            std_dev: 0.5,
            as_of,
        }
    }

    /// Slack's limits for a Home view: 100 blocks; a section's text 3,000 characters; a
    /// header's 150; a context's text 2,000 (each element).
    fn assert_within_slacks_limits(view: &Value) {
        assert_eq!(view["type"], "home");
        let blocks = view["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 100, "{} blocks", blocks.len());
        for block in blocks {
            match block["type"].as_str().unwrap() {
                "section" => {
                    let text = block["text"]["text"].as_str().unwrap();
                    assert!(text.chars().count() <= 3_000, "{text}");
                }
                "header" => {
                    let text = block["text"]["text"].as_str().unwrap();
                    assert!(text.chars().count() <= 150, "{text}");
                }
                "context" => {
                    for element in block["elements"].as_array().unwrap() {
                        let text = element["text"].as_str().unwrap();
                        assert!(text.chars().count() <= 2_000, "{text}");
                    }
                }
                "divider" => {}
                other => panic!("unexpected block {other}"),
            }
        }
    }

    #[test]
    fn fifty_active_users_and_twenty_runs_fit_slacks_limits_with_user_text_escaped() {
        let view = home_tab(&big_home(50));
        assert_within_slacks_limits(&view);
        let text = view.to_string();
        for user in 0..50 {
            assert!(text.contains(&format!("<@{}>", long_id(user))), "{user}");
        }
        assert!(!text.contains("*bold*") && !text.contains("<!channel>"));
        assert!(!text.contains("http://"));
        assert!(!text.contains("more active user"));
    }

    #[test]
    fn long_usuals_full_of_escaped_characters_stay_within_a_sections_limit() {
        let mut home = big_home(1);
        for usual in &mut home.usuals {
            usual.customizations = Some("&".repeat(200));
        }
        assert_within_slacks_limits(&home_tab(&home));
    }

    #[test]
    fn a_run_the_viewer_is_not_in_shows_only_its_channel_and_size() {
        let home = big_home(1);
        let text = home_tab(&home).to_string();
        let outsider = format!("<#C{:031}>: 50 orders, open · `/coffee` there to join", 0);
        assert!(text.contains(&outsider), "{text}");
        assert!(!text.contains(&format!("started by <@{}>", long_id(0))));
        assert!(text.contains(&format!("started by <@{}>", long_id(1))));
    }

    #[test]
    fn a_large_workspace_shows_fifty_and_counts_the_rest() {
        let view = home_tab(&big_home(400));
        assert_within_slacks_limits(&view);
        let text = view.to_string();
        assert!(text.contains(&format!("<@{}>", long_id(49))));
        assert!(!text.contains(&format!("<@{}>", long_id(50))));
        assert!(text.contains("…and 350 more active users;"), "{text}");
    }

    #[test]
    fn the_ledger_names_its_policy_window_and_the_likely_next() {
        let mut home = big_home(3);
        home.policy = FairnessPolicy::FewestRuns;
        let text = home_tab(&home).to_string();
        assert!(text.contains("Policy *fewest-runs*"), "{text}");
        assert!(text.contains("the last 30 days"), "{text}");
        assert!(text.contains("3 active users"), "{text}");
        assert!(text.contains(&format!(
            "*Most likely next*, were everyone in the next run: <@{}>, then <@{}>, then <@{}>",
            long_id(0),
            long_id(1),
            long_id(2)
        )));
    }

    #[test]
    fn a_newcomer_sees_how_to_start() {
        let home = HomeTab {
            user_id: "U1".into(),
            usuals: vec![],
            active_runs: vec![],
            policy: FairnessPolicy::FewestRuns,
            window_days: 30,
            ledger: vec![],
            std_dev: 0.0,
            as_of: Utc::now(),
        };
        let view = home_tab(&home);
        assert_within_slacks_limits(&view);
        let text = view.to_string();
        assert!(text.contains("None yet"), "{text}");
        assert!(text.contains("No coffee run is open"), "{text}");
        assert!(text.contains("You have not ordered in a run in the last 30 days."));
        assert!(text.contains("Nobody has ordered in the window yet."));
    }
}
