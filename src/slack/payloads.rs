//! What Slack sends us, parsed once at the edge. Only the fields we use are declared;
//! Slack adds fields freely and serde ignores the rest.

use std::collections::HashMap;

use serde::Deserialize;

/// A slash command (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub team_id: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
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
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
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
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub channel_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// An Events API callback (`event_callback`); only the fields `app_mention` needs.
#[derive(Debug, Clone, Deserialize)]
pub struct EventCallback {
    pub event_id: String,
    pub event: InnerEvent,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InnerEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

/// What `/coffee` stores in the modal's `private_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct OrderModalMetadata {
    pub channel_id: String,
    /// The slash command's `team_id`, so the order joins the run that `/coffee-cancel`
    /// and `/coffee-history` in that channel see: on Enterprise Grid a submission's
    /// `team` can name another workspace of the org than the command did. Absent from
    /// modals opened before it was stored; the submission's own workspace then counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
