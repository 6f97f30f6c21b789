-- At most one redraw of a run's root message waits at a time
-- (docs/decisions/0011-root-message-refresh-turn.md).
--
-- Whoever changes what the message shows calls mark_summary_stale() and queues the redraw
-- job only if it returns true; the job clears the mark before it reads what to render
-- (begin_summary_refresh). Both take the run's row lock, so a change committed after the
-- job's read finds the mark clear and queues another job: a burst of orders costs one
-- chat.update, and none goes unshown. A mark older than a minute counts as clear, so a
-- redraw job that died (an operator deleted it, its retries ran out while the database was
-- down) cannot freeze the message for good.
CREATE OR REPLACE FUNCTION mark_summary_stale(run UUID) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE coffee_runs SET summary_refresh_queued_at = NOW()
    WHERE run_id = run
      AND (summary_refresh_queued_at IS NULL
           OR summary_refresh_queued_at < NOW() - INTERVAL '1 minute');
    RETURN FOUND;
END
$$;

-- Queues `job` (job_queue::row() of the redraw) due now, as job `id`, unless a redraw of
-- the run is queued already; whether it queued it.
CREATE OR REPLACE FUNCTION queue_summary_refresh(run UUID, job JSONB, id TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mark_summary_stale(run) THEN
        RETURN FALSE;
    END IF;
    PERFORM enqueue_job(job, id, '{}', NOW());
    RETURN TRUE;
END
$$;
