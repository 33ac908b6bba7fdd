-- brickwire serve on PostgreSQL, schema version 7: leases, so several processes on one database share the
-- work and each piece is done by one of them at a time. A lease names its owner (a random id
-- per process) and when it expires; a process renews its leases while it works, and work whose
-- lease expired (its process died) is taken over. Writes of leased work check the lease, so a
-- process that lost one cannot commit.

-- A running flow run is executed by the lease's owner.
ALTER TABLE flow_runs ADD COLUMN lease_owner TEXT;
ALTER TABLE flow_runs ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX flow_runs_lease ON flow_runs (status, lease_expires_at);

-- One poll of a subscription at a time, fleet-wide, and when the next one is due (NULL: now).
ALTER TABLE trigger_subscriptions ADD COLUMN next_poll_at BIGINT;
ALTER TABLE trigger_subscriptions ADD COLUMN poll_lease_owner TEXT;
ALTER TABLE trigger_subscriptions ADD COLUMN poll_lease_expires_at BIGINT;

-- One process delivers a subscription's webhook batches at a time (so they stay in order).
ALTER TABLE trigger_subscriptions ADD COLUMN delivery_lease_owner TEXT;
ALTER TABLE trigger_subscriptions ADD COLUMN delivery_lease_expires_at BIGINT;
