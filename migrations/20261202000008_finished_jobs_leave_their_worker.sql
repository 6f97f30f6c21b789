-- A job that has finished forgets the worker that ran it (issue 7).
--
-- apalis acknowledges a batch of results with `... FROM apalis.jobs WHERE lock_by =
-- <worker> ...` joined to the batch's ids, and PostgreSQL plans it as a scan of every row
-- that worker ever locked (it estimates the batch at a hundred rows, so looking each id up
-- by key seems dearer). Finished jobs stay a week before `prune-audit` removes them, so
-- each acknowledgement reads up to a week of this worker's jobs: in the load benchmark,
-- a minute in, 1.2-2 ms and 190-255 buffers per acknowledgement (`pg_stat_statements`),
-- more than the refresh job it acknowledged. With `lock_by` cleared when a job reaches a
-- final state, that scan finds only the jobs in flight (0.4 ms on the same table).
--
-- Nothing reads `lock_by` of a finished job: apalis uses it to acknowledge, keep alive and
-- recover jobs still Queued or Running, and ops' retry clears it anyway. Needs apalis'
-- tables: `storage::migrate` applies apalis' migrations before ours.
CREATE FUNCTION release_finished_job() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    NEW.lock_by := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER finished_job_leaves_its_worker
BEFORE UPDATE OF status ON apalis.jobs
FOR EACH ROW
WHEN (NEW.status IN ('Done', 'Killed')
      OR (NEW.status = 'Failed' AND NEW.attempts >= NEW.max_attempts))
EXECUTE FUNCTION release_finished_job();
