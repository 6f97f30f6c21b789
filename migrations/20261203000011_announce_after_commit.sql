-- Jobs are announced by the service once the transaction that queued them has committed
-- (`jobs/announce.rs`), no longer by apalis' insert trigger from inside it.
--
-- PostgreSQL serializes the commits of all transactions that sent a NOTIFY: one lock on
-- the notification queue, taken just before the commit and held through its WAL flush.
-- Migration 20261126000005 kept a new run's first post out of it; the order that fills a
-- run (its assignment) and the assignment (its reply and DM) still notified, so when runs
-- filled together each committed behind the one before, and orders waited on
-- `Lock:object` meanwhile (load benchmark, 1,000 orders/s: p99 22–63 ms, 10 ms without).
--
-- apalis creates the trigger in its own migrations, which run before these, so it stays
-- dropped. A job inserted by hand is found by the workers' poll.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;

-- With no trigger to keep quiet, a job is due when the caller says: the `announce` flag
-- of migration 20261126000005 is gone.
CREATE OR REPLACE FUNCTION enqueue_job(job JSONB, id TEXT, fill JSONB, due TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
    VALUES (enqueue_job.id, job->>'queue',
            convert_to((job->'payload' || fill)::text, 'UTF8'),
            'Pending', 0, (job->>'max_attempts')::integer, due, 0);
END
$$;
