-- apalis' job fetch, planned once per connection instead of on every poll (issue 7).
--
-- apalis 1.0 ships `apalis.get_jobs` as a `LANGUAGE sql` function whose body is a writing
-- CTE, which PostgreSQL cannot inline: it plans the body afresh on every call. Planning
-- `run_at < now()` makes the planner look up the index's actual extreme `run_at`, which on
-- a busy queue steps over the entries of jobs that left `Pending` since the last vacuum:
-- 0.3-1.2 ms and 50-200 buffers per poll in the load benchmark, before the fetch itself.
-- Every worker polls, and a busy one polls several times a second.
--
-- The same statement in PL/pgSQL keeps its plan for the connection's life (after the
-- first few calls, as PL/pgSQL caches a generic plan), with the same arguments, rows and
-- locking. apalis' migrations run before ours (`storage::migrate`), so this replaces the
-- version they installed; a later apalis release that replaces the function again would
-- put the slow one back, which `apalis_job_fetch_is_our_plpgsql_version` (tests) catches.
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
