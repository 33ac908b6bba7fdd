//! [`TriggerEngine`]: runs every subscription: polls on its interval with jitter (a bounded
//! number at once), commits events and cursor together, and delivers webhooks with retries.
//!
//! The engine is a state machine over the stored rows, like kube's `watcher`: everything it needs
//! to resume is in the [`TriggerStore`] (cursor, event log, open deliveries, delivery progress),
//! and its in-memory state is only timing (when each subscription is next due). So a restart on
//! the same data directory picks up where the last commit left off: a poll that was cut short
//! runs again from the committed cursor, and a delivery that was cut short is sent again.
//!
//! Several engines (service replicas) on one database share the subscriptions through the
//! store's leases ([`LeaseKind`]): each engine has a random owner id; before polling a
//! subscription it claims the poll lease (only granted when the poll is due by the schedule
//! every replica shares, so polls spread over the replicas instead of multiplying), renews it
//! every third of [`EngineOptions::lease`] while the poll runs, commits events and cursor guarded
//! by it, and releases it with the next poll time. Webhook deliveries of a subscription go out
//! under its delivery lease the same way, so one replica sends its batches, in order. A replica
//! that dies leaves leases that expire, and another takes the work over then; one that stalls
//! past its lease finds its commit refused ([`crate::Error::LeaseLost`]).
//!
//! Two seams keep it testable and independent of who builds clients and sources:
//! [`ClientSource`] gives the (shared, rate-limited) `brickwire_client::Client` of a linked
//! account, and [`Poller`] runs one poll of a source spec.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use brickwire_client::Client;
use brickwire_client::http::{Clock, TokioClock};
use futures::future::BoxFuture;
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::model::{
    AttemptOutcome, Delivery, DeliveryTarget, LeaseClaim, LeaseKind, NewEvent, NextDelivery,
    PollCommit, StoredEvent, Subscription, SubscriptionId,
};
use super::signature::{SIGNATURE_HEADER, sign};
use super::store::TriggerStore;
use crate::store::{Lease, LinkedAccountId};

/// Gives the `Client` of a linked account. Implementations should hand out one shared client
/// per linked account, so every subscription on it shares the client's rate limiter.
pub trait ClientSource: Send + Sync + fmt::Debug {
    /// The client for `account`; errors are short messages without secrets.
    fn client(&self, account: &LinkedAccountId) -> BoxFuture<'_, Result<Client, String>>;
}

/// What one poll needs from the stored subscription.
#[derive(Debug, Clone, Copy)]
pub struct PollRequest<'a> {
    /// The source spec (JSON).
    pub source: &'a Value,
    /// Where to start when there is no cursor (JSON).
    pub start_from: &'a Value,
    /// The committed cursor, if any (JSON).
    pub cursor: Option<&'a Value>,
    /// How far to reach back behind the cursor's watermark (`None`: the source's default).
    pub overlap: Option<Duration>,
}

/// What one poll produced: new events and the cursor after them.
#[derive(Debug, Clone, PartialEq)]
pub struct PollResult {
    /// The events, each with a stable id.
    pub events: Vec<NewEvent>,
    /// The cursor to commit with them.
    pub cursor: Value,
    /// The poll stopped at its batch size: poll again without waiting (a backfill).
    pub more: bool,
}

/// An input field the poller rejects, named as the REST API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The field, e.g. `source.kind`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Runs polls of source specs (the sync library behind a seam).
pub trait Poller: Send + Sync + fmt::Debug {
    /// Checks a source spec and a start choice before they are stored.
    fn validate(&self, source: &Value, start_from: &Value) -> Result<(), InvalidField>;

    /// One poll from `request.cursor` (or `request.start_from`).
    fn poll<'a>(
        &'a self,
        client: &'a Client,
        request: PollRequest<'a>,
    ) -> BoxFuture<'a, Result<PollResult, String>>;
}

/// A source of randomness in `[0, 1)` for jitter (injectable so tests are exact).
pub trait Random: Send + Sync + fmt::Debug {
    /// The next value in `[0, 1)`.
    fn unit(&self) -> f64;
}

/// `rand`'s thread generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadRandom;

impl Random for ThreadRandom {
    fn unit(&self) -> f64 {
        rand::rng().random::<f64>()
    }
}

/// Always the same value (for tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedRandom(pub f64);

impl Random for FixedRandom {
    fn unit(&self) -> f64 {
        self.0
    }
}

/// Exponential backoff of webhook retries: `initial * 2^(attempt-1)`, capped at `max`, then
/// reduced by up to `jitter` (a fraction) at random so receivers that failed together do not
/// get retried together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBackoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Fraction of the delay taken off at random, in `[0, 1]`.
    pub jitter: f64,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(3600),
            jitter: 0.5,
        }
    }
}

impl RetryBackoff {
    /// The delay after `attempt` failed attempts (1-based), with `random` in `[0, 1)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use brickwire_service::triggers::RetryBackoff;
    /// let b = RetryBackoff { initial: Duration::from_secs(1), max: Duration::from_secs(60), jitter: 0.5 };
    /// assert_eq!(b.delay(1, 0.0), Duration::from_secs(1));
    /// assert_eq!(b.delay(3, 0.0), Duration::from_secs(4));
    /// assert_eq!(b.delay(3, 0.5), Duration::from_secs(3));
    /// assert_eq!(b.delay(30, 0.0), Duration::from_secs(60));
    /// ```
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        let base = self
            .initial
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max);
        base.mul_f64(1.0 - self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0))
    }
}

/// A poll interval stretched or shrunk by up to `fraction` of itself, with `random` in
/// `[0, 1)` (0.5 keeps it), so subscriptions created together drift apart.
///
/// ```
/// # use std::time::Duration;
/// # use brickwire_service::triggers::engine::jittered_interval;
/// let i = Duration::from_secs(60);
/// assert_eq!(jittered_interval(i, 0.1, 0.0), Duration::from_secs(54));
/// assert_eq!(jittered_interval(i, 0.1, 0.5), Duration::from_secs(60));
/// assert_eq!(jittered_interval(i, 0.1, 0.75), Duration::from_secs(63));
/// ```
pub fn jittered_interval(interval: Duration, fraction: f64, random: f64) -> Duration {
    let j = fraction.clamp(0.0, 1.0);
    interval.mul_f64(1.0 + j * (2.0 * random.clamp(0.0, 1.0) - 1.0))
}

/// How long a subscription waits before its next scheduled poll: none when the last poll
/// left more waiting (a backfill continues at once), its interval after a success, and after
/// `failures` failed polls in a row the longer of its interval and `backoff`'s delay, so a
/// broken source or an unreachable workspace is not polled at full rate.
///
/// ```
/// # use std::time::Duration;
/// # use brickwire_service::triggers::RetryBackoff;
/// # use brickwire_service::triggers::engine::next_poll_delay;
/// let b = RetryBackoff { initial: Duration::from_secs(10), max: Duration::from_secs(600), jitter: 0.0 };
/// let minute = Duration::from_secs(60);
/// assert_eq!(next_poll_delay(true, minute, 0, &b, 0.0), Duration::ZERO);
/// assert_eq!(next_poll_delay(false, minute, 0, &b, 0.0), minute);
/// assert_eq!(next_poll_delay(false, minute, 1, &b, 0.0), minute); // 10 s < interval
/// assert_eq!(next_poll_delay(false, minute, 4, &b, 0.0), Duration::from_secs(80));
/// assert_eq!(next_poll_delay(false, minute, 20, &b, 0.0), Duration::from_secs(600));
/// ```
pub fn next_poll_delay(
    more: bool,
    interval: Duration,
    failures: u32,
    backoff: &RetryBackoff,
    random: f64,
) -> Duration {
    match (more, failures) {
        (true, 0) => Duration::ZERO,
        (_, 0) => interval,
        (_, n) => interval.max(backoff.delay(n, random)),
    }
}

/// Settings of a [`TriggerEngine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Polls running at once, over all subscriptions (default 4).
    pub max_concurrent_polls: usize,
    /// Webhook deliveries running at once (default 8).
    pub max_concurrent_deliveries: usize,
    /// Each poll interval is stretched or shrunk at random by up to this fraction (default 0.1).
    pub poll_jitter: f64,
    /// How often the scheduler looks for due work (default 200 ms).
    pub tick: Duration,
    /// How often the subscription list is re-read from the store (default 10 s), to pick up
    /// changes made by another process.
    pub reload_every: Duration,
    /// Most events in one webhook POST (default 100).
    pub delivery_batch_size: u32,
    /// Timeout of one webhook POST (default 10 s).
    pub delivery_timeout: Duration,
    /// Backoff between delivery attempts, and between scheduled polls that keep failing
    /// (never shorter than the poll interval).
    pub retry_backoff: RetryBackoff,
    /// How long events and finished deliveries are kept (default 7 days; `None` keeps them
    /// forever). Pull consumers must read within it; undelivered webhook events and dead
    /// letters still within it are never deleted. See [`TriggerStore::prune`].
    pub event_retention: Option<Duration>,
    /// How often expired events are deleted (default 1 hour; first at start).
    pub prune_every: Duration,
    /// How long a poll or a delivery run stays this engine's without a renewal (default 60 s):
    /// another replica takes over the work of a dead one after this. Renewed every third of it.
    pub lease: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_concurrent_polls: 4,
            max_concurrent_deliveries: 8,
            poll_jitter: 0.1,
            tick: Duration::from_millis(200),
            reload_every: Duration::from_secs(10),
            delivery_batch_size: 100,
            delivery_timeout: Duration::from_secs(10),
            retry_backoff: RetryBackoff::default(),
            event_retention: Some(Duration::from_secs(7 * 24 * 3600)),
            prune_every: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
        }
    }
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed or the subscription does not exist.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// No client for the linked account.
    #[error("no client for linked account {account}: {message}")]
    Client {
        /// The account.
        account: LinkedAccountId,
        /// Why.
        message: String,
    },
    /// The source could not be polled (Databricks failed, or the spec is wrong).
    #[error("poll failed: {0}")]
    Poll(String),
    /// Another replica holds the subscription's lease (it is polling it now).
    #[error("another replica is working on subscription {id} now; try again shortly")]
    Busy {
        /// The subscription.
        id: SubscriptionId,
    },
}

/// How a leased poll went.
enum Polled {
    /// Polled under the lease (the result of the poll and its commit).
    Ran(Result<PollReport, EngineError>),
    /// Not polled: another replica holds the lease, or the poll is not due yet.
    Skipped(LeaseClaim),
}

/// Polls in a row that one poll lease spends when each commit is overtaken by a cursor reset.
const RESET_ROUNDS: usize = 3;

/// What [`TriggerEngine::poll_now`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PollReport {
    /// New and duplicate event counts (and whether a cursor reset discarded the commit).
    pub commit: PollCommit,
    /// The committed cursor (`null` when the commit was discarded).
    pub cursor: Value,
    /// More is waiting: the scheduler polls again at once.
    pub more: bool,
}

#[derive(Debug, Clone)]
struct Slot {
    paused: bool,
    webhook: bool,
    interval: Duration,
    next_poll: Instant,
    polling: bool,
    /// Scheduled polls that failed in a row (reset by a success).
    poll_failures: u32,
    next_delivery: Option<Instant>,
    delivering: bool,
    /// Counts requests to deliver (new events, redelivery); a delivery run that sees it change
    /// while it ran stays due, so events committed during a run are not left waiting.
    delivery_wakes: u64,
    wakes_seen: u64,
}

impl Slot {
    fn request_delivery(&mut self, now: Instant) {
        self.next_delivery = Some(now);
        self.delivery_wakes += 1;
    }
}

struct Inner {
    /// This engine's lease owner id.
    owner: String,
    store: Arc<dyn TriggerStore>,
    clients: Arc<dyn ClientSource>,
    poller: Arc<dyn Poller>,
    http: reqwest::Client,
    options: EngineOptions,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    poll_permits: Semaphore,
    delivery_permits: Semaphore,
    slots: Mutex<HashMap<SubscriptionId, Slot>>,
    /// One poll of a subscription at a time in this engine, from its claim to its release (two
    /// of this engine's own would share its lease, and the first release would end the other's).
    poll_locks: Mutex<HashMap<SubscriptionId, Arc<tokio::sync::Mutex<()>>>>,
    /// The same for a subscription's delivery runs.
    delivery_locks: Mutex<HashMap<SubscriptionId, Arc<tokio::sync::Mutex<()>>>>,
    wake: Notify,
}

/// Runs the subscriptions of a [`TriggerStore`]. Cheap to clone.
#[derive(Clone)]
pub struct TriggerEngine {
    inner: Arc<Inner>,
}

impl fmt::Debug for TriggerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TriggerEngine")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The running scheduler; dropping it does not stop it, [`EngineHandle::stop`] does.
#[derive(Debug)]
pub struct EngineHandle {
    task: JoinHandle<()>,
}

impl EngineHandle {
    /// Stops scheduling (polls and deliveries in flight finish on their own tasks).
    pub fn stop(self) {
        self.task.abort();
    }
}

impl TriggerEngine {
    /// An engine with the real clock and randomness.
    pub fn new(
        store: Arc<dyn TriggerStore>,
        clients: Arc<dyn ClientSource>,
        poller: Arc<dyn Poller>,
        options: EngineOptions,
    ) -> Self {
        Self::with_time(
            store,
            clients,
            poller,
            options,
            Arc::new(TokioClock),
            Arc::new(ThreadRandom),
        )
    }

    /// An engine with an injected clock and random source.
    pub fn with_time(
        store: Arc<dyn TriggerStore>,
        clients: Arc<dyn ClientSource>,
        poller: Arc<dyn Poller>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.delivery_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with rustls builds");
        Self {
            inner: Arc::new(Inner {
                owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
                store,
                clients,
                poller,
                http,
                poll_permits: Semaphore::new(options.max_concurrent_polls.max(1)),
                delivery_permits: Semaphore::new(options.max_concurrent_deliveries.max(1)),
                options,
                clock,
                random,
                slots: Mutex::new(HashMap::new()),
                poll_locks: Mutex::new(HashMap::new()),
                delivery_locks: Mutex::new(HashMap::new()),
                wake: Notify::new(),
            }),
        }
    }

    /// The store the engine runs on.
    pub fn store(&self) -> &Arc<dyn TriggerStore> {
        &self.inner.store
    }

    /// The wall-clock time as the engine's clock sees it.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.system_time()
    }

    /// The poller (the REST API validates source specs with it).
    pub fn poller(&self) -> &Arc<dyn Poller> {
        &self.inner.poller
    }

    /// Loads the subscriptions and starts the scheduler. Each subscription's first poll is due
    /// at once; deliveries left open by a previous run are due at once too.
    pub async fn start(&self) -> Result<EngineHandle, EngineError> {
        let released = self.inner.store.release_stale_leases().await?;
        if released > 0 {
            tracing::info!(
                subscriptions = released,
                "took over the leases of a previous process"
            );
        }
        self.reload().await?;
        let engine = self.clone();
        let task = tokio::spawn(async move { engine.run().await });
        Ok(EngineHandle { task })
    }

    /// Re-reads the subscription list (call after creating, changing or deleting one).
    pub async fn reload(&self) -> Result<(), EngineError> {
        let subscriptions = self.inner.store.list_subscriptions().await?;
        let now = self.inner.clock.now();
        {
            let mut slots = self.slots();
            slots.retain(|id, _| subscriptions.iter().any(|s| &s.id == id));
            for s in &subscriptions {
                let webhook = matches!(s.delivery, DeliveryTarget::Webhook { .. });
                let slot = slots.entry(s.id.clone()).or_insert_with(|| Slot {
                    paused: s.paused,
                    webhook,
                    interval: s.poll_interval,
                    next_poll: now,
                    polling: false,
                    poll_failures: 0,
                    next_delivery: webhook.then_some(now),
                    delivering: false,
                    delivery_wakes: 0,
                    wakes_seen: 0,
                });
                if slot.interval != s.poll_interval {
                    slot.next_poll = slot.next_poll.min(now + s.poll_interval);
                }
                slot.paused = s.paused;
                // Also a safety net: events committed by another process get delivered.
                if webhook && slot.next_delivery.is_none() {
                    slot.request_delivery(now);
                }
                slot.webhook = webhook;
                slot.interval = s.poll_interval;
            }
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Marks a subscription's deliveries due now (after a redelivery request).
    pub fn wake_delivery(&self, id: &SubscriptionId) {
        if let Some(slot) = self.slots().get_mut(id) {
            slot.request_delivery(self.inner.clock.now());
        }
        self.inner.wake.notify_one();
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<SubscriptionId, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The serial lock of `kind`'s work on `id` in this engine.
    fn work_lock(&self, id: &SubscriptionId, kind: LeaseKind) -> Arc<tokio::sync::Mutex<()>> {
        let locks = match kind {
            LeaseKind::Poll => &self.inner.poll_locks,
            LeaseKind::Delivery => &self.inner.delivery_locks,
        };
        locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_default()
            .clone()
    }

    async fn run(&self) {
        let mut last_reload = self.inner.clock.now();
        let mut last_prune = None;
        loop {
            let now = self.inner.clock.now();
            if let Some(retention) = self.inner.options.event_retention
                && last_prune
                    .is_none_or(|at| now.duration_since(at) >= self.inner.options.prune_every)
            {
                last_prune = Some(now);
                let engine = self.clone();
                tokio::spawn(async move { engine.prune(retention).await });
            }
            if now.duration_since(last_reload) >= self.inner.options.reload_every {
                last_reload = now;
                if let Err(e) = self.reload().await {
                    tracing::warn!(error = %e, "could not reload subscriptions");
                }
            }
            let (polls, deliveries) = self.take_due(now);
            for id in polls {
                let engine = self.clone();
                tokio::spawn(async move { engine.scheduled_poll(id).await });
            }
            for id in deliveries {
                let engine = self.clone();
                tokio::spawn(async move { engine.deliver(id).await });
            }
            tokio::select! {
                _ = self.inner.clock.sleep(self.inner.options.tick) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    fn take_due(&self, now: Instant) -> (Vec<SubscriptionId>, Vec<SubscriptionId>) {
        let mut polls = Vec::new();
        let mut deliveries = Vec::new();
        for (id, slot) in self.slots().iter_mut() {
            if !slot.paused && !slot.polling && slot.next_poll <= now {
                slot.polling = true;
                polls.push(id.clone());
            }
            if slot.webhook && !slot.delivering && slot.next_delivery.is_some_and(|t| t <= now) {
                slot.delivering = true;
                slot.wakes_seen = slot.delivery_wakes;
                deliveries.push(id.clone());
            }
        }
        (polls, deliveries)
    }

    fn jittered(&self, interval: Duration) -> Duration {
        jittered_interval(
            interval,
            self.inner.options.poll_jitter,
            self.inner.random.unit(),
        )
    }

    /// Deletes events and finished deliveries older than `retention`.
    async fn prune(&self, retention: Duration) {
        let Some(before) = self.now().checked_sub(retention) else {
            return;
        };
        match self.inner.store.prune(before).await {
            Ok(pruned) if pruned != Default::default() => tracing::info!(
                events = pruned.events,
                deliveries = pruned.deliveries,
                "deleted expired trigger events and deliveries"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not delete expired trigger events"),
        }
    }

    /// A lease for this engine from now.
    fn lease(&self) -> Lease {
        Lease {
            owner: self.inner.owner.clone(),
            expires_at: self.now() + self.inner.options.lease,
        }
    }

    /// This engine's id on the leases it takes (a random id per engine).
    pub fn lease_owner(&self) -> &str {
        &self.inner.owner
    }

    /// Runs `work` while renewing `kind`'s lease of `id` every third of the lease; stops it
    /// (dropping it where it is) with [`crate::Error::LeaseLost`] when the lease is gone.
    async fn leased<T>(
        &self,
        id: &SubscriptionId,
        kind: LeaseKind,
        work: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let every = (self.inner.options.lease / 3).max(Duration::from_millis(10));
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                // Real time, not the engine's clock: a test clock that jumps on sleep would
                // race the work it is renewing for.
                _ = tokio::time::sleep(every) => {
                    let held = self
                        .inner
                        .store
                        .renew_subscription_lease(id.clone(), kind, self.lease())
                        .await?;
                    if !held {
                        return Err(EngineError::Store(crate::Error::LeaseLost {
                            entity: "subscription",
                            id: id.to_string(),
                        }));
                    }
                }
            }
        }
    }

    async fn release(
        &self,
        id: &SubscriptionId,
        kind: LeaseKind,
        next_poll_at: Option<SystemTime>,
    ) {
        let released = self
            .inner
            .store
            .release_subscription_lease(id.clone(), kind, self.inner.owner.clone(), next_poll_at)
            .await;
        if let Err(e) = released
            && !e.is_not_found()
        {
            tracing::warn!(subscription = %id, error = %e, "cannot release a lease; it expires");
        }
    }

    /// Graceful shutdown (after [`EngineHandle::stop`]): hands every lease this engine holds
    /// back, so other replicas poll and deliver its subscriptions at once. A poll still in
    /// flight then cannot commit (its lease is gone); the next holder polls from the cursor.
    pub async fn release_leases(&self) {
        match self
            .inner
            .store
            .release_leases_of(self.inner.owner.clone())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(subscriptions = n, "handed subscription leases back"),
            Err(e) => tracing::warn!(error = %e, "cannot hand leases back; they expire"),
        }
    }

    /// The engine's monotonic time at wall-clock time `at` (now if it is past).
    fn instant_at(&self, at: SystemTime) -> Instant {
        self.inner.clock.now() + at.duration_since(self.now()).unwrap_or_default()
    }

    async fn scheduled_poll(&self, id: SubscriptionId) {
        // Held until the lease is released.
        let serial = self.work_lock(&id, LeaseKind::Poll);
        let _serial = serial.lock().await;
        let polled = self.poll_leased(&id, false).await;
        let result = match polled {
            Ok(Polled::Ran(result)) => result,
            Ok(Polled::Skipped(claim)) => {
                // Another replica polls it, or polled it and set the next time: wait for that.
                let at = match claim {
                    LeaseClaim::Busy(at) | LeaseClaim::NotDue(at) => at,
                    LeaseClaim::Claimed => self.now(),
                };
                let next = self
                    .instant_at(at)
                    .max(self.inner.clock.now() + self.inner.options.tick);
                if let Some(slot) = self.slots().get_mut(&id) {
                    slot.polling = false;
                    slot.next_poll = next;
                }
                return;
            }
            Err(e) => Err(e),
        };
        match &result {
            Err(EngineError::Store(crate::Error::LeaseLost { .. })) => {
                tracing::warn!(subscription = %id, "another replica took over this poll");
            }
            Err(e) => tracing::warn!(subscription = %id, error = %e, "poll failed"),
            Ok(_) => {}
        }
        let now = self.inner.clock.now();
        let mut next_poll_at = None;
        if let Some(slot) = self.slots().get_mut(&id) {
            slot.polling = false;
            slot.poll_failures = match &result {
                Ok(_) => 0,
                Err(_) => slot.poll_failures.saturating_add(1),
            };
            let more = matches!(&result, Ok(r) if r.more);
            let delay = next_poll_delay(
                more,
                self.jittered(slot.interval),
                slot.poll_failures,
                &self.inner.options.retry_backoff,
                self.inner.random.unit(),
            );
            slot.next_poll = now + delay;
            next_poll_at = Some(self.now() + delay);
            if matches!(&result, Ok(r) if r.commit.inserted > 0) && slot.webhook {
                slot.request_delivery(now);
            }
        }
        self.release(&id, LeaseKind::Poll, next_poll_at).await;
        self.inner.wake.notify_one();
    }

    /// Polls a subscription now (waiting for a poll permit and for a poll of it in flight),
    /// and commits its events and cursor in one transaction. Runs even when it is paused, and
    /// whether or not a poll is due; [`EngineError::Busy`] while another replica polls it.
    pub async fn poll_now(&self, id: &SubscriptionId) -> Result<PollReport, EngineError> {
        let serial = self.work_lock(id, LeaseKind::Poll);
        let _serial = serial.lock().await;
        match self.poll_leased(id, true).await? {
            Polled::Ran(result) => {
                self.release(id, LeaseKind::Poll, None).await;
                result
            }
            Polled::Skipped(_) => Err(EngineError::Busy { id: id.clone() }),
        }
    }

    /// Claims the poll lease (when due, unless `force`) and polls under it. The lease stays
    /// held; the caller, holding the poll's serial lock, releases it.
    async fn poll_leased(&self, id: &SubscriptionId, force: bool) -> Result<Polled, EngineError> {
        let _permit = self
            .inner
            .poll_permits
            .acquire()
            .await
            .expect("the poll semaphore is never closed");
        let claim = self
            .inner
            .store
            .claim_subscription_lease(id.clone(), LeaseKind::Poll, self.lease(), self.now(), force)
            .await?;
        if claim != LeaseClaim::Claimed {
            return Ok(Polled::Skipped(claim));
        }
        Ok(Polled::Ran(
            self.leased(id, LeaseKind::Poll, self.poll_claimed(id))
                .await,
        ))
    }

    /// One poll and its commit, under this engine's poll lease. A commit that a cursor reset
    /// overtook is discarded by the store, and the poll starts over from the reset point
    /// (at most [`RESET_ROUNDS`] times; after that the scheduler polls again at once).
    async fn poll_claimed(&self, id: &SubscriptionId) -> Result<PollReport, EngineError> {
        let owner = Some(self.inner.owner.clone());
        for _ in 0..RESET_ROUNDS {
            let sub = self.inner.store.subscription(id.clone()).await?;
            let polled = match self.poll_once(&sub).await {
                Ok(polled) => polled,
                Err(e) => {
                    self.inner
                        .store
                        .record_poll_error(id.clone(), e.to_string(), owner)
                        .await?;
                    return Err(e);
                }
            };
            let cursor = polled.cursor.clone();
            let more = polled.more;
            let commit = self
                .inner
                .store
                .commit_poll(
                    id.clone(),
                    polled.events,
                    polled.cursor,
                    Some(sub.cursor_generation),
                    owner.clone(),
                )
                .await?;
            if commit.discarded {
                tracing::info!(subscription = %id, "cursor reset during the poll: polling again");
                continue;
            }
            if commit.inserted > 0 {
                let now = self.inner.clock.now();
                if let Some(slot) = self.slots().get_mut(id)
                    && slot.webhook
                {
                    slot.request_delivery(now);
                }
                self.inner.wake.notify_one();
            }
            return Ok(PollReport {
                commit,
                cursor,
                more,
            });
        }
        Ok(PollReport {
            commit: PollCommit {
                discarded: true,
                ..PollCommit::default()
            },
            cursor: Value::Null,
            more: true,
        })
    }

    async fn poll_once(&self, sub: &Subscription) -> Result<PollResult, EngineError> {
        let client = self
            .inner
            .clients
            .client(&sub.linked_account_id)
            .await
            .map_err(|message| EngineError::Client {
                account: sub.linked_account_id.clone(),
                message,
            })?;
        let request = PollRequest {
            source: &sub.source,
            start_from: &sub.start_from,
            cursor: sub.cursor.as_ref(),
            overlap: sub.overlap,
        };
        self.inner
            .poller
            .poll(&client, request)
            .await
            .map_err(EngineError::Poll)
    }

    async fn deliver(&self, id: SubscriptionId) {
        let next = {
            let _permit = self
                .inner
                .delivery_permits
                .acquire()
                .await
                .expect("the delivery semaphore is never closed");
            self.deliver_due(&id).await
        };
        let now = self.inner.clock.now();
        let system_now = self.inner.clock.system_time();
        if let Some(slot) = self.slots().get_mut(&id) {
            slot.delivering = false;
            slot.next_delivery = match next {
                Ok(NextDelivery::Later(at)) => {
                    Some(now + at.duration_since(system_now).unwrap_or_default())
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "delivery bookkeeping failed");
                    Some(now + self.inner.options.tick * 10)
                }
            };
            if slot.delivery_wakes != slot.wakes_seen {
                slot.next_delivery = Some(now);
            }
        }
    }

    /// Sends every delivery of `id` that is due, one after the other, under the subscription's
    /// delivery lease. Returns what is left; while another replica holds the lease, a time
    /// shortly after to look again.
    pub async fn deliver_due(&self, id: &SubscriptionId) -> Result<NextDelivery, EngineError> {
        let serial = self.work_lock(id, LeaseKind::Delivery);
        let _serial = serial.lock().await;
        let claim = self
            .inner
            .store
            .claim_subscription_lease(
                id.clone(),
                LeaseKind::Delivery,
                self.lease(),
                self.now(),
                true,
            )
            .await?;
        if let LeaseClaim::Busy(until) | LeaseClaim::NotDue(until) = claim {
            // The holder delivers what is due; look again soon in case it just finished.
            let soon = self.now() + self.inner.options.tick * 5;
            return Ok(NextDelivery::Later(until.min(soon)));
        }
        let result = self
            .leased(id, LeaseKind::Delivery, self.deliver_claimed(id))
            .await;
        self.release(id, LeaseKind::Delivery, None).await;
        result
    }

    async fn deliver_claimed(&self, id: &SubscriptionId) -> Result<NextDelivery, EngineError> {
        loop {
            let now = self.inner.clock.system_time();
            let next = self
                .inner
                .store
                .next_delivery(id.clone(), now, self.inner.options.delivery_batch_size)
                .await?;
            let NextDelivery::Due(delivery, events) = next else {
                return Ok(next);
            };
            let sub = self.inner.store.subscription(id.clone()).await?;
            let outcome = self.attempt(&sub, &delivery, &events).await?;
            self.inner
                .store
                .record_delivery_attempt(
                    delivery.id.clone(),
                    outcome,
                    Some(self.inner.owner.clone()),
                )
                .await?;
        }
    }

    async fn attempt(
        &self,
        sub: &Subscription,
        delivery: &Delivery,
        events: &[StoredEvent],
    ) -> Result<AttemptOutcome, EngineError> {
        let DeliveryTarget::Webhook { url } = &sub.delivery else {
            // Turned pull-only after the delivery was opened: nothing to send it to.
            return Ok(AttemptOutcome::DeadLetter {
                status: None,
                error: "the subscription has no webhook".into(),
            });
        };
        let Some(secret) = self.inner.store.webhook_secret(sub.id.clone()).await? else {
            return Ok(AttemptOutcome::DeadLetter {
                status: None,
                error: "the subscription has no webhook secret".into(),
            });
        };
        let body = webhook_body(&sub.id, delivery, events);
        let signature = sign(&secret, self.inner.clock.system_time(), &body);
        let sent = self
            .inner
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("Brickwire-Delivery", delivery.id.as_str())
            .body(body)
            .send()
            .await;
        let (status, error) = match sent {
            Ok(resp) if resp.status().is_success() => {
                return Ok(AttemptOutcome::Delivered {
                    status: resp.status().as_u16(),
                });
            }
            Ok(resp) => (
                Some(resp.status().as_u16()),
                format!("the receiver answered {}", resp.status()),
            ),
            Err(e) if e.is_timeout() => (None, "the receiver did not answer in time".into()),
            Err(e) if e.is_connect() => (None, "could not connect to the receiver".into()),
            Err(_) => (None, "the request to the receiver failed".into()),
        };
        let attempts = delivery.attempts + 1;
        if attempts >= sub.max_attempts {
            return Ok(AttemptOutcome::DeadLetter { status, error });
        }
        let delay = self
            .inner
            .options
            .retry_backoff
            .delay(attempts, self.inner.random.unit());
        Ok(AttemptOutcome::Retry {
            status,
            error,
            retry_at: self.inner.clock.system_time() + delay,
        })
    }
}

/// The JSON body of a webhook POST.
pub fn webhook_body(
    subscription: &SubscriptionId,
    delivery: &Delivery,
    events: &[StoredEvent],
) -> Vec<u8> {
    let body = json!({
        "subscription_id": subscription,
        "delivery_id": delivery.id,
        "events": events.iter().map(StoredEvent::to_json).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&body).expect("JSON values serialize")
}
