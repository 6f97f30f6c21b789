-- CONTRACT "Order submission" in one statement (storage::orders::place;
-- docs/decisions/0001-one-statement-order.md): the user, the channel's run (started if it
-- has none), the order (one per user per run, replaced on resubmit), the usual, the audit
-- rows and outbox events, and the jobs that redraw the run's root message and assign its
-- runner. The caller passes the rows it would write if this order started run
-- `new_run_id` as order `new_order_id`; ids the database decides otherwise are filled in.
--
-- Refusals raise, so they change nothing. Each has its own SQLSTATE, read back as
-- storage::orders::PlaceOrderError:
--   CB001  a runner has been picked for the channel's run: orders are closed
--   CB002  `only_run_id` is not the channel's active run
--   CB003  the channel's run ended and began again under the order, three times
CREATE OR REPLACE FUNCTION place_order(
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
    OUT o_orders_in_run BIGINT,
    OUT o_due_now       TEXT[]  -- the queues of the jobs it queued due now, to announce
) LANGUAGE plpgsql AS $$
DECLARE
    run         coffee_runs%ROWTYPE;
    created     BOOLEAN := FALSE;
    ids         JSONB;
    previous    orders%ROWTYPE;
    moved_usual BOOLEAN := FALSE;
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

    -- The order this one replaces, if any (the run's lock keeps it as read).
    SELECT * INTO previous FROM orders
    WHERE orders.run_id = run.run_id AND orders.user_id = orderer;

    -- `xmax = 0` only for a freshly inserted row: it tells insert from update.
    INSERT INTO orders (order_id, run_id, user_id, drink_type, size, customizations)
    VALUES (new_order_id, run.run_id, orderer, drink, drink_size, extras)
    ON CONFLICT ON CONSTRAINT orders_one_per_user_per_run DO UPDATE
    SET drink_type = EXCLUDED.drink_type,
        size = EXCLUDED.size,
        customizations = EXCLUDED.customizations,
        updated_at = NOW()
    RETURNING orders.order_id, (xmax <> 0) INTO o_order_id, o_replaced;

    -- One coffee counts once towards the usuals: a new order adds one to its drink and
    -- size; a changed drink or size takes its one from the order it replaces (the last
    -- one of a drink and size leaves the usuals); a change of extras alone counts nothing.
    IF o_replaced AND (previous.drink_type, previous.size) IS DISTINCT FROM (drink, drink_size) THEN
        DELETE FROM user_preferences p
        WHERE p.user_id = orderer AND p.drink_type = previous.drink_type
          AND p.size = previous.size AND p.order_count <= 1;
        UPDATE user_preferences p SET order_count = p.order_count - 1
        WHERE p.user_id = orderer AND p.drink_type = previous.drink_type
          AND p.size = previous.size;
        moved_usual := TRUE;
    END IF;
    INSERT INTO user_preferences (user_id, drink_type, size, customizations)
    VALUES (orderer, drink, drink_size, extras)
    ON CONFLICT ON CONSTRAINT user_preferences_user_drink_size DO UPDATE
    SET order_count = user_preferences.order_count
                      + CASE WHEN o_replaced AND NOT moved_usual THEN 0 ELSE 1 END,
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
    o_due_now := '{}';
    IF mark_summary_stale(run.run_id) THEN
        PERFORM enqueue_job(summary_job, job_ids[1], ids - 'order_id',
                            CASE WHEN created THEN NOW() ELSE NOW() + summary_delay END);
        IF created THEN
            o_due_now := o_due_now || (summary_job->>'queue');
        END IF;
    END IF;
    -- The first order schedules the assignment for the end of the window; the order that
    -- fills the run asks for it now. Either job finding a runner already does nothing.
    IF created THEN
        PERFORM enqueue_job(assign_job, job_ids[2], ids - 'order_id',
                            run.created_at + assign_window);
    END IF;
    IF NOT o_replaced AND o_orders_in_run = max_orders THEN
        PERFORM enqueue_job(assign_job, job_ids[3], ids - 'order_id', NOW());
        o_due_now := o_due_now || (assign_job->>'queue');
    END IF;

    o_run_id := run.run_id;
    o_run_created := created;
END
$$;
