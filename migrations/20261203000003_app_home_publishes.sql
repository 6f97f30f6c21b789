-- One queued Home tab publish per user and workspace (storage::app_home): an
-- `app_home_opened` while one is queued adds nothing. The job deletes its row before it
-- reads; a row older than a minute (its job lost or given up) no longer holds the next one
-- back.
CREATE TABLE app_home_publishes (
    workspace_id VARCHAR(64)  NOT NULL,
    user_id      VARCHAR(64)  NOT NULL,
    queued_at    TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (workspace_id, user_id)
);
