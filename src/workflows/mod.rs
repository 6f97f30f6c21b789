//! What users do, independent of how they asked (Slack now, the REST API later): each
//! workflow checks the rules and commits its state change, audit row, outbox event and
//! jobs in one transaction.

pub mod order_form;
pub mod place_order;
