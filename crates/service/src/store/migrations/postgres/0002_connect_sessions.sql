-- brickwire serve on PostgreSQL, schema version 2: connect sessions (the end user's single-use link).

CREATE TABLE connect_sessions (
    id                TEXT PRIMARY KEY,
    token_hash        BYTEA NOT NULL UNIQUE,
    end_user_ref      TEXT,
    display_name      TEXT,
    workspace_url     TEXT,
    oauth_state_hash  BYTEA UNIQUE,
    pkce_verifier     BYTEA,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    consumed_at       BIGINT,
    linked_account_id TEXT
);

CREATE INDEX connect_sessions_expires_at ON connect_sessions (expires_at);
