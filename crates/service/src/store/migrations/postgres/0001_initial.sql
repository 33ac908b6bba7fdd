-- brickwire serve on PostgreSQL, schema version 1: settings, linked accounts, operator API keys.
-- The same schema as the SQLite migration of the same number, in PostgreSQL's types.
-- Timestamps are Unix milliseconds. Secret columns hold AEAD blobs (see crypto.rs);
-- tokens and keys are stored as SHA-256 hashes.

CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE app_settings (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    oauth_client_id TEXT,
    workspace_url   TEXT,
    scopes          TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE linked_accounts (
    id                 TEXT PRIMARY KEY,
    display_name       TEXT NOT NULL,
    end_user_ref       TEXT,
    auth_type          TEXT NOT NULL CHECK (auth_type IN ('api_key', 'oauth')),
    workspace_host     TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'needs_reconnect')),
    created_at         BIGINT NOT NULL,
    last_used_at       BIGINT,
    credential         BYTEA NOT NULL,
    credential_version BIGINT NOT NULL DEFAULT 1
);

CREATE INDEX linked_accounts_end_user_ref ON linked_accounts (end_user_ref);

CREATE TABLE operator_api_keys (
    id         TEXT PRIMARY KEY,
    key_hash   BYTEA NOT NULL UNIQUE,
    source     TEXT NOT NULL CHECK (source IN ('generated', 'environment')),
    created_at BIGINT NOT NULL
);
