-- Jobs are announced by the service once the transaction that queued them has committed
-- (storage::job_queue::Announcer; docs/decisions/0002-announce-after-commit.md), never by
-- apalis' insert trigger from inside it: PostgreSQL serializes the commits of every
-- transaction that sent a NOTIFY, holding one lock through each commit's WAL flush.
--
-- apalis' own migrations create the trigger, and they run before ours on every
-- `migrate`, so it is dropped here each time. A job inserted by hand is found by the
-- workers' poll.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;
