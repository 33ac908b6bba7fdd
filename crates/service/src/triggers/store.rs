//! [`TriggerStore`]: the storage interface of triggers, separate from [`crate::Store`] so the
//! two evolve apart. [`crate::SqliteStore`] implements both (see `store/sqlite_triggers.rs`).
//!
//! The two durability rules live here: [`TriggerStore::commit_poll`] writes a poll's events and
//! its cursor in one transaction, and [`TriggerStore::record_delivery_attempt`] moves a
//! subscription's delivery progress only after a 2xx (or a dead-letter).
//!
//! Several processes on one database share the subscriptions through two leases per
//! subscription ([`LeaseKind`]): whoever claims a subscription's poll lease polls it (when due:
//! the next poll time is stored with the lease's release, so replicas agree on the schedule),
//! and whoever claims its delivery lease sends its webhooks. The holder renews a lease while it
//! works; an expired one is claimed by another process; and the writes of leased work
//! ([`TriggerStore::commit_poll`], [`TriggerStore::record_poll_error`],
//! [`TriggerStore::record_delivery_attempt`] with a lease owner) are refused with
//! [`crate::Error::LeaseLost`] when the caller no longer holds the lease, in the same
//! transaction, so a process that lost its lease cannot commit.

use std::fmt;
use std::time::SystemTime;

use brickwire_api::SecretString;
use futures::future::BoxFuture;
use serde_json::Value;

use super::model::{
    AttemptOutcome, Delivery, DeliveryId, LeaseClaim, LeaseKind, NewEvent, NewSubscription,
    NextDelivery, PollCommit, StoredEvent, Subscription, SubscriptionId, SubscriptionPatch,
};
use crate::Result;
use crate::store::Lease;

/// Storage of subscriptions, cursors, events and deliveries.
///
/// Errors: missing rows are [`crate::Error::NotFound`]; bad input [`crate::Error::InvalidInput`]
/// naming the field.
pub trait TriggerStore: Send + Sync + fmt::Debug {
    /// Stores a new subscription (the webhook secret encrypted). The linked account must exist.
    fn insert_subscription(&self, new: NewSubscription) -> BoxFuture<'_, Result<Subscription>>;

    /// One subscription.
    fn subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Subscription>>;

    /// Every subscription, oldest first.
    fn list_subscriptions(&self) -> BoxFuture<'_, Result<Vec<Subscription>>>;

    /// Applies a partial update.
    fn update_subscription(
        &self,
        id: SubscriptionId,
        patch: SubscriptionPatch,
    ) -> BoxFuture<'_, Result<Subscription>>;

    /// Deletes a subscription with its events and deliveries.
    fn delete_subscription(&self, id: SubscriptionId) -> BoxFuture<'_, Result<()>>;

    /// The decrypted webhook secret (`None` for pull-only).
    fn webhook_secret(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Option<SecretString>>>;

    /// In one transaction: stores `events` (ignoring ids already stored for the subscription)
    /// and replaces the cursor with `cursor`, and clears the last error. Nothing of it is
    /// visible unless all of it is. With `lease_owner`, only while that owner holds the poll
    /// lease ([`crate::Error::LeaseLost`] otherwise, and nothing is written). With
    /// `read_generation` (the [`Subscription::cursor_generation`] the poll started from), only
    /// if no [`TriggerStore::reset_cursor`] came since; otherwise nothing is written and the
    /// commit is [`PollCommit::discarded`], so a reset is never overwritten by a poll that
    /// was in flight when it was made.
    fn commit_poll(
        &self,
        id: SubscriptionId,
        events: Vec<NewEvent>,
        cursor: Value,
        read_generation: Option<i64>,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<PollCommit>>;

    /// Records a failed poll (the cursor stays); with `lease_owner`, guarded as `commit_poll`.
    fn record_poll_error(
        &self,
        id: SubscriptionId,
        error: String,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>>;

    /// Takes `kind`'s lease of a subscription for `lease.owner` (or extends it, if the owner
    /// holds it), unless another owner holds it unexpired at `now`; a poll lease only when the
    /// next poll is due at `now`, unless `force`.
    fn claim_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
        now: SystemTime,
        force: bool,
    ) -> BoxFuture<'_, Result<LeaseClaim>>;

    /// At start-up: drops the poll and delivery leases of processes that are gone, so their
    /// work is taken at once. Returns how many subscriptions had one. On the embedded store (one
    /// process per data directory) that is every lease; on a shared database none: a lease
    /// there may be a live replica's, and expires on its own when it is not.
    fn release_stale_leases(&self) -> BoxFuture<'_, Result<u64>>;

    /// Graceful shutdown: drops every lease `owner` holds, so other replicas take the work at
    /// once. Returns how many subscriptions had one.
    fn release_leases_of(&self, owner: String) -> BoxFuture<'_, Result<u64>>;

    /// Extends `kind`'s lease to `lease.expires_at` if `lease.owner` still holds it; whether
    /// it does.
    fn renew_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        lease: Lease,
    ) -> BoxFuture<'_, Result<bool>>;

    /// Drops `kind`'s lease if `owner` holds it; for a poll lease, `next_poll_at` (when given)
    /// becomes the time every process's next poll of it is due.
    fn release_subscription_lease(
        &self,
        id: SubscriptionId,
        kind: LeaseKind,
        owner: String,
        next_poll_at: Option<SystemTime>,
    ) -> BoxFuture<'_, Result<()>>;

    /// Forgets the cursor, sets where the next poll starts and increments the cursor
    /// generation (so a poll in flight cannot commit over the reset). Stored events stay (and,
    /// having stable ids, are not stored twice if the source yields them again).
    fn reset_cursor(
        &self,
        id: SubscriptionId,
        start_from: Value,
    ) -> BoxFuture<'_, Result<Subscription>>;

    /// Events with a sequence id above `after`, oldest first, at most `limit`.
    fn events_after(
        &self,
        id: SubscriptionId,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>>>;

    /// What to deliver next for a webhook subscription at `now`: a due delivery (opening a new
    /// one of at most `batch_size` undelivered events when none is open), the time the next
    /// retry is due, or nothing.
    fn next_delivery(
        &self,
        id: SubscriptionId,
        now: SystemTime,
        batch_size: u32,
    ) -> BoxFuture<'_, Result<NextDelivery>>;

    /// Records how an attempt ended (incrementing the attempt count). With `lease_owner`, only
    /// while that owner holds the subscription's delivery lease ([`crate::Error::LeaseLost`]).
    fn record_delivery_attempt(
        &self,
        id: DeliveryId,
        outcome: AttemptOutcome,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<Delivery>>;

    /// The dead-lettered deliveries of a subscription, newest first.
    fn dead_letters(&self, id: SubscriptionId) -> BoxFuture<'_, Result<Vec<Delivery>>>;

    /// One delivery.
    fn delivery(&self, id: DeliveryId) -> BoxFuture<'_, Result<Delivery>>;

    /// Moves a dead-lettered delivery back to pending (attempts reset), due at `now`.
    fn redeliver(
        &self,
        subscription: SubscriptionId,
        delivery: DeliveryId,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Delivery>>;

    /// Deletes what has outlived `before`: finished deliveries (delivered or dead-lettered)
    /// last changed before it, then events created before it that nothing needs any more (of a
    /// pull subscription: all of them; of a webhook subscription: those delivered and in no
    /// pending, retrying or remaining dead-lettered delivery).
    fn prune(&self, before: SystemTime) -> BoxFuture<'_, Result<Pruned>>;
}

/// What [`TriggerStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events deleted.
    pub events: u64,
    /// Deliveries deleted.
    pub deliveries: u64,
}
