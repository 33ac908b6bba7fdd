//! kill -9 of the trigger runner, in the middle of a poll and in the middle of a webhook
//! delivery, then a restart on the same data directory: every job is still delivered at least
//! once, the batch in flight is sent again, and delivery progress reaches the last event.
//!
//! The runner is `src/bin/triggers_test_node.rs` (`Service::start`, what `brickwire serve`
//! runs, with a fast tick), as a child process so SIGKILL stops it with no chance to clean up. The emulator and the
//! webhook receiver run in this process; the emulator's latency fault holds a poll open, and
//! the receiver's hang mode holds a delivery open.

use crate::triggers_support;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_service::triggers::*;
use serde_json::{Value, json};
use triggers_support::*;

/// The runner child; killed (SIGKILL) on drop so a failing test leaves nothing behind.
struct Node(Child);

impl Node {
    async fn spawn(dir: &std::path::Path, master_key: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_triggers_test_node"))
            .env("BRICKWIRE_DATA_DIR", dir)
            .env("BRICKWIRE_MASTER_KEY", master_key)
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

    /// SIGKILL, like `kill -9`.
    fn kill9(mut self) {
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

async fn admin(
    emulator_url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new().request(method, format!("{emulator_url}{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn jobs_list_requests(emulator_url: &str) -> u64 {
    let counters = admin(
        emulator_url,
        reqwest::Method::GET,
        "/_emulator/counters",
        None,
    )
    .await;
    counters["endpoints"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("jobs/list"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum()
}

fn keys_of<'a>(requests: impl Iterator<Item = &'a Received>) -> BTreeSet<String> {
    requests
        .flat_map(|r| {
            r.json()["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn acknowledged_keys(receiver: &Receiver) -> BTreeSet<String> {
    let requests = receiver.requests();
    keys_of(requests.iter().filter(|r| (200..300).contains(&r.status)))
}

async fn wait_all_acknowledged(receiver: &Receiver, jobs: &BTreeSet<String>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let acked = acknowledged_keys(receiver);
        if jobs.is_subset(&acked) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing jobs: {:?}",
            jobs.difference(&acked).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_loses_nothing_mid_poll_and_mid_delivery() {
    let env = env().await;
    let url = env.emulator.base_url().to_owned();
    let master_key = env.key.to_base64();
    let master_key = SecretString::expose_secret(&master_key).to_owned();
    let receiver = Receiver::start(200).await;
    let mut jobs = BTreeSet::new();
    for i in 0..20 {
        jobs.insert(
            create_job(&env.emulator, &format!("job-{i}"))
                .await
                .to_string(),
        );
    }
    let sub = env
        .store
        .insert_subscription(NewSubscription {
            linked_account_id: env.account.id.clone(),
            source: json!({"type": "jobs"}),
            start_from: json!("beginning"),
            poll_interval: Duration::from_millis(200),
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

    let node = Node::spawn(env.dir.path(), &master_key).await;
    wait_all_acknowledged(&receiver, &jobs).await;

    // 1. kill -9 while a poll is in flight: the emulator holds jobs/list for 3 s.
    for i in 20..25 {
        jobs.insert(
            create_job(&env.emulator, &format!("job-{i}"))
                .await
                .to_string(),
        );
    }
    admin(
        &url,
        reqwest::Method::PATCH,
        "/_emulator/settings",
        Some(json!({"faults": {"endpoints": {"/api/2.2/jobs/list": {"latency_ms": 3000}}}})),
    )
    .await;
    let before = jobs_list_requests(&url).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while jobs_list_requests(&url).await == before {
        assert!(tokio::time::Instant::now() < deadline, "no poll started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill9();
    admin(
        &url,
        reqwest::Method::PATCH,
        "/_emulator/settings",
        Some(json!({"faults": null})),
    )
    .await;
    let node = Node::spawn(env.dir.path(), &master_key).await;
    wait_all_acknowledged(&receiver, &jobs).await;

    // 2. kill -9 while a delivery is in flight: the receiver takes the batch and never answers.
    receiver.hang.store(true, Ordering::SeqCst);
    let mut new_jobs = BTreeSet::new();
    for i in 25..30 {
        new_jobs.insert(
            create_job(&env.emulator, &format!("job-{i}"))
                .await
                .to_string(),
        );
    }
    jobs.extend(new_jobs.iter().cloned());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let hung = loop {
        let requests = receiver.requests();
        let hung: Vec<Received> = requests.into_iter().filter(|r| r.status == 0).collect();
        if !hung.is_empty() {
            break hung;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    node.kill9();
    let in_flight = keys_of(hung.iter());
    assert!(!in_flight.is_empty());
    assert!(in_flight.is_subset(&new_jobs), "{in_flight:?}");
    receiver.hang.store(false, Ordering::SeqCst);
    let node = Node::spawn(env.dir.path(), &master_key).await;
    wait_all_acknowledged(&receiver, &jobs).await;
    // The batch that was in flight was sent again after the restart.
    assert!(in_flight.is_subset(&acknowledged_keys(&receiver)));

    // No gaps: every stored event was acknowledged and progress reached the last one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let events = env
        .store
        .events_after(sub.id.clone(), 0, 1000)
        .await
        .unwrap();
    let last = events.last().unwrap().seq;
    while env
        .store
        .subscription(sub.id.clone())
        .await
        .unwrap()
        .delivered_seq
        < last
    {
        assert!(tokio::time::Instant::now() < deadline, "progress stuck");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill9();
    let stored: BTreeSet<String> = events
        .iter()
        .map(|e| e.body["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, jobs, "one stored event per job");
    assert_eq!(events.len(), jobs.len(), "no event stored twice");
    assert!(
        env.store
            .dead_letters(sub.id.clone())
            .await
            .unwrap()
            .is_empty()
    );
}
