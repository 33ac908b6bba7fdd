-- brickwire serve on PostgreSQL, schema version 3: a connect session may re-link an existing
-- account (reconnection after its refresh token died) instead of creating a new one.

ALTER TABLE connect_sessions ADD COLUMN reconnect_account_id TEXT;
