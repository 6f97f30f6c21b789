-- record_event in PL/pgSQL, same signature and effect (issue 7: PostgreSQL's CPU is the
-- limit under load).
--
-- A LANGUAGE sql function that is not inlined (one with a data-modifying CTE never is)
-- parses, analyses and plans its body on every call: a profile of the load benchmark at
-- saturation showed a quarter of PostgreSQL's CPU under record_event, half of that
-- parse, analysis and planning. PL/pgSQL prepares each statement once per connection and
-- keeps its plan.
CREATE OR REPLACE FUNCTION record_event(event JSONB, fill JSONB DEFAULT '{}') RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    payload  CONSTANT JSONB := event->'payload' || fill;
    happened CONSTANT TIMESTAMPTZ := (event->>'timestamp')::timestamptz;
BEGIN
    INSERT INTO audit_logs (event_type, user_id, run_id, payload, timestamp)
    VALUES (event->>'audit_type', event->>'user_id', (payload->>'run_id')::uuid, payload, happened);
    IF event->>'topic' IS NOT NULL THEN
        INSERT INTO outbox (event_id, event_type, topic, message_key, payload, created_at)
        VALUES ((event->>'event_id')::uuid, event->>'event_type', event->>'topic',
                payload->>'run_id', payload, happened);
    END IF;
END
$$;
