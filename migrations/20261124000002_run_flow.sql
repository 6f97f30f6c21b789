-- The coffee run after ordering: assignment, run controls, history, Events API retries.

-- `I'll go`: the runner took the run themselves (carried by coffee.runner.assigned).
ALTER TABLE coffee_runs ADD COLUMN volunteered BOOLEAN NOT NULL DEFAULT FALSE;

-- `Can't run today`: participants left out of this run's runner candidates.
CREATE TABLE run_opt_outs (
    run_id     UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    user_id    VARCHAR(64)  NOT NULL REFERENCES users (user_id),
    created_at TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (run_id, user_id)
);
CREATE INDEX run_opt_outs_user_id_idx ON run_opt_outs (user_id);

-- /coffee-history finds a user's runs as runner too.
CREATE INDEX coffee_runs_runner_user_id_idx ON coffee_runs (runner_user_id, created_at DESC);
-- …and as participant: orders by user (exists) joined to runs.

-- Events API deliveries already handled: Slack retries an event it thinks we missed.
CREATE TABLE slack_events (
    event_id    VARCHAR(64)  PRIMARY KEY,
    received_at TIMESTAMPTZ  NOT NULL DEFAULT NOW()
);
CREATE INDEX slack_events_received_at_idx ON slack_events (received_at);
