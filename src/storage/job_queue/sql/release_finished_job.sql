-- A job that has finished forgets the worker that ran it
-- (docs/decisions/0008-finished-jobs-leave-their-worker.md).
--
-- apalis acknowledges a batch of results with `... FROM apalis.jobs WHERE lock_by =
-- <worker> ...` joined to the batch's ids, and PostgreSQL plans it as a scan of every row
-- that worker ever locked. Finished jobs stay a week before `prune-audit` removes them, so
-- each acknowledgement would read up to a week of the worker's jobs; with `lock_by`
-- cleared on a final state, the scan finds only the jobs in flight. Nothing reads
-- `lock_by` of a finished job: apalis uses it to acknowledge, keep alive and recover jobs
-- still Queued or Running, and the operators' retry clears it anyway.
CREATE OR REPLACE FUNCTION release_finished_job() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    NEW.lock_by := NULL;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER finished_job_leaves_its_worker
BEFORE UPDATE OF status ON apalis.jobs
FOR EACH ROW
WHEN (NEW.status IN ('Done', 'Killed')
      OR (NEW.status = 'Failed' AND NEW.attempts >= NEW.max_attempts))
EXECUTE FUNCTION release_finished_job();
