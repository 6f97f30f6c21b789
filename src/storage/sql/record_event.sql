-- The audit row and, for published event types, the outbox row of a domain event.
-- `event` is storage::events::row(): {event_id, audit_type, event_type, topic, user_id,
-- timestamp, payload}. `fill` overwrites payload keys only the database knows (the run
-- and order ids of an order that joined an existing run or replaced an order).
--
-- PL/pgSQL rather than LANGUAGE sql: a non-inlined SQL function is parsed, analysed and
-- planned on every call; PL/pgSQL keeps its statements' plans for the connection's life
-- (docs/decisions/0001-one-statement-order.md).
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
