//! Domain events (CONTRACT "Domain events"): one value feeds both the audit row and the
//! outbox row, so the two can never disagree.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{OrderInput, availability::Absence};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    RunCreated,
    OrderPlaced,
    RunnerAssigned,
    RunCompleted,
    RunCancelled,
    /// Audit only, like the three run controls below: no Kafka topic carries them.
    ReminderSent,
    Volunteered,
    OrdersClosed,
    OptedOut,
    /// A participant's answer to the post-run survey (👍 / 👎).
    SurveyAnswered,
    /// A candidate Slack said was out, passed over as runner.
    RunnerPassedOver,
}

impl EventKind {
    /// The Kafka `event_type`.
    pub fn event_type(self) -> &'static str {
        match self {
            EventKind::RunCreated => "coffee.run.created",
            EventKind::OrderPlaced => "coffee.order.placed",
            EventKind::RunnerAssigned => "coffee.runner.assigned",
            EventKind::RunCompleted => "coffee.run.completed",
            EventKind::RunCancelled => "coffee.run.cancelled",
            EventKind::ReminderSent => "coffee.reminder.sent",
            EventKind::Volunteered => "coffee.runner.volunteered",
            EventKind::OrdersClosed => "coffee.orders.closed",
            EventKind::OptedOut => "coffee.runner.opted_out",
            EventKind::SurveyAnswered => "coffee.survey.answered",
            EventKind::RunnerPassedOver => "coffee.runner.passed_over",
        }
    }

    /// The Kafka topic; `None` for events that are only audited.
    pub fn topic(self) -> Option<&'static str> {
        match self {
            EventKind::RunCreated | EventKind::OrderPlaced => Some("coffee.orders"),
            EventKind::RunnerAssigned => Some("coffee.assignments"),
            EventKind::RunCompleted | EventKind::RunCancelled => Some("coffee.completions"),
            EventKind::ReminderSent
            | EventKind::Volunteered
            | EventKind::OrdersClosed
            | EventKind::OptedOut
            | EventKind::SurveyAnswered
            | EventKind::RunnerPassedOver => None,
        }
    }

    /// The `audit_logs.event_type` (REQ-016).
    pub fn audit_type(self) -> &'static str {
        match self {
            EventKind::RunCreated => "run_created",
            EventKind::OrderPlaced => "order_placed",
            EventKind::RunnerAssigned => "runner_assigned",
            EventKind::RunCompleted => "run_completed",
            EventKind::RunCancelled => "run_cancelled",
            EventKind::ReminderSent => "reminder_sent",
            EventKind::Volunteered => "runner_volunteered",
            EventKind::OrdersClosed => "orders_closed",
            EventKind::OptedOut => "runner_opted_out",
            EventKind::SurveyAnswered => "survey_answered",
            EventKind::RunnerPassedOver => "runner_passed_over",
        }
    }
}

/// An answer to the post-run survey: was the run a good one?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyAnswer {
    Up,
    Down,
}

impl SurveyAnswer {
    pub const ALL: [SurveyAnswer; 2] = [SurveyAnswer::Up, SurveyAnswer::Down];

    /// The stored value and the `survey_answers_total` label.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyAnswer::Up => "up",
            SurveyAnswer::Down => "down",
        }
    }
}

/// Where an event happened: the run and its Slack channel.
#[derive(Debug, Clone)]
pub struct RunScope {
    pub run_id: Uuid,
    pub workspace_id: String,
    pub channel_id: String,
}

/// An event type's own fields (CONTRACT's "extra fields"), written beside the common ones.
/// Typed rather than a `serde_json::Value` tree: an order serializes two events and their
/// trees were a measurable share of the service's CPU under load.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventFields {
    RunCreated {
        initiator_user_id: String,
    },
    OrderPlaced {
        user_id: String,
        order_id: Uuid,
        drink_type: &'static str,
        size: &'static str,
        customizations: Option<String>,
    },
    RunnerAssigned {
        runner_user_id: String,
        volunteered: bool,
    },
    /// `RunCompleted` and `ReminderSent`.
    RunnerOnly {
        runner_user_id: String,
    },
    RunCancelled {
        cancelled_by_user_id: String,
    },
    /// The run controls: `runner_volunteered`, `orders_closed`, `runner_opted_out`.
    RunControl {
        user_id: String,
    },
    /// `survey_answered`: `up` or `down`.
    SurveyAnswered {
        user_id: String,
        answer: &'static str,
    },
    /// `runner_passed_over`: why (`away`, `dnd`, `status`).
    RunnerPassedOver {
        user_id: String,
        reason: &'static str,
    },
}

#[derive(Debug, Clone)]
pub struct DomainEvent {
    pub event_id: Uuid,
    pub kind: EventKind,
    pub scope: RunScope,
    pub timestamp: DateTime<Utc>,
    /// Who caused it; the audit row's `user_id`.
    pub actor_user_id: Option<String>,
    /// The event type's own fields.
    pub fields: EventFields,
}

/// The Kafka value and the audit payload:
/// `{event_id, event_type, run_id, workspace_id, channel_id, timestamp, …fields}`.
#[derive(Debug, Serialize)]
pub struct EventPayload<'a> {
    event_id: Uuid,
    event_type: &'static str,
    run_id: Uuid,
    workspace_id: &'a str,
    channel_id: &'a str,
    /// RFC 3339 in UTC with milliseconds, as CONTRACT shows it.
    #[serde(serialize_with = "rfc3339_millis")]
    timestamp: DateTime<Utc>,
    #[serde(flatten)]
    fields: &'a EventFields,
}

fn rfc3339_millis<S: serde::Serializer>(at: &DateTime<Utc>, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl DomainEvent {
    fn new(kind: EventKind, scope: &RunScope, actor: &str, fields: EventFields) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            kind,
            scope: scope.clone(),
            timestamp: Utc::now(),
            actor_user_id: Some(actor.to_owned()),
            fields,
        }
    }

    pub fn run_created(scope: &RunScope, initiator_user_id: &str) -> Self {
        let fields = EventFields::RunCreated {
            initiator_user_id: initiator_user_id.to_owned(),
        };
        Self::new(EventKind::RunCreated, scope, initiator_user_id, fields)
    }

    pub fn order_placed(
        scope: &RunScope,
        user_id: &str,
        order_id: Uuid,
        order: &OrderInput,
    ) -> Self {
        let fields = EventFields::OrderPlaced {
            user_id: user_id.to_owned(),
            order_id,
            drink_type: order.drink_type.as_str(),
            size: order.size.as_str(),
            customizations: order.customizations.as_ref().map(|c| c.as_str().to_owned()),
        };
        Self::new(EventKind::OrderPlaced, scope, user_id, fields)
    }

    pub fn runner_assigned(scope: &RunScope, runner_user_id: &str, volunteered: bool) -> Self {
        let fields = EventFields::RunnerAssigned {
            runner_user_id: runner_user_id.to_owned(),
            volunteered,
        };
        Self::new(EventKind::RunnerAssigned, scope, runner_user_id, fields)
    }

    /// The runner's run, marked complete by `completed_by` (the runner, or an admin).
    pub fn run_completed(scope: &RunScope, runner_user_id: &str, completed_by: &str) -> Self {
        let fields = EventFields::RunnerOnly {
            runner_user_id: runner_user_id.to_owned(),
        };
        Self::new(EventKind::RunCompleted, scope, completed_by, fields)
    }

    pub fn run_cancelled(scope: &RunScope, cancelled_by_user_id: &str) -> Self {
        let fields = EventFields::RunCancelled {
            cancelled_by_user_id: cancelled_by_user_id.to_owned(),
        };
        Self::new(EventKind::RunCancelled, scope, cancelled_by_user_id, fields)
    }

    pub fn reminder_sent(scope: &RunScope, runner_user_id: &str) -> Self {
        let fields = EventFields::RunnerOnly {
            runner_user_id: runner_user_id.to_owned(),
        };
        Self::new(EventKind::ReminderSent, scope, runner_user_id, fields)
    }

    /// One of the run controls (`Volunteered`, `OrdersClosed`, `OptedOut`) by `user_id`.
    pub fn run_control(kind: EventKind, scope: &RunScope, user_id: &str) -> Self {
        let fields = EventFields::RunControl {
            user_id: user_id.to_owned(),
        };
        Self::new(kind, scope, user_id, fields)
    }

    pub fn survey_answered(scope: &RunScope, user_id: &str, answer: SurveyAnswer) -> Self {
        let fields = EventFields::SurveyAnswered {
            user_id: user_id.to_owned(),
            answer: answer.as_str(),
        };
        Self::new(EventKind::SurveyAnswered, scope, user_id, fields)
    }

    /// `user_id` was out (`absence`) and passed over as the run's runner; the audit row is
    /// theirs.
    pub fn runner_passed_over(scope: &RunScope, user_id: &str, absence: Absence) -> Self {
        let fields = EventFields::RunnerPassedOver {
            user_id: user_id.to_owned(),
            reason: absence.as_str(),
        };
        Self::new(EventKind::RunnerPassedOver, scope, user_id, fields)
    }

    /// The Kafka value and the audit payload, serialized where it is written.
    pub fn payload(&self) -> EventPayload<'_> {
        EventPayload {
            event_id: self.event_id,
            event_type: self.kind.event_type(),
            run_id: self.scope.run_id,
            workspace_id: &self.scope.workspace_id,
            channel_id: &self.scope.channel_id,
            timestamp: self.timestamp,
            fields: &self.fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderInput;
    use serde_json::json;

    #[test]
    fn order_placed_carries_the_contract_fields() {
        let scope = RunScope {
            run_id: Uuid::new_v4(),
            workspace_id: "T1".into(),
            channel_id: "C1".into(),
        };
        let order = OrderInput::parse(Some("Latte"), Some("Large"), Some("oat milk")).unwrap();
        let order_id = Uuid::new_v4();
        let event = DomainEvent::order_placed(&scope, "U1", order_id, &order);
        let payload = serde_json::to_value(event.payload()).unwrap();
        assert_eq!(payload["event_type"], "coffee.order.placed");
        assert_eq!(payload["run_id"], json!(scope.run_id));
        assert_eq!(payload["workspace_id"], "T1");
        assert_eq!(payload["channel_id"], "C1");
        assert_eq!(payload["user_id"], "U1");
        assert_eq!(payload["order_id"], json!(order_id));
        assert_eq!(payload["drink_type"], "Latte");
        assert_eq!(payload["size"], "Large");
        assert_eq!(payload["customizations"], "oat milk");
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(event.kind.topic(), Some("coffee.orders"));
        assert_eq!(event.kind.audit_type(), "order_placed");
    }

    #[test]
    fn an_order_without_customizations_says_null() {
        let scope = RunScope {
            run_id: Uuid::new_v4(),
            workspace_id: "T1".into(),
            channel_id: "C1".into(),
        };
        let order = OrderInput::parse(Some("Mocha"), Some("Small"), None).unwrap();
        let event = DomainEvent::order_placed(&scope, "U1", Uuid::new_v4(), &order);
        let payload = serde_json::to_value(event.payload()).unwrap();
        assert_eq!(
            payload.get("customizations"),
            Some(&serde_json::Value::Null)
        );
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn topics_follow_the_contract() {
        for (kind, event_type, topic, audit) in [
            (
                EventKind::RunCreated,
                "coffee.run.created",
                Some("coffee.orders"),
                "run_created",
            ),
            (
                EventKind::OrderPlaced,
                "coffee.order.placed",
                Some("coffee.orders"),
                "order_placed",
            ),
            (
                EventKind::RunnerAssigned,
                "coffee.runner.assigned",
                Some("coffee.assignments"),
                "runner_assigned",
            ),
            (
                EventKind::RunCompleted,
                "coffee.run.completed",
                Some("coffee.completions"),
                "run_completed",
            ),
            (
                EventKind::RunCancelled,
                "coffee.run.cancelled",
                Some("coffee.completions"),
                "run_cancelled",
            ),
            (
                EventKind::ReminderSent,
                "coffee.reminder.sent",
                None,
                "reminder_sent",
            ),
        ] {
            assert_eq!(kind.event_type(), event_type);
            assert_eq!(kind.topic(), topic);
            assert_eq!(kind.audit_type(), audit);
        }
    }
}
