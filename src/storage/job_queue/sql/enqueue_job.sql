-- A durable job row for apalis, due at `due`: the one statement that writes a job row
-- (storage::job_queue::Batch, and the SQL functions that queue jobs). `job` is
-- job_queue::row(): {queue, max_attempts, payload}; `id` a fresh ULID (apalis parses it as
-- one); `fill` overwrites payload keys only the database knows. PL/pgSQL, so that the
-- body's reference to apalis.jobs is resolved when it runs, not when it is created.
CREATE OR REPLACE FUNCTION enqueue_job(job JSONB, id TEXT, fill JSONB, due TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
    VALUES (enqueue_job.id, job->>'queue',
            convert_to((job->'payload' || fill)::text, 'UTF8'),
            'Pending', 0, (job->>'max_attempts')::integer, due, 0);
END
$$;
