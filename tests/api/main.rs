//! Integration tests: one binary, each test against its own PostgreSQL database, a fake
//! Slack Web API and the real service. `TEST_LOG=1` shows the service's logs.

mod architecture;
mod circuit_breaker;
mod coffee_command;
mod coffee_run;
mod coffees_here;
mod connection_limits;
mod demo;
mod deploy_files;
mod edge_input;
mod fairness;
mod forward_proxy;
mod helpers;
mod http_surface;
mod job_panics;
mod job_queue_schema;
mod kafka;
mod load_shedding;
mod maintenance;
mod oidc;
mod order_submission;
mod outbound_proxy;
mod proxy;
mod rest_api;
mod rest_workspaces;
mod root_message;
mod schema;
mod secrets_in_logs;
mod shutdown;
mod slack_delivery;
mod socket_mode;
mod success_metrics;
mod survey;
mod tls;
mod vault;
mod warm_connections;
