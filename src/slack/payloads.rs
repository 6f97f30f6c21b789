//! What Slack sends us, parsed once at the edge. Only the fields we use are declared;
//! Slack adds fields freely and serde ignores the rest. Every id and display name is
//! checked as it is parsed (`domain::ids`): a payload with a malformed one does not parse.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, de::Error as _};

use crate::domain::{check_display_name, check_event_id, check_slack_id};

/// A Slack id (`[A-Z0-9]`, bounded).
fn slack_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    check_slack_id(&value).map_err(|e| D::Error::custom(format!("a Slack id {e}")))?;
    Ok(value)
}

/// A Slack id, or nothing.
fn optional_slack_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    if let Some(id) = &value {
        check_slack_id(id).map_err(|e| D::Error::custom(format!("a Slack id {e}")))?;
    }
    Ok(value)
}

/// A display name, or nothing.
fn optional_display_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    if let Some(name) = &value {
        check_display_name(name).map_err(|e| D::Error::custom(format!("a user name {e}")))?;
    }
    Ok(value)
}

/// A message timestamp (`1712345678.123456`), or nothing.
fn optional_message_ts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    if let Some(ts) = &value {
        let well_formed =
            !ts.is_empty() && ts.len() <= 32 && ts.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !well_formed {
            return Err(D::Error::custom("a message ts is digits and a dot"));
        }
    }
    Ok(value)
}

/// An Events API event id.
fn event_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    check_event_id(&value).map_err(|e| D::Error::custom(format!("event_id {e}")))?;
    Ok(value)
}

/// A slash command (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(deserialize_with = "slack_id")]
    pub team_id: String,
    #[serde(deserialize_with = "slack_id")]
    pub channel_id: String,
    #[serde(deserialize_with = "slack_id")]
    pub user_id: String,
    #[serde(default, deserialize_with = "optional_display_name")]
    pub user_name: Option<String>,
    #[serde(default)]
    pub trigger_id: Option<String>,
}

/// The JSON in the `payload` field of `/slack/interactions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interaction {
    ViewSubmission(ViewSubmission),
    BlockActions(BlockActions),
    /// `view_closed`, `shortcut`, …: acknowledged and ignored.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    #[serde(deserialize_with = "slack_id")]
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "slack_id")]
    pub id: String,
    #[serde(default, deserialize_with = "optional_display_name")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "optional_display_name")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "optional_slack_id")]
    pub team_id: Option<String>,
}

impl User {
    pub fn display_name(&self) -> Option<&str> {
        self.username.as_deref().or(self.name.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewSubmission {
    #[serde(default)]
    pub team: Option<Team>,
    pub user: User,
    pub view: View,
}

impl ViewSubmission {
    /// The workspace: `team.id`, or the user's team when Slack sends `team: null`
    /// (org-wide apps on Enterprise Grid).
    pub fn workspace_id(&self) -> Option<&str> {
        self.team
            .as_ref()
            .map(|t| t.id.as_str())
            .or(self.user.team_id.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct View {
    pub callback_id: String,
    #[serde(default)]
    pub private_metadata: String,
    #[serde(default)]
    pub state: ViewState,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ViewState {
    /// `values[block_id][action_id]`.
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, InputValue>>,
}

impl ViewState {
    /// The chosen option's value (selects, radio buttons) or the typed text (inputs).
    pub fn value(&self, block_id: &str, action_id: &str) -> Option<&str> {
        let input = self.values.get(block_id)?.get(action_id)?;
        input
            .selected_option
            .as_ref()
            .map(|o| o.value.as_str())
            .or(input.value.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputValue {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SelectedOption {
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    pub user: User,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

impl BlockActions {
    /// Whether the click comes from `workspace`: the team of the payload or of the user
    /// (on Enterprise Grid the two can differ, and either may be absent).
    pub fn comes_from(&self, workspace: &str) -> bool {
        let team = self.team.as_ref().map(|t| t.id.as_str());
        team == Some(workspace) || self.user.team_id.as_deref() == Some(workspace)
    }

    /// Where the clicked message lives (a channel, or the DM with the bot).
    pub fn channel_id(&self) -> Option<&str> {
        self.channel
            .as_ref()
            .map(|c| c.id.as_str())
            .or_else(|| self.container.as_ref()?.channel_id.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    #[serde(deserialize_with = "slack_id")]
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "optional_slack_id")]
    pub channel_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// An Events API callback (`event_callback`); only the fields `app_mention` and
/// `app_home_opened` need.
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    #[serde(deserialize_with = "event_id")]
    pub event_id: String,
    /// The workspace the event happened in.
    #[serde(default, deserialize_with = "optional_slack_id")]
    pub team_id: Option<String>,
    pub event: InnerEvent,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InnerEvent {
    #[serde(rename = "type")]
    pub kind: String,
    /// Who mentioned the app, or opened its Home tab.
    #[serde(default, deserialize_with = "optional_slack_id")]
    pub user: Option<String>,
    /// `app_home_opened`: which tab, `home` or `messages`.
    #[serde(default)]
    pub tab: Option<String>,
    #[serde(default, deserialize_with = "optional_slack_id")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "optional_message_ts")]
    pub ts: Option<String>,
    #[serde(default, deserialize_with = "optional_message_ts")]
    pub thread_ts: Option<String>,
}

/// What `/coffee` stores in the modal's `private_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct OrderModalMetadata {
    #[serde(deserialize_with = "slack_id")]
    pub channel_id: String,
    /// The slash command's `team_id`, so the order joins the run that `/coffee-cancel`
    /// and `/coffee-history` in that channel see: on Enterprise Grid a submission's
    /// `team` can name another workspace of the org than the command did. Absent from
    /// modals opened before it was stored; the submission's own workspace then counts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_slack_id"
    )]
    pub workspace_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_submission_exposes_its_choices() {
        let json = r#"{
            "type": "view_submission",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": "U1", "username": "ana", "name": "ana", "team_id": "T1"},
            "api_app_id": "A1",
            "view": {
                "id": "V1",
                "callback_id": "coffee_order_modal",
                "private_metadata": "{\"channel_id\":\"C1\"}",
                "state": {"values": {
                    "drink_type": {"drink_type": {"type": "static_select",
                        "selected_option": {"text": {"type": "plain_text", "text": "Latte"}, "value": "Latte"}}},
                    "size": {"size": {"type": "radio_buttons",
                        "selected_option": {"text": {"type": "plain_text", "text": "Large"}, "value": "Large"}}},
                    "customizations": {"customizations": {"type": "plain_text_input", "value": null}}
                }}
            }
        }"#;
        let Interaction::ViewSubmission(sub) = serde_json::from_str(json).unwrap() else {
            panic!("not a view submission");
        };
        assert_eq!(sub.workspace_id(), Some("T1"));
        assert_eq!(
            sub.view.state.value("drink_type", "drink_type"),
            Some("Latte")
        );
        assert_eq!(sub.view.state.value("size", "size"), Some("Large"));
        assert_eq!(
            sub.view.state.value("customizations", "customizations"),
            None
        );
    }

    #[test]
    fn unknown_interaction_types_are_other() {
        let parsed: Interaction = serde_json::from_str(r#"{"type": "view_closed"}"#).unwrap();
        assert!(matches!(parsed, Interaction::Other));
    }
}
