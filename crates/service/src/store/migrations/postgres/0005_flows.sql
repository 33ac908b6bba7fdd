-- brickwire serve on PostgreSQL, schema version 5: flows (versioned definitions), their runs and
-- the step attempts of each run (the journal the executor resumes from).

CREATE TABLE flows (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    -- The current version; its definition is in flow_versions.
    version         BIGINT NOT NULL,
    -- manual | schedule | webhook | sync
    trigger_type    TEXT NOT NULL,
    -- The secret of the flow's webhook URL and signature, sealed under the master key.
    webhook_secret  BYTEA NOT NULL,
    -- The pull subscription that feeds a sync flow.
    subscription_id TEXT REFERENCES trigger_subscriptions (id) ON DELETE SET NULL,
    -- The sequence id of the last subscription event a run was queued for.
    consumed_seq    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Every version is kept: a run records the version it executes.
CREATE TABLE flow_versions (
    flow_id    TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (flow_id, version)
);

-- seq orders runs (oldest first for workers, newest first for the history) and pages them.
CREATE TABLE flow_runs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    flow_id          TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    flow_version     BIGINT NOT NULL,
    -- queued | running | succeeded | failed | cancelled | interrupted
    status           TEXT NOT NULL,
    -- manual | schedule | webhook | sync | replay
    trigger          TEXT NOT NULL,
    event            TEXT NOT NULL,
    -- A sync event id or a schedule tick: one run per key and flow.
    dedupe_key       TEXT,
    replay_of        TEXT,
    output           TEXT,
    -- JSON of brickwire_flows::StepError.
    error            TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    UNIQUE (flow_id, dedupe_key)
);

CREATE INDEX flow_runs_status ON flow_runs (status, seq);
CREATE INDEX flow_runs_flow ON flow_runs (flow_id, seq);

-- One row per attempt of one step execution; seq keeps the order of first write.
CREATE TABLE flow_step_attempts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    step_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- running | succeeded | failed | abandoned
    status      TEXT NOT NULL,
    action      TEXT,
    account     TEXT,
    input       TEXT,
    output      TEXT,
    error       TEXT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    resume_at   BIGINT,
    UNIQUE (run_id, path, attempt)
);
