-- The Slack pacer (storage/slack_pacer.rs): GCRA in one row. Reserves the next slot,
-- `interval_secs` after the previous one, if it starts within `max_wait_secs`; `wait_secs`
-- is how far away that slot is, reserved or not.
CREATE OR REPLACE FUNCTION reserve_slack_slot(interval_secs FLOAT8, max_wait_secs FLOAT8,
                                   OUT wait_secs FLOAT8, OUT reserved BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    start TIMESTAMPTZ;
BEGIN
    SELECT GREATEST(tat, clock_timestamp()) INTO STRICT start
    FROM slack_rate_limit WHERE id = 1 FOR UPDATE;
    reserved := start <= clock_timestamp() + make_interval(secs => max_wait_secs);
    IF reserved THEN
        UPDATE slack_rate_limit SET tat = start + make_interval(secs => interval_secs)
        WHERE id = 1;
    END IF;
    wait_secs := GREATEST(EXTRACT(EPOCH FROM start - clock_timestamp()), 0);
END
$$;
