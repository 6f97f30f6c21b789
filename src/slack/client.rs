//! The Slack Web API client. It only classifies outcomes; retrying is the job's business
//! (`jobs::send_slack_message`), so the same client serves `views.open`, which must not wait.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{StatusCode, Url, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::{
    domain::availability::{DndState, SlackStatus},
    secrets::Secrets,
};

/// Errors Slack answers that no retry will fix, from the error lists of the methods the
/// jobs call (`chat.postMessage`, `chat.update`, `chat.postEphemeral`) and Slack's common
/// errors. Anything else, an unknown code included, is retried under the job's policy: a
/// retry wasted on a permanent error costs a few calls, a message given up on a transient
/// one is lost. Slack's own transient codes (`internal_error`, `fatal_error`,
/// `service_unavailable`, `request_timeout`, `team_added_to_org`, `ratelimited`) are
/// deliberately absent.
const PERMANENT_ERRORS: &[&str] = &[
    // The token or the app: only an operator can fix these.
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "access_denied",
    "accesslimited",
    "ekm_access_denied",
    "enterprise_is_restricted",
    "team_access_not_granted",
    "org_login_required",
    "two_factor_setup_required",
    "deprecated_endpoint",
    "method_deprecated",
    // Where the message goes.
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "user_not_in_channel",
    "cannot_dm_bot",
    "messages_tab_disabled",
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    "restricted_action_thread_locked",
    "cannot_reply_to_message",
    // What the message is: the same request fails the same way.
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "too_many_attachments",
    "attachment_payload_limit_exceeded",
    "invalid_arguments",
    "invalid_arg_name",
    "invalid_array_arg",
    "invalid_charset",
    "invalid_form_data",
    "invalid_post_type",
    "missing_post_type",
    // `views.open` (not a job, but classified alike).
    "invalid_trigger_id",
    "expired_trigger_id",
    // `chat.update` of a root message that is gone or too old to edit.
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackApiError {
    /// HTTP 429; `retry_after` is Slack's `Retry-After` header when it sent one.
    #[error("Slack rate-limited the call")]
    RateLimited { retry_after: Option<Duration> },
    /// Retrying cannot help (`channel_not_found`, `invalid_auth`, …).
    #[error("Slack refused the call: {0}")]
    Permanent(String),
    /// Network trouble, a 5xx or a transient Slack error: worth retrying.
    #[error("Slack call failed: {0}")]
    Transient(String),
}

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: Url,
    /// Read on every call: Vault may rotate the bot token.
    secrets: Secrets,
}

impl SlackClient {
    pub fn new(base_url: Url, secrets: Secrets) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("coffeebuddy/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            http,
            base_url,
            secrets,
        }
    }

    /// `views.open`: Slack's trigger ids live 3 seconds, so this call gets 2.5.
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<(), SlackApiError> {
        self.call(
            "views.open",
            &json!({"trigger_id": trigger_id, "view": view}),
            Some(Duration::from_millis(2_500)),
        )
        .await
        .map(drop)
    }

    /// `views.publish`: `view` becomes `user_id`'s Home tab.
    pub async fn publish_view(&self, user_id: &str, view: &Value) -> Result<(), SlackApiError> {
        let body = json!({"user_id": user_id, "view": view});
        self.call("views.publish", &body, None).await.map(drop)
    }

    /// `chat.postMessage`; `channel` may be a user id, which opens a DM.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: Option<&Value>,
        thread_ts: Option<&str>,
    ) -> Result<PostedMessage, SlackApiError> {
        let mut body = json!({"channel": channel, "text": text});
        if let Some(blocks) = blocks {
            body["blocks"] = blocks.clone();
        }
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body, None).await?;
        match (answer["channel"].as_str(), answer["ts"].as_str()) {
            (Some(channel), Some(ts)) => Ok(PostedMessage {
                channel: channel.to_owned(),
                ts: ts.to_owned(),
            }),
            _ => Err(SlackApiError::Transient(
                "chat.postMessage answered ok without channel and ts".into(),
            )),
        }
    }

    /// `chat.postEphemeral`: a message only `user` sees, in `channel`.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackApiError> {
        let body = json!({"channel": channel, "user": user, "text": text});
        self.call("chat.postEphemeral", &body, None).await.map(drop)
    }

    /// `chat.update` of a message the bot posted.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: Option<&Value>,
    ) -> Result<(), SlackApiError> {
        let mut body = json!({"channel": channel, "ts": ts, "text": text});
        if let Some(blocks) = blocks {
            body["blocks"] = blocks.clone();
        }
        self.call("chat.update", &body, None).await.map(drop)
    }

    /// `apps.connections.open` with the app-level token (`xapp-…`): the WebSocket URL of a
    /// new Socket Mode connection.
    pub async fn connections_open(&self, app_token: &SecretString) -> Result<Url, SlackApiError> {
        let answer = self
            .call_with(app_token, "apps.connections.open", &json!({}), None)
            .await?;
        let url = answer["url"].as_str().ok_or_else(|| {
            SlackApiError::Transient("apps.connections.open: no url in the answer".into())
        })?;
        Url::parse(url)
            .map_err(|e| SlackApiError::Transient(format!("apps.connections.open: bad url: {e}")))
    }

    /// `users.info`: the user's status (`users:read`).
    pub async fn user_status(
        &self,
        user: &str,
        timeout: Duration,
    ) -> Result<SlackStatus, SlackApiError> {
        let answer = self
            .call("users.info", Body::Form(&[("user", user)]), Some(timeout))
            .await?;
        let profile = &answer["user"]["profile"];
        let text = |field: &str| profile[field].as_str().unwrap_or_default().to_owned();
        Ok(SlackStatus {
            emoji: text("status_emoji"),
            text: text("status_text"),
            expires_at: unix_time(&profile["status_expiration"]),
        })
    }

    /// `users.getPresence` (`users:read`): whether Slack counts the user as away.
    pub async fn user_is_away(&self, user: &str, timeout: Duration) -> Result<bool, SlackApiError> {
        let answer = self
            .call(
                "users.getPresence",
                Body::Form(&[("user", user)]),
                Some(timeout),
            )
            .await?;
        match answer["presence"].as_str() {
            Some(presence) => Ok(presence == "away"),
            None => Err(SlackApiError::Transient(
                "users.getPresence answered ok without presence".into(),
            )),
        }
    }

    /// `dnd.info` (`dnd:read`): the user's Do Not Disturb snooze and schedule.
    pub async fn dnd_state(
        &self,
        user: &str,
        timeout: Duration,
    ) -> Result<DndState, SlackApiError> {
        let answer = self
            .call("dnd.info", Body::Form(&[("user", user)]), Some(timeout))
            .await?;
        let time = |field: &str| unix_time(&answer[field]);
        let snoozed_until = match answer["snooze_enabled"].as_bool() {
            Some(true) => time("snooze_endtime"),
            _ => None,
        };
        let scheduled = match answer["dnd_enabled"].as_bool() {
            Some(true) => time("next_dnd_start_ts").zip(time("next_dnd_end_ts")),
            _ => None,
        };
        Ok(DndState {
            snoozed_until,
            scheduled,
        })
    }

    async fn call(
        &self,
        method: &str,
        body: impl Into<Body<'_>>,
        timeout: Option<Duration>,
    ) -> Result<Value, SlackApiError> {
        let token = self.secrets.bot_token().ok_or_else(|| {
            SlackApiError::Permanent("not_authed: SLACK_BOT_TOKEN is not set".into())
        })?;
        self.call_with(&token, method, body, timeout).await
    }

    async fn call_with(
        &self,
        token: &SecretString,
        method: &str,
        body: impl Into<Body<'_>>,
        timeout: Option<Duration>,
    ) -> Result<Value, SlackApiError> {
        let url = self
            .base_url
            .join(method)
            .map_err(|e| SlackApiError::Permanent(format!("bad method URL: {e}")))?;
        let request = self.http.post(url).bearer_auth(token.expose_secret());
        let mut request = match body.into() {
            Body::Json(body) => request.json(body),
            Body::Form(fields) => request.form(fields),
        };
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SlackApiError::Transient(format!("{method}: {}", without_url(e))))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(SlackApiError::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(SlackApiError::Transient(format!("{method}: HTTP {status}")));
        }
        let answer: Value = match response.json().await {
            Ok(answer) => answer,
            // A 4xx without Slack's JSON (a proxy, a wrong URL) will not heal by retrying.
            Err(_) if status.is_client_error() => {
                return Err(SlackApiError::Permanent(format!("{method}: HTTP {status}")));
            }
            Err(e) => {
                return Err(SlackApiError::Transient(format!(
                    "{method}: unreadable answer: {}",
                    without_url(e)
                )));
            }
        };
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        if !status.is_success() || is_permanent(error) {
            Err(SlackApiError::Permanent(format!("{method}: {error}")))
        } else {
            Err(SlackApiError::Transient(format!("{method}: {error}")))
        }
    }
}

/// A call's arguments: JSON for the methods that post, form fields for the reads, which
/// Slack documents with form arguments only.
enum Body<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

impl<'a> From<&'a Value> for Body<'a> {
    fn from(body: &'a Value) -> Self {
        Body::Json(body)
    }
}

/// A Slack timestamp in Unix seconds; Slack's 0 (and anything unreadable) is none.
fn unix_time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_i64()
        .filter(|at| *at > 0)
        .and_then(|at| DateTime::from_timestamp(at, 0))
}

/// reqwest errors print their URL; ours carry no secrets, but keep messages short.
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

/// Whether Slack's `error` code says the same call will fail again ([`PERMANENT_ERRORS`]).
fn is_permanent(error: &str) -> bool {
    PERMANENT_ERRORS.contains(&error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_no_retry_fixes_are_permanent() {
        for error in [
            "channel_not_found",
            "messages_tab_disabled",
            "no_text",
            "invalid_blocks_format",
            "team_access_not_granted",
            "cannot_dm_bot",
            "edit_window_closed",
        ] {
            assert!(is_permanent(error), "{error}");
        }
    }

    #[test]
    fn slacks_transient_errors_and_unknown_codes_are_retried() {
        for error in [
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
            "team_added_to_org",
            "ratelimited",
            "a_code_slack_adds_next_year",
        ] {
            assert!(!is_permanent(error), "{error}");
        }
    }
}
