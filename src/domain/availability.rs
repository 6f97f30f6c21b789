//! Whether a candidate runner is in today (CONTRACT "Runners who are in"): what Slack says
//! about a user, and the rule that reads it. The calls themselves are the assignment job's
//! (`jobs::assign_runner`).

use chrono::{DateTime, Utc};

/// Why a candidate was passed over; the `runner_passed_over_total` label and the audit
/// row's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// `users.getPresence` says `away`.
    Away,
    /// `dnd.info` says Do Not Disturb is on now.
    Dnd,
    /// Their status matches `RUNNER_AWAY_STATUSES`.
    Status,
}

impl Absence {
    pub const ALL: [Absence; 3] = [Absence::Away, Absence::Dnd, Absence::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            Absence::Away => "away",
            Absence::Dnd => "dnd",
            Absence::Status => "status",
        }
    }
}

/// A user's Slack status (`users.info` → `profile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackStatus {
    pub emoji: String,
    pub text: String,
    /// When Slack clears it; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SlackStatus {
    /// Whether the status is still set at `now` (Slack clears expired ones lazily).
    fn is_set(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A user's Do Not Disturb (`dnd.info`): a paused-notifications snooze, and the schedule's
/// next window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DndState {
    /// Until when notifications are snoozed, if they are.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The schedule's next (or current) quiet window, if a schedule is on.
    pub scheduled: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl DndState {
    pub fn is_on(&self, now: DateTime<Utc>) -> bool {
        self.snoozed_until.is_some_and(|until| until > now)
            || self
                .scheduled
                .is_some_and(|(start, end)| start <= now && now < end)
    }
}

/// `RUNNER_AWAY_STATUSES`: status emoji (`:palm_tree:`) and words (`out of office`) that
/// mean "out", compared without case. An emoji matches the status emoji or appears in the
/// status text; a word or phrase matches whole words of the status text, so `ooo` does not
/// match `cooool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwayStatuses(Vec<String>);

/// The CONTRACT's default list.
pub const DEFAULT_AWAY_STATUSES: &str =
    ":palm_tree:,:face_with_thermometer:,:airplane:,ooo,out of office,vacation,holiday,sick";

/// A `RUNNER_AWAY_STATUSES` entry that is neither an emoji nor a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a status emoji (:name:) nor a word")]
pub struct BadAwayStatus(pub String);

impl std::str::FromStr for AwayStatuses {
    type Err = BadAwayStatus;

    /// A comma-separated list; blank entries are skipped, so an empty list matches nothing.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut entries = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !is_emoji(entry) && !entry.chars().any(char::is_alphanumeric) {
                return Err(BadAwayStatus(entry.to_owned()));
            }
            entries.push(entry.to_lowercase());
        }
        Ok(Self(entries))
    }
}

impl AwayStatuses {
    /// Whether `status`, still set at `now`, says its user is out.
    pub fn say_out(&self, status: &SlackStatus, now: DateTime<Utc>) -> bool {
        if !status.is_set(now) {
            return false;
        }
        let emoji = status.emoji.to_lowercase();
        let text = status.text.to_lowercase();
        self.0.iter().any(|entry| {
            if is_emoji(entry) {
                // `:airplane::skin-tone-2:` is `:airplane:` too.
                emoji == *entry
                    || emoji
                        .strip_prefix(entry.as_str())
                        .is_some_and(|rest| rest.starts_with(':'))
                    || text.contains(entry.as_str())
            } else {
                contains_words(&text, entry)
            }
        })
    }
}

/// `:name:`, as opposed to a word.
fn is_emoji(entry: &str) -> bool {
    entry.len() > 2 && entry.starts_with(':') && entry.ends_with(':')
}

/// Whether `phrase` occurs in `text` with no letter or digit right before or after it.
fn contains_words(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()
    }

    fn status(emoji: &str, text: &str) -> SlackStatus {
        SlackStatus {
            emoji: emoji.into(),
            text: text.into(),
            expires_at: None,
        }
    }

    #[test]
    fn the_default_list_knows_holidays_sickness_and_travel() {
        let away: AwayStatuses = DEFAULT_AWAY_STATUSES.parse().unwrap();
        for (emoji, text) in [
            (":palm_tree:", ""),
            (":PALM_TREE:", "back monday"),
            ("", "OOO until Friday"),
            ("", "Out of office"),
            ("", "on vacation"),
            ("", "Public holiday!"),
            ("", "sick :face_with_thermometer:"),
            (":airplane:", "flying to Lisbon"),
            (":airplane::skin-tone-2:", ""),
        ] {
            assert!(away.say_out(&status(emoji, text), now()), "{emoji} {text}");
        }
        for (emoji, text) in [
            ("", ""),
            (":coffee:", "In a meeting"),
            ("", "cooool"),
            ("", "vacationing next month? no: planning"),
            (":house_with_garden:", "working from home"),
            ("", "sickle cell research"),
        ] {
            assert!(!away.say_out(&status(emoji, text), now()), "{emoji} {text}");
        }
    }

    #[test]
    fn an_expired_status_says_nothing() {
        let away: AwayStatuses = DEFAULT_AWAY_STATUSES.parse().unwrap();
        let mut s = status(":palm_tree:", "vacation");
        s.expires_at = Some(now() - chrono::Duration::minutes(1));
        assert!(!away.say_out(&s, now()));
        s.expires_at = Some(now() + chrono::Duration::minutes(1));
        assert!(away.say_out(&s, now()));
    }

    #[test]
    fn the_list_is_configurable_and_may_be_empty() {
        let away: AwayStatuses = " :beach: , Gone fishing ,".parse().unwrap();
        assert!(away.say_out(&status(":beach:", ""), now()));
        assert!(away.say_out(&status("", "gone FISHING today"), now()));
        assert!(!away.say_out(&status(":palm_tree:", "vacation"), now()));
        let none: AwayStatuses = "".parse().unwrap();
        assert!(!none.say_out(&status(":palm_tree:", "vacation"), now()));
        // A leading colon alone makes a word, not an emoji.
        let word: AwayStatuses = ":ooo".parse().unwrap();
        assert!(word.say_out(&status("", "back soon :ooo"), now()));
        assert!(!word.say_out(&status(":ooo", ""), now()));
        assert_eq!(
            "ok, ::".parse::<AwayStatuses>(),
            Err(BadAwayStatus("::".into()))
        );
        assert_eq!(
            "--".parse::<AwayStatuses>(),
            Err(BadAwayStatus("--".into()))
        );
    }

    #[test]
    fn do_not_disturb_is_a_snooze_or_the_scheduled_window() {
        let t = |minutes: i64| now() + chrono::Duration::minutes(minutes);
        let off = DndState::default();
        assert!(!off.is_on(now()));
        let snoozed = DndState {
            snoozed_until: Some(t(30)),
            scheduled: None,
        };
        assert!(snoozed.is_on(now()));
        assert!(!snoozed.is_on(t(31)));
        let scheduled = DndState {
            snoozed_until: None,
            scheduled: Some((t(-60), t(60))),
        };
        assert!(scheduled.is_on(now()));
        assert!(!scheduled.is_on(t(60)));
        let tonight = DndState {
            snoozed_until: None,
            scheduled: Some((t(600), t(1200))),
        };
        assert!(!tonight.is_on(now()));
    }
}
