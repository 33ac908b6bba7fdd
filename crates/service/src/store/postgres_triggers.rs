//! [`TriggerStore`] for [`PgStore`]: subscriptions, their cursor, the event log and webhook
//! deliveries (tables of migration 4), ported from the SQLite store (`sqlite_triggers.rs`) with
//! the same behaviour and errors. Row conversions, validation and the webhook secret's
//! associated data are the SQLite file's, so both backends read and seal rows alike.
//!
//! Several replicas share the database, so what SQLite serialises with its single writer is
//! serialised here with row locks, always taken subscription first, then delivery (one order,
//! so no two writers deadlock):
//! - [`TriggerStore::commit_poll`] locks the subscription row before it inserts events. Event
//!   sequence values are handed out before commit, so without the lock two commits of one
//!   subscription could become visible out of sequence order and a reader paging with
//!   [`TriggerStore::events_after`] could skip an event. Duplicates are `ON CONFLICT DO
//!   NOTHING`; a commit waiting on the lock sees the first one's events as duplicates.
//! - [`TriggerStore::next_delivery`] locks the subscription row, so two replicas cannot open two
//!   deliveries over the same events: the second sees the first's delivery once it gets the
//!   lock.
//! - [`TriggerStore::record_delivery_attempt`] locks the subscription, then the delivery, so an
//!   outcome and the progress it moves commit together and never interleave with the opening
//!   of the next delivery; [`TriggerStore::redeliver`] locks the delivery before it checks the
//!   state.
//! - the remaining writes are single guarded statements (`UPDATE ... WHERE id = $1`, whose row
//!   count decides `NotFound`) or lock the row they check first.
//!
//! One difference: PostgreSQL `TEXT` cannot hold a NUL character, so NULs in free-text error
//! messages (`last_error`) are stored as U+FFFD instead of failing the write.

use std::time::SystemTime;

use brickwire_api::SecretString;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio_postgres::{GenericClient, Row};

use super::super::sqlite::triggers::{
    DELIVERY_COLUMNS, SUBSCRIPTION_COLUMNS, SubscriptionRow, finish_delivery, into_subscription,
    parse_json, secret_aad, validate_new, validate_webhook,
};
use super::super::sqlite::{from_ms, to_ms};
use super::{Inner, PgStore};
use crate::store::Lease;
use crate::triggers::model::{
    AttemptOutcome, Delivery, DeliveryId, DeliveryState, LeaseClaim, LeaseKind, NewEvent,
    NewSubscription, NextDelivery, PollCommit, StoredEvent, Subscription, SubscriptionId,
    SubscriptionPatch,
};
use crate::triggers::store::{Pruned, TriggerStore};
use crate::{Error, Result};

/// Drops both leases of every subscription where the owner (the one parameter) holds one.
const RELEASE_LEASES_OF: &str = "UPDATE trigger_subscriptions
     SET poll_lease_owner = CASE WHEN poll_lease_owner = $1 THEN NULL ELSE poll_lease_owner END,
         poll_lease_expires_at = CASE WHEN poll_lease_owner = $1 THEN NULL
                                      ELSE poll_lease_expires_at END,
         delivery_lease_owner = CASE WHEN delivery_lease_owner = $1 THEN NULL
                                     ELSE delivery_lease_owner END,
         delivery_lease_expires_at = CASE WHEN delivery_lease_owner = $1 THEN NULL
                                          ELSE delivery_lease_expires_at END
     WHERE poll_lease_owner = $1 OR delivery_lease_owner = $1";

/// A row of [`SUBSCRIPTION_COLUMNS`] (in that order).
fn subscription_row(row: &Row) -> Result<SubscriptionRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
        row.try_get(8)?,
        row.try_get(9)?,
        row.try_get(10)?,
        row.try_get(11)?,
        row.try_get(12)?,
        row.try_get(13)?,
        row.try_get(14)?,
        row.try_get(15)?,
    ))
}

/// A row of [`DELIVERY_COLUMNS`] (in that order).
fn delivery_from_row(row: &Row) -> Result<Delivery> {
    let delivery = Delivery {
        id: DeliveryId::new(row.try_get::<_, String>(0)?),
        subscription_id: SubscriptionId::new(row.try_get::<_, String>(1)?),
        first_seq: row.try_get(2)?,
        last_seq: row.try_get(3)?,
        state: DeliveryState::Pending,
        attempts: row.try_get::<_, i64>(5)?.max(0) as u32,
        next_attempt_at: from_ms(row.try_get(6)?),
        last_status: row.try_get::<_, Option<i64>>(7)?.map(|s| s as u16),
        last_error: row.try_get(8)?,
        created_at: from_ms(row.try_get(9)?),
        updated_at: from_ms(row.try_get(10)?),
    };
    finish_delivery((delivery, row.try_get(4)?))
}

/// Error text as PostgreSQL `TEXT` can hold it (no NUL).
fn pg_text(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

async fn get_subscription<C: GenericClient + Sync>(
    client: &C,
    id: &SubscriptionId,
) -> Result<Subscription> {
    let row = client
        .query_opt(
            &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions WHERE id = $1"),
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
    into_subscription(subscription_row(&row)?)
}

/// Locks the subscription row for the rest of the transaction; `NotFound` if there is none.
async fn lock_subscription<C: GenericClient + Sync>(client: &C, id: &SubscriptionId) -> Result<()> {
    client
        .query_opt(
            "SELECT 1 FROM trigger_subscriptions WHERE id = $1 FOR UPDATE",
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
    Ok(())
}

/// Locks the subscription for the rest of the transaction and, with `owner`, checks that the
/// owner holds its `kind` lease ([`Error::LeaseLost`] otherwise); `NotFound` if there is none.
async fn check_lease<C: GenericClient + Sync>(
    client: &C,
    id: &SubscriptionId,
    kind: LeaseKind,
    owner: Option<&str>,
) -> Result<()> {
    let (owner_column, _) = kind.columns();
    let row = client
        .query_opt(
            &format!("SELECT {owner_column} FROM trigger_subscriptions WHERE id = $1 FOR UPDATE"),
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
    let holder: Option<String> = row.try_get(0)?;
    match owner {
        Some(owner) if holder.as_deref() != Some(owner) => Err(Error::LeaseLost {
            entity: "subscription",
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Deliveries matching `condition` (which may end with `ORDER BY` or a lock clause).
async fn query_deliveries<C: GenericClient + Sync>(
    client: &C,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Delivery>> {
    client
        .query(
            &format!("SELECT {DELIVERY_COLUMNS} FROM trigger_deliveries WHERE {condition}"),
            params,
        )
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
}

/// One delivery; `lock` is appended to the query (`""` or `" FOR UPDATE"`).
async fn get_delivery<C: GenericClient + Sync>(
    client: &C,
    id: &DeliveryId,
    lock: &str,
) -> Result<Delivery> {
    query_deliveries(client, &format!("id = $1{lock}"), &[&id.as_str()])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("delivery", id.as_str()))
}

async fn events_in<C: GenericClient + Sync>(
    client: &C,
    id: &SubscriptionId,
    after: i64,
    up_to: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let rows = client
        .query(
            "SELECT seq, event_id, body, created_at FROM trigger_events
             WHERE subscription_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
            &[&id.as_str(), &after, &up_to, &i64::from(limit)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let body: String = row.try_get(2)?;
            Ok(StoredEvent {
                seq: row.try_get(0)?,
                event_id: row.try_get(1)?,
                body: parse_json(&body, "event body")?,
                created_at: from_ms(row.try_get(3)?),
            })
        })
        .collect()
}

/// Sets `updated_at` (taking the row lock); `NotFound` if there is no such subscription.
async fn touch<C: GenericClient + Sync>(client: &C, id: &SubscriptionId, now: i64) -> Result<()> {
    let changed = client
        .execute(
            "UPDATE trigger_subscriptions SET updated_at = $1 WHERE id = $2",
            &[&now, &id.as_str()],
        )
        .await?;
    if changed == 0 {
        return Err(Error::not_found("subscription", id.as_str()));
    }
    Ok(())
}

async fn next_delivery_in<C: GenericClient + Sync>(
    tx: &C,
    inner: &Inner,
    id: &SubscriptionId,
    now: SystemTime,
    batch_size: u32,
) -> Result<NextDelivery> {
    let now_ms = to_ms(now);
    // The lock serialises replicas opening deliveries for this subscription.
    let delivered_seq: i64 = tx
        .query_opt(
            "SELECT delivered_seq FROM trigger_subscriptions WHERE id = $1 FOR UPDATE",
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("subscription", id.as_str()))?
        .try_get(0)?;
    let open = query_deliveries(
        tx,
        "subscription_id = $1 AND state IN ('pending', 'retrying') ORDER BY first_seq",
        &[&id.as_str()],
    )
    .await?;
    if let Some(due) = open.iter().find(|d| to_ms(d.next_attempt_at) <= now_ms) {
        let events = events_in(tx, id, due.first_seq - 1, due.last_seq, u32::MAX).await?;
        return Ok(NextDelivery::Due(due.clone(), events));
    }
    let mainline_open = open.iter().any(|d| d.last_seq > delivered_seq);
    if !mainline_open {
        let events = events_in(tx, id, delivered_seq, i64::MAX, batch_size.max(1)).await?;
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            let delivery_id = DeliveryId::generate();
            let created = to_ms(inner.clock.now());
            tx.execute(
                "INSERT INTO trigger_deliveries (id, subscription_id, first_seq, last_seq, state,
                     attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6)",
                &[
                    &delivery_id.as_str(),
                    &id.as_str(),
                    &first.seq,
                    &last.seq,
                    &now_ms,
                    &created,
                ],
            )
            .await?;
            let delivery = get_delivery(tx, &delivery_id, "").await?;
            return Ok(NextDelivery::Due(delivery, events));
        }
    }
    Ok(match open.iter().map(|d| d.next_attempt_at).min() {
        Some(at) => NextDelivery::Later(at),
        None => NextDelivery::Idle,
    })
}

impl PgStore {
    async fn insert_subscription_in(&self, new: NewSubscription) -> Result<Subscription> {
        validate_new(&new)?;
        let inner = &self.inner;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // KEY SHARE: the account cannot be deleted before this insert commits.
        let exists = tx
            .query_opt(
                "SELECT 1 FROM linked_accounts WHERE id = $1 FOR KEY SHARE",
                &[&new.linked_account_id.as_str()],
            )
            .await?
            .is_some();
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 0, $11, $11)",
            &[
                &id.as_str(),
                &new.linked_account_id.as_str(),
                &new.source.to_string(),
                &new.start_from.to_string(),
                &(new.poll_interval.as_millis() as i64),
                &new.overlap.map(|o| o.as_millis() as i64),
                &url,
                &secret,
                &i64::from(new.max_attempts),
                &new.paused,
                &now,
            ],
        )
        .await?;
        let subscription = get_subscription(&*tx, &id).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    async fn update_subscription_in(
        &self,
        id: SubscriptionId,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let inner = &self.inner;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let now = to_ms(inner.clock.now());
        touch(&*tx, &id, now).await?;
        if let Some(interval) = patch.poll_interval {
            if interval.is_zero() {
                return Err(Error::invalid("poll_interval_ms", "must be positive"));
            }
            tx.execute(
                "UPDATE trigger_subscriptions SET poll_interval_ms = $1, next_poll_at = NULL
                     WHERE id = $2",
                &[&(interval.as_millis() as i64), &id.as_str()],
            )
            .await?;
        }
        if let Some(overlap) = patch.overlap {
            tx.execute(
                "UPDATE trigger_subscriptions SET overlap_ms = $1 WHERE id = $2",
                &[&overlap.map(|o| o.as_millis() as i64), &id.as_str()],
            )
            .await?;
        }
        if let Some(max) = patch.max_attempts {
            if max == 0 {
                return Err(Error::invalid("max_attempts", "at least 1 attempt"));
            }
            tx.execute(
                "UPDATE trigger_subscriptions SET max_attempts = $1 WHERE id = $2",
                &[&i64::from(max), &id.as_str()],
            )
            .await?;
        }
        if let Some(paused) = patch.paused {
            tx.execute(
                "UPDATE trigger_subscriptions SET paused = $1 WHERE id = $2",
                &[&paused, &id.as_str()],
            )
            .await?;
        }
        match patch.webhook {
            None => {}
            Some(None) => {
                tx.execute(
                    "UPDATE trigger_subscriptions SET webhook_url = NULL, webhook_secret = NULL
                     WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?;
            }
            Some(Some(w)) => {
                validate_webhook(&w)?;
                let sealed = inner.cipher.seal_secret(&secret_aad(&id), &w.secret);
                tx.execute(
                    "UPDATE trigger_subscriptions SET webhook_url = $1, webhook_secret = $2
                     WHERE id = $3",
                    &[&w.url.as_str(), &sealed, &id.as_str()],
                )
                .await?;
            }
        }
        let subscription = get_subscription(&*tx, &id).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    async fn delete_subscription_in(&self, id: SubscriptionId) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Subscription first, then its deliveries: the lock order of every writer here.
        lock_subscription(&*tx, &id).await?;
        // Explicit deletes, as in SQLite (the foreign keys would cascade too).
        tx.execute(
            "DELETE FROM trigger_deliveries WHERE subscription_id = $1",
            &[&id.as_str()],
        )
        .await?;
        tx.execute(
            "DELETE FROM trigger_events WHERE subscription_id = $1",
            &[&id.as_str()],
        )
        .await?;
        let changed = tx
            .execute(
                "DELETE FROM trigger_subscriptions WHERE id = $1",
                &[&id.as_str()],
            )
            .await?;
        if changed == 0 {
            return Err(Error::not_found("subscription", id.as_str()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn webhook_secret_in(&self, id: SubscriptionId) -> Result<Option<SecretString>> {
        let conn = self.conn().await?;
        let blob: Option<Vec<u8>> = conn
            .query_opt(
                "SELECT webhook_secret FROM trigger_subscriptions WHERE id = $1",
                &[&id.as_str()],
            )
            .await?
            .ok_or_else(|| Error::not_found("subscription", id.as_str()))?
            .try_get(0)?;
        blob.map(|blob| {
            self.inner
                .cipher
                .open_secret(&secret_aad(&id), &blob)
                .map_err(|_| Error::Decrypt {
                    entity: "subscription",
                    id: id.to_string(),
                    field: "webhook_secret",
                })
        })
        .transpose()
    }

    async fn commit_poll_in(
        &self,
        id: SubscriptionId,
        events: Vec<NewEvent>,
        cursor: Value,
        read_generation: Option<i64>,
        lease_owner: Option<String>,
    ) -> Result<PollCommit> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Serialises this subscription's commits, so its sequence order is its commit order,
        // and holds off a takeover of the lease until this commit is done.
        check_lease(&*tx, &id, LeaseKind::Poll, lease_owner.as_deref()).await?;
        let now = to_ms(self.inner.clock.now());
        // The row is locked (above) and exists: no row changed means a reset moved the
        // generation since the poll read it.
        let changed = tx
            .execute(
                "UPDATE trigger_subscriptions
                 SET cursor = $1, last_poll_at = $2, last_error = NULL, updated_at = $2
                 WHERE id = $3 AND ($4::BIGINT IS NULL OR cursor_generation = $4)",
                &[&cursor.to_string(), &now, &id.as_str(), &read_generation],
            )
            .await?;
        if changed == 0 {
            return Ok(PollCommit {
                discarded: true,
                ..PollCommit::default()
            });
        }
        let mut commit = PollCommit::default();
        if !events.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO trigger_events (subscription_id, event_id, body, created_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (subscription_id, event_id) DO NOTHING",
                )
                .await?;
            for event in &events {
                let n = tx
                    .execute(
                        &insert,
                        &[&id.as_str(), &event.id, &event.body.to_string(), &now],
                    )
                    .await?;
                if n == 1 {
                    commit.inserted += 1;
                } else {
                    commit.duplicates += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(commit)
    }

    async fn prune_in(&self, before: SystemTime) -> Result<Pruned> {
        let cutoff = to_ms(before);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let deliveries = tx
            .execute(
                "DELETE FROM trigger_deliveries \
                 WHERE state IN ('delivered', 'dead_letter') AND updated_at < $1",
                &[&cutoff],
            )
            .await?;
        let events = tx
            .execute(
                "DELETE FROM trigger_events WHERE created_at < $1 \
                 AND EXISTS (SELECT 1 FROM trigger_subscriptions s \
                             WHERE s.id = trigger_events.subscription_id \
                             AND (s.webhook_url IS NULL OR trigger_events.seq <= s.delivered_seq)) \
                 AND NOT EXISTS (SELECT 1 FROM trigger_deliveries d \
                                 WHERE d.subscription_id = trigger_events.subscription_id \
                                 AND d.state <> 'delivered' \
                                 AND trigger_events.seq BETWEEN d.first_seq AND d.last_seq)",
                &[&cutoff],
            )
            .await?;
        tx.commit().await?;
        Ok(Pruned { events, deliveries })
    }

    async fn record_poll_error_in(
        &self,
        id: SubscriptionId,
        error: String,
        lease_owner: Option<String>,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        check_lease(&*tx, &id, LeaseKind::Poll, lease_owner.as_deref()).await?;
        let now = to_ms(self.inner.clock.now());
        tx.execute(
            "UPDATE trigger_subscriptions SET last_poll_at = $1, last_error = $2 WHERE id = $3",
            &[&now, &pg_text(error), &id.as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_lease_in(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
        now: SystemTime,
        force: bool,
    ) -> Result<LeaseClaim> {
        let (owner_column, expiry_column) = kind.columns();
        let conn = self.conn().await?;
        let now = to_ms(now);
        let ignore_schedule = force || kind != LeaseKind::Poll;
        // The row is skipped while another transaction holds it (a replica claiming or
        // committing): that replica has the work now.
        let claimed = conn
            .query_opt(
                &format!(
                    "UPDATE trigger_subscriptions SET {owner_column} = $2, {expiry_column} = $3
                     WHERE id = (
                         SELECT id FROM trigger_subscriptions
                         WHERE id = $1
                           AND ({owner_column} IS NULL OR {owner_column} = $2
                                OR {expiry_column} < $4)
                           AND ($5 OR next_poll_at IS NULL OR next_poll_at <= $4)
                         FOR UPDATE SKIP LOCKED)
                     RETURNING id"
                ),
                &[
                    &id.as_str(),
                    &lease.owner,
                    &to_ms(lease.expires_at),
                    &now,
                    &ignore_schedule,
                ],
            )
            .await?;
        if claimed.is_some() {
            return Ok(LeaseClaim::Claimed);
        }
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {owner_column}, {expiry_column}, next_poll_at
                     FROM trigger_subscriptions WHERE id = $1"
                ),
                &[&id.as_str()],
            )
            .await?
            .ok_or_else(|| Error::not_found("subscription", id.as_str()))?;
        let (holder, expires_at, next_poll_at): (Option<String>, Option<i64>, Option<i64>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        Ok(match (holder, expires_at, next_poll_at) {
            (Some(holder), Some(at), _) if holder != lease.owner && at >= now => {
                LeaseClaim::Busy(from_ms(at))
            }
            (_, _, Some(at)) if !ignore_schedule && at > now => LeaseClaim::NotDue(from_ms(at)),
            // Locked by a transaction in progress: try again shortly.
            _ => LeaseClaim::Busy(from_ms(now)),
        })
    }

    async fn reset_cursor_in(&self, id: SubscriptionId, start_from: Value) -> Result<Subscription> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let now = to_ms(self.inner.clock.now());
        touch(&*tx, &id, now).await?;
        tx.execute(
            "UPDATE trigger_subscriptions
             SET cursor = NULL, start_from = $1, next_poll_at = NULL,
                 cursor_generation = cursor_generation + 1
             WHERE id = $2",
            &[&start_from.to_string(), &id.as_str()],
        )
        .await?;
        let subscription = get_subscription(&*tx, &id).await?;
        tx.commit().await?;
        Ok(subscription)
    }

    async fn record_delivery_attempt_in(
        &self,
        id: DeliveryId,
        outcome: AttemptOutcome,
        lease_owner: Option<String>,
    ) -> Result<Delivery> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Lock order: the subscription (a delivery never changes subscription), then the
        // delivery, re-read under its lock.
        let subscription_id = get_delivery(&*tx, &id, "").await?.subscription_id;
        check_lease(
            &*tx,
            &subscription_id,
            LeaseKind::Delivery,
            lease_owner.as_deref(),
        )
        .await?;
        let delivery = get_delivery(&*tx, &id, " FOR UPDATE").await?;
        let now = to_ms(self.inner.clock.now());
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
            "UPDATE trigger_deliveries SET state = $1, attempts = attempts + 1,
                 last_status = $2, last_error = $3, next_attempt_at = $4, updated_at = $5
             WHERE id = $6",
            &[
                &state.as_str(),
                &status.map(i64::from),
                &error.map(pg_text),
                &next_at,
                &now,
                &id.as_str(),
            ],
        )
        .await?;
        if advance {
            // GREATEST: a redelivered old batch never moves progress backwards.
            tx.execute(
                "UPDATE trigger_subscriptions SET delivered_seq = GREATEST(delivered_seq, $1)
                 WHERE id = $2",
                &[&delivery.last_seq, &delivery.subscription_id.as_str()],
            )
            .await?;
        }
        let delivery = get_delivery(&*tx, &id, "").await?;
        tx.commit().await?;
        Ok(delivery)
    }

    async fn redeliver_in(
        &self,
        subscription: SubscriptionId,
        delivery: DeliveryId,
        now: SystemTime,
    ) -> Result<Delivery> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let found = get_delivery(&*tx, &delivery, " FOR UPDATE").await?;
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
                 next_attempt_at = $1, updated_at = $2 WHERE id = $3",
            &[
                &to_ms(now),
                &to_ms(self.inner.clock.now()),
                &delivery.as_str(),
            ],
        )
        .await?;
        let found = get_delivery(&*tx, &delivery, "").await?;
        tx.commit().await?;
        Ok(found)
    }
}

impl TriggerStore for PgStore {
    fn insert_subscription(&self, new: NewSubscription) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.insert_subscription_in(new))
    }

    fn subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_subscription(&**conn, &id).await
        })
    }

    fn list_subscriptions(&self) -> BoxFuture<'_, Result<Vec<Subscription>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM trigger_subscriptions \
                     ORDER BY created_at, id"
                ),
                &[],
            )
            .await?
            .iter()
            .map(|row| into_subscription(subscription_row(row)?))
            .collect()
        })
    }

    fn update_subscription(
        &self,
        id: SubscriptionId,
        patch: SubscriptionPatch,
    ) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.update_subscription_in(id, patch))
    }

    fn delete_subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.delete_subscription_in(id))
    }

    fn webhook_secret(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Option<SecretString>>> {
        Box::pin(self.webhook_secret_in(id))
    }

    fn commit_poll(
        &self,
        id: SubscriptionId,
        events: Vec<NewEvent>,
        cursor: Value,
        read_generation: Option<i64>,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<PollCommit>> {
        Box::pin(self.commit_poll_in(id, events, cursor, read_generation, lease_owner))
    }

    fn record_poll_error(
        &self,
        id: SubscriptionId,
        error: String,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.record_poll_error_in(id, error, lease_owner))
    }

    fn claim_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
        now: SystemTime,
        force: bool,
    ) -> BoxFuture<'_, Result<LeaseClaim>> {
        Box::pin(self.claim_lease_in(id, kind, lease, now, force))
    }

    fn release_stale_leases(&self) -> BoxFuture<'_, Result<u64>> {
        // Other replicas may be alive and holding theirs; dead ones' leases expire.
        Box::pin(async { Ok(0) })
    }

    fn release_leases_of(&self, owner: String) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn.execute(RELEASE_LEASES_OF, &[&owner]).await?)
        })
    }

    fn renew_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
    ) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let (owner_column, expiry_column) = kind.columns();
            let conn = self.conn().await?;
            let n = conn
                .execute(
                    &format!(
                        "UPDATE trigger_subscriptions SET {expiry_column} = $1
                         WHERE id = $2 AND {owner_column} = $3"
                    ),
                    &[&to_ms(lease.expires_at), &id.as_str(), &lease.owner],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn release_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        owner: String,
        next_poll_at: Option<SystemTime>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let (owner_column, expiry_column) = kind.columns();
            let next_poll_at = next_poll_at.filter(|_| kind == LeaseKind::Poll).map(to_ms);
            let conn = self.conn().await?;
            conn.execute(
                &format!(
                    "UPDATE trigger_subscriptions
                     SET {owner_column} = NULL, {expiry_column} = NULL,
                         next_poll_at = COALESCE($1, next_poll_at)
                     WHERE id = $2 AND {owner_column} = $3"
                ),
                &[&next_poll_at, &id.as_str(), &owner],
            )
            .await?;
            Ok(())
        })
    }

    fn reset_cursor(
        &self,
        id: SubscriptionId,
        start_from: Value,
    ) -> BoxFuture<'_, Result<Subscription>> {
        Box::pin(self.reset_cursor_in(id, start_from))
    }

    fn events_after(
        &self,
        id: SubscriptionId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_subscription(&**conn, &id).await?;
            events_in(&**conn, &id, after, i64::MAX, limit).await
        })
    }

    fn next_delivery(
        &self,
        id: SubscriptionId,
        now: SystemTime,
        batch_size: u32,
    ) -> BoxFuture<'_, Result<NextDelivery>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let next = next_delivery_in(&*tx, &self.inner, &id, now, batch_size).await?;
            tx.commit().await?;
            Ok(next)
        })
    }

    fn record_delivery_attempt(
        &self,
        id: DeliveryId,
        outcome: AttemptOutcome,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(self.record_delivery_attempt_in(id, outcome, lease_owner))
    }

    fn dead_letters(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Vec<Delivery>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_subscription(&**conn, &id).await?;
            query_deliveries(
                &**conn,
                "subscription_id = $1 AND state = 'dead_letter' ORDER BY updated_at DESC, id",
                &[&id.as_str()],
            )
            .await
        })
    }

    fn delivery(&self, id: DeliveryId) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_delivery(&**conn, &id, "").await
        })
    }

    fn redeliver(
        &self,
        subscription: SubscriptionId,
        delivery: DeliveryId,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Delivery>> {
        Box::pin(self.redeliver_in(subscription, delivery, now))
    }

    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<Pruned>> {
        Box::pin(self.prune_in(before))
    }
}
