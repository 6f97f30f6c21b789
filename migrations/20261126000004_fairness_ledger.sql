-- Fairness at scale (issue 7): one assignment reads each participant's history from one
-- index range, without visiting the runs or orders it summarises.

-- The carpool policy's fair shares, one row per participant of every run that got a
-- runner and was not cancelled: 1 / the run's participants. Written when the runner is
-- set (no order joins an assigned run) and deleted when such a run is cancelled, so a
-- participant's shares over the fairness window are one range of the primary key instead
-- of a count of every past run's orders.
CREATE TABLE run_shares (
    workspace_id    VARCHAR(64)  NOT NULL,
    user_id         VARCHAR(64)  NOT NULL,
    run_created_at  TIMESTAMPTZ  NOT NULL,
    run_id          UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    share           FLOAT8       NOT NULL CHECK (share > 0 AND share <= 1),
    PRIMARY KEY (workspace_id, user_id, run_created_at, run_id) INCLUDE (share)
);
CREATE INDEX run_shares_run_id_idx ON run_shares (run_id);

INSERT INTO run_shares (workspace_id, user_id, run_created_at, run_id, share)
SELECT r.workspace_id, o.user_id, r.created_at, r.run_id,
       1.0 / count(*) OVER (PARTITION BY r.run_id)
FROM coffee_runs r
JOIN orders o ON o.run_id = r.run_id
WHERE r.runner_user_id IS NOT NULL AND r.status <> 'cancelled';

-- Runs made: cancelled runs leave the index and the run id rides along, so counting a
-- participant's runs in the window is an index-only scan.
DROP INDEX coffee_runs_fairness_idx;
CREATE INDEX coffee_runs_fairness_idx
    ON coffee_runs (workspace_id, runner_user_id, created_at) INCLUDE (run_id)
    WHERE runner_user_id IS NOT NULL AND status <> 'cancelled';
