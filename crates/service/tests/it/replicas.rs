//! Three service processes (`src/bin/triggers_test_node.rs`: `Service::start`, what `brickwire
//! serve` runs) on one PostgreSQL database share 200 webhook subscriptions over 5 linked
//! accounts on the emulator while new jobs are created continuously, and one of them is killed
//! with SIGKILL at a moment it holds both poll and delivery leases (mid-poll, mid-delivery). Checked: every job reaches every
//! subscription's receiver; no event is stored twice or sent in two different deliveries; only
//! the batches the killed process had in flight are sent again (at most one per delivery slot);
//! the polls were spread over the processes; and the survivors took the dead one's work over.
//! Skipped without `BRICKWIRE_TEST_DATABASE_URL` (see `backends/mod.rs`).

use crate::backends;
use crate::triggers_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brickwire_api::SecretString;
use brickwire_service::crypto::MasterKey;
use brickwire_service::store::{
    Credential, DATABASE_URL_ENV, NewLinkedAccount, PgStore, PgStoreOptions, Store,
};
use brickwire_service::triggers::{NewSubscription, TriggerStore as _, Webhook};
use serde_json::json;
use triggers_support::*;
use url::Url;

const SUBSCRIPTIONS: usize = 200;
const ACCOUNTS: usize = 5;
const LEASE_MS: u64 = 2000;
/// Deliveries one process runs at once (`EngineOptions::max_concurrent_deliveries`).
const DELIVERY_SLOTS: usize = 8;

/// A service process; killed (SIGKILL) on drop.
struct Node(Child);

impl Node {
    async fn spawn(database_url: &SecretString, master_key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut child = Command::new(env!("CARGO_BIN_EXE_triggers_test_node"))
            .env("BRICKWIRE_DATA_DIR", &dir)
            .env("BRICKWIRE_MASTER_KEY", master_key)
            .env(DATABASE_URL_ENV, database_url.expose_secret())
            .env("BRICKWIRE_TEST_LEASE_MS", LEASE_MS.to_string())
            .env_remove("BRICKWIRE_API_KEY")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test node starts");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        assert!(line.starts_with("ready "), "{line}");
        Node(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    fn kill9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `(subscription, job key)` of every event the receiver acknowledged.
fn acknowledged(receiver: &Receiver) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for r in receiver
        .requests()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
    {
        let body = r.json();
        let sub = body["subscription_id"].as_str().unwrap().to_owned();
        for e in body["events"].as_array().unwrap() {
            out.insert((sub.clone(), e["key"].as_str().unwrap().to_owned()));
        }
    }
    out
}

/// Lease holders seen by a sampler: owner pid -> (poll leases, delivery leases) counted.
type Seen = Arc<Mutex<BTreeMap<String, (u64, u64)>>>;

async fn sample_leases(url: SecretString, seen: Seen) {
    let client = backends::pg_client(&url).await;
    loop {
        let rows = client
            .query(
                "SELECT poll_lease_owner, delivery_lease_owner FROM trigger_subscriptions",
                &[],
            )
            .await
            .unwrap();
        {
            let mut seen = seen.lock().unwrap();
            for row in rows {
                let pid =
                    |owner: Option<String>| owner.map(|o| o.split('-').next().unwrap().to_owned());
                if let Some(p) = pid(row.get(0)) {
                    seen.entry(p).or_default().0 += 1;
                }
                if let Some(p) = pid(row.get(1)) {
                    seen.entry(p).or_default().1 += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_subscriptions_and_survive_a_kill() {
    let Some(url) = backends::fresh_postgres_url().await else {
        return;
    };
    let key = MasterKey::generate();
    let master_key = key.to_base64().expose_secret().to_owned();
    let store = PgStore::connect(PgStoreOptions::new(url.clone()), &key)
        .await
        .unwrap();
    let emulator = brickwire_emulator::Emulator::start(Default::default())
        .await
        .unwrap();
    let receiver = Receiver::start(200).await;
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let account = store
            .insert_linked_account(NewLinkedAccount {
                display_name: format!("workspace-{i}"),
                end_user_ref: None,
                workspace_host: Url::parse(emulator.base_url()).unwrap(),
                credential: Credential::ApiKey {
                    token: SecretString::new(emulator.token()),
                },
            })
            .await
            .unwrap();
        accounts.push(account.id);
    }
    let mut subscriptions = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        let sub = store
            .insert_subscription(NewSubscription {
                linked_account_id: accounts[i % ACCOUNTS].clone(),
                source: json!({"type": "jobs"}),
                start_from: json!("beginning"),
                poll_interval: Duration::from_secs(2),
                overlap: None,
                webhook: Some(Webhook {
                    url: receiver.url.clone(),
                    secret: SecretString::new(SECRET),
                }),
                max_attempts: 100,
                paused: false,
            })
            .await
            .unwrap();
        subscriptions.push(sub.id.as_str().to_owned());
    }
    let mut jobs = BTreeSet::new();
    for i in 0..5 {
        jobs.insert(create_job(&emulator, &format!("job-{i}")).await.to_string());
    }

    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::spawn(&url, &master_key).await);
    }
    let started = Instant::now();
    let seen: Seen = Arc::default();
    let sampler = tokio::spawn(sample_leases(url.clone(), seen.clone()));

    // New jobs keep coming; half-way, the first process dies while it holds leases.
    let doomed = nodes[0].pid();
    let mut killed_at = None;
    for i in 5..25 {
        jobs.insert(create_job(&emulator, &format!("job-{i}")).await.to_string());
        tokio::time::sleep(Duration::from_millis(150)).await;
        if i == 14 {
            // Kill it mid-poll and mid-delivery: at a moment it holds both kinds of lease.
            let client = backends::pg_client(&url).await;
            let mine = format!("{doomed}-%");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let row = client
                    .query_one(
                        "SELECT COUNT(*) FILTER (WHERE poll_lease_owner LIKE $1),
                                COUNT(*) FILTER (WHERE delivery_lease_owner LIKE $1)
                         FROM trigger_subscriptions",
                        &[&mine],
                    )
                    .await
                    .unwrap();
                let (polls, deliveries): (i64, i64) = (row.get(0), row.get(1));
                if polls > 0 && deliveries > 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the first process never held a poll and a delivery lease at once"
                );
            }
            nodes[0].kill9();
            killed_at = Some(Instant::now());
        }
    }
    let before_kill: BTreeMap<String, (u64, u64)> = seen.lock().unwrap().clone();

    let expected: BTreeSet<(String, String)> = subscriptions
        .iter()
        .flat_map(|s| jobs.iter().map(move |j| (s.clone(), j.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let acked = acknowledged(&receiver);
        if expected.is_subset(&acked) {
            break;
        }
        if Instant::now() >= deadline {
            let missing: Vec<_> = expected.difference(&acked).collect();
            let subs: BTreeSet<&String> = missing.iter().map(|(s, _)| s).collect();
            let client = backends::pg_client(&url).await;
            let mut state = Vec::new();
            for sub in subs.iter().take(3) {
                let row = client
                    .query_one(
                        "SELECT poll_lease_owner, poll_lease_expires_at, next_poll_at,
                                delivery_lease_owner, delivery_lease_expires_at, delivered_seq,
                                (SELECT MAX(seq) FROM trigger_events e WHERE e.subscription_id = s.id),
                                (SELECT string_agg(state || ':' || attempts || ':' || first_seq || '-' || last_seq, ',')
                                 FROM trigger_deliveries d WHERE d.subscription_id = s.id),
                                last_error
                         FROM trigger_subscriptions s WHERE id = $1",
                        &[sub],
                    )
                    .await
                    .unwrap();
                state.push(format!(
                    "{sub}: poll lease {:?} until {:?}, next poll {:?}, delivery lease {:?} until \
                     {:?}, delivered {:?} of {:?}, deliveries {:?}, last error {:?}",
                    row.get::<_, Option<String>>(0),
                    row.get::<_, Option<i64>>(1),
                    row.get::<_, Option<i64>>(2),
                    row.get::<_, Option<String>>(3),
                    row.get::<_, Option<i64>>(4),
                    row.get::<_, i64>(5),
                    row.get::<_, Option<i64>>(6),
                    row.get::<_, Option<String>>(7),
                    row.get::<_, Option<String>>(8),
                ));
            }
            panic!(
                "{} of {} (subscription, job) pairs never acknowledged, over {} subscriptions \
                 (dead process {doomed}); {:?} ...; {state:#?}",
                missing.len(),
                expected.len(),
                subs.len(),
                missing.iter().take(5).collect::<Vec<_>>(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_delivered = started.elapsed();
    sampler.abort();

    // Stored once each.
    let client = backends::pg_client(&url).await;
    let row = client
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT (subscription_id, event_id)) FROM trigger_events",
            &[],
        )
        .await
        .unwrap();
    let (stored, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(stored, distinct, "an event was stored twice");
    assert_eq!(stored as usize, expected.len());

    // Each event went out in one delivery (a batch sent again keeps its delivery id), and the
    // only batches acknowledged twice are those the killed process had in flight.
    let mut deliveries_of: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut acks_of: BTreeMap<String, usize> = BTreeMap::new();
    for r in receiver.requests() {
        let delivery = r.headers["Brickwire-Delivery"].to_str().unwrap().to_owned();
        let body = r.json();
        let sub = body["subscription_id"].as_str().unwrap().to_owned();
        for e in body["events"].as_array().unwrap() {
            deliveries_of
                .entry((sub.clone(), e["id"].as_str().unwrap().to_owned()))
                .or_default()
                .insert(delivery.clone());
        }
        if (200..300).contains(&r.status) {
            *acks_of.entry(delivery).or_default() += 1;
        }
    }
    for (event, deliveries) in &deliveries_of {
        assert_eq!(deliveries.len(), 1, "{event:?} went out in {deliveries:?}");
    }
    let sent_again = acks_of.values().filter(|&&n| n > 1).count();
    assert!(
        sent_again <= DELIVERY_SLOTS,
        "{sent_again} batches were acknowledged twice; the killed process had at most \
         {DELIVERY_SLOTS} in flight"
    );

    // The work was spread: every process held leases before the kill.
    assert_eq!(before_kill.len(), 3, "lease holders seen: {before_kill:?}");
    let polls = {
        let counters: serde_json::Value =
            reqwest::get(format!("{}/_emulator/counters", emulator.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        counters["endpoints"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("jobs/list"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum::<u64>()
    };
    eprintln!(
        "replicas: {SUBSCRIPTIONS} subscriptions, {} jobs, {stored} events; all delivered \
         {:.1} s after start ({:.1} s after the kill); {polls} polls = {:.1} polls/s over \
         all replicas; {sent_again} batches sent again; lease samples (poll, delivery) by \
         pid: {before_kill:?}",
        jobs.len(),
        all_delivered.as_secs_f64(),
        killed_at.unwrap().elapsed().as_secs_f64()
            - (started.elapsed() - all_delivered).as_secs_f64(),
        polls as f64 / all_delivered.as_secs_f64(),
    );
    drop(nodes);
}
