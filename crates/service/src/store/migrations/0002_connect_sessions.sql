-- brickwire serve, schema version 2: connect sessions (the end user's single-use link).

CREATE TABLE connect_sessions (
    id                TEXT PRIMARY KEY,
    token_hash        BLOB NOT NULL UNIQUE,
    end_user_ref      TEXT,
    display_name      TEXT,
    workspace_url     TEXT,
    oauth_state_hash  BLOB UNIQUE,
    pkce_verifier     BLOB,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    consumed_at       INTEGER,
    linked_account_id TEXT
);

CREATE INDEX connect_sessions_expires_at ON connect_sessions (expires_at);
