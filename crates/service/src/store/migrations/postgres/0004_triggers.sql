-- brickwire serve on PostgreSQL, schema version 4: Incremental Sync triggers (subscriptions,
-- their cursor, their event log and the webhook deliveries of that log).

CREATE TABLE trigger_subscriptions (
    id                TEXT PRIMARY KEY,
    linked_account_id TEXT NOT NULL REFERENCES linked_accounts (id) ON DELETE CASCADE,
    -- The source spec and the start choice as JSON (see brickwire-sync).
    source            TEXT NOT NULL,
    start_from        TEXT NOT NULL,
    poll_interval_ms  BIGINT NOT NULL,
    -- NULL: the source's default overlap.
    overlap_ms        BIGINT,
    -- NULL for pull-only subscriptions.
    webhook_url       TEXT,
    -- Sealed under the master key; never returned by the API.
    webhook_secret    BYTEA,
    max_attempts      BIGINT NOT NULL,
    paused            BOOLEAN NOT NULL DEFAULT FALSE,
    -- The sync cursor as JSON; NULL until the first poll commits.
    cursor            TEXT,
    -- Every event with a sequence id up to this one was delivered (or dead-lettered).
    delivered_seq     BIGINT NOT NULL DEFAULT 0,
    last_poll_at      BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE INDEX trigger_subscriptions_account ON trigger_subscriptions (linked_account_id);

-- An identity is never reused, even after deletes, so `?after=ID` is stable. Sequence values
-- are handed out before commit, so a subscription's commits are serialised (its row is locked
-- by commit_poll) to keep its own events in commit order.
CREATE TABLE trigger_events (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id   TEXT NOT NULL REFERENCES trigger_subscriptions (id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL,
    body              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (subscription_id, event_id)
);

CREATE INDEX trigger_events_subscription_seq ON trigger_events (subscription_id, seq);

CREATE TABLE trigger_deliveries (
    id                TEXT PRIMARY KEY,
    subscription_id   TEXT NOT NULL REFERENCES trigger_subscriptions (id) ON DELETE CASCADE,
    first_seq         BIGINT NOT NULL,
    last_seq          BIGINT NOT NULL,
    -- pending | retrying | delivered | dead_letter
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    last_status       BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE INDEX trigger_deliveries_subscription_state
    ON trigger_deliveries (subscription_id, state, next_attempt_at);
