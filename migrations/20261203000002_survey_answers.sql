-- The post-run survey (the SPEC's satisfaction metric): one answer per participant per
-- completed run, which they may change.
CREATE TABLE survey_answers (
    run_id      UUID         NOT NULL REFERENCES coffee_runs (run_id) ON DELETE CASCADE,
    user_id     VARCHAR(64)  NOT NULL REFERENCES users (user_id),
    answer      VARCHAR(4)   NOT NULL CHECK (answer IN ('up', 'down')),
    answered_at TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    PRIMARY KEY (run_id, user_id)
);
