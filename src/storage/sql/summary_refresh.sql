-- A redraw of a run's root message starts and ends in one round trip each
-- (storage::runs::SummaryTurn; docs/decisions/0011-root-message-refresh-turn.md): between
-- them, only the Slack call.

-- The advisory lock key of a run's turn to redraw its root message. Replicas of every
-- release take turns by this key: do not change its spelling.
CREATE OR REPLACE FUNCTION summary_turn_key(run UUID) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('run-summary:' || run::text, 0)
$$;

-- Takes the run's turn (a session advisory lock that outlives this statement), claims the
-- queued refresh, reads the run and its orders, and reserves a Slack slot.
--
-- `taken` is false when another refresh holds the turn; nothing else is then done. A run
-- that does not exist comes back with `run_id` NULL and no slot reserved. Otherwise the
-- row is the run as the claim left it, its orders as `lines` (a JSON array in the order
-- they were placed) and the slot.
--
-- The orders are read by a statement after the claim, and PL/pgSQL gives each statement
-- a fresh snapshot: an order that committed while the claim waited for the run's row lock
-- is in `lines`, and one that commits later finds the mark clear and queues its own
-- refresh. The claim comes before the slot so that a busy pacer row never holds up the
-- claim; the run's row stays locked until this commits, which is why the commit is
-- asynchronous: nothing here needs to wait for the WAL flush. The claim and the slot only
-- ever matter together with the job's acknowledgement, a later synchronous commit, which
-- flushes them too; after a crash that lost them the job is simply run again.
CREATE OR REPLACE FUNCTION begin_summary_refresh(run UUID, slot_secs FLOAT8, max_wait_secs FLOAT8)
RETURNS TABLE (taken BOOLEAN, slot_wait_secs FLOAT8, slot_reserved BOOLEAN, lines JSONB,
               run_id UUID, workspace_id TEXT, channel_id TEXT, initiator_user_id TEXT,
               runner_user_id TEXT, status TEXT, created_at TIMESTAMPTZ, thread_ts TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    taken := pg_try_advisory_lock(summary_turn_key(run));
    IF NOT taken THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SET LOCAL synchronous_commit = off;
    UPDATE coffee_runs r SET summary_refresh_queued_at = NULL
    WHERE r.run_id = run
    RETURNING r.run_id, r.workspace_id, r.channel_id, r.initiator_user_id,
              r.runner_user_id, r.status::text, r.created_at, r.thread_ts
    INTO run_id, workspace_id, channel_id, initiator_user_id,
         runner_user_id, status, created_at, thread_ts;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'user_id', o.user_id, 'drink_type', o.drink_type, 'size', o.size,
               'customizations', o.customizations)
             ORDER BY o.created_at, o.user_id), '[]')
    INTO lines
    FROM orders o WHERE o.run_id = run;
    SELECT s.wait_secs, s.reserved INTO slot_wait_secs, slot_reserved
    FROM reserve_slack_slot(slot_secs, max_wait_secs) s;
    RETURN NEXT;
END
$$;

-- Stores a first post's ts (unless one is stored already) and gives the turn up.
--
-- The unlock takes effect at once, before this commits: a refresh that takes the turn
-- meanwhile claims the run with an UPDATE, which waits for this transaction's row lock and
-- then returns the row as committed, ts included, so it never posts a second root message.
CREATE OR REPLACE FUNCTION end_summary_refresh(run UUID, posted_ts TEXT DEFAULT NULL)
RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    stored BOOLEAN := false;
BEGIN
    IF posted_ts IS NOT NULL THEN
        UPDATE coffee_runs SET thread_ts = posted_ts
        WHERE coffee_runs.run_id = run AND thread_ts IS NULL;
        stored := FOUND;
    END IF;
    PERFORM pg_advisory_unlock(summary_turn_key(run));
    RETURN stored;
END
$$;
