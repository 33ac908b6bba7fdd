//! [`TriggerStore`]: the storage interface of triggers, separate from [`crate::Store`] so the
//! two evolve apart. [`crate::SqliteStore`] implements both (see `store/sqlite_triggers.rs`).
//!
//! The two durability rules live here: [`TriggerStore::commit_poll`] writes a poll's events and
//! its cursor in one transaction, and [`TriggerStore::record_delivery_attempt`] moves a
//! subscription's delivery progress only after a 2xx (or a dead-letter).

use std::fmt;
use std::time::SystemTime;

use brickwire_api::SecretString;
use futures::future::BoxFuture;
use serde_json::Value;

use super::model::{
    AttemptOutcome, Delivery, DeliveryId, NewEvent, NewSubscription, NextDelivery, PollCommit,
    StoredEvent, Subscription, SubscriptionId, SubscriptionPatch,
};
use crate::Result;

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
    /// visible unless all of it is.
    fn commit_poll(
        &self,
        id: SubscriptionId,
        events: Vec<NewEvent>,
        cursor: Value,
    ) -> BoxFuture<'_, Result<PollCommit>>;

    /// Records a failed poll (the cursor stays).
    fn record_poll_error(&self, id: SubscriptionId, error: String) -> BoxFuture<'_, Result<()>>;

    /// Forgets the cursor and sets where the next poll starts. Stored events stay (and, having
    /// stable ids, are not stored twice if the source yields them again).
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

    /// Records how an attempt ended (incrementing the attempt count).
    fn record_delivery_attempt(
        &self,
        id: DeliveryId,
        outcome: AttemptOutcome,
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
