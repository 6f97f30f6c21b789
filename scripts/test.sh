#!/usr/bin/env bash
# Runs CoffeeBuddy's whole test suite: makes sure the local PostgreSQL answers (starting it
# if it does not) and the Kafka-protocol test broker runs (installing it the first time),
# then runs every unit and integration test against them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
scripts/test-broker.sh start

# Unit tests check the configuration defaults, so the service's own variables must not
# leak in from the caller's shell, nor a proxy the fakes on 127.0.0.1 cannot be reached
# through. Tests find PostgreSQL through TEST_DATABASE_URL.
for var in DATABASE_URL DB_MAX_CONNECTIONS DB_MIN_CONNECTIONS DB_ACQUIRE_TIMEOUT_SECS BIND_ADDR \
    SLACK_SIGNING_SECRET SLACK_BOT_TOKEN SLACK_APP_TOKEN SLACK_API_URL SLACK_RATE_LIMIT_PER_MIN \
    KAFKA_BROKERS KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_SSL_CA_LOCATION \
    KAFKA_SSL_CERTIFICATE_LOCATION KAFKA_SSL_KEY_LOCATION KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD \
    HTTPS_PROXY HTTP_PROXY NO_PROXY https_proxy http_proxy no_proxy ALL_PROXY all_proxy \
    KAFKA_CREATE_TOPICS VAULT_ADDR VAULT_ROLE VAULT_AUTH_MOUNT VAULT_KV_MOUNT VAULT_K8S_TOKEN_PATH \
    OIDC_ISSUER OIDC_JWKS_URL OIDC_AUDIENCE OIDC_WORKSPACE_CLAIM ASSIGN_WINDOW_SECS ASSIGN_MAX_ORDERS REMINDER_DELAY_SECS \
    FAIRNESS_WINDOW_DAYS ACTIVE_WINDOW_DAYS AUDIT_RETENTION_DAYS FAIRNESS_POLICY \
    RUNNER_AVAILABILITY_CHECK RUNNER_AWAY_STATUSES RUNNER_AVAILABILITY_BUDGET_MS \
    CIRCUIT_FAILURE_THRESHOLD CIRCUIT_OPEN_SECS LOG_FORMAT MIGRATE_ON_START PRUNE_AUDIT_SCHEDULE \
    MAX_REQUESTS_IN_FLIGHT HTTP_HEADER_TIMEOUT_SECS HTTP_BODY_TIMEOUT_SECS HTTP_IDLE_TIMEOUT_SECS; do
  unset "$var"
done

exec cargo test --all-targets "$@"
