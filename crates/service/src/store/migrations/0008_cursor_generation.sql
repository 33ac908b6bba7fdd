-- brickwire serve, schema version 8: a cursor generation per subscription, so a cursor reset
-- made while a poll is in flight is not overwritten by that poll's commit. A reset increments
-- it; a poll's commit writes only if the generation is still the one the poll read.
ALTER TABLE trigger_subscriptions ADD COLUMN cursor_generation INTEGER NOT NULL DEFAULT 0;
