//! Flow engines of several replicas on one PostgreSQL database (each its own `PgStore`, as
//! separate `brickwire serve` processes have): runs spread over the engines and each runs once;
//! a replica that dies mid-run (its tasks aborted, its leases left to expire) has the run taken
//! over by another, which resumes it from the journal without repeating the completed step; a
//! replica shutting down gracefully hands its runs over at once. Skipped without
//! `BRICKWIRE_TEST_DATABASE_URL` (see `backends/mod.rs`).

use crate::backends;
use crate::flows_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brickwire_flows::StepStatus;
use brickwire_service::crypto::MasterKey;
use brickwire_service::flows::*;
use brickwire_service::store::{PgStore, PgStoreOptions};
use brickwire_service::{AccountClients, AccountClientsOptions};
use flows_support::*;
use serde_json::json;

/// One database, `n` replicas' stores on it, and a workspace linked through the first.
async fn replicas(n: usize) -> Option<(Vec<Arc<PgStore>>, Workspace)> {
    let url = backends::fresh_postgres_url().await?;
    let key = MasterKey::generate();
    let mut stores = Vec::new();
    for _ in 0..n {
        let store = PgStore::connect(PgStoreOptions::new(url.clone()), &key)
            .await
            .unwrap();
        stores.push(Arc::new(store));
    }
    let ws = link_workspace(stores[0].clone(), "emulator").await;
    Some((stores, ws))
}

fn engine(store: &Arc<PgStore>, run_lease: Duration) -> FlowEngine {
    let options = FlowEngineOptions {
        run_lease,
        ..fast_options()
    };
    FlowEngine::new(
        store.clone(),
        store.clone(),
        AccountClients::new(store.clone(), AccountClientsOptions::default()),
        options,
    )
}

/// insert `first`, wait `seconds`, insert `second`.
fn two_inserts(ws: &Workspace, table: &str, seconds: f64) -> serde_json::Value {
    json!({
        "name": "two inserts",
        "account": "emulator",
        "trigger": {"type": "manual"},
        "concurrency": 50,
        "steps": [
            insert_step("first", table, &ws.warehouse_id),
            {"id": "pause", "wait": {"seconds": seconds}},
            insert_step("second", table, &ws.warehouse_id),
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_spread_over_replicas_and_each_runs_once() {
    let Some((stores, ws)) = replicas(3).await else {
        return;
    };
    let table = create_table(&ws, "spread").await;
    let flow = insert_flow(stores[0].as_ref(), two_inserts(&ws, &table, 0.2)).await;
    let engines: Vec<FlowEngine> = stores
        .iter()
        .map(|s| engine(s, Duration::from_secs(30)))
        .collect();
    let mut tasks = Vec::new();
    for e in &engines {
        tasks.push(e.start().await.unwrap());
    }
    let mut runs = Vec::new();
    for i in 0..30 {
        let store = stores[i % stores.len()].as_ref();
        runs.push(manual_run(store, &flow.id, json!({"i": i})).await.id);
        engines[i % engines.len()].wake();
    }
    // Which replica executes a run shows while it waits: sample the engines' counts.
    let mut seen_running = vec![0usize; engines.len()];
    for id in &runs {
        for (n, e) in seen_running.iter_mut().zip(&engines) {
            *n = (*n).max(e.running_count());
        }
        let done = wait_final(stores[1].as_ref(), id, 60).await;
        assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    }
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (run, step, n) in row_counts(&ws, &table).await {
        assert_eq!(n, 1, "run {run} step {step} ran {n} times");
        *counts.entry(step).or_default() += 1;
    }
    assert_eq!(counts["first"], 30);
    assert_eq!(counts["second"], 30);
    assert!(
        seen_running.iter().filter(|&&n| n > 0).count() >= 2,
        "the runs did not spread over the replicas: {seen_running:?}"
    );
    for task in tasks {
        task.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_replicas_run_is_taken_over_after_its_lease_without_repeating_a_step() {
    let Some((stores, ws)) = replicas(2).await else {
        return;
    };
    let table = create_table(&ws, "takeover").await;
    let flow = insert_flow(stores[0].as_ref(), two_inserts(&ws, &table, 3.0)).await;
    let lease = Duration::from_secs(1);
    let doomed = engine(&stores[0], lease);
    let doomed_task = doomed.start().await.unwrap();
    // The survivor runs from the start, so only the expiry of the lease lets it in.
    let survivor = engine(&stores[1], lease);
    let survivor_task = survivor.start().await.unwrap();
    let run = manual_run(stores[0].as_ref(), &flow.id, json!({})).await;
    doomed.wake();
    wait_steps(stores[0].as_ref(), &run.id, 30, "the wait to start", |s| {
        latest_is(s, "first", StepStatus::Succeeded) && latest_is(s, "pause", StepStatus::Running)
    })
    .await;
    // The replica dies: its tasks stop where they are and nothing hands the run back.
    doomed_task.stop();
    assert_eq!(
        stores[1].run(run.id.clone()).await.unwrap().status,
        RunStatus::Running
    );

    let done = wait_final(stores[1].as_ref(), &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let rows = row_counts(&ws, &table).await;
    assert_eq!(
        rows.iter()
            .map(|(_, step, n)| (step.as_str(), *n))
            .collect::<Vec<_>>(),
        [("first", 1), ("second", 1)],
        "the completed step ran again or a step is missing"
    );
    let steps = stores[1].run_steps(run.id.clone()).await.unwrap();
    assert_eq!(attempts(&steps, "first"), 1);
    survivor_task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_shutdown_hands_runs_over_at_once() {
    let Some((stores, ws)) = replicas(2).await else {
        return;
    };
    let table = create_table(&ws, "handover").await;
    let flow = insert_flow(stores[0].as_ref(), two_inserts(&ws, &table, 2.0)).await;
    // Leases far longer than the test: only the hand-over lets the second replica in.
    let lease = Duration::from_secs(3600);
    let leaving = engine(&stores[0], lease);
    let leaving_task = leaving.start().await.unwrap();
    let run = manual_run(stores[0].as_ref(), &flow.id, json!({})).await;
    leaving.wake();
    wait_steps(stores[0].as_ref(), &run.id, 30, "the wait to start", |s| {
        latest_is(s, "pause", StepStatus::Running)
    })
    .await;
    // The other replica starts while the run is leased, and leaves it alone.
    let staying = engine(&stores[1], lease);
    let staying_task = staying.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(staying.running_count(), 0);
    leaving_task.shutdown().await;
    let done = wait_final(stores[1].as_ref(), &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = stores[1].run_steps(run.id.clone()).await.unwrap();
    assert_eq!(attempts(&steps, "first"), 1);
    staying_task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_starting_leaves_the_runs_of_live_replicas_alone() {
    let Some((stores, ws)) = replicas(2).await else {
        return;
    };
    let table = create_table(&ws, "live").await;
    let flow = insert_flow(stores[0].as_ref(), two_inserts(&ws, &table, 1.5)).await;
    let lease = Duration::from_secs(30);
    let first = engine(&stores[0], lease);
    let first_task = first.start().await.unwrap();
    let run = manual_run(stores[0].as_ref(), &flow.id, json!({})).await;
    first.wake();
    wait_steps(stores[0].as_ref(), &run.id, 30, "the wait to start", |s| {
        latest_is(s, "pause", StepStatus::Running)
    })
    .await;
    // A second replica starts (start-up recovery, then claims) while the run is in flight.
    let second = engine(&stores[1], lease);
    let second_task = second.start().await.unwrap();
    second.wake();
    let done = wait_final(stores[1].as_ref(), &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = stores[1].run_steps(run.id.clone()).await.unwrap();
    assert_eq!(
        (attempts(&steps, "pause"), attempts(&steps, "second")),
        (1, 1),
        "two replicas executed the run: {steps:#?}"
    );
    assert_eq!(
        row_counts(&ws, &table)
            .await
            .iter()
            .map(|(_, step, n)| (step.clone(), *n))
            .collect::<Vec<_>>(),
        [("first".to_owned(), 1), ("second".to_owned(), 1)]
    );
    first_task.shutdown().await;
    second_task.shutdown().await;
}
