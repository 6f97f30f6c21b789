-- CoffeeBuddy's tables (REQ-001, CONTRACT "Data"). Schema only: the SQL functions and
-- triggers live one per file under src/storage/sql/ and src/storage/job_queue/sql/ and are
-- applied after these migrations on every `migrate` (storage::schema).
-- Timestamps are TIMESTAMPTZ defaulting to NOW(); ids come from gen_random_uuid().

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
    -- `I'll go`: the runner took the run themselves (carried by coffee.runner.assigned).
    volunteered       BOOLEAN      NOT NULL DEFAULT FALSE,
    -- Set while a redraw of the root message is queued (mark_summary_stale.sql).
    summary_refresh_queued_at TIMESTAMPTZ
);

-- At most one active run per channel: concurrent first orders race on this index
-- and all but one join the winner's run.
CREATE UNIQUE INDEX coffee_runs_one_active_per_channel
    ON coffee_runs (workspace_id, channel_id) WHERE status = 'active';
CREATE INDEX coffee_runs_workspace_id_idx ON coffee_runs (workspace_id);
CREATE INDEX coffee_runs_status_idx ON coffee_runs (status);
-- /coffee-history finds a user's runs as initiator, as runner, and as participant
-- (orders by user).
CREATE INDEX coffee_runs_initiator_user_id_idx ON coffee_runs (initiator_user_id, created_at DESC);
CREATE INDEX coffee_runs_runner_user_id_idx ON coffee_runs (runner_user_id, created_at DESC);
-- Runs made per runner in a workspace's fairness window: cancelled runs stay out and the
-- run id rides along, so counting a participant's runs is an index-only scan.
CREATE INDEX coffee_runs_fairness_idx
    ON coffee_runs (workspace_id, runner_user_id, created_at) INCLUDE (run_id)
    WHERE runner_user_id IS NOT NULL AND status <> 'cancelled';

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

-- `Can't run today`: participants left out of this run's runner candidates.
CREATE TABLE run_opt_outs (
    run_id     UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    user_id    VARCHAR(64)  NOT NULL REFERENCES users (user_id),
    created_at TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (run_id, user_id)
);
CREATE INDEX run_opt_outs_user_id_idx ON run_opt_outs (user_id);

-- The carpool policy's fair shares, kept by the trigger of run_shares_follow_run.sql: one
-- row per participant of every run that got a runner and was not cancelled, with the
-- run's number of participants. A participant's shares over the fairness window are one
-- range of the primary key (docs/decisions/0010-run-shares-ledger.md).
CREATE TABLE run_shares (
    workspace_id    VARCHAR(64)  NOT NULL,
    user_id         VARCHAR(64)  NOT NULL,
    run_created_at  TIMESTAMPTZ  NOT NULL,
    run_id          UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    participants    INTEGER      NOT NULL CHECK (participants > 0),
    PRIMARY KEY (workspace_id, user_id, run_created_at, run_id) INCLUDE (participants)
);
CREATE INDEX run_shares_run_id_idx ON run_shares (run_id);

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

-- Events API deliveries already handled: Slack retries an event it thinks we missed.
CREATE TABLE slack_events (
    event_id    VARCHAR(64)  PRIMARY KEY,
    received_at TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX slack_events_received_at_idx ON slack_events (received_at);

-- Shared pacing of outbound Slack calls across every replica (GCRA, reserve_slack_slot.sql):
-- `tat` is the theoretical arrival time of the next call SLACK_RATE_LIMIT_PER_MIN allows.
CREATE TABLE slack_rate_limit (
    id  SMALLINT     PRIMARY KEY CHECK (id = 1),
    tat TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
INSERT INTO slack_rate_limit (id) VALUES (1);
