//! Flows benchmark (not a timed test; results go to `docs/benchmarks.md`):
//!
//! 1. the store alone: step attempts written per second through `FlowStore::write_step` (each
//!    a durable `BEGIN IMMEDIATE` commit with `synchronous = FULL`), so the cost the journal adds
//!    to every step (two writes: `running` before, the outcome after);
//! 2. the run lifecycle in the store alone: enqueue, claim, finish per second;
//! 3. end to end: runs per second of a 3-step flow of cheap read actions (`list-clusters`,
//!    `query-warehouses`, `retrieve-warehouse`) executed by the `FlowEngine` against the
//!    in-process emulator, with the per-workspace rate limit off (the default 15 requests/s
//!    would cap it at 5 runs/s) and 16 runs at once.
//!
//! Run: `cargo bench -p brickwire-service --bench flows --profile bench-fast`
//! (`FLOWS_BENCH_RUNS` sets the end-to-end run count, default 300; `FLOWS_BENCH_PARTS=store` or
//! `engine` runs one half).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::ClientOptions;
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_flows::{StepKind, StepRecord, StepStatus};
use brickwire_service::crypto::MasterKey;
use brickwire_service::flows::*;
use brickwire_service::store::{Credential, NewLinkedAccount, Store};
use brickwire_service::{AccountClients, AccountClientsOptions, SqliteStore};
use serde_json::{Value, json};

fn record(path: &str, status: StepStatus) -> StepRecord {
    StepRecord {
        path: path.into(),
        step_id: path.into(),
        kind: StepKind::Action,
        attempt: 1,
        status,
        action: Some("list-clusters".into()),
        account: Some("bench".into()),
        input: Some(json!({"warehouse_id": "abc", "statement": "SELECT 1"})),
        output: (status == StepStatus::Succeeded)
            .then(|| json!({"clusters": [{"cluster_id": "0123", "state": "RUNNING"}]})),
        error: None,
        started_at: SystemTime::now(),
        finished_at: (status == StepStatus::Succeeded).then(SystemTime::now),
        resume_at: None,
    }
}

fn new_run(flow: &FlowId) -> NewRun {
    NewRun {
        flow_id: flow.clone(),
        flow_version: None,
        trigger: "manual".into(),
        event: json!({"bench": true}),
        dedupe_key: None,
        replay_of: None,
        seed_steps: Vec::new(),
    }
}

fn definition(steps: Value) -> Value {
    json!({"name": "bench", "account": "bench", "concurrency": 16,
           "trigger": {"type": "manual"}, "steps": steps})
}

async fn store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), &MasterKey::generate())
        .await
        .unwrap();
    let flow = store
        .insert_flow(definition(json!([])), true)
        .await
        .unwrap();
    let Enqueued::Created(run) = store.enqueue_run(new_run(&flow.id)).await.unwrap() else {
        unreachable!()
    };
    let steps = 1000;
    let started = Instant::now();
    for i in 0..steps {
        let path = format!("step{i}");
        store
            .write_step(run.id.clone(), record(&path, StepStatus::Running), None)
            .await
            .unwrap();
        store
            .write_step(run.id.clone(), record(&path, StepStatus::Succeeded), None)
            .await
            .unwrap();
    }
    let took = started.elapsed();
    let writes = 2 * steps;
    println!(
        "store: {writes} step writes in {:.2} s: {:.0} writes/s, {:.2} ms of journal per step \
         (2 writes)",
        took.as_secs_f64(),
        writes as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / steps as f64
    );

    // Four writers at once (what concurrent runs do): one writer connection, so they queue.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let run = run.id.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let path = format!("w{w}-{i}");
                store
                    .write_step(run.clone(), record(&path, StepStatus::Running), None)
                    .await
                    .unwrap();
                store
                    .write_step(run.clone(), record(&path, StepStatus::Succeeded), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    println!(
        "store: 2000 step writes from 4 tasks in {:.2} s: {:.0} writes/s",
        took.as_secs_f64(),
        2000.0 / took.as_secs_f64()
    );

    let runs = 500;
    let started = Instant::now();
    for _ in 0..runs {
        store.enqueue_run(new_run(&flow.id)).await.unwrap();
    }
    let mut claimed = 0;
    loop {
        let batch = store
            .claim_runs(
                1,
                vec![],
                SystemTime::now(),
                RunLease {
                    owner: "bench".into(),
                    expires_at: SystemTime::now() + Duration::from_secs(60),
                },
            )
            .await
            .unwrap();
        let Some(r) = batch.into_iter().next() else {
            break;
        };
        store
            .finish_run(
                r.id,
                RunEnd::Succeeded(json!(null)),
                SystemTime::now(),
                None,
            )
            .await
            .unwrap();
        claimed += 1;
    }
    let took = started.elapsed();
    println!(
        "store: {claimed} runs enqueued, claimed and finished in {:.2} s: {:.0} runs/s \
         (3 writes per run)",
        took.as_secs_f64(),
        claimed as f64 / took.as_secs_f64()
    );
}

async fn end_to_end(runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), &MasterKey::generate())
        .await
        .unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let seeded: Value = reqwest::Client::new()
        .post(format!("{}/_emulator/seed", emulator.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    store
        .insert_linked_account(NewLinkedAccount {
            display_name: "bench".into(),
            end_user_ref: None,
            workspace_host: emulator.base_url().parse().unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new(emulator.token()),
            },
        })
        .await
        .unwrap();
    let accounts = AccountClients::new(
        Arc::new(store.clone()),
        AccountClientsOptions {
            client: ClientOptions {
                rate_limit: None,
                ..ClientOptions::default()
            },
            ..AccountClientsOptions::default()
        },
    );
    let flow = store
        .insert_flow(
            definition(json!([
                {"id": "clusters", "action": "list-clusters", "input": {}},
                {"id": "warehouses", "action": "query-warehouses", "input": {}},
                {"id": "warehouse", "action": "retrieve-warehouse",
                 "input": {"warehouse_id": seeded["warehouse_id"]}},
            ])),
            true,
        )
        .await
        .unwrap();
    let engine = FlowEngine::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        accounts,
        FlowEngineOptions {
            max_concurrent_runs: 16,
            tick: Duration::from_millis(20),
            ..FlowEngineOptions::default()
        },
    );
    let task = engine.start().await.unwrap();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(runs);
    for _ in 0..runs {
        if let Enqueued::Created(run) = store.enqueue_run(new_run(&flow.id)).await.unwrap() {
            ids.push(run.id);
        }
    }
    engine.wake();
    loop {
        let open = store
            .list_runs(RunFilter {
                status: Some(RunStatus::Queued),
                limit: Some(1),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .len()
            + store
                .list_runs(RunFilter {
                    status: Some(RunStatus::Running),
                    limit: Some(1),
                    ..RunFilter::default()
                })
                .await
                .unwrap()
                .len();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let succeeded = store
        .list_runs(RunFilter {
            status: Some(RunStatus::Succeeded),
            limit: Some(500),
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .len();
    println!(
        "engine: {runs} runs of a 3-step flow (enqueue included) in {:.2} s: {:.1} runs/s, \
         {:.1} steps/s ({succeeded} of the last 500 succeeded)",
        took.as_secs_f64(),
        runs as f64 / took.as_secs_f64(),
        3.0 * runs as f64 / took.as_secs_f64()
    );
    task.stop();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = std::env::var("FLOWS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let parts = std::env::var("FLOWS_BENCH_PARTS").unwrap_or_else(|_| "all".into());
    if parts != "engine" {
        store_alone().await;
    }
    if parts != "store" {
        end_to_end(runs).await;
    }
}
