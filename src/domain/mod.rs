//! Types and rules of coffee runs; no I/O here.

pub mod availability;
mod events;
pub mod fairness;
mod ids;
mod order;
mod retry;
mod run;

pub use events::{DomainEvent, EventFields, EventKind, EventPayload, RunScope, SurveyAnswer};
pub use ids::{
    DISPLAY_NAME_MAX_CHARS, DisplayNameError, EVENT_ID_MAX_CHARS, EventIdError, SLACK_ID_MAX_CHARS,
    SlackIdError, check_display_name, check_event_id, check_slack_id,
};
pub use order::{
    Customizations, DrinkType, OrderField, OrderInput, OrderInputError, Size, describe_order,
};
pub use retry::RetryPolicy;
pub use run::{RunStatus, UnknownRunStatus};
