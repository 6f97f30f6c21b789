-- Each participant of run $1 with their history in workspace $2 as of $3: runs made in
-- the $4-day fairness window (cancelled runs do not count), their carpool fair share over
-- the same runs (only when $6), whether they ordered within the $5-day active window,
-- and whether they opted out of this run (storage::fairness::candidates).
WITH participants AS (
    SELECT user_id FROM orders WHERE run_id = $1
), made AS (
    SELECT r.runner_user_id AS user_id, count(*) AS runs, max(r.created_at) AS last_run_at
    FROM coffee_runs r
    WHERE r.workspace_id = $2
      AND r.runner_user_id IN (SELECT user_id FROM participants)
      AND r.created_at > $3::timestamptz - make_interval(days => $4)
      AND r.created_at <= $3::timestamptz
      AND r.status <> 'cancelled'
      AND r.run_id <> $1
    GROUP BY r.runner_user_id
), runs_by_size AS (
    SELECT s.user_id, s.participants, count(*) AS runs
    FROM run_shares s
    WHERE $6
      AND s.workspace_id = $2
      AND s.user_id IN (SELECT user_id FROM participants)
      AND s.run_created_at > $3::timestamptz - make_interval(days => $4)
      AND s.run_created_at <= $3::timestamptz
      AND s.run_id <> $1
    GROUP BY s.user_id, s.participants
), shares AS (
    SELECT user_id, sum(runs::numeric / participants)::float8 AS fair_share
    FROM runs_by_size
    GROUP BY user_id
)
SELECT p.user_id AS "user_id!",
       COALESCE(m.runs, 0) AS "runs!",
       m.last_run_at,
       COALESCE(s.fair_share, 0)::float8 AS "fair_share!",
       EXISTS (SELECT 1 FROM orders o WHERE o.user_id = p.user_id
               AND o.created_at > $3::timestamptz - make_interval(days => $5)
               AND o.created_at <= $3::timestamptz) AS "active!",
       EXISTS (SELECT 1 FROM run_opt_outs x
               WHERE x.run_id = $1 AND x.user_id = p.user_id) AS "opted_out!"
FROM participants p
LEFT JOIN made m ON m.user_id = p.user_id
LEFT JOIN shares s ON s.user_id = p.user_id
