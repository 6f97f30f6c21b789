-- Where the runner's DMs for a run went (the assignment DM and the reminder), so they can
-- be updated in place, without their Mark complete button, once the run is over.
CREATE TABLE runner_dms (
    run_id     UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    kind       VARCHAR(16)  NOT NULL CHECK (kind IN ('assignment', 'reminder')),
    channel_id VARCHAR(64)  NOT NULL,
    ts         VARCHAR(32)  NOT NULL,
    posted_at  TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (run_id, kind)
);
