-- brickwire serve on PostgreSQL, schema version 6: MCP tokens, each letting an agent use one
-- linked account's tools over /mcp, within toolsets and optionally read-only. Only the token's
-- SHA-256 is kept.

CREATE TABLE mcp_tokens (
    id                TEXT PRIMARY KEY,
    linked_account_id TEXT NOT NULL REFERENCES linked_accounts (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    token_hash        BYTEA NOT NULL UNIQUE,
    -- A JSON array of toolset names, or NULL for every toolset.
    toolsets          TEXT,
    read_only         BOOLEAN NOT NULL,
    created_at        BIGINT NOT NULL,
    -- Set when revoked; a revoked token is kept (so listings show it) but never accepted.
    revoked_at        BIGINT
);

CREATE INDEX mcp_tokens_by_account ON mcp_tokens (linked_account_id, created_at);
