-- The carpool ledger (table run_shares; docs/decisions/0010-run-shares-ledger.md).
--
-- The database keeps the ledger, so every writer does (replicas still on the previous
-- release during a rolling deploy, an operator's SQL): whenever a run's runner or its
-- being cancelled changes, its rows are rewritten from its orders, and a run counts only
-- while it has a runner and is not cancelled. The app sets the runner once (no order joins
-- a run after that, so the count is final) and cancels at most once. PL/pgSQL statements
-- take a fresh snapshot, so the count includes every order committed before the run's row
-- was updated.
CREATE OR REPLACE FUNCTION run_shares_follow_run() RETURNS TRIGGER
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

CREATE OR REPLACE TRIGGER run_shares_follow_run
AFTER UPDATE OF runner_user_id, status ON coffee_runs
FOR EACH ROW EXECUTE FUNCTION run_shares_follow_run();
