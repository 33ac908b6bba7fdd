//! The entities of triggers as the store keeps them: subscriptions, their events (with the
//! per-subscription sequence id the pull API pages on) and webhook deliveries.
//!
//! Source specs, start choices and cursors are kept as JSON here: their types belong to the sync
//! library (`brickwire-sync`), and the store only needs to keep them intact.

use std::fmt;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::store::{LinkedAccountId, id_type};

id_type!(
    /// The identifier of a subscription, e.g. `sub_3f9a...`.
    SubscriptionId,
    "sub_"
);
id_type!(
    /// The identifier of a webhook delivery, e.g. `dlv_3f9a...`.
    DeliveryId,
    "dlv_"
);

/// Where a subscription's events go besides the pull API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryTarget {
    /// Only `GET /subscriptions/{id}/events`.
    Pull,
    /// POSTed in batches to a URL, signed with the subscription's secret.
    Webhook {
        /// The receiver.
        url: Url,
    },
}

/// A webhook as the operator sets it: the URL and the signing secret (stored encrypted, never
/// returned).
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The receiver.
    pub url: Url,
    /// The HMAC-SHA256 signing secret.
    pub secret: SecretString,
}

/// A stored subscription (the webhook secret stays in the store: see
/// [`super::TriggerStore::webhook_secret`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Its identifier.
    pub id: SubscriptionId,
    /// The linked account whose workspace is polled.
    pub linked_account_id: LinkedAccountId,
    /// The source spec (JSON of `brickwire_sync::SourceSpec`).
    pub source: Value,
    /// Where the first poll starts (JSON of `brickwire_sync::StartFrom`).
    pub start_from: Value,
    /// Time between polls (before jitter).
    pub poll_interval: Duration,
    /// How far each poll reaches back behind the cursor's watermark (`None`: the source's
    /// default, five minutes for times).
    pub overlap: Option<Duration>,
    /// Webhook or pull-only.
    pub delivery: DeliveryTarget,
    /// Attempts of one webhook delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// Paused subscriptions are not polled (deliveries of stored events continue).
    pub paused: bool,
    /// The sync cursor (JSON of `brickwire_sync::Cursor`); `None` before the first poll.
    pub cursor: Option<Value>,
    /// How many times the cursor was reset. A poll passes the generation it read to
    /// [`super::TriggerStore::commit_poll`], which discards the commit if a reset came since.
    pub cursor_generation: i64,
    /// Every event up to this sequence id was delivered or dead-lettered.
    pub delivered_seq: i64,
    /// When the last poll ended (committed or failed).
    pub last_poll_at: Option<SystemTime>,
    /// The last poll's error, cleared by the next successful poll.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: SystemTime,
    /// When its settings, pause state or cursor last changed.
    pub updated_at: SystemTime,
}

/// What [`super::TriggerStore::insert_subscription`] needs.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// The linked account to poll.
    pub linked_account_id: LinkedAccountId,
    /// The source spec (JSON).
    pub source: Value,
    /// Where the first poll starts (JSON).
    pub start_from: Value,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Overlap window of each poll (`None`: the source's default).
    pub overlap: Option<Duration>,
    /// The webhook, or `None` for pull-only.
    pub webhook: Option<Webhook>,
    /// Attempts per delivery before dead-lettering (at least 1).
    pub max_attempts: u32,
    /// Whether it starts paused.
    pub paused: bool,
}

/// A partial update of a subscription; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionPatch {
    /// New poll interval.
    pub poll_interval: Option<Duration>,
    /// New overlap window (`Some(None)`: back to the source's default).
    pub overlap: Option<Option<Duration>>,
    /// New attempt limit.
    pub max_attempts: Option<u32>,
    /// `Some(Some(w))` sets the webhook, `Some(None)` makes the subscription pull-only.
    pub webhook: Option<Option<Webhook>>,
    /// Pauses or resumes.
    pub paused: Option<bool>,
}

/// One event a poll produced, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The stable event id (source, key, version): the store keeps one row per id.
    pub id: String,
    /// The whole event as JSON.
    pub body: Value,
}

/// A stored event with its sequence id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Monotonically increasing over the store (so per subscription too); never reused.
    pub seq: i64,
    /// The stable event id.
    pub event_id: String,
    /// The event as the poll produced it.
    pub body: Value,
    /// When it was stored.
    pub created_at: SystemTime,
}

impl StoredEvent {
    /// The event as the API and webhooks send it: the event's own fields plus `sequence`.
    pub fn to_json(&self) -> Value {
        let mut body = match &self.body {
            Value::Object(map) => map.clone(),
            other => {
                let mut map = serde_json::Map::new();
                map.insert("data".into(), other.clone());
                map
            }
        };
        body.insert("sequence".into(), Value::from(self.seq));
        body.entry("id")
            .or_insert_with(|| Value::from(self.event_id.clone()));
        Value::Object(body)
    }
}

/// What one poll commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCommit {
    /// Events stored (events already stored for the subscription are ignored).
    pub inserted: u64,
    /// Events ignored as duplicates.
    pub duplicates: u64,
    /// The cursor was reset while the poll was in flight: nothing was written (the poll's
    /// events and cursor are dropped; the next poll starts from the reset point).
    pub discarded: bool,
}

/// The state of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not attempted yet (or redelivery requested).
    Pending,
    /// Failed at least once; tried again at `next_attempt_at`.
    Retrying,
    /// The receiver answered 2xx.
    Delivered,
    /// Failed `max_attempts` times; see the dead-letter list.
    DeadLetter,
}

impl DeliveryState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::DeadLetter => "dead_letter",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "retrying" => Some(DeliveryState::Retrying),
            "delivered" => Some(DeliveryState::Delivered),
            "dead_letter" => Some(DeliveryState::DeadLetter),
            _ => None,
        }
    }
}

/// One webhook delivery: a batch of a subscription's events, by sequence range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its identifier (sent as `delivery_id`, so receivers can deduplicate retries).
    pub id: DeliveryId,
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// The first event's sequence id.
    pub first_seq: i64,
    /// The last event's sequence id.
    pub last_seq: i64,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due (next try).
    pub next_attempt_at: SystemTime,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// How an attempt of a delivery ended, as [`super::TriggerStore::record_delivery_attempt`]
/// records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: the delivery is done and the subscription's progress advances.
    Delivered {
        /// The status received.
        status: u16,
    },
    /// Failed; try again at `retry_at`.
    Retry {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What failed (no secret, no body).
        error: String,
        /// When to try again.
        retry_at: SystemTime,
    },
    /// Failed for the last time: the delivery moves to the dead-letter list and the
    /// subscription's progress moves past it.
    DeadLetter {
        /// The status, if the receiver answered.
        status: Option<u16>,
        /// What failed.
        error: String,
    },
}

/// Which of a subscription's two leases: its polls, or its webhook deliveries (one process
/// sends a subscription's batches at a time, so they stay in order and none goes out twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// Polling the source and committing events and cursor.
    Poll,
    /// Sending webhook deliveries and recording their attempts.
    Delivery,
}

impl LeaseKind {
    /// The owner and expiry columns of `trigger_subscriptions`.
    pub(crate) fn columns(self) -> (&'static str, &'static str) {
        match self {
            LeaseKind::Poll => ("poll_lease_owner", "poll_lease_expires_at"),
            LeaseKind::Delivery => ("delivery_lease_owner", "delivery_lease_expires_at"),
        }
    }
}

/// What [`super::TriggerStore::claim_subscription_lease`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The lease is the caller's now.
    Claimed,
    /// Another process holds it until then.
    Busy(SystemTime),
    /// The next poll is not due before then (another process polled it).
    NotDue(SystemTime),
}

/// What a subscription's delivery worker should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum NextDelivery {
    /// This delivery is due now, with its events.
    Due(Delivery, Vec<StoredEvent>),
    /// Nothing is due before this time.
    Later(SystemTime),
    /// Nothing to deliver.
    Idle,
}
