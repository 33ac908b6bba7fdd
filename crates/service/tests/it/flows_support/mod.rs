//! Shared pieces of the flow engine and crash tests: a store on a temp dir with linked accounts
//! on in-process emulators, the emulator's admin API (settings, faults, counters, seeds), SQL
//! through Execute Statement, and waiting for runs.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_client::Client;
use brickwire_connector::Catalog;
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_service::crypto::MasterKey;
use brickwire_service::flows::*;
use brickwire_service::store::{Credential, LinkedAccount, NewLinkedAccount, Store};
use brickwire_service::{AccountClients, AccountClientsOptions, SqliteStore};
use serde_json::{Value, json};
use url::Url;

pub struct Workspace {
    pub emulator: Emulator,
    /// The test's own client on the workspace (setup and checks).
    pub client: Client,
    pub account: LinkedAccount,
    pub warehouse_id: String,
    pub cluster_id: String,
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
    pub store: SqliteStore,
    pub ws: Workspace,
}

pub async fn link_workspace(store: Arc<dyn Store>, name: &str) -> Workspace {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: name.into(),
            end_user_ref: None,
            workspace_host: Url::parse(emulator.base_url()).unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new(emulator.token()),
            },
        })
        .await
        .unwrap();
    let seeded = admin(&emulator, reqwest::Method::POST, "/_emulator/seed", None).await;
    let client = AccountClients::new(store, AccountClientsOptions::default())
        .client(&account.id)
        .await
        .unwrap();
    Workspace {
        client,
        warehouse_id: seeded["warehouse_id"].as_str().unwrap().to_owned(),
        cluster_id: seeded["cluster_id"].as_str().unwrap().to_owned(),
        emulator,
        account,
    }
}

pub async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let store = SqliteStore::open(dir.path(), &key).await.unwrap();
    let ws = link_workspace(Arc::new(store.clone()), "emulator").await;
    Env {
        dir,
        key,
        store,
        ws,
    }
}

pub fn account_clients(store: &SqliteStore) -> AccountClients {
    AccountClients::new(Arc::new(store.clone()), AccountClientsOptions::default())
}

/// Engine options for tests: fast ticks, short retry delays without jitter.
pub fn fast_options() -> FlowEngineOptions {
    let mut options = FlowEngineOptions {
        tick: Duration::from_millis(20),
        trigger_tick: Duration::from_millis(20),
        ..FlowEngineOptions::default()
    };
    options.executor.random = Arc::new(|| 0.0);
    options
}

pub async fn admin(
    emulator: &Emulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", emulator.base_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

pub async fn patch_settings(emulator: &Emulator, patch: Value) {
    admin(
        emulator,
        reqwest::Method::PATCH,
        "/_emulator/settings",
        Some(patch),
    )
    .await;
}

/// Requests the emulator counted for `"<METHOD> <route>"` (e.g. `POST /api/2.2/jobs/run-now`).
pub async fn requests_to(emulator: &Emulator, endpoint: &str) -> u64 {
    let counters = admin(emulator, reqwest::Method::GET, "/_emulator/counters", None).await;
    counters["endpoints"][endpoint].as_u64().unwrap_or(0)
}

pub async fn action(ws: &Workspace, id: &str, input: Value) -> Value {
    Catalog::global()
        .get(id)
        .unwrap()
        .run(&ws.client, input)
        .await
        .unwrap_or_else(|e| panic!("{id}: {e:?}"))
}

/// Runs a statement to the end on the seeded warehouse; returns its rows.
pub async fn sql(ws: &Workspace, statement: &str) -> Vec<Vec<Value>> {
    let out = action(
        ws,
        "execute-statement",
        json!({"statement": statement, "warehouse_id": ws.warehouse_id}),
    )
    .await;
    assert_eq!(out["status"]["state"], "SUCCEEDED", "{statement}: {out}");
    out["result"]["data_array"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// A table `flows_cat.s.<name> (run STRING, step STRING)` the flows insert into.
pub async fn create_table(ws: &Workspace, name: &str) -> String {
    sql(ws, "CREATE CATALOG IF NOT EXISTS flows_cat").await;
    sql(ws, "CREATE SCHEMA IF NOT EXISTS flows_cat.s").await;
    let table = format!("flows_cat.s.{name}");
    sql(
        ws,
        &format!("CREATE TABLE {table} (run STRING, step STRING)"),
    )
    .await;
    table
}

/// `(run, step, count)` of every group of rows of the table.
pub async fn row_counts(ws: &Workspace, table: &str) -> Vec<(String, String, i64)> {
    sql(
        ws,
        &format!(
            "SELECT run, step, COUNT(*) AS n FROM {table} GROUP BY run, step ORDER BY run, step"
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].as_str().unwrap_or_default().to_owned(),
            r[1].as_str().unwrap_or_default().to_owned(),
            r[2].as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| r[2].as_i64())
                .unwrap(),
        )
    })
    .collect()
}

/// An `execute-statement` step that inserts `(run id, step)` into `table`.
pub fn insert_step(id: &str, table: &str, warehouse_id: &str) -> Value {
    json!({
        "id": id,
        "action": "execute-statement",
        "input": {
            "warehouse_id": warehouse_id,
            "statement": format!(
                "{{% \"INSERT INTO {table} VALUES ('\" & $run.id & \"', '{id}')\" %}}"
            ),
        },
        "retry": {"max_attempts": 1},
    })
}

/// An iteration's insert: the row's step is `<id>-<item>`.
pub fn insert_item_step(id: &str, table: &str, warehouse_id: &str) -> Value {
    json!({
        "id": id,
        "action": "execute-statement",
        "input": {
            "warehouse_id": warehouse_id,
            "statement": format!(
                "{{% \"INSERT INTO {table} VALUES ('\" & $run.id & \"', '{id}-\" & $string($item) & \"')\" %}}"
            ),
        },
        "retry": {"max_attempts": 1},
    })
}

pub async fn create_job(ws: &Workspace, name: &str) -> i64 {
    let out = action(
        ws,
        "create-job",
        json!({"name": name, "tasks": [{"task_key": "main",
            "notebook_task": {"notebook_path": "/Users/a/etl"},
            "existing_cluster_id": ws.cluster_id}]}),
    )
    .await;
    out["job_id"].as_i64().unwrap()
}

/// Every run of a job the workspace lists.
pub async fn job_runs(ws: &Workspace, job_id: i64) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/api/2.1/jobs/runs/list?job_id={job_id}&limit=24",
            ws.emulator.base_url()
        ))
        .bearer_auth(ws.emulator.token())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "runs/list: {}", resp.status());
    let out: Value = resp.json().await.unwrap();
    out["runs"].as_array().cloned().unwrap_or_default()
}

pub async fn insert_flow(store: &dyn FlowStore, definition: Value) -> Flow {
    store.insert_flow(definition, true).await.unwrap()
}

pub async fn manual_run(store: &dyn FlowStore, flow: &FlowId, event: Value) -> FlowRun {
    match store
        .enqueue_run(NewRun {
            flow_id: flow.clone(),
            flow_version: None,
            trigger: "manual".into(),
            event,
            dedupe_key: None,
            replay_of: None,
            seed_steps: Vec::new(),
        })
        .await
        .unwrap()
    {
        Enqueued::Created(run) => run,
        Enqueued::Duplicate(id) => panic!("duplicate {id}"),
    }
}

/// Waits (up to `secs`) until the run is final; returns it.
pub async fn wait_final(store: &dyn FlowStore, id: &FlowRunId, secs: u64) -> FlowRun {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let run = store.run(id.clone()).await.unwrap();
        if run.status.is_final() {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} is still {:?}; steps: {:#?}",
            run.status,
            store.run_steps(id.clone()).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (up to `secs`) until `check` holds for the run's steps.
pub async fn wait_steps(
    store: &dyn FlowStore,
    id: &FlowRunId,
    secs: u64,
    what: &str,
    check: impl Fn(&[brickwire_flows::StepRecord]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let steps = store.run_steps(id.clone()).await.unwrap();
        if check(&steps) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; steps: {steps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether the latest attempt at `path` has `status`.
pub fn latest_is(
    steps: &[brickwire_flows::StepRecord],
    path: &str,
    status: brickwire_flows::StepStatus,
) -> bool {
    steps
        .iter()
        .filter(|s| s.path == path)
        .max_by_key(|s| s.attempt)
        .is_some_and(|s| s.status == status)
}

/// Attempts per path, in write order.
pub fn attempts(steps: &[brickwire_flows::StepRecord], path: &str) -> usize {
    steps.iter().filter(|s| s.path == path).count()
}
