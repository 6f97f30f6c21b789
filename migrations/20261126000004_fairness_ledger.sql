-- Fairness at scale (issue 7): one assignment reads each participant's history from one
-- index range, without visiting the runs or orders it summarises.

-- Take the strongest lock this migration needs first. Creating the foreign key below takes
-- a lock on coffee_runs that an order's later UPDATE waits for, and dropping the index
-- needs one the order's row lock blocks: upgrading mid-way deadlocked with live orders.
-- Waiting here for in-flight transactions instead is safe; give up rather than queue every
-- request behind a long one (the service retries the migration when it restarts). The
-- table is locked until the backfill and the index build commit: well under a second for
-- an office's years of runs.
SET LOCAL lock_timeout = '10s';
LOCK TABLE coffee_runs IN ACCESS EXCLUSIVE MODE;

-- The carpool policy's fair shares: one row per participant of every run that got a
-- runner and was not cancelled, with the run's number of participants (a share is
-- 1 / participants, summed as numeric so that equal debts stay equal for the tie-break).
-- A participant's shares over the fairness window are one range of the primary key
-- instead of a count of every past run's orders.
CREATE TABLE run_shares (
    workspace_id    VARCHAR(64)  NOT NULL,
    user_id         VARCHAR(64)  NOT NULL,
    run_created_at  TIMESTAMPTZ  NOT NULL,
    run_id          UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    participants    INTEGER      NOT NULL CHECK (participants > 0),
    PRIMARY KEY (workspace_id, user_id, run_created_at, run_id) INCLUDE (participants)
);
CREATE INDEX run_shares_run_id_idx ON run_shares (run_id);

-- The database keeps the ledger, so every writer does (replicas still on the previous
-- release during a rolling deploy, an operator's SQL): whenever a run's runner or its
-- being cancelled changes, its rows are rewritten from its orders, and a run counts only
-- while it has a runner and is not cancelled. The app sets the runner once (no order joins
-- a run after that, so the count is final) and cancels at most once. PL/pgSQL statements
-- take a fresh snapshot, so the count includes every order committed before the run's row
-- was updated.
CREATE FUNCTION run_shares_follow_run() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.runner_user_id IS NOT DISTINCT FROM NEW.runner_user_id
       AND (OLD.status = 'cancelled') = (NEW.status = 'cancelled') THEN
        RETURN NULL;
    END IF;
    DELETE FROM run_shares WHERE run_id = NEW.run_id;
    IF NEW.runner_user_id IS NOT NULL AND NEW.status <> 'cancelled' THEN
        INSERT INTO run_shares (workspace_id, user_id, run_created_at, run_id, participants)
        SELECT NEW.workspace_id, o.user_id, NEW.created_at, NEW.run_id, count(*) OVER ()
        FROM orders o WHERE o.run_id = NEW.run_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER run_shares_follow_run
AFTER UPDATE OF runner_user_id, status ON coffee_runs
FOR EACH ROW EXECUTE FUNCTION run_shares_follow_run();

INSERT INTO run_shares (workspace_id, user_id, run_created_at, run_id, participants)
SELECT r.workspace_id, o.user_id, r.created_at, r.run_id,
       count(*) OVER (PARTITION BY r.run_id)
FROM coffee_runs r
JOIN orders o ON o.run_id = r.run_id
WHERE r.runner_user_id IS NOT NULL AND r.status <> 'cancelled';

-- Runs made: cancelled runs leave the index and the run id rides along, so counting a
-- participant's runs in the window is an index-only scan.
DROP INDEX coffee_runs_fairness_idx;
CREATE INDEX coffee_runs_fairness_idx
    ON coffee_runs (workspace_id, runner_user_id, created_at) INCLUDE (run_id)
    WHERE runner_user_id IS NOT NULL AND status <> 'cancelled';
