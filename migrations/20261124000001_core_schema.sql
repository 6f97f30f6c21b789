-- CoffeeBuddy's data model (REQ-001, CONTRACT "Data").
-- Timestamps are TIMESTAMPTZ defaulting to NOW(); ids come from gen_random_uuid() (built in since PG 13).

CREATE TYPE run_status AS ENUM ('active', 'completed', 'cancelled');

CREATE TABLE users (
    user_id      VARCHAR(64)  PRIMARY KEY,          -- Slack user id
    display_name VARCHAR(255),
    email        VARCHAR(255),
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);

CREATE TABLE coffee_runs (
    run_id            UUID         PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id      VARCHAR(64)  NOT NULL,
    channel_id        VARCHAR(64)  NOT NULL,
    initiator_user_id VARCHAR(64)  NOT NULL REFERENCES users (user_id),
    runner_user_id    VARCHAR(64)  REFERENCES users (user_id),
    status            run_status   NOT NULL DEFAULT 'active',
    created_at        TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    assigned_at       TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ,
    cancelled_at      TIMESTAMPTZ,
    reminder_sent_at  TIMESTAMPTZ,
    -- `ts` of the run's root message in the channel; replies thread under it.
    thread_ts         VARCHAR(32),
    -- Bumped by every order. A root-message refresh job carries the version it was
    -- queued for and skips itself when a newer one is queued behind it.
    summary_version   INTEGER      NOT NULL DEFAULT 0
);

-- At most one active run per channel: concurrent first orders race on this index
-- and all but one join the winner's run.
CREATE UNIQUE INDEX coffee_runs_one_active_per_channel
    ON coffee_runs (workspace_id, channel_id) WHERE status = 'active';
CREATE INDEX coffee_runs_workspace_id_idx ON coffee_runs (workspace_id);
CREATE INDEX coffee_runs_status_idx ON coffee_runs (status);
CREATE INDEX coffee_runs_initiator_user_id_idx ON coffee_runs (initiator_user_id, created_at DESC);
-- The fairness query counts runs per runner in one workspace over a time window.
CREATE INDEX coffee_runs_fairness_idx
    ON coffee_runs (workspace_id, runner_user_id, created_at)
    WHERE runner_user_id IS NOT NULL;

CREATE TABLE orders (
    order_id       UUID          PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id         UUID          NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    user_id        VARCHAR(64)   NOT NULL REFERENCES users (user_id),
    drink_type     VARCHAR(100)  NOT NULL,
    size           VARCHAR(20)   NOT NULL,
    customizations TEXT,
    created_at     TIMESTAMPTZ   NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ   NOT NULL DEFAULT NOW(),
    -- One order per user per run; its leading column also serves lookups by run_id.
    CONSTRAINT orders_one_per_user_per_run UNIQUE (run_id, user_id)
);
-- "Active in the last N days" and history look orders up by user and time.
CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at DESC);

CREATE TABLE user_preferences (
    preference_id   UUID          PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         VARCHAR(64)   NOT NULL REFERENCES users (user_id),
    drink_type      VARCHAR(100)  NOT NULL,
    size            VARCHAR(20)   NOT NULL,
    -- The customizations of the latest order of this drink and size.
    customizations  TEXT,
    order_count     INTEGER       NOT NULL DEFAULT 1,
    last_ordered_at TIMESTAMPTZ   NOT NULL DEFAULT NOW(),
    -- REQ-013: a preference is a (user, drink, size); its leading column serves lookups by user.
    CONSTRAINT user_preferences_user_drink_size UNIQUE (user_id, drink_type, size)
);

CREATE TABLE audit_logs (
    log_id     UUID         PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type VARCHAR(50)  NOT NULL,
    user_id    VARCHAR(64)  REFERENCES users (user_id),
    run_id     UUID         REFERENCES coffee_runs (run_id) ON DELETE SET NULL,
    payload    JSONB        NOT NULL,
    timestamp  TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX audit_logs_timestamp_idx ON audit_logs (timestamp);
CREATE INDEX audit_logs_run_id_idx ON audit_logs (run_id);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id);

-- Transactional outbox: written in the same transaction as the state change; the relay
-- publishes rows in `id` order and stamps `published_at` once the broker confirmed them.
CREATE TABLE outbox (
    id           BIGINT       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     UUID         NOT NULL UNIQUE,
    event_type   VARCHAR(50)  NOT NULL,
    topic        VARCHAR(100) NOT NULL,
    message_key  VARCHAR(100) NOT NULL,
    payload      JSONB        NOT NULL,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- Shared pacing of outbound Slack calls across every replica (GCRA): `tat` is the
-- theoretical arrival time of the next call allowed by SLACK_RATE_LIMIT_PER_MIN.
CREATE TABLE slack_rate_limit (
    id  SMALLINT     PRIMARY KEY CHECK (id = 1),
    tat TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
INSERT INTO slack_rate_limit (id) VALUES (1);
