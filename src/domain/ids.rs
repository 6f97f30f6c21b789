//! What an id or a name from outside must look like before the service stores or shows it:
//! Slack's ids (workspace, channel, user) in Slack's payloads, the REST API's bodies, paths
//! and query strings and the `sub` of its tokens; Slack's event ids; users' display names.
//!
//! Each is checked once, where it enters (`slack::payloads`, `api::rest`, `auth`). A value
//! that passes fits its column and cannot change what a Slack message says: a `|` inside
//! `<#C…|label>` would render a fake channel name, and a bidi override or a zero-width
//! character would hide what the id really is.

/// The longest Slack id accepted. Slack's are 9 to 11 characters today and documented as
/// possibly growing; the columns hold 64.
pub const SLACK_ID_MAX_CHARS: usize = 32;
/// The longest Events API `event_id` accepted (the `slack_events` column holds 64).
pub const EVENT_ID_MAX_CHARS: usize = 64;
/// The longest display name accepted (the `users.display_name` column holds 255).
pub const DISPLAY_NAME_MAX_CHARS: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlackIdError {
    #[error("is required")]
    Empty,
    #[error("is longer than {SLACK_ID_MAX_CHARS} characters")]
    TooLong,
    #[error("is not a Slack id (capital letters and digits only)")]
    NotSlackId,
}

/// Whether `value` is a Slack id: 1 to [`SLACK_ID_MAX_CHARS`] of `[A-Z0-9]`.
pub fn check_slack_id(value: &str) -> Result<(), SlackIdError> {
    if value.is_empty() {
        Err(SlackIdError::Empty)
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        Err(SlackIdError::NotSlackId)
    } else if value.len() > SLACK_ID_MAX_CHARS {
        Err(SlackIdError::TooLong)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    #[error("is required")]
    Empty,
    #[error("is not an event id (at most {EVENT_ID_MAX_CHARS} letters and digits)")]
    Malformed,
}

/// Whether `value` is an Events API `event_id` (`Ev0123ABCD`): letters and digits, bounded.
pub fn check_event_id(value: &str) -> Result<(), EventIdError> {
    if value.is_empty() {
        Err(EventIdError::Empty)
    } else if value.len() > EVENT_ID_MAX_CHARS || !value.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Err(EventIdError::Malformed)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("is longer than {DISPLAY_NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("contains control characters")]
    ControlCharacter,
}

/// Whether `value` can be stored as a display name. It is shown only escaped
/// (`slack::escape`), so other characters are harmless.
pub fn check_display_name(value: &str) -> Result<(), DisplayNameError> {
    if value.chars().count() > DISPLAY_NAME_MAX_CHARS {
        Err(DisplayNameError::TooLong)
    } else if value.chars().any(char::is_control) {
        Err(DisplayNameError::ControlCharacter)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_ids_and_the_longest_accepted_pass() {
        for id in ["C0123ABCD", "U1", "T01ABCDEF23", "E0GRID", "W012"] {
            assert_eq!(check_slack_id(id), Ok(()), "{id}");
        }
        assert_eq!(check_slack_id(&"U".repeat(SLACK_ID_MAX_CHARS)), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(check_slack_id(""), Err(SlackIdError::Empty));
        assert_eq!(
            check_slack_id(&"C".repeat(SLACK_ID_MAX_CHARS + 1)),
            Err(SlackIdError::TooLong)
        );
        for id in [
            " C1",
            "C1 ",
            "C1|everyone",
            "c1",
            "C_1",
            "C1\0",
            "C1\n",
            "C\u{202E}1",
            "C\u{200B}1",
            "Ｃ1",
            "É1",
        ] {
            assert_eq!(check_slack_id(id), Err(SlackIdError::NotSlackId), "{id:?}");
        }
    }

    #[test]
    fn event_ids_are_letters_and_digits_and_bounded() {
        assert_eq!(check_event_id("Ev08MFMKH6"), Ok(()));
        assert_eq!(check_event_id(""), Err(EventIdError::Empty));
        assert_eq!(
            check_event_id(&"E".repeat(EVENT_ID_MAX_CHARS + 1)),
            Err(EventIdError::Malformed)
        );
        assert_eq!(check_event_id("Ev1 2"), Err(EventIdError::Malformed));
    }

    #[test]
    fn display_names_fit_their_column_and_hold_no_control_characters() {
        assert_eq!(check_display_name("ana.o'neil & co"), Ok(()));
        assert_eq!(
            check_display_name(&"é".repeat(DISPLAY_NAME_MAX_CHARS)),
            Ok(())
        );
        assert_eq!(
            check_display_name(&"a".repeat(DISPLAY_NAME_MAX_CHARS + 1)),
            Err(DisplayNameError::TooLong)
        );
        assert_eq!(
            check_display_name("ana\0"),
            Err(DisplayNameError::ControlCharacter)
        );
    }
}
