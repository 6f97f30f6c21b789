-- An order in one round trip, and at most one queued refresh of a run's root message
-- (issue 7: the database is the limit, so an order costs one statement and one commit).
--
-- The order's rules stay in Rust (workflows::place_order builds the events and jobs and
-- reads the outcome); the function only runs the statements in order, where a Rust
-- transaction paid a network round trip for each of them.

-- At most one refresh of a run's root message waits at a time. Whoever changes what the
-- message shows calls mark_summary_stale() and queues the refresh job only if it returns
-- true; the job clears the mark before it reads what to render. Both take the run's row
-- lock, so a change committed after the job's read finds the mark clear and queues another
-- job: a burst of orders costs one chat.update, and none goes unshown. A mark older than a
-- minute counts as clear, so a refresh job that died (an operator deleted it, its retries
-- ran out while the database was down) cannot freeze the message for good. This replaces
-- the per-order version each refresh job used to carry.
ALTER TABLE coffee_runs ADD COLUMN summary_refresh_queued_at TIMESTAMPTZ;
ALTER TABLE coffee_runs DROP COLUMN summary_version;

CREATE FUNCTION mark_summary_stale(run UUID) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE coffee_runs SET summary_refresh_queued_at = NOW()
    WHERE run_id = run
      AND (summary_refresh_queued_at IS NULL
           OR summary_refresh_queued_at < NOW() - INTERVAL '1 minute');
    RETURN FOUND;
END
$$;

-- The audit row and, for published event types, the outbox row of a domain event.
-- `event` is storage::events::row(): {event_id, audit_type, event_type, topic, user_id,
-- timestamp, payload}. `fill` overwrites payload keys only the database knows (the run
-- and order ids of an order that joined an existing run or replaced an order).
CREATE FUNCTION record_event(event JSONB, fill JSONB DEFAULT '{}') RETURNS VOID
LANGUAGE sql AS $$
    WITH audit AS (
        INSERT INTO audit_logs (event_type, user_id, run_id, payload, timestamp)
        VALUES (event->>'audit_type', event->>'user_id',
                ((event->'payload' || fill)->>'run_id')::uuid,
                event->'payload' || fill, (event->>'timestamp')::timestamptz)
    )
    INSERT INTO outbox (event_id, event_type, topic, message_key, payload, created_at)
    SELECT (event->>'event_id')::uuid, event->>'event_type', event->>'topic',
           (event->'payload' || fill)->>'run_id', event->'payload' || fill,
           (event->>'timestamp')::timestamptz
    WHERE event->>'topic' IS NOT NULL
$$;

-- A durable job row for apalis, due at `due`. `job` is jobs::row(): {queue,
-- max_attempts, payload}; `id` a fresh ULID (apalis parses it as one); `fill` as for
-- record_event. PL/pgSQL because its body names apalis.jobs, which apalis' own
-- migrations create after ours.
CREATE FUNCTION enqueue_job(job JSONB, id TEXT, fill JSONB, due TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
    VALUES (enqueue_job.id, job->>'queue',
            convert_to((job->'payload' || fill)::text, 'UTF8'),
            'Pending', 0, (job->>'max_attempts')::integer, due, 0);
END
$$;

-- CONTRACT "Order submission" in one statement. The caller passes the rows it would
-- write if this order started run `new_run_id` as order `new_order_id`; ids the database
-- decides otherwise are filled in. A refusal raises, so it changes nothing:
--   CB001 a runner has been picked, CB002 `only_run_id` is not the channel's active run,
--   CB003 the channel's run kept changing under us.
CREATE FUNCTION place_order(
    workspace      TEXT,
    channel        TEXT,
    orderer        TEXT,
    orderer_name   TEXT,
    drink          TEXT,
    drink_size     TEXT,
    extras         TEXT,
    only_run_id    UUID,   -- REST `POST /runs/{id}/orders`: this run or nothing
    new_run_id     UUID,
    new_order_id   UUID,
    run_created    JSONB,  -- event, written if this order starts the run
    order_placed   JSONB,  -- event
    summary_job    JSONB,  -- refresh of the root message, queued unless one is queued
    assign_job     JSONB,  -- assign-runner, at the window's end or when the run fills up
    summary_delay  INTERVAL,
    assign_window  INTERVAL,
    max_orders     INTEGER,
    job_ids        TEXT[], -- three fresh ULIDs, one for each job this order may queue
    OUT o_run_id        UUID,
    OUT o_order_id      UUID,
    OUT o_replaced      BOOLEAN,
    OUT o_run_created   BOOLEAN,
    OUT o_orders_in_run BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    run     coffee_runs%ROWTYPE;
    created BOOLEAN := FALSE;
    ids     JSONB;
BEGIN
    INSERT INTO users (user_id, display_name) VALUES (orderer, orderer_name)
    ON CONFLICT (user_id) DO UPDATE
    SET display_name = COALESCE(EXCLUDED.display_name, users.display_name),
        updated_at = NOW();

    -- The active run, locked until commit so orders and assignment take turns; else a new
    -- one. The partial unique index decides between concurrent first orders, and a run
    -- that ends between our two statements sends us round again.
    FOR attempt IN 1..3 LOOP
        SELECT * INTO run FROM coffee_runs
        WHERE workspace_id = workspace AND channel_id = channel AND status = 'active'
        FOR NO KEY UPDATE;
        EXIT WHEN FOUND;
        IF only_run_id IS NOT NULL THEN
            RAISE EXCEPTION 'run % is not active', only_run_id USING ERRCODE = 'CB002';
        END IF;
        INSERT INTO coffee_runs (run_id, workspace_id, channel_id, initiator_user_id)
        VALUES (new_run_id, workspace, channel, orderer)
        ON CONFLICT (workspace_id, channel_id) WHERE status = 'active' DO NOTHING
        RETURNING * INTO run;
        created := FOUND;
        EXIT WHEN created;
    END LOOP;
    IF run.run_id IS NULL THEN
        RAISE EXCEPTION 'the run of % kept changing', channel USING ERRCODE = 'CB003';
    END IF;
    IF only_run_id IS NOT NULL AND run.run_id <> only_run_id THEN
        RAISE EXCEPTION 'run % is not active', only_run_id USING ERRCODE = 'CB002';
    END IF;
    IF run.runner_user_id IS NOT NULL THEN
        RAISE EXCEPTION 'run % has a runner', run.run_id USING ERRCODE = 'CB001';
    END IF;

    -- `xmax = 0` only for a freshly inserted row: it tells insert from update.
    INSERT INTO orders (order_id, run_id, user_id, drink_type, size, customizations)
    VALUES (new_order_id, run.run_id, orderer, drink, drink_size, extras)
    ON CONFLICT ON CONSTRAINT orders_one_per_user_per_run DO UPDATE
    SET drink_type = EXCLUDED.drink_type,
        size = EXCLUDED.size,
        customizations = EXCLUDED.customizations,
        updated_at = NOW()
    RETURNING orders.order_id, (xmax <> 0) INTO o_order_id, o_replaced;

    -- A changed order is still one coffee: only a new order counts towards the usuals.
    INSERT INTO user_preferences (user_id, drink_type, size, customizations)
    VALUES (orderer, drink, drink_size, extras)
    ON CONFLICT ON CONSTRAINT user_preferences_user_drink_size DO UPDATE
    SET order_count = user_preferences.order_count + CASE WHEN o_replaced THEN 0 ELSE 1 END,
        customizations = EXCLUDED.customizations,
        last_ordered_at = NOW();

    SELECT count(*) INTO o_orders_in_run FROM orders WHERE orders.run_id = run.run_id;

    ids := jsonb_build_object('run_id', run.run_id, 'order_id', o_order_id);
    IF created THEN
        PERFORM record_event(run_created);
    END IF;
    PERFORM record_event(order_placed, ids);

    -- The first post goes out at once; later refreshes wait `summary_delay` so a burst
    -- of orders becomes one update.
    IF mark_summary_stale(run.run_id) THEN
        PERFORM enqueue_job(summary_job, job_ids[1], ids - 'order_id',
                            CASE WHEN created THEN NOW() ELSE NOW() + summary_delay END);
    END IF;
    -- The first order schedules the assignment for the end of the window; the order that
    -- fills the run asks for it now. Either job finding a runner already does nothing.
    IF created THEN
        PERFORM enqueue_job(assign_job, job_ids[2], ids - 'order_id',
                            run.created_at + assign_window);
    END IF;
    IF NOT o_replaced AND o_orders_in_run = max_orders THEN
        PERFORM enqueue_job(assign_job, job_ids[3], ids - 'order_id', NOW());
    END IF;

    o_run_id := run.run_id;
    o_run_created := created;
END
$$;
