-- Workspace $1's fairness ledger as of now (storage::fairness::ledger_members): everyone
-- who ordered in one of its runs over the $2-day window (cancelled runs do not count, as
-- in `/fairness`), with the runs they made in it, their last, and, only when $3, their
-- carpool fair share over the same runs; each active and not opted out, as candidates of
-- one run holding them all. At most $4 users, the least-run first.
WITH window_runs AS (
    SELECT run_id, runner_user_id, created_at
    FROM coffee_runs
    WHERE workspace_id = $1
      AND created_at > NOW() - make_interval(days => $2)
      AND status <> 'cancelled'
), members AS (
    SELECT DISTINCT o.user_id FROM orders o JOIN window_runs w USING (run_id)
), made AS (
    SELECT runner_user_id AS user_id, count(*) AS runs, max(created_at) AS last_run_at
    FROM window_runs
    WHERE runner_user_id IS NOT NULL
    GROUP BY runner_user_id
), shares AS (
    SELECT user_id, sum(1::numeric / participants)::float8 AS fair_share
    FROM run_shares
    WHERE $3
      AND workspace_id = $1
      AND run_created_at > NOW() - make_interval(days => $2)
    GROUP BY user_id
)
SELECT m.user_id AS "user_id!",
       COALESCE(made.runs, 0) AS "runs!",
       made.last_run_at,
       COALESCE(s.fair_share, 0)::float8 AS "fair_share!",
       TRUE AS "active!",
       FALSE AS "opted_out!"
FROM members m
LEFT JOIN made ON made.user_id = m.user_id
LEFT JOIN shares s ON s.user_id = m.user_id
ORDER BY COALESCE(made.runs, 0), m.user_id
LIMIT $4
