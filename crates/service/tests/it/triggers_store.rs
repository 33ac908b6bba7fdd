//! The [`TriggerStore`] contract at the store level, on both backends with the same assertions:
//! SQLite in a temporary directory and PostgreSQL in a fresh database on the server named by
//! `BRICKWIRE_TEST_DATABASE_URL` (skipped without it, see `backends/mod.rs`).
//!
//! Every `async fn` below taking a [`Fixture`] is one contract test; `both_backends!` runs each
//! as `sqlite::<name>` and `postgres::<name>`. The `replicas` tests run on PostgreSQL only: two
//! [`PgStore`]s on one database (two `brickwire serve` replicas) committing polls and opening
//! deliveries for the same subscription at once.

use crate::backends;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::credentials::{Clock, ManualClock};
use brickwire_service::Error;
use brickwire_service::crypto::MasterKey;
use brickwire_service::store::{
    Credential, Lease, LinkedAccountId, NewLinkedAccount, PgStore, PgStoreOptions, SqliteStore,
    SqliteStoreOptions, Store,
};
use brickwire_service::triggers::*;
use serde_json::json;
use url::Url;

const T0: Duration = Duration::from_secs(1_800_000_000);
const SECRET: &str = "whsec_store_test_0123456789";
const OTHER_SECRET: &str = "whsec_store_test_abcdefghij";

/// Both store traits, so one handle serves the set-up (a linked account) and the tests.
trait Backend: Store + TriggerStore {}
impl<T: Store + TriggerStore> Backend for T {}

/// Where the raw rows are, for checks the traits cannot make (rows left behind, bytes at rest).
enum Raw {
    Sqlite(tempfile::TempDir),
    Postgres(SecretString),
}

struct Fixture {
    store: Arc<dyn Backend>,
    clock: Arc<ManualClock>,
    key: MasterKey,
    account: LinkedAccountId,
    raw: Raw,
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + T0
}

async fn with_account(
    store: Arc<dyn Backend>,
    clock: Arc<ManualClock>,
    key: MasterKey,
    raw: Raw,
) -> Fixture {
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "triggers".into(),
            end_user_ref: None,
            workspace_host: Url::parse("https://dbc-1234.cloud.databricks.com").unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new("dapi-triggers-store"),
            },
        })
        .await
        .unwrap()
        .id;
    Fixture {
        store,
        clock,
        key,
        account,
        raw,
    }
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let clock = Arc::new(ManualClock::new(t0()));
    let mut options = SqliteStoreOptions::in_data_dir(dir.path());
    options.clock = clock.clone();
    let store = SqliteStore::open_with(options, &key).await.unwrap();
    with_account(Arc::new(store), clock, key, Raw::Sqlite(dir)).await
}

async fn pg_store(url: &SecretString, key: &MasterKey, clock: Arc<ManualClock>) -> PgStore {
    let mut options = PgStoreOptions::new(url.clone());
    options.clock = clock;
    PgStore::connect(options, key).await.unwrap()
}

/// `None` when PostgreSQL is not configured (the test is skipped).
async fn pg_fixture() -> Option<Fixture> {
    let url = backends::fresh_postgres_url().await?;
    let key = MasterKey::generate();
    let clock = Arc::new(ManualClock::new(t0()));
    let store = pg_store(&url, &key, clock.clone()).await;
    Some(with_account(Arc::new(store), clock, key, Raw::Postgres(url)).await)
}

impl Fixture {
    /// One integer from `sql` (the same text on both backends), straight from the database.
    async fn count(&self, sql: &str) -> i64 {
        match &self.raw {
            Raw::Sqlite(dir) => {
                let conn =
                    rusqlite::Connection::open(dir.path().join(brickwire_service::store::DB_FILE))
                        .unwrap();
                conn.query_row(sql, [], |row| row.get(0)).unwrap()
            }
            Raw::Postgres(url) => pg_client(url)
                .await
                .query_one(sql, &[])
                .await
                .unwrap()
                .get(0),
        }
    }

    /// The stored webhook secret column as bytes.
    async fn raw_secret(&self, id: &SubscriptionId) -> Option<Vec<u8>> {
        let sql = format!(
            "SELECT webhook_secret FROM trigger_subscriptions WHERE id = '{}'",
            id.as_str()
        );
        match &self.raw {
            Raw::Sqlite(dir) => {
                let conn =
                    rusqlite::Connection::open(dir.path().join(brickwire_service::store::DB_FILE))
                        .unwrap();
                conn.query_row(&sql, [], |row| row.get(0)).unwrap()
            }
            Raw::Postgres(url) => pg_client(url)
                .await
                .query_one(&sql, &[])
                .await
                .unwrap()
                .get(0),
        }
    }

    fn new_sub(&self, webhook: Option<Webhook>) -> NewSubscription {
        NewSubscription {
            linked_account_id: self.account.clone(),
            source: json!({"type": "jobs"}),
            start_from: json!("beginning"),
            poll_interval: Duration::from_millis(1000),
            overlap: None,
            webhook,
            max_attempts: 3,
            paused: false,
        }
    }

    async fn webhook_sub(&self) -> Subscription {
        self.store
            .insert_subscription(self.new_sub(Some(hook(SECRET))))
            .await
            .unwrap()
    }

    async fn pull_sub(&self) -> Subscription {
        self.store
            .insert_subscription(self.new_sub(None))
            .await
            .unwrap()
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

use backends::pg_client;

fn hook(secret: &str) -> Webhook {
    Webhook {
        url: Url::parse("https://receiver.example/hook").unwrap(),
        secret: SecretString::new(secret),
    }
}

fn ev(id: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        body: json!({"id": id, "n": [1, 2, {"k": "v"}]}),
    }
}

fn evs(ids: impl IntoIterator<Item = String>) -> Vec<NewEvent> {
    ids.into_iter().map(|id| ev(&id)).collect()
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

/// The field of an `InvalidInput`, or a panic naming what came instead.
fn invalid_field(err: Error) -> &'static str {
    match err {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, entity: &str) {
    match result {
        Err(Error::NotFound { entity: e, .. }) => assert_eq!(e, entity),
        other => panic!("expected {entity} NotFound, got {other:?}"),
    }
}

async fn due(fx: &Fixture, id: &SubscriptionId, batch: u32) -> (Delivery, Vec<StoredEvent>) {
    match fx
        .store
        .next_delivery(id.clone(), fx.now(), batch)
        .await
        .unwrap()
    {
        NextDelivery::Due(d, events) => (d, events),
        other => panic!("expected a due delivery, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The contract, on both backends.

async fn subscriptions_round_trip_and_never_return_the_secret(fx: Fixture) {
    let store = &fx.store;
    let pull = fx.pull_sub().await;
    assert_eq!(pull.linked_account_id, fx.account);
    assert_eq!(pull.source, json!({"type": "jobs"}));
    assert_eq!(pull.start_from, json!("beginning"));
    assert_eq!(pull.poll_interval, Duration::from_millis(1000));
    assert_eq!(pull.overlap, None);
    assert_eq!(pull.delivery, DeliveryTarget::Pull);
    assert_eq!(pull.max_attempts, 3);
    assert!(!pull.paused);
    assert_eq!(pull.cursor, None);
    assert_eq!(pull.delivered_seq, 0);
    assert_eq!(pull.last_poll_at, None);
    assert_eq!(pull.last_error, None);
    assert_eq!((pull.created_at, pull.updated_at), (t0(), t0()));
    assert!(pull.id.as_str().starts_with(SubscriptionId::PREFIX));

    fx.clock.advance(Duration::from_secs(1));
    let hooked = store
        .insert_subscription(NewSubscription {
            overlap: Some(Duration::from_secs(30)),
            paused: true,
            max_attempts: 5,
            source: json!({"type": "table", "name": "main.s.t", "unicode": "é\u{1F600}"}),
            ..fx.new_sub(Some(hook(SECRET)))
        })
        .await
        .unwrap();
    assert_eq!(
        hooked.delivery,
        DeliveryTarget::Webhook {
            url: Url::parse("https://receiver.example/hook").unwrap()
        }
    );
    assert_eq!(hooked.overlap, Some(Duration::from_secs(30)));
    assert!(hooked.paused);
    assert_eq!(hooked.max_attempts, 5);
    assert_eq!(hooked.source["unicode"], json!("é\u{1F600}"));
    assert_eq!(hooked.created_at, t0() + Duration::from_secs(1));
    assert_eq!(store.subscription(hooked.id.clone()).await.unwrap(), hooked);
    assert_eq!(store.subscription(pull.id.clone()).await.unwrap(), pull);
    assert_eq!(
        store.list_subscriptions().await.unwrap(),
        [pull.clone(), hooked.clone()],
        "oldest first"
    );

    // The secret: only through webhook_secret, sealed at rest, never in what is returned.
    assert_eq!(
        store
            .webhook_secret(hooked.id.clone())
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        SECRET
    );
    assert!(
        store
            .webhook_secret(pull.id.clone())
            .await
            .unwrap()
            .is_none()
    );
    assert!(!format!("{hooked:?}").contains(SECRET));
    let raw = fx.raw_secret(&hooked.id).await.expect("a sealed secret");
    assert!(
        !raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is not stored in the clear"
    );
    assert_eq!(fx.raw_secret(&pull.id).await, None);

    // Bad input, named by field; nothing stored.
    let bad = |f: fn(&mut NewSubscription)| {
        let mut new = fx.new_sub(Some(hook(SECRET)));
        f(&mut new);
        new
    };
    let cases: Vec<(NewSubscription, &str)> = vec![
        (bad(|n| n.max_attempts = 0), "max_attempts"),
        (
            bad(|n| n.poll_interval = Duration::ZERO),
            "poll_interval_ms",
        ),
        (
            bad(|n| n.webhook.as_mut().unwrap().url = Url::parse("ftp://x.example/").unwrap()),
            "webhook.url",
        ),
        (
            bad(|n| n.webhook.as_mut().unwrap().secret = SecretString::new("short")),
            "webhook.secret",
        ),
        (
            bad(|n| n.linked_account_id = LinkedAccountId::new("acc_missing")),
            "linked_account_id",
        ),
    ];
    for (new, field) in cases {
        let err = store.insert_subscription(new).await.unwrap_err();
        assert_eq!(invalid_field(err), field);
    }
    assert_eq!(store.list_subscriptions().await.unwrap().len(), 2);

    // Updates.
    fx.clock.advance(Duration::from_secs(1));
    let updated = store
        .update_subscription(
            pull.id.clone(),
            SubscriptionPatch {
                poll_interval: Some(Duration::from_secs(5)),
                overlap: Some(Some(Duration::from_secs(10))),
                max_attempts: Some(7),
                paused: Some(true),
                webhook: Some(Some(hook(OTHER_SECRET))),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.poll_interval, Duration::from_secs(5));
    assert_eq!(updated.overlap, Some(Duration::from_secs(10)));
    assert_eq!(updated.max_attempts, 7);
    assert!(updated.paused);
    assert!(matches!(updated.delivery, DeliveryTarget::Webhook { .. }));
    assert_eq!(updated.created_at, t0());
    assert_eq!(updated.updated_at, t0() + Duration::from_secs(2));
    assert_eq!(
        store
            .webhook_secret(pull.id.clone())
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        OTHER_SECRET
    );
    // An empty patch only touches updated_at.
    fx.clock.advance(Duration::from_secs(1));
    let touched = store
        .update_subscription(pull.id.clone(), SubscriptionPatch::default())
        .await
        .unwrap();
    assert_eq!(
        touched,
        Subscription {
            updated_at: t0() + Duration::from_secs(3),
            ..updated.clone()
        }
    );
    let pulled = store
        .update_subscription(
            pull.id.clone(),
            SubscriptionPatch {
                webhook: Some(None),
                overlap: Some(None),
                ..SubscriptionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pulled.delivery, DeliveryTarget::Pull);
    assert_eq!(pulled.overlap, None);
    assert!(
        store
            .webhook_secret(pull.id.clone())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(fx.raw_secret(&pull.id).await, None);

    // A patch that fails part-way changes nothing (one transaction).
    fx.clock.advance(Duration::from_secs(1));
    let failing = [
        (
            SubscriptionPatch {
                poll_interval: Some(Duration::from_secs(9)),
                max_attempts: Some(0),
                ..SubscriptionPatch::default()
            },
            "max_attempts",
        ),
        (
            SubscriptionPatch {
                paused: Some(false),
                webhook: Some(Some(Webhook {
                    url: Url::parse("mailto:ops@example.com").unwrap(),
                    secret: SecretString::new(SECRET),
                })),
                ..SubscriptionPatch::default()
            },
            "webhook.url",
        ),
        (
            SubscriptionPatch {
                paused: Some(false),
                webhook: Some(Some(hook("too-short"))),
                ..SubscriptionPatch::default()
            },
            "webhook.secret",
        ),
        (
            SubscriptionPatch {
                poll_interval: Some(Duration::ZERO),
                ..SubscriptionPatch::default()
            },
            "poll_interval_ms",
        ),
    ];
    for (patch, field) in failing {
        let err = store
            .update_subscription(pull.id.clone(), patch)
            .await
            .unwrap_err();
        assert_eq!(invalid_field(err), field);
        assert_eq!(store.subscription(pull.id.clone()).await.unwrap(), pulled);
    }
    assert_not_found(
        store
            .update_subscription(
                SubscriptionId::new("sub_missing"),
                SubscriptionPatch::default(),
            )
            .await,
        "subscription",
    );
    assert_not_found(
        store.subscription(SubscriptionId::new("sub_missing")).await,
        "subscription",
    );
}

async fn deleting_a_subscription_takes_its_events_and_deliveries(fx: Fixture) {
    let store = &fx.store;
    let keep = fx.webhook_sub().await;
    let gone = fx.webhook_sub().await;
    for sub in [&keep, &gone] {
        store
            .commit_poll(
                sub.id.clone(),
                evs(["a", "b", "c"].map(String::from)),
                json!({}),
                None,
                None,
            )
            .await
            .unwrap();
        due(&fx, &sub.id, 2).await;
    }
    store.delete_subscription(gone.id.clone()).await.unwrap();
    let left: Vec<SubscriptionId> = store
        .list_subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&keep.id));
    let rows_of = |id: &SubscriptionId| {
        (
            format!(
                "SELECT COUNT(*) FROM trigger_events WHERE subscription_id = '{}'",
                id.as_str()
            ),
            format!(
                "SELECT COUNT(*) FROM trigger_deliveries WHERE subscription_id = '{}'",
                id.as_str()
            ),
        )
    };
    let (events, deliveries) = rows_of(&gone.id);
    assert_eq!(
        (fx.count(&events).await, fx.count(&deliveries).await),
        (0, 0)
    );
    let (events, deliveries) = rows_of(&keep.id);
    assert_eq!(
        (fx.count(&events).await, fx.count(&deliveries).await),
        (3, 1)
    );

    // Everything about the deleted subscription is NotFound now.
    let id = gone.id.clone();
    assert_not_found(store.delete_subscription(id.clone()).await, "subscription");
    assert_not_found(store.subscription(id.clone()).await, "subscription");
    assert_not_found(store.webhook_secret(id.clone()).await, "subscription");
    assert_not_found(store.events_after(id.clone(), 0, 10).await, "subscription");
    assert_not_found(store.dead_letters(id.clone()).await, "subscription");
    assert_not_found(
        store.next_delivery(id.clone(), fx.now(), 10).await,
        "subscription",
    );
    assert_not_found(
        store
            .commit_poll(id.clone(), vec![ev("d")], json!({"w": 1}), None, None)
            .await,
        "subscription",
    );
    assert_not_found(
        store
            .record_poll_error(id.clone(), "boom".into(), None)
            .await,
        "subscription",
    );
    assert_not_found(
        store.reset_cursor(id.clone(), json!("now")).await,
        "subscription",
    );
    // The refused commit wrote no event.
    assert_eq!(fx.count(&events).await, 3);
    assert_eq!(fx.count(&rows_of(&gone.id).0).await, 0);
}

async fn a_poll_commits_events_and_cursor_together_and_deduplicates(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.pull_sub().await;
    let other = fx.pull_sub().await;

    // A failed poll records its error and keeps the cursor.
    fx.clock.advance(Duration::from_secs(1));
    store
        .record_poll_error(sub.id.clone(), "the workspace answered 503".into(), None)
        .await
        .unwrap();
    let s = store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(s.last_error.as_deref(), Some("the workspace answered 503"));
    assert_eq!(s.last_poll_at, Some(t0() + Duration::from_secs(1)));
    assert_eq!(s.cursor, None);
    assert_eq!(s.updated_at, t0(), "a poll error is not a settings change");

    fx.clock.advance(Duration::from_secs(1));
    let c = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("a"), ev("b"), ev("a")],
            json!({"w": 1, "keys": ["x"]}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (c.inserted, c.duplicates),
        (2, 1),
        "a repeat within one batch"
    );
    let s = store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(s.cursor, Some(json!({"w": 1, "keys": ["x"]})));
    assert_eq!(s.last_error, None, "a committed poll clears the error");
    assert_eq!(s.last_poll_at, Some(t0() + Duration::from_secs(2)));
    assert_eq!(s.updated_at, t0() + Duration::from_secs(2));

    // The same ids again: ignored per subscription, stored for another one.
    let c = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("b"), ev("c")],
            json!({"w": 2}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (1, 1));
    let c = store
        .commit_poll(
            other.id.clone(),
            vec![ev("a"), ev("b")],
            json!({"w": 9}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (2, 0));

    let stored = store.events_after(sub.id.clone(), 0, 100).await.unwrap();
    assert_eq!(ids(&stored), ["a", "b", "c"]);
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(stored[0].body, ev("a").body, "the body round-trips");
    assert_eq!(stored[0].created_at, t0() + Duration::from_secs(2));
    assert_eq!(
        store.subscription(sub.id.clone()).await.unwrap().cursor,
        Some(json!({"w": 2}))
    );
    // The first event's body is kept: a duplicate does not overwrite it.
    let changed = NewEvent {
        id: "a".into(),
        body: json!({"changed": true}),
    };
    let c = store
        .commit_poll(sub.id.clone(), vec![changed], json!({"w": 3}), None, None)
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (0, 1));
    assert_eq!(
        store.events_after(sub.id.clone(), 0, 1).await.unwrap()[0].body,
        ev("a").body
    );
    // An empty poll still moves the cursor.
    let c = store
        .commit_poll(sub.id.clone(), vec![], json!({"w": 4}), None, None)
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (0, 0));
    assert_eq!(
        store.subscription(sub.id.clone()).await.unwrap().cursor,
        Some(json!({"w": 4}))
    );
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM trigger_events").await,
        5,
        "a, b, c and the other subscription's a, b"
    );
}

async fn events_page_by_sequence_id(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.pull_sub().await;
    let noise = fx.pull_sub().await;
    for round in 0..3 {
        store
            .commit_poll(
                sub.id.clone(),
                evs((0..3).map(|i| format!("e{}", round * 3 + i))),
                json!({"round": round}),
                None,
                None,
            )
            .await
            .unwrap();
        store
            .commit_poll(
                noise.id.clone(),
                evs((0..2).map(|i| format!("noise{round}-{i}"))),
                json!({}),
                None,
                None,
            )
            .await
            .unwrap();
    }
    let all = store.events_after(sub.id.clone(), 0, 1000).await.unwrap();
    assert_eq!(
        ids(&all),
        (0..9).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        "only this subscription's events, oldest first"
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    // Pages of 4 from 0: 4, 4, 1, then nothing.
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.events_after(sub.id.clone(), after, 4).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 1]);
    assert_eq!(pages.concat(), all);
    // From the middle, and past the end.
    let from_middle = store
        .events_after(sub.id.clone(), all[4].seq, 2)
        .await
        .unwrap();
    assert_eq!(from_middle, all[5..7]);
    assert!(
        store
            .events_after(sub.id.clone(), all[8].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_after(sub.id.clone(), 0, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // A negative `after` is just "from the start".
    assert_eq!(
        store.events_after(sub.id.clone(), -5, 1000).await.unwrap(),
        all
    );
    // StoredEvent::to_json adds the sequence id.
    assert_eq!(all[0].to_json()["sequence"], json!(all[0].seq));
}

async fn deliveries_batch_retry_dead_letter_and_redeliver(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.webhook_sub().await;
    // No events: nothing to deliver, and no delivery row is opened.
    assert_eq!(
        store
            .next_delivery(sub.id.clone(), fx.now(), 2)
            .await
            .unwrap(),
        NextDelivery::Idle
    );
    assert_eq!(fx.count("SELECT COUNT(*) FROM trigger_deliveries").await, 0);

    store
        .commit_poll(
            sub.id.clone(),
            evs((0..5).map(|i| format!("e{i}"))),
            json!({}),
            None,
            None,
        )
        .await
        .unwrap();
    let all = store.events_after(sub.id.clone(), 0, 100).await.unwrap();
    let now = fx.now();
    let (first, batch) = due(&fx, &sub.id, 2).await;
    assert_eq!(ids(&batch), ["e0", "e1"]);
    assert_eq!((first.first_seq, first.last_seq), (all[0].seq, all[1].seq));
    assert_eq!(first.subscription_id, sub.id);
    assert_eq!(first.state, DeliveryState::Pending);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.next_attempt_at, now);
    assert_eq!((first.last_status, first.last_error.clone()), (None, None));
    assert_eq!((first.created_at, first.updated_at), (now, now));
    assert!(first.id.as_str().starts_with(DeliveryId::PREFIX));
    assert_eq!(store.delivery(first.id.clone()).await.unwrap(), first);

    // While the first batch is open, asking again returns it, not the next.
    let (again, batch) = due(&fx, &sub.id, 2).await;
    assert_eq!(again, first);
    assert_eq!(ids(&batch), ["e0", "e1"]);
    assert_eq!(fx.count("SELECT COUNT(*) FROM trigger_deliveries").await, 1);

    // A retry later: nothing else is opened meanwhile (order is kept).
    fx.clock.advance(Duration::from_secs(1));
    let later = now + Duration::from_secs(60);
    let retried = store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::Retry {
                status: Some(503),
                error: "the receiver answered 503".into(),
                retry_at: later,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(retried.state, DeliveryState::Retrying);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_status, Some(503));
    assert_eq!(
        retried.last_error.as_deref(),
        Some("the receiver answered 503")
    );
    assert_eq!(retried.next_attempt_at, later);
    assert_eq!(retried.updated_at, now + Duration::from_secs(1));
    assert_eq!(retried.created_at, now);
    assert_eq!(
        store.next_delivery(sub.id.clone(), now, 2).await.unwrap(),
        NextDelivery::Later(later)
    );
    assert_eq!(
        store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .delivered_seq,
        0,
        "a retry does not move progress"
    );
    // Due once its time has come, with the same events.
    let NextDelivery::Due(d, batch) = store.next_delivery(sub.id.clone(), later, 2).await.unwrap()
    else {
        panic!("the retry is due at its time");
    };
    assert_eq!(
        (d.id.clone(), ids(&batch)),
        (first.id.clone(), vec!["e0", "e1"])
    );
    let retried = store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::Retry {
                status: None,
                error: "connection refused".into(),
                retry_at: later,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!((retried.attempts, retried.last_status), (2, None));

    // Dead-lettered: progress moves past it and the next batch opens.
    fx.clock.advance(Duration::from_secs(1));
    let dead = store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::DeadLetter {
                status: Some(500),
                error: "gave up".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(dead.state, DeliveryState::DeadLetter);
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_status, Some(500));
    assert_eq!(dead.last_error.as_deref(), Some("gave up"));
    assert_eq!(dead.next_attempt_at, later, "kept as it was");
    assert_eq!(
        store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .delivered_seq,
        first.last_seq
    );
    assert_eq!(
        store.dead_letters(sub.id.clone()).await.unwrap(),
        std::slice::from_ref(&dead)
    );

    let (second, batch) = due(&fx, &sub.id, 2).await;
    assert_eq!(ids(&batch), ["e2", "e3"]);
    let delivered = store
        .record_delivery_attempt(
            second.id.clone(),
            AttemptOutcome::Delivered { status: 200 },
            None,
        )
        .await
        .unwrap();
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert_eq!((delivered.attempts, delivered.last_status), (1, Some(200)));
    assert_eq!(delivered.last_error, None);
    let (third, batch) = due(&fx, &sub.id, 2).await;
    assert_eq!(ids(&batch), ["e4"]);
    assert_eq!(third.first_seq, third.last_seq);
    // A dead letter of the second-to-last batch, and the newest-first order of the list.
    fx.clock.advance(Duration::from_secs(1));
    let dead_third = store
        .record_delivery_attempt(
            third.id.clone(),
            AttemptOutcome::DeadLetter {
                status: None,
                error: "timed out".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.dead_letters(sub.id.clone()).await.unwrap(),
        [dead_third.clone(), dead.clone()]
    );
    assert_eq!(
        store
            .next_delivery(sub.id.clone(), fx.now(), 2)
            .await
            .unwrap(),
        NextDelivery::Idle
    );
    assert_eq!(
        store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .delivered_seq,
        third.last_seq
    );

    // Redelivering the old dead letter: pending again, attempts reset, due at `now`; progress
    // does not move back when it succeeds.
    fx.clock.advance(Duration::from_secs(1));
    let redo_at = fx.now() + Duration::from_secs(5);
    let redo = store
        .redeliver(sub.id.clone(), first.id.clone(), redo_at)
        .await
        .unwrap();
    assert_eq!(redo.state, DeliveryState::Pending);
    assert_eq!(redo.attempts, 0);
    assert_eq!(redo.next_attempt_at, redo_at);
    assert_eq!(redo.updated_at, fx.now());
    assert_eq!(
        redo.last_error.as_deref(),
        Some("gave up"),
        "kept for the record"
    );
    assert_eq!(
        store.dead_letters(sub.id.clone()).await.unwrap(),
        [dead_third]
    );
    assert_eq!(
        store
            .next_delivery(sub.id.clone(), fx.now(), 2)
            .await
            .unwrap(),
        NextDelivery::Later(redo_at)
    );
    let NextDelivery::Due(d, batch) = store
        .next_delivery(sub.id.clone(), redo_at, 2)
        .await
        .unwrap()
    else {
        panic!("the redelivery is due");
    };
    assert_eq!(
        (d.id.clone(), ids(&batch)),
        (first.id.clone(), vec!["e0", "e1"])
    );
    store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::Delivered { status: 204 },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .delivered_seq,
        third.last_seq,
        "a redelivered old batch never moves progress backwards"
    );

    // Only dead letters can be redelivered, only through their own subscription.
    let err = store
        .redeliver(sub.id.clone(), second.id.clone(), fx.now())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(err), "delivery_id");
    let other = fx.webhook_sub().await;
    assert_not_found(
        store
            .redeliver(other.id.clone(), third.id.clone(), fx.now())
            .await,
        "delivery",
    );
    assert_not_found(
        store
            .redeliver(sub.id.clone(), DeliveryId::new("dlv_missing"), fx.now())
            .await,
        "delivery",
    );
    assert_not_found(
        store
            .record_delivery_attempt(
                DeliveryId::new("dlv_missing"),
                AttemptOutcome::Delivered { status: 200 },
                None,
            )
            .await,
        "delivery",
    );
    assert_not_found(
        store.delivery(DeliveryId::new("dlv_missing")).await,
        "delivery",
    );
    assert!(store.dead_letters(other.id).await.unwrap().is_empty());
}

async fn new_events_after_an_open_batch_wait_for_it(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.webhook_sub().await;
    store
        .commit_poll(sub.id.clone(), vec![ev("a")], json!({}), None, None)
        .await
        .unwrap();
    let (first, _) = due(&fx, &sub.id, 10).await;
    store
        .commit_poll(
            sub.id.clone(),
            vec![ev("b"), ev("c")],
            json!({}),
            None,
            None,
        )
        .await
        .unwrap();
    // The open batch is re-sent as it was; the new events wait.
    let (again, batch) = due(&fx, &sub.id, 10).await;
    assert_eq!(
        (again.id.clone(), ids(&batch)),
        (first.id.clone(), vec!["a"])
    );
    store
        .record_delivery_attempt(first.id, AttemptOutcome::Delivered { status: 200 }, None)
        .await
        .unwrap();
    let (next, batch) = due(&fx, &sub.id, 10).await;
    assert_eq!(ids(&batch), ["b", "c"]);
    assert!(next.first_seq > first.last_seq);
    // batch_size 0 is treated as 1.
    store
        .record_delivery_attempt(next.id, AttemptOutcome::Delivered { status: 200 }, None)
        .await
        .unwrap();
    store
        .commit_poll(
            sub.id.clone(),
            vec![ev("d"), ev("e")],
            json!({}),
            None,
            None,
        )
        .await
        .unwrap();
    let (_, batch) = due(&fx, &sub.id, 0).await;
    assert_eq!(ids(&batch), ["d"]);
}

async fn reset_cursor_keeps_events_and_their_ids(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.pull_sub().await;
    store
        .commit_poll(
            sub.id.clone(),
            vec![ev("a"), ev("b")],
            json!({"w": 7}),
            None,
            None,
        )
        .await
        .unwrap();
    store
        .record_poll_error(sub.id.clone(), "later failure".into(), None)
        .await
        .unwrap();
    fx.clock.advance(Duration::from_secs(3));
    let reset = store
        .reset_cursor(sub.id.clone(), json!({"timestamp": 1_700_000_000_000_i64}))
        .await
        .unwrap();
    assert_eq!(reset.cursor, None);
    assert_eq!(
        reset.start_from,
        json!({"timestamp": 1_700_000_000_000_i64})
    );
    assert_eq!(reset.updated_at, t0() + Duration::from_secs(3));
    assert_eq!(reset.last_error.as_deref(), Some("later failure"));
    assert_eq!(store.subscription(sub.id.clone()).await.unwrap(), reset);
    // The events stay, and the same ids yielded again are not stored twice.
    let c = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("a"), ev("b"), ev("c")],
            json!({"w": 1}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (1, 2));
    assert_eq!(
        ids(&store.events_after(sub.id.clone(), 0, 10).await.unwrap()),
        ["a", "b", "c"]
    );
}

async fn a_poll_in_flight_during_a_cursor_reset_cannot_commit_over_it(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.pull_sub().await;
    assert_eq!(sub.cursor_generation, 0);
    // A poll reads the subscription (generation 0) and commits: nothing reset it, so it lands.
    let first = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("a")],
            json!({"w": 1}),
            Some(0),
            None,
        )
        .await
        .unwrap();
    assert_eq!((first.inserted, first.discarded), (1, false));
    // The next poll reads generation 0; while it is in flight, someone resets the cursor.
    let read = store.subscription(sub.id.clone()).await.unwrap();
    let start_from = json!({"timestamp": 1_700_000_000_000_i64});
    let reset = store
        .reset_cursor(sub.id.clone(), start_from.clone())
        .await
        .unwrap();
    assert_eq!(reset.cursor_generation, read.cursor_generation + 1);
    fx.clock.advance(Duration::from_secs(5));
    let late = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("b"), ev("a")],
            json!({"w": 2}),
            Some(read.cursor_generation),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        late,
        PollCommit {
            inserted: 0,
            duplicates: 0,
            discarded: true
        }
    );
    // Nothing of the late poll was written: the reset stands and its events were dropped.
    assert_eq!(store.subscription(sub.id.clone()).await.unwrap(), reset);
    assert_eq!(
        ids(&store.events_after(sub.id.clone(), 0, 10).await.unwrap()),
        ["a"]
    );
    // A poll that read the reset subscription commits (as does an unguarded commit).
    let after = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("b")],
            json!({"w": 3}),
            Some(reset.cursor_generation),
            None,
        )
        .await
        .unwrap();
    assert_eq!((after.inserted, after.discarded), (1, false));
    let now = store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(now.cursor, Some(json!({"w": 3})));
    assert_eq!(now.cursor_generation, 1);
    // A second reset moves the generation again; the guard is not a one-off flag.
    let again = store
        .reset_cursor(sub.id.clone(), start_from)
        .await
        .unwrap();
    assert_eq!(again.cursor_generation, 2);
    let stale = store
        .commit_poll(sub.id.clone(), vec![], json!({"w": 4}), Some(1), None)
        .await
        .unwrap();
    assert!(stale.discarded);
    // A missing subscription is still NotFound, not a discarded commit.
    store.delete_subscription(sub.id.clone()).await.unwrap();
    let gone = store
        .commit_poll(sub.id.clone(), vec![], json!({}), Some(2), None)
        .await
        .unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
}

async fn prune_deletes_only_what_nothing_needs(fx: Fixture) {
    let store = &fx.store;
    let pull = fx.pull_sub().await;
    // `delivered`: all delivered. `retrying`: one batch delivered, one retrying.
    // `dead`: dead-lettered at T0. `dead_late`: dead-lettered after the cutoff.
    let delivered = fx.webhook_sub().await;
    let retrying = fx.webhook_sub().await;
    let dead = fx.webhook_sub().await;
    let dead_late = fx.webhook_sub().await;
    for sub in [&pull, &delivered, &retrying, &dead, &dead_late] {
        store
            .commit_poll(
                sub.id.clone(),
                vec![ev("a"), ev("b")],
                json!({}),
                None,
                None,
            )
            .await
            .unwrap();
    }
    let (d, _) = due(&fx, &delivered.id, 10).await;
    store
        .record_delivery_attempt(d.id, AttemptOutcome::Delivered { status: 200 }, None)
        .await
        .unwrap();
    let (d, _) = due(&fx, &retrying.id, 1).await;
    store
        .record_delivery_attempt(d.id, AttemptOutcome::Delivered { status: 200 }, None)
        .await
        .unwrap();
    let (waiting, _) = due(&fx, &retrying.id, 1).await;
    store
        .record_delivery_attempt(
            waiting.id.clone(),
            AttemptOutcome::Retry {
                status: Some(502),
                error: "bad gateway".into(),
                retry_at: t0() + Duration::from_secs(3600),
            },
            None,
        )
        .await
        .unwrap();
    let (d, _) = due(&fx, &dead.id, 10).await;
    store
        .record_delivery_attempt(
            d.id,
            AttemptOutcome::DeadLetter {
                status: None,
                error: "gave up".into(),
            },
            None,
        )
        .await
        .unwrap();
    let (late, _) = due(&fx, &dead_late.id, 10).await;

    // Ten seconds on: one more event for the pull subscription, and the late dead letter.
    fx.clock.advance(Duration::from_secs(10));
    store
        .commit_poll(pull.id.clone(), vec![ev("c")], json!({}), None, None)
        .await
        .unwrap();
    store
        .record_delivery_attempt(
            late.id.clone(),
            AttemptOutcome::DeadLetter {
                status: Some(410),
                error: "gone".into(),
            },
            None,
        )
        .await
        .unwrap();
    let count = |id: &SubscriptionId| {
        let id = id.clone();
        async move { ids(&store.events_after(id, 0, 100).await.unwrap()).join(",") }
    };

    // The cutoff is exclusive: nothing is older than T0.
    assert_eq!(store.prune(t0()).await.unwrap(), Pruned::default());

    let pruned = store.prune(t0() + Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            // `delivered`'s, `retrying`'s first and `dead`'s, not the retrying one nor the
            // late dead letter.
            deliveries: 3,
            // pull a, b; delivered a, b; retrying a; dead a, b.
            events: 7,
        }
    );
    assert_eq!(count(&pull.id).await, "c", "newer than the cutoff");
    assert_eq!(count(&delivered.id).await, "");
    assert_eq!(count(&retrying.id).await, "b", "in a retrying delivery");
    assert_eq!(
        count(&dead.id).await,
        "",
        "its dead letter expired with them"
    );
    assert_eq!(
        count(&dead_late.id).await,
        "a,b",
        "in a remaining dead letter"
    );
    assert_eq!(
        store.delivery(waiting.id.clone()).await.unwrap().state,
        DeliveryState::Retrying
    );
    assert_eq!(
        store
            .dead_letters(dead_late.id.clone())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .dead_letters(dead.id.clone())
            .await
            .unwrap()
            .is_empty()
    );
    // Pruning again at the same cutoff finds nothing more.
    assert_eq!(
        store.prune(t0() + Duration::from_secs(5)).await.unwrap(),
        Pruned::default()
    );

    // Later still: the late dead letter expires, and its events with it; the retrying delivery
    // and its event stay whatever the cutoff.
    let pruned = store.prune(t0() + Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            deliveries: 1,
            events: 3
        }
    );
    assert_eq!(count(&pull.id).await, "");
    assert_eq!(count(&dead_late.id).await, "");
    assert_eq!(count(&retrying.id).await, "b");

    // Sequence ids are never reused, and pruned ids are stored again if a source yields them.
    let max_before = fx.count("SELECT MAX(seq) FROM trigger_events").await;
    let c = store
        .commit_poll(pull.id.clone(), vec![ev("a")], json!({}), None, None)
        .await
        .unwrap();
    assert_eq!(c.inserted, 1);
    let after = store.events_after(pull.id.clone(), 0, 10).await.unwrap();
    assert_eq!(ids(&after), ["a"]);
    assert!(after[0].seq > max_before);
    assert!(
        after[0].seq > 11,
        "{} is above every pruned id",
        after[0].seq
    );
}

/// A store reopened with the same key reads the secret; its rows are the backend's own.
async fn a_reopened_store_reads_what_was_written(fx: Fixture) {
    let sub = fx.webhook_sub().await;
    fx.store
        .commit_poll(sub.id.clone(), vec![ev("a")], json!({"w": 1}), None, None)
        .await
        .unwrap();
    let reopened: Arc<dyn Backend> = match &fx.raw {
        Raw::Sqlite(dir) => {
            let mut options = SqliteStoreOptions::in_data_dir(dir.path());
            options.clock = fx.clock.clone();
            Arc::new(SqliteStore::open_with(options, &fx.key).await.unwrap())
        }
        Raw::Postgres(url) => Arc::new(pg_store(url, &fx.key, fx.clock.clone()).await),
    };
    assert_eq!(
        reopened.subscription(sub.id.clone()).await.unwrap(),
        fx.store.subscription(sub.id.clone()).await.unwrap()
    );
    assert_eq!(
        reopened
            .webhook_secret(sub.id.clone())
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        SECRET
    );
    assert_eq!(
        reopened.events_after(sub.id.clone(), 0, 10).await.unwrap(),
        fx.store.events_after(sub.id.clone(), 0, 10).await.unwrap()
    );
}

fn lease(owner: &str, expires_at: SystemTime) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::LeaseLost { entity, .. }) => assert_eq!(entity, "subscription"),
        other => panic!("expected LeaseLost, got {other:?}"),
    }
}

async fn leases_are_exclusive_expire_and_guard_the_writes(fx: Fixture) {
    let store = &fx.store;
    let sub = fx.webhook_sub().await;
    let id = sub.id.clone();
    let t = |s: u64| t0() + Duration::from_secs(s);
    let claim = |owner: &'static str, at: u64, force: bool| {
        let store = store.clone();
        let id = id.clone();
        async move {
            store
                .claim_subscription_lease(
                    id,
                    LeaseKind::Poll,
                    lease(owner, t(at + 30)),
                    t(at),
                    force,
                )
                .await
                .unwrap()
        }
    };
    let a = || Some("a".to_owned());
    let b = || Some("b".to_owned());

    // One holder at a time; its own claim extends it.
    assert_eq!(claim("a", 0, false).await, LeaseClaim::Claimed);
    assert_eq!(claim("b", 5, true).await, LeaseClaim::Busy(t(30)));
    assert_eq!(claim("a", 5, false).await, LeaseClaim::Claimed);
    // A poll commit or error of a non-holder writes nothing.
    assert_lease_lost(
        store
            .commit_poll(id.clone(), vec![ev("x")], json!({"c": 1}), None, b())
            .await,
    );
    assert_lease_lost(
        store
            .record_poll_error(id.clone(), "boom".into(), b())
            .await,
    );
    let unchanged = store.subscription(id.clone()).await.unwrap();
    assert_eq!((unchanged.cursor, unchanged.last_error), (None, None));
    assert_eq!(
        store.events_after(id.clone(), 0, 10).await.unwrap().len(),
        0
    );
    // The holder commits, then releases with the next poll time every process keeps to.
    let commit = store
        .commit_poll(
            id.clone(),
            vec![ev("x"), ev("y")],
            json!({"c": 2}),
            None,
            a(),
        )
        .await
        .unwrap();
    assert_eq!(commit.inserted, 2);
    store
        .release_subscription_lease(id.clone(), LeaseKind::Poll, "a".into(), Some(t(60)))
        .await
        .unwrap();
    assert_eq!(claim("b", 10, false).await, LeaseClaim::NotDue(t(60)));
    assert!(
        !store
            .renew_subscription_lease(id.clone(), LeaseKind::Poll, lease("a", t(90)))
            .await
            .unwrap()
    );
    // Forced (poll now) it is granted before the time; then the schedule is the holder's.
    assert_eq!(claim("b", 10, true).await, LeaseClaim::Claimed);
    assert!(
        store
            .renew_subscription_lease(id.clone(), LeaseKind::Poll, lease("b", t(45)))
            .await
            .unwrap()
    );
    assert_eq!(claim("a", 44, true).await, LeaseClaim::Busy(t(45)));
    // Expired: another process takes it over, and the old holder can no longer commit.
    assert_eq!(claim("a", 61, false).await, LeaseClaim::Claimed);
    assert_lease_lost(
        store
            .commit_poll(id.clone(), vec![ev("z")], json!({"c": 3}), None, b())
            .await,
    );
    // Releasing a lease one does not hold changes nothing.
    store
        .release_subscription_lease(id.clone(), LeaseKind::Poll, "b".into(), Some(t(500)))
        .await
        .unwrap();
    assert_eq!(claim("b", 62, true).await, LeaseClaim::Busy(t(91)));

    // Deliveries: the attempt of a non-holder is refused and the attempt count stays.
    let claim_delivery = |owner: &'static str, at: u64| {
        let store = store.clone();
        let id = id.clone();
        async move {
            store
                .claim_subscription_lease(
                    id,
                    LeaseKind::Delivery,
                    lease(owner, t(at + 30)),
                    t(at),
                    false,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(claim_delivery("b", 70).await, LeaseClaim::Claimed);
    assert_eq!(claim_delivery("a", 71).await, LeaseClaim::Busy(t(100)));
    let (delivery, events) = due(&fx, &id, 10).await;
    assert_eq!(events.len(), 2);
    assert_lease_lost(
        store
            .record_delivery_attempt(
                delivery.id.clone(),
                AttemptOutcome::Delivered { status: 200 },
                a(),
            )
            .await,
    );
    assert_eq!(
        store.delivery(delivery.id.clone()).await.unwrap().attempts,
        0
    );
    let done = store
        .record_delivery_attempt(
            delivery.id.clone(),
            AttemptOutcome::Delivered { status: 200 },
            b(),
        )
        .await
        .unwrap();
    assert_eq!(done.attempts, 1);

    // Graceful shutdown of "b" (it holds the delivery lease; "a" the poll lease).
    assert_eq!(store.release_leases_of("b".into()).await.unwrap(), 1);
    assert_eq!(claim_delivery("a", 72).await, LeaseClaim::Claimed);
    assert_eq!(claim("b", 72, true).await, LeaseClaim::Busy(t(91)));
    // Start-up: the embedded store drops every lease (one process per data directory); a
    // shared database keeps them (they may be live replicas').
    let released = store.release_stale_leases().await.unwrap();
    match fx.raw {
        Raw::Sqlite(_) => {
            assert_eq!(released, 1);
            assert_eq!(claim("b", 73, true).await, LeaseClaim::Claimed);
        }
        Raw::Postgres(_) => {
            assert_eq!(released, 0);
            assert_eq!(claim("b", 73, true).await, LeaseClaim::Busy(t(91)));
        }
    }
    // A new poll interval (or a cursor reset) makes the next poll due at once, so a long old
    // interval is not waited out.
    let other = fx.webhook_sub().await.id;
    for change in ["interval", "reset"] {
        let poll_claim = |at: u64, force: bool| {
            store.claim_subscription_lease(
                other.clone(),
                LeaseKind::Poll,
                lease("a", t(at + 30)),
                t(at),
                force,
            )
        };
        assert_eq!(poll_claim(100, true).await.unwrap(), LeaseClaim::Claimed);
        store
            .release_subscription_lease(other.clone(), LeaseKind::Poll, "a".into(), Some(t(3700)))
            .await
            .unwrap();
        assert_eq!(
            poll_claim(101, false).await.unwrap(),
            LeaseClaim::NotDue(t(3700))
        );
        match change {
            "interval" => {
                store
                    .update_subscription(
                        other.clone(),
                        SubscriptionPatch {
                            poll_interval: Some(Duration::from_secs(5)),
                            ..SubscriptionPatch::default()
                        },
                    )
                    .await
                    .unwrap();
            }
            _ => {
                store
                    .reset_cursor(other.clone(), json!("now"))
                    .await
                    .unwrap();
            }
        }
        assert_eq!(
            poll_claim(102, false).await.unwrap(),
            LeaseClaim::Claimed,
            "{change}"
        );
        store
            .release_subscription_lease(other.clone(), LeaseKind::Poll, "a".into(), None)
            .await
            .unwrap();
    }
    assert_not_found(
        store
            .claim_subscription_lease(
                SubscriptionId::new("sub_nope"),
                LeaseKind::Poll,
                lease("a", t(100)),
                t(80),
                true,
            )
            .await,
        "subscription",
    );
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite_fixture().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(fx) = super::pg_fixture().await else {
                        return;
                    };
                    super::$name(fx).await;
                }
            )*
        }
    };
}

both_backends!(
    leases_are_exclusive_expire_and_guard_the_writes,
    subscriptions_round_trip_and_never_return_the_secret,
    deleting_a_subscription_takes_its_events_and_deliveries,
    a_poll_commits_events_and_cursor_together_and_deduplicates,
    events_page_by_sequence_id,
    deliveries_batch_retry_dead_letter_and_redeliver,
    new_events_after_an_open_batch_wait_for_it,
    reset_cursor_keeps_events_and_their_ids,
    a_poll_in_flight_during_a_cursor_reset_cannot_commit_over_it,
    prune_deletes_only_what_nothing_needs,
    a_reopened_store_reads_what_was_written,
);

// ---------------------------------------------------------------------------------------------
// PostgreSQL replicas: two stores on one database.

/// The fixture's store and a second replica on the same database.
async fn replicas() -> Option<(Fixture, Vec<Arc<PgStore>>)> {
    let fx = pg_fixture().await?;
    let Raw::Postgres(url) = &fx.raw else {
        unreachable!()
    };
    let mut stores = Vec::new();
    for _ in 0..2 {
        stores.push(Arc::new(pg_store(url, &fx.key, fx.clock.clone()).await));
    }
    Some((fx, stores))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_committing_overlapping_polls_store_each_event_once_in_commit_order() {
    let Some((fx, replicas)) = replicas().await else {
        return;
    };
    let sub = fx.pull_sub().await;
    const WRITERS: usize = 8;
    const ROUNDS: usize = 15;
    // Writer w in round r commits events (r*4 .. r*4+8) ∪ a few shared by everyone: heavy
    // overlap between writers and between rounds. Bodies name the commit that stored them.
    let writers = (0..WRITERS).map(|w| {
        let store = replicas[w % replicas.len()].clone();
        let id = sub.id.clone();
        tokio::spawn(async move {
            let mut inserted = 0;
            let mut duplicates = 0;
            for r in 0..ROUNDS {
                let events = (r * 4..r * 4 + 8)
                    .map(|i| format!("e{i:03}"))
                    .chain(["shared-1".to_owned(), "shared-2".to_owned()])
                    .map(|id| NewEvent {
                        body: json!({"id": id, "by": format!("w{w}r{r}")}),
                        id,
                    })
                    .collect::<Vec<_>>();
                let c = store
                    .commit_poll(id.clone(), events, json!({"w": w, "r": r}), None, None)
                    .await
                    .unwrap();
                inserted += c.inserted;
                duplicates += c.duplicates;
                tokio::task::yield_now().await;
            }
            (inserted, duplicates)
        })
    });
    // A reader paging with events_after meanwhile, as a pull client would.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = replicas[1].clone();
        let id = sub.id.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.events_after(id.clone(), after, 7).await.unwrap();
                if let Some(last) = page.last() {
                    after = last.seq;
                }
                let empty = page.is_empty();
                seen.extend(page.into_iter().map(|e| e.event_id));
                if finished && empty {
                    return seen;
                }
                if empty {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut inserted = 0;
    let mut duplicates = 0;
    for writer in writers.collect::<Vec<_>>() {
        let (i, d) = writer.await.unwrap();
        inserted += i;
        duplicates += d;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let expected: BTreeSet<String> = (0..(ROUNDS - 1) * 4 + 8)
        .map(|i| format!("e{i:03}"))
        .chain(["shared-1".to_owned(), "shared-2".to_owned()])
        .collect();
    let stored = fx
        .store
        .events_after(sub.id.clone(), 0, 100_000)
        .await
        .unwrap();
    let stored_ids: Vec<String> = stored.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids.len(), expected.len(), "each event id once");
    assert_eq!(
        stored_ids.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(inserted as usize, expected.len());
    assert_eq!(
        (inserted + duplicates) as usize,
        WRITERS * ROUNDS * 10,
        "every event counted as inserted or duplicate"
    );
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM trigger_events").await as usize,
        expected.len()
    );
    // Commits do not interleave: in sequence order, the events one commit stored are one
    // contiguous run.
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for event in &stored {
        let by = event.body["by"].as_str().unwrap();
        if previous != Some(by) {
            *runs.entry(by.to_owned()).or_default() += 1;
            previous = Some(by);
        }
    }
    assert!(
        runs.values().all(|&n| n == 1),
        "a commit's events are contiguous in sequence order: {runs:?}"
    );
    // The reader saw every event exactly once, in sequence order: paging never skipped one.
    assert_eq!(
        seen, stored_ids,
        "the pull reader skipped or repeated an event"
    );
    // The cursor is the last committer's.
    assert!(
        fx.store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .cursor
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_opening_deliveries_at_once_never_open_two_over_the_same_events() {
    let Some((fx, replicas)) = replicas().await else {
        return;
    };
    let subs = [fx.webhook_sub().await, fx.webhook_sub().await];
    for sub in &subs {
        fx.store
            .commit_poll(
                sub.id.clone(),
                evs((0..40).map(|i| format!("e{i}"))),
                json!({}),
                None,
                None,
            )
            .await
            .unwrap();
    }
    const CALLERS: usize = 6;
    let mut opened: Vec<HashSet<DeliveryId>> = vec![HashSet::new(); subs.len()];
    let mut delivered_events: Vec<Vec<String>> = vec![Vec::new(); subs.len()];
    for _round in 0..30 {
        // Every replica asks at once for every subscription.
        let calls = subs.iter().enumerate().flat_map(|(s, sub)| {
            (0..CALLERS).map({
                let replicas = &replicas;
                let now = fx.now();
                move |c| {
                    let store = replicas[c % replicas.len()].clone();
                    let id = sub.id.clone();
                    tokio::spawn(async move { (s, store.next_delivery(id, now, 3).await.unwrap()) })
                }
            })
        });
        let mut due_now: Vec<BTreeMap<DeliveryId, (Delivery, Vec<StoredEvent>)>> =
            vec![BTreeMap::new(); subs.len()];
        for call in calls.collect::<Vec<_>>() {
            let (s, next) = call.await.unwrap();
            match next {
                NextDelivery::Due(d, events) => {
                    due_now[s].insert(d.id.clone(), (d, events));
                }
                NextDelivery::Idle => {}
                NextDelivery::Later(at) => panic!("nothing is retrying, got Later({at:?})"),
            }
        }
        if due_now.iter().all(BTreeMap::is_empty) {
            break;
        }
        for (s, due) in due_now.into_iter().enumerate() {
            assert!(
                due.len() <= 1,
                "callers at once got {} different deliveries",
                due.len()
            );
            for (id, (delivery, events)) in due {
                assert!(opened[s].insert(id.clone()), "delivery {id} reopened");
                delivered_events[s].extend(events.iter().map(|e| e.event_id.clone()));
                replicas[0]
                    .record_delivery_attempt(
                        delivery.id,
                        AttemptOutcome::Delivered { status: 200 },
                        None,
                    )
                    .await
                    .unwrap();
            }
        }
    }
    for (s, sub) in subs.iter().enumerate() {
        assert_eq!(
            delivered_events[s],
            (0..40).map(|i| format!("e{i}")).collect::<Vec<_>>(),
            "every event in exactly one delivery, in order"
        );
        assert_eq!(opened[s].len(), 14, "40 events in batches of 3");
        let rows = fx
            .count(&format!(
                "SELECT COUNT(*) FROM trigger_deliveries WHERE subscription_id = '{}'",
                sub.id.as_str()
            ))
            .await;
        assert_eq!(rows, 14, "no delivery was opened that nobody was handed");
    }
    // No two deliveries overlap.
    assert_eq!(
        fx.count(
            "SELECT COUNT(*) FROM trigger_deliveries a JOIN trigger_deliveries b \
             ON a.subscription_id = b.subscription_id AND a.id < b.id \
             AND a.first_seq <= b.last_seq AND b.first_seq <= a.last_seq"
        )
        .await,
        0
    );
}
