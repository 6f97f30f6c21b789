//! Slack's ids (workspace, channel, user) as callers other than Slack hand them to us:
//! the REST API's bodies and the `sub` of its tokens. Slack's own are `[A-Z0-9]` and short;
//! these are checked before they reach a `VARCHAR(64)` column, where a longer one or a NUL
//! would fail the statement and answer 500.

/// The width of every Slack id column.
pub const SLACK_ID_MAX_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlackIdError {
    #[error("is required")]
    Empty,
    #[error("is longer than {SLACK_ID_MAX_CHARS} characters")]
    TooLong,
    #[error("contains control characters")]
    ControlCharacter,
}

/// Whether `value` can be stored and shown as a Slack id.
pub fn check_slack_id(value: &str) -> Result<(), SlackIdError> {
    if value.trim().is_empty() {
        Err(SlackIdError::Empty)
    } else if value.chars().count() > SLACK_ID_MAX_CHARS {
        Err(SlackIdError::TooLong)
    } else if value.chars().any(char::is_control) {
        Err(SlackIdError::ControlCharacter)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_ids_and_the_longest_that_fits_pass() {
        assert_eq!(check_slack_id("C0123ABCD"), Ok(()));
        assert_eq!(check_slack_id(&"é".repeat(SLACK_ID_MAX_CHARS)), Ok(()));
    }

    #[test]
    fn what_a_column_cannot_hold_is_refused() {
        assert_eq!(check_slack_id(""), Err(SlackIdError::Empty));
        assert_eq!(check_slack_id("  "), Err(SlackIdError::Empty));
        assert_eq!(
            check_slack_id(&"C".repeat(SLACK_ID_MAX_CHARS + 1)),
            Err(SlackIdError::TooLong)
        );
        assert_eq!(check_slack_id("C1\0"), Err(SlackIdError::ControlCharacter));
        assert_eq!(check_slack_id("C1\n"), Err(SlackIdError::ControlCharacter));
    }
}
