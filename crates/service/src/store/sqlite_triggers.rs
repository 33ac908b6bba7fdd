//! The SQLite implementation of [`TriggerStore`], on the same database, writer connection and
//! reader pool as [`SqliteStore`] (this file is a child module of `sqlite.rs` for that reason).
//! Tables: `trigger_subscriptions`, `trigger_events`, `trigger_deliveries` (migration 4).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction: a poll's events and cursor commit together,
//! and a delivery's outcome and the subscription's progress commit together.

use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde_json::Value;

use super::{Inner, SqliteStore, corrupt, from_ms, parse_url, to_ms};
use crate::crypto::Aad;
use crate::store::Lease;
use crate::store::LinkedAccountId;
use crate::triggers::model::{
    AttemptOutcome, Delivery, DeliveryId, DeliveryState, DeliveryTarget, LeaseClaim, LeaseKind,
    NewEvent, NewSubscription, NextDelivery, PollCommit, StoredEvent, Subscription, SubscriptionId,
    SubscriptionPatch, Webhook,
};
use crate::triggers::store::{Pruned, TriggerStore};
use crate::{Error, Result};

/// Drops both leases of every subscription where the owner (the one parameter) holds one.
const RELEASE_LEASES_OF: &str = "UPDATE trigger_subscriptions
     SET poll_lease_owner = CASE WHEN poll_lease_owner = ?1 THEN NULL ELSE poll_lease_owner END,
         poll_lease_expires_at = CASE WHEN poll_lease_owner = ?1 THEN NULL
                                      ELSE poll_lease_expires_at END,
         delivery_lease_owner = CASE WHEN delivery_lease_owner = ?1 THEN NULL
                                     ELSE delivery_lease_owner END,
         delivery_lease_expires_at = CASE WHEN delivery_lease_owner = ?1 THEN NULL
                                          ELSE delivery_lease_expires_at END
     WHERE poll_lease_owner = ?1 OR delivery_lease_owner = ?1";

pub(in crate::store) const SUBSCRIPTION_COLUMNS: &str = "id, linked_account_id, source, start_from, poll_interval_ms, \
     overlap_ms, webhook_url, max_attempts, paused, cursor, delivered_seq, last_poll_at, \
     last_error, created_at, updated_at, cursor_generation";

pub(in crate::store) const DELIVERY_COLUMNS: &str = "id, subscription_id, first_seq, last_seq, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at";

/// That the subscription exists and, with `owner`, that the owner holds its `kind` lease.
fn check_lease(
    conn: &Connection,
    id: &SubscriptionId,
    kind: LeaseKind,
    owner: Option<&str>,
) -> Result<()> {
    let (owner_column, _) = kind.columns();
    let holder: Option<Option<String>> = conn
        .query_row(
            &format!("SELECT {owner_column} FROM trigger_subscriptions WHERE id = ?1"),
            [id.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    match (holder, owner) {
        (None, _) => Err(Error::not_found("subscription", id.as_str())),
        (Some(holder), Some(owner)) if holder.as_deref() != Some(owner) => Err(Error::LeaseLost {
            entity: "subscription",
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

pub(in crate::store) fn secret_aad(id: &SubscriptionId) -> Aad {
    Aad::field("trigger_subscriptions", id.as_str(), "webhook_secret")
}

pub(in crate::store) fn parse_json(text: &str, column: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("stored {column} is not JSON: {e}")))
}

pub(in crate::store) type SubscriptionRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    bool,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    i64,
);

fn subscription_row(row: &Row<'_>) -> rusqlite::Result<SubscriptionRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
        row.get(13)?,
        row.get(14)?,
        row.get(15)?,
    ))
}

pub(in crate::store) fn into_subscription(r: SubscriptionRow) -> Result<Subscription> {
    let delivery = match r.6 {
        Some(url) => DeliveryTarget::Webhook {
            url: parse_url(&url, "webhook_url")?,
        },
        None => DeliveryTarget::Pull,
    };
    Ok(Subscription {
        id: SubscriptionId::new(r.0),
        linked_account_id: LinkedAccountId::new(r.1),
        source: parse_json(&r.2, "source")?,
        start_from: parse_json(&r.3, "start_from")?,
        poll_interval: Duration::from_millis(r.4.max(0) as u64),
        overlap: r.5.map(|ms| Duration::from_millis(ms.max(0) as u64)),
        delivery,
        max_attempts: r.7.max(1) as u32,
        paused: r.8,
        cursor: r.9.map(|c| parse_json(&c, "cursor")).transpose()?,
        delivered_seq: r.10,
        last_poll_at: r.11.map(from_ms),
        last_error: r.12,
        created_at: from_ms(r.13),
        updated_at: from_ms(r.14),
        cursor_generation: r.15,
    })
}

fn get_subscription(conn: &Connection, id: &SubscriptionId) -> Result<Subscription> {
    let row = conn
        .query_row(
            &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions WHERE id = ?1"),
            [id.as_str()],
            subscription_row,
        )
        .optional()?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
    into_subscription(row)
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<(Delivery, String)> {
    let state: String = row.get(4)?;
    Ok((
        Delivery {
            id: DeliveryId::new(row.get::<_, String>(0)?),
            subscription_id: SubscriptionId::new(row.get::<_, String>(1)?),
            first_seq: row.get(2)?,
            last_seq: row.get(3)?,
            state: DeliveryState::Pending,
            attempts: row.get::<_, i64>(5)?.max(0) as u32,
            next_attempt_at: from_ms(row.get(6)?),
            last_status: row.get::<_, Option<i64>>(7)?.map(|s| s as u16),
            last_error: row.get(8)?,
            created_at: from_ms(row.get(9)?),
            updated_at: from_ms(row.get(10)?),
        },
        state,
    ))
}

pub(in crate::store) fn finish_delivery(
    (mut delivery, state): (Delivery, String),
) -> Result<Delivery> {
    delivery.state = DeliveryState::parse(&state)
        .ok_or_else(|| corrupt(format!("unknown delivery state {state}")))?;
    Ok(delivery)
}

fn query_deliveries(
    conn: &Connection,
    condition: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Delivery>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM trigger_deliveries WHERE {condition}"
    ))?;
    let rows = stmt
        .query_map(params, delivery_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_delivery).collect()
}

fn get_delivery(conn: &Connection, id: &DeliveryId) -> Result<Delivery> {
    query_deliveries(conn, "id = ?1", &[&id.as_str()])?
        .pop()
        .ok_or_else(|| Error::not_found("delivery", id.as_str()))
}

fn events_in(
    conn: &Connection,
    id: &SubscriptionId,
    after: i64,
    up_to: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let mut stmt = conn.prepare(
        "SELECT seq, event_id, body, created_at FROM trigger_events
         WHERE subscription_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![id.as_str(), after, up_to, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(seq, event_id, body, created_at)| {
            Ok(StoredEvent {
                seq,
                event_id,
                body: parse_json(&body, "event body")?,
                created_at: from_ms(created_at),
            })
        })
        .collect()
}

pub(in crate::store) fn validate_new(new: &NewSubscription) -> Result<()> {
    if new.max_attempts == 0 {
        return Err(Error::invalid("max_attempts", "at least 1 attempt"));
    }
    if new.poll_interval.is_zero() {
        return Err(Error::invalid("poll_interval_ms", "must be positive"));
    }
    if let Some(w) = &new.webhook {
        validate_webhook(w)?;
    }
    Ok(())
}

pub(in crate::store) fn validate_webhook(w: &Webhook) -> Result<()> {
    if !matches!(w.url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            "webhook.url",
            "an http or https URL is required",
        ));
    }
    if w.secret.expose_secret().len() < 16 {
        return Err(Error::invalid(
            "webhook.secret",
            "a signing secret has at least 16 characters",
        ));
    }
    Ok(())
}

fn touch(tx: &Transaction<'_>, id: &SubscriptionId, now: i64) -> Result<()> {
    let changed = tx.execute(
        "UPDATE trigger_subscriptions SET updated_at = ?1 WHERE id = ?2",
        rusqlite::params![now, id.as_str()],
    )?;
    if changed == 0 {
        return Err(Error::not_found("subscription", id.as_str()));
    }
    Ok(())
}

fn next_delivery_in(
    tx: &Transaction<'_>,
    inner: &Inner,
    id: &SubscriptionId,
    now: SystemTime,
    batch_size: u32,
) -> Result<NextDelivery> {
    let now_ms = to_ms(now);
    let delivered_seq: i64 = tx
        .query_row(
            "SELECT delivered_seq FROM trigger_subscriptions WHERE id = ?1",
            [id.as_str()],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
    let open = query_deliveries(
        tx,
        "subscription_id = ?1 AND state IN ('pending', 'retrying') ORDER BY first_seq",
        &[&id.as_str()],
    )?;
    if let Some(due) = open.iter().find(|d| to_ms(d.next_attempt_at) <= now_ms) {
        let events = events_in(tx, id, due.first_seq - 1, due.last_seq, u32::MAX)?;
        return Ok(NextDelivery::Due(due.clone(), events));
    }
    let mainline_open = open.iter().any(|d| d.last_seq > delivered_seq);
    if !mainline_open {
        let events = events_in(tx, id, delivered_seq, i64::MAX, batch_size.max(1))?;
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            let delivery_id = DeliveryId::generate();
            let created = to_ms(inner.clock.now());
            tx.execute(
                "INSERT INTO trigger_deliveries (id, subscription_id, first_seq, last_seq, state,
                     attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6)",
                rusqlite::params![
                    delivery_id.as_str(),
                    id.as_str(),
                    first.seq,
                    last.seq,
                    now_ms,
                    created
                ],
            )?;
            let delivery = get_delivery(tx, &delivery_id)?;
            return Ok(NextDelivery::Due(delivery, events));
        }
    }
    Ok(match open.iter().map(|d| d.next_attempt_at).min() {
        Some(at) => NextDelivery::Later(at),
        None => NextDelivery::Idle,
    })
}

impl TriggerStore for SqliteStore {
    fn insert_subscription(&self, new: NewSubscription) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.write(move |tx, inner| {
            validate_new(&new)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM linked_accounts WHERE id = ?1)",
                [new.linked_account_id.as_str()],
                |row| row.get(0),
            )?;
            if !exists {
                return Err(Error::invalid(
                    "linked_account_id",
                    format!("no linked account {}", new.linked_account_id),
                ));
            }
            let id = SubscriptionId::generate();
            let now = to_ms(inner.clock.now());
            let (url, secret) = match &new.webhook {
                Some(w) => (
                    Some(w.url.as_str().to_owned()),
                    Some(inner.cipher.seal_secret(&secret_aad(&id), &w.secret)),
                ),
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO trigger_subscriptions (id, linked_account_id, source, start_from,
                     poll_interval_ms, overlap_ms, webhook_url, webhook_secret, max_attempts,
                     paused, cursor, delivered_seq, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, ?11, ?11)",
                rusqlite::params![
                    id.as_str(),
                    new.linked_account_id.as_str(),
                    new.source.to_string(),
                    new.start_from.to_string(),
                    new.poll_interval.as_millis() as i64,
                    new.overlap.map(|o| o.as_millis() as i64),
                    url,
                    secret,
                    new.max_attempts,
                    new.paused,
                    now
                ],
            )?;
            get_subscription(tx, &id)
        }))
    }

    fn subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.read(move |conn, _| get_subscription(conn, &id)))
    }

    fn list_subscriptions(&self) -> BoxFuture<'_, Result<Vec<Subscription>>> {
        Box::pin(self.read(|conn, _| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map([], subscription_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(into_subscription).collect()
        }))
    }

    fn update_subscription(
        &self,
        id: SubscriptionId,
        patch: SubscriptionPatch,
    ) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.write(move |tx, inner| {
            let now = to_ms(inner.clock.now());
            touch(tx, &id, now)?;
            if let Some(interval) = patch.poll_interval {
                if interval.is_zero() {
                    return Err(Error::invalid("poll_interval_ms", "must be positive"));
                }
                tx.execute(
                    "UPDATE trigger_subscriptions SET poll_interval_ms = ?1, next_poll_at = NULL
                     WHERE id = ?2",
                    rusqlite::params![interval.as_millis() as i64, id.as_str()],
                )?;
            }
            if let Some(overlap) = patch.overlap {
                tx.execute(
                    "UPDATE trigger_subscriptions SET overlap_ms = ?1 WHERE id = ?2",
                    rusqlite::params![overlap.map(|o| o.as_millis() as i64), id.as_str()],
                )?;
            }
            if let Some(max) = patch.max_attempts {
                if max == 0 {
                    return Err(Error::invalid("max_attempts", "at least 1 attempt"));
                }
                tx.execute(
                    "UPDATE trigger_subscriptions SET max_attempts = ?1 WHERE id = ?2",
                    rusqlite::params![max, id.as_str()],
                )?;
            }
            if let Some(paused) = patch.paused {
                tx.execute(
                    "UPDATE trigger_subscriptions SET paused = ?1 WHERE id = ?2",
                    rusqlite::params![paused, id.as_str()],
                )?;
            }
            match patch.webhook {
                None => {}
                Some(None) => {
                    tx.execute(
                        "UPDATE trigger_subscriptions SET webhook_url = NULL, webhook_secret = NULL
                         WHERE id = ?1",
                        [id.as_str()],
                    )?;
                }
                Some(Some(w)) => {
                    validate_webhook(&w)?;
                    let sealed = inner.cipher.seal_secret(&secret_aad(&id), &w.secret);
                    tx.execute(
                        "UPDATE trigger_subscriptions SET webhook_url = ?1, webhook_secret = ?2
                         WHERE id = ?3",
                        rusqlite::params![w.url.as_str(), sealed, id.as_str()],
                    )?;
                }
            }
            get_subscription(tx, &id)
        }))
    }

    fn delete_subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            // Explicit deletes rather than relying on the connection's foreign_keys pragma.
            tx.execute(
                "DELETE FROM trigger_deliveries WHERE subscription_id = ?1",
                [id.as_str()],
            )?;
            tx.execute(
                "DELETE FROM trigger_events WHERE subscription_id = ?1",
                [id.as_str()],
            )?;
            let changed = tx.execute(
                "DELETE FROM trigger_subscriptions WHERE id = ?1",
                [id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("subscription", id.as_str()));
            }
            Ok(())
        }))
    }

    fn webhook_secret(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Option<SecretString>>> {
        Box::pin(self.read(move |conn, inner| {
            let blob: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT webhook_secret FROM trigger_subscriptions WHERE id = ?1",
                    [id.as_str()],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
            blob.map(|blob| {
                inner
                    .cipher
                    .open_secret(&secret_aad(&id), &blob)
                    .map_err(|_| Error::Decrypt {
                        entity: "subscription",
                        id: id.to_string(),
                        field: "webhook_secret",
                    })
            })
            .transpose()
        }))
    }

    fn commit_poll(
        &self,
        id: SubscriptionId,
        events: Vec<NewEvent>,
        cursor: Value,
        read_generation: Option<i64>,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<PollCommit>> {
        Box::pin(self.write(move |tx, inner| {
            check_lease(tx, &id, LeaseKind::Poll, lease_owner.as_deref())?;
            let now = to_ms(inner.clock.now());
            // The subscription exists (checked above, in this write transaction): no row
            // changed means a reset moved the generation since the poll read it.
            let changed = tx.execute(
                "UPDATE trigger_subscriptions
                 SET cursor = ?1, last_poll_at = ?2, last_error = NULL, updated_at = ?2
                 WHERE id = ?3 AND (?4 IS NULL OR cursor_generation = ?4)",
                rusqlite::params![cursor.to_string(), now, id.as_str(), read_generation],
            )?;
            if changed == 0 {
                return Ok(PollCommit {
                    discarded: true,
                    ..PollCommit::default()
                });
            }
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO trigger_events (subscription_id, event_id, body, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut commit = PollCommit::default();
            for event in &events {
                let n = insert.execute(rusqlite::params![
                    id.as_str(),
                    event.id,
                    event.body.to_string(),
                    now
                ])?;
                if n == 1 {
                    commit.inserted += 1;
                } else {
                    commit.duplicates += 1;
                }
            }
            Ok(commit)
        }))
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<Pruned>> {
        Box::pin(self.write(move |tx, _inner| {
            let cutoff = to_ms(before);
            let deliveries = tx.execute(
                "DELETE FROM trigger_deliveries \
                 WHERE state IN ('delivered', 'dead_letter') AND updated_at < ?1",
                [cutoff],
            )?;
            let events = tx.execute(
                "DELETE FROM trigger_events WHERE created_at < ?1 \
                 AND EXISTS (SELECT 1 FROM trigger_subscriptions s \
                             WHERE s.id = trigger_events.subscription_id \
                             AND (s.webhook_url IS NULL OR trigger_events.seq <= s.delivered_seq)) \
                 AND NOT EXISTS (SELECT 1 FROM trigger_deliveries d \
                                 WHERE d.subscription_id = trigger_events.subscription_id \
                                 AND d.state <> 'delivered' \
                                 AND trigger_events.seq BETWEEN d.first_seq AND d.last_seq)",
                [cutoff],
            )?;
            Ok(Pruned {
                events: events as u64,
                deliveries: deliveries as u64,
            })
        }))
    }

    fn record_poll_error(
        &self,
        id: SubscriptionId,
        error: String,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, inner| {
            check_lease(tx, &id, LeaseKind::Poll, lease_owner.as_deref())?;
            let now = to_ms(inner.clock.now());
            let changed = tx.execute(
                "UPDATE trigger_subscriptions SET last_poll_at = ?1, last_error = ?2 WHERE id = ?3",
                rusqlite::params![now, error, id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("subscription", id.as_str()));
            }
            Ok(())
        }))
    }

    fn reset_cursor(
        &self,
        id: SubscriptionId,
        start_from: Value,
    ) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.write(move |tx, inner| {
            let now = to_ms(inner.clock.now());
            touch(tx, &id, now)?;
            tx.execute(
                "UPDATE trigger_subscriptions
                 SET cursor = NULL, start_from = ?1, next_poll_at = NULL,
                     cursor_generation = cursor_generation + 1
                 WHERE id = ?2",
                rusqlite::params![start_from.to_string(), id.as_str()],
            )?;
            get_subscription(tx, &id)
        }))
    }

    fn events_after(
        &self,
        id: SubscriptionId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>>> {
        Box::pin(self.read(move |conn, _| {
            get_subscription(conn, &id)?;
            events_in(conn, &id, after, i64::MAX, limit)
        }))
    }

    fn next_delivery(
        &self,
        id: SubscriptionId,
        now: SystemTime,
        batch_size: u32,
    ) -> BoxFuture<'_, Result<NextDelivery>> {
        Box::pin(self.write(move |tx, inner| next_delivery_in(tx, inner, &id, now, batch_size)))
    }

    fn record_delivery_attempt(
        &self,
        id: DeliveryId,
        outcome: AttemptOutcome,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(self.write(move |tx, inner| {
            let delivery = get_delivery(tx, &id)?;
            check_lease(
                tx,
                &delivery.subscription_id,
                LeaseKind::Delivery,
                lease_owner.as_deref(),
            )?;
            let now = to_ms(inner.clock.now());
            let (state, status, error, next_at, advance) = match outcome {
                AttemptOutcome::Delivered { status } => (
                    DeliveryState::Delivered,
                    Some(status),
                    None,
                    to_ms(delivery.next_attempt_at),
                    true,
                ),
                AttemptOutcome::Retry {
                    status,
                    error,
                    retry_at,
                } => (
                    DeliveryState::Retrying,
                    status,
                    Some(error),
                    to_ms(retry_at),
                    false,
                ),
                AttemptOutcome::DeadLetter { status, error } => (
                    DeliveryState::DeadLetter,
                    status,
                    Some(error),
                    to_ms(delivery.next_attempt_at),
                    true,
                ),
            };
            tx.execute(
                "UPDATE trigger_deliveries SET state = ?1, attempts = attempts + 1,
                     last_status = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5
                 WHERE id = ?6",
                rusqlite::params![state.as_str(), status, error, next_at, now, id.as_str()],
            )?;
            if advance {
                // MAX: a redelivered old batch never moves progress backwards.
                tx.execute(
                    "UPDATE trigger_subscriptions SET delivered_seq = MAX(delivered_seq, ?1)
                     WHERE id = ?2",
                    rusqlite::params![delivery.last_seq, delivery.subscription_id.as_str()],
                )?;
            }
            get_delivery(tx, &id)
        }))
    }

    fn claim_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
        now: SystemTime,
        force: bool,
    ) -> BoxFuture<'_, Result<LeaseClaim>> {
        Box::pin(self.write(move |tx, _| {
            let (owner_column, expiry_column) = kind.columns();
            let row: Option<(Option<String>, Option<i64>, Option<i64>)> = tx
                .query_row(
                    &format!(
                        "SELECT {owner_column}, {expiry_column}, next_poll_at
                         FROM trigger_subscriptions WHERE id = ?1"
                    ),
                    [id.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            let Some((holder, expires_at, next_poll_at)) = row else {
                return Err(Error::not_found("subscription", id.as_str()));
            };
            let now = to_ms(now);
            if let (Some(holder), Some(expires_at)) = (holder, expires_at)
                && holder != lease.owner
                && expires_at >= now
            {
                return Ok(LeaseClaim::Busy(from_ms(expires_at)));
            }
            if kind == LeaseKind::Poll
                && !force
                && let Some(at) = next_poll_at.filter(|&at| at > now)
            {
                return Ok(LeaseClaim::NotDue(from_ms(at)));
            }
            tx.execute(
                &format!(
                    "UPDATE trigger_subscriptions SET {owner_column} = ?1, {expiry_column} = ?2
                     WHERE id = ?3"
                ),
                rusqlite::params![lease.owner, to_ms(lease.expires_at), id.as_str()],
            )?;
            Ok(LeaseClaim::Claimed)
        }))
    }

    fn release_stale_leases(&self) -> BoxFuture<'_, Result<u64>> {
        // One process per data directory: whatever leases are stored, their owner is gone.
        Box::pin(self.write(|tx, _| {
            let n = tx.execute(
                "UPDATE trigger_subscriptions
                 SET poll_lease_owner = NULL, poll_lease_expires_at = NULL,
                     delivery_lease_owner = NULL, delivery_lease_expires_at = NULL
                 WHERE poll_lease_owner IS NOT NULL OR delivery_lease_owner IS NOT NULL",
                [],
            )?;
            Ok(n as u64)
        }))
    }

    fn release_leases_of(&self, owner: String) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.write(move |tx, _| Ok(tx.execute(RELEASE_LEASES_OF, [&owner])? as u64)))
    }

    fn renew_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.write(move |tx, _| {
            let (owner_column, expiry_column) = kind.columns();
            let n = tx.execute(
                &format!(
                    "UPDATE trigger_subscriptions SET {expiry_column} = ?1
                     WHERE id = ?2 AND {owner_column} = ?3"
                ),
                rusqlite::params![to_ms(lease.expires_at), id.as_str(), lease.owner],
            )?;
            Ok(n == 1)
        }))
    }

    fn release_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        owner: String,
        next_poll_at: Option<SystemTime>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            let (owner_column, expiry_column) = kind.columns();
            let next_poll_at = next_poll_at.filter(|_| kind == LeaseKind::Poll).map(to_ms);
            tx.execute(
                &format!(
                    "UPDATE trigger_subscriptions
                     SET {owner_column} = NULL, {expiry_column} = NULL,
                         next_poll_at = COALESCE(?1, next_poll_at)
                     WHERE id = ?2 AND {owner_column} = ?3"
                ),
                rusqlite::params![next_poll_at, id.as_str(), owner],
            )?;
            Ok(())
        }))
    }

    fn dead_letters(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Vec<Delivery>>> {
        Box::pin(self.read(move |conn, _| {
            get_subscription(conn, &id)?;
            query_deliveries(
                conn,
                "subscription_id = ?1 AND state = 'dead_letter' ORDER BY updated_at DESC, id",
                &[&id.as_str()],
            )
        }))
    }

    fn delivery(&self, id: DeliveryId) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(self.read(move |conn, _| get_delivery(conn, &id)))
    }

    fn redeliver(
        &self,
        subscription: SubscriptionId,
        delivery: DeliveryId,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(self.write(move |tx, inner| {
            let found = get_delivery(tx, &delivery)?;
            if found.subscription_id != subscription {
                return Err(Error::not_found("delivery", delivery.as_str()));
            }
            if found.state != DeliveryState::DeadLetter {
                return Err(Error::invalid(
                    "delivery_id",
                    format!(
                        "only dead-lettered deliveries can be redelivered; this one is {}",
                        found.state.as_str()
                    ),
                ));
            }
            tx.execute(
                "UPDATE trigger_deliveries SET state = 'pending', attempts = 0,
                     next_attempt_at = ?1, updated_at = ?2 WHERE id = ?3",
                rusqlite::params![to_ms(now), to_ms(inner.clock.now()), delivery.as_str()],
            )?;
            get_delivery(tx, &delivery)
        }))
    }
}
