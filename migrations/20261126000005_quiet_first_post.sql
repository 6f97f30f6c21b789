-- A job row may ask not to be announced: `"announce": false` in enqueue_job's `job`.
--
-- apalis' trigger announces every job due now with pg_notify, and PostgreSQL serializes
-- the commits of all transactions that notified (one lock on the notification queue, held
-- through the commit's WAL flush). A new run's first root-message post is such a job, so
-- when many runs start at once their orders queued behind each other (load benchmark at
-- 1,000 orders/s with a run starting every ten orders: p99 57 ms, the waits on
-- `Lock:object`). An unannounced job is due at once all the same; a worker finds it at its
-- next poll (at most a second). Jobs a user waits on keep being announced.
CREATE OR REPLACE FUNCTION enqueue_job(job JSONB, id TEXT, fill JSONB, due TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
    VALUES (enqueue_job.id, job->>'queue',
            convert_to((job->'payload' || fill)::text, 'UTF8'),
            'Pending', 0, (job->>'max_attempts')::integer,
            -- Past the transaction's start, which is the trigger's now(): not announced.
            CASE WHEN job->'announce' = 'false'::jsonb THEN GREATEST(due, clock_timestamp())
                 ELSE due END,
            0);
END
$$;
