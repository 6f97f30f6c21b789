-- apalis' job fetch, planned once per connection instead of on every poll
-- (docs/decisions/0007-job-fetch-plans-once.md).
--
-- apalis 1.0 ships `apalis.get_jobs` as a `LANGUAGE sql` function whose body is a writing
-- CTE, which PostgreSQL cannot inline: it plans the body afresh on every call, and planning
-- `run_at < now()` looks up the index's actual extreme `run_at`, stepping over the entries
-- of jobs that left `Pending` since the last vacuum. The same statement in PL/pgSQL keeps
-- its plan for the connection's life, with the same arguments, rows and locking. It
-- replaces the version apalis' own migrations install; tests/api/job_queue_schema.rs pins
-- apalis' version, so an upgrade that changes it fails until this file follows.
CREATE OR REPLACE FUNCTION apalis.get_jobs(
    worker_id TEXT,
    v_job_type TEXT,
    v_job_count INTEGER DEFAULT 5
)
RETURNS SETOF apalis.jobs
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    RETURN QUERY
    WITH jobs AS (
        SELECT id
        FROM apalis.jobs
        WHERE
            (
                status = 'Pending'
                OR (
                    status = 'Failed'
                    AND attempts < max_attempts
                )
            )
            AND run_at < now()
            AND job_type = v_job_type
        ORDER BY priority DESC, run_at ASC
        LIMIT v_job_count
        FOR UPDATE SKIP LOCKED
    )
    UPDATE apalis.jobs j
    SET
        status = 'Queued',
        lock_by = worker_id,
        lock_at = now()
    FROM jobs
    WHERE j.id = jobs.id
    RETURNING j.*;
END
$$;
