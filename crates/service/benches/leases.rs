//! What leases cost a poll (not a timed test; results go to `docs/benchmarks.md`): poll commits
//! per second for one subscription, each committing one new event and the cursor, without a
//! lease (`commit_poll` alone, what one process with no fleet would need) and with one (claim
//! the poll lease, commit guarded by it, release it with the next poll time: what every
//! replica does), on SQLite and, when `BRICKWIRE_TEST_DATABASE_URL` names a server, on a fresh
//! PostgreSQL database there.
//!
//! Run: `cargo bench -p brickwire-service --bench leases --profile bench-fast`
//! (`LEASES_BENCH_POLLS` sets the polls per measure, default 2000).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brickwire_api::SecretString;
use brickwire_service::crypto::MasterKey;
use brickwire_service::store::{
    Credential, Lease, NewLinkedAccount, PgStore, PgStoreOptions, SharedStore, SqliteStore,
};
use brickwire_service::triggers::{LeaseKind, NewEvent, NewSubscription, SubscriptionId};
use serde_json::json;

async fn subscription(store: &SharedStore) -> SubscriptionId {
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "bench".into(),
            end_user_ref: None,
            workspace_host: url::Url::parse("https://dbc-1.cloud.databricks.com").unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new("dapi-bench"),
            },
        })
        .await
        .unwrap();
    store
        .insert_subscription(NewSubscription {
            linked_account_id: account.id,
            source: json!({"type": "jobs"}),
            start_from: json!("beginning"),
            poll_interval: Duration::from_secs(60),
            overlap: None,
            webhook: None,
            max_attempts: 3,
            paused: false,
        })
        .await
        .unwrap()
        .id
}

/// Polls per second: `polls` commits of one event each, leased or not.
async fn measure(store: &SharedStore, polls: u32, leased: bool, offset: u32) -> f64 {
    let id = subscription(store).await;
    let start = Instant::now();
    for i in 0..polls {
        let n = offset + i;
        let event = NewEvent {
            id: format!("job-{n}"),
            body: json!({"job_id": n, "created_time": n}),
        };
        let cursor = json!({"watermark": n});
        if leased {
            let now = SystemTime::now();
            let lease = Lease {
                owner: "bench".into(),
                expires_at: now + Duration::from_secs(60),
            };
            store
                .claim_subscription_lease(id.clone(), LeaseKind::Poll, lease, now, true)
                .await
                .unwrap();
            store
                .commit_poll(
                    id.clone(),
                    vec![event],
                    cursor,
                    Some(0),
                    Some("bench".into()),
                )
                .await
                .unwrap();
            store
                .release_subscription_lease(
                    id.clone(),
                    LeaseKind::Poll,
                    "bench".into(),
                    Some(now + Duration::from_secs(60)),
                )
                .await
                .unwrap();
        } else {
            store
                .commit_poll(id.clone(), vec![event], cursor, None, None)
                .await
                .unwrap();
        }
    }
    f64::from(polls) / start.elapsed().as_secs_f64()
}

async fn report(name: &str, store: SharedStore, polls: u32) {
    // Warm up the connections and caches.
    measure(&store, 100, true, 0).await;
    let plain = measure(&store, polls, false, 1_000_000).await;
    let leased = measure(&store, polls, true, 2_000_000).await;
    println!(
        "{name}: {plain:.0} polls/s without a lease ({:.2} ms each), {leased:.0} with one \
         ({:.2} ms each): the lease adds {:.2} ms per poll",
        1000.0 / plain,
        1000.0 / leased,
        1000.0 / leased - 1000.0 / plain
    );
}

#[tokio::main]
async fn main() {
    let polls: u32 = std::env::var("LEASES_BENCH_POLLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let key = MasterKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let sqlite: SharedStore = Arc::new(SqliteStore::open(dir.path(), &key).await.unwrap());
    report("sqlite", sqlite, polls).await;

    let Ok(admin_url) = std::env::var("BRICKWIRE_TEST_DATABASE_URL") else {
        println!("postgres: skipped (BRICKWIRE_TEST_DATABASE_URL is not set)");
        return;
    };
    let config = tokio_postgres::Config::from_str(&admin_url).unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let name = format!("bw_bench_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    let pg: SharedStore = Arc::new(
        PgStore::connect(
            PgStoreOptions::new(SecretString::new(url.to_string())),
            &key,
        )
        .await
        .unwrap(),
    );
    report("postgres", pg, polls).await;
}
