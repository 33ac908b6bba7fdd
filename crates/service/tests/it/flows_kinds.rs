//! Every step kind in one flow through the service's engine against the emulator: `run-job`,
//! a `wait` polling `get-job-run` until the run is TERMINATED, a `switch` on its result (the
//! emulator fails the run as Databricks would: its notebook does not exist), a
//! `for_each` with a concurrency bound inserting rows, an `if` calling HTTP Request, an
//! `on_error` handler that sees the error, and a closing `fail`. Side effects are counted in
//! the emulator: one job run, one row per iteration and branch.

use crate::flows_support;

use std::sync::Arc;

use brickwire_flows::StepStatus;
use brickwire_service::flows::*;
use flows_support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_kind_runs_against_the_emulator() {
    let env = env().await;
    patch_settings(
        &env.ws.emulator,
        json!({"jobs": {"run_pending_ms": 100, "task_run_ms": 200}}),
    )
    .await;
    let table = create_table(&env.ws, "kinds").await;
    let job = create_job(&env.ws, "nightly etl").await;
    let wh = env.ws.warehouse_id.clone();
    let mut handled = insert_step("handled", &table, &wh);
    handled["input"]["statement"] = json!(format!(
        "{{% \"INSERT INTO {table} VALUES ('\" & $run.id & \"', 'handled-\" & $error.code & \"')\" %}}"
    ));
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "every kind",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "start", "action": "run-job", "input": {"job_id": "{% $event.job_id %}"}},
                {"id": "finished", "wait": {
                    "action": "get-job-run",
                    "input": {"run_id": "{% $steps.start.run_id %}"},
                    "until": "{% $poll.state.life_cycle_state = 'TERMINATED' %}",
                    "interval_seconds": 0.1, "timeout_seconds": 60}},
                {"id": "outcome", "switch": "{% $steps.finished.state.result_state %}",
                 "cases": [{"value": "SUCCESS", "steps": [insert_step("ok", &table, &wh)]},
                           {"value": "FAILED", "steps": [insert_step("failed", &table, &wh)]}],
                 "default": [{"id": "bad", "fail": {"message": "the job failed"}}]},
                {"id": "each", "for_each": "{% ['a', 'b', 'c'] %}", "concurrency": 2,
                 "steps": [insert_item_step("row", &table, &wh)]},
                {"id": "check", "if": "{% $count($steps.each) = 3 %}",
                 "then": [{"id": "get", "action": "http-request", "input": {
                     "method": "GET", "path": "/api/2.1/jobs/get",
                     "query": {"job_id": "{% $event.job_id %}"}}}]},
                {"id": "missing", "action": "show-job", "input": {"job_id": 987654321},
                 "on_error": {"steps": [handled]}},
                {"id": "last", "fail": {
                    "message": "{% 'job ' & $steps.get.body.settings.name & ' checked' %}",
                    "code": "ALL_CHECKED"}},
            ],
        }),
    )
    .await;
    let flows = FlowEngine::new(
        Arc::new(env.store.clone()),
        Arc::new(env.store.clone()),
        account_clients(&env.store),
        fast_options(),
    );
    let task = flows.start().await.unwrap();
    let run = manual_run(&env.store, &flow.id, json!({"job_id": job})).await;
    flows.wake();
    let done = wait_final(&env.store, &run.id, 90).await;

    assert_eq!(done.status, RunStatus::Failed);
    let error = done.error.expect("the fail step's error");
    assert_eq!(error.code, "ALL_CHECKED");
    assert_eq!(error.message, "job nightly etl checked");
    assert_eq!(error.step.as_deref(), Some("last"));

    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    for path in [
        "start", "finished", "outcome", "failed", "each", "check", "get", "handled",
    ] {
        assert!(
            latest_is(&steps, path, StepStatus::Succeeded),
            "{path}: {steps:#?}"
        );
    }
    assert!(latest_is(&steps, "missing", StepStatus::Failed));
    assert_eq!(
        steps
            .iter()
            .find(|s| s.path == "missing")
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .code,
        "NOT_FOUND"
    );
    assert_eq!(
        attempts(&steps, "missing"),
        1,
        "not retried: NOT_FOUND is not retryable"
    );

    let id = run.id.to_string();
    let mut expected: Vec<(String, String, i64)> =
        ["failed", "handled-NOT_FOUND", "row-a", "row-b", "row-c"]
            .into_iter()
            .map(|s| (id.clone(), s.to_owned(), 1))
            .collect();
    expected.sort();
    assert_eq!(row_counts(&env.ws, &table).await, expected);
    assert_eq!(job_runs(&env.ws, job).await.len(), 1, "exactly one job run");
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_flow_under_30_percent_503s_writes_one_row_per_event() {
    use brickwire_service::triggers::{EngineOptions, SyncPoller, TriggerEngine};
    use std::time::{Duration, SystemTime};

    let env = env().await;
    let table = create_table(&env.ws, "faulty").await;
    let triggers = TriggerEngine::new(
        Arc::new(env.store.clone()),
        Arc::new(account_clients(&env.store)),
        Arc::new(SyncPoller::default()),
        EngineOptions {
            tick: Duration::from_millis(20),
            poll_jitter: 0.0,
            ..EngineOptions::default()
        },
    );
    let triggers_task = triggers.start().await.unwrap();
    let start = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    admin(
        &env.ws.emulator,
        reqwest::Method::POST,
        "/_emulator/seed/job-runs",
        Some(json!({"count": 8, "start_time": start - 60_000, "step_ms": 1000})),
    )
    .await;
    patch_settings(
        &env.ws.emulator,
        json!({"faults": {"seed": 11, "endpoints": {
            "/api/2.0/sql/statements": {"unavailable_probability": 0.3},
            "/api/2.1/jobs/runs/list": {"unavailable_probability": 0.3},
        }}}),
    )
    .await;
    let mut insert = insert_step("insert", &table, &env.ws.warehouse_id);
    insert["input"]["statement"] = json!(format!(
        "{{% \"INSERT INTO {table} VALUES ('\" & $string($event.data.run_id) & \"', 'insert')\" %}}"
    ));
    insert["retry"] =
        json!({"max_attempts": 10, "initial_delay_seconds": 0.05, "max_delay_seconds": 0.2});
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "a row per finished job run",
            "account": "emulator",
            "trigger": {"type": "sync", "source": {"type": "job_runs"},
                        "start_from": "beginning", "poll_interval_seconds": 1},
            "steps": [insert],
        }),
    )
    .await;
    let flows = FlowEngine::new(
        Arc::new(env.store.clone()),
        Arc::new(env.store.clone()),
        account_clients(&env.store),
        fast_options(),
    )
    .with_trigger_engine(triggers.clone());
    let task = flows.start().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let runs = env
            .store
            .list_runs(RunFilter {
                flow_id: Some(flow.id.clone()),
                limit: Some(100),
                ..RunFilter::default()
            })
            .await
            .unwrap();
        if runs.len() >= 8 && runs.iter().all(|r| r.status.is_final()) {
            break runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} runs",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs.len(), 8, "one run per event");
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    }
    let counters = admin(
        &env.ws.emulator,
        reqwest::Method::GET,
        "/_emulator/counters",
        None,
    )
    .await;
    assert!(
        counters["statuses"]["503"].as_u64().unwrap_or(0) > 0,
        "faults were injected: {counters}"
    );
    let rows = row_counts(&env.ws, &table).await;
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(
        rows.iter().all(|(_, _, n)| *n == 1),
        "one row per event: {rows:?}"
    );
    task.stop();
    triggers_task.stop();
}
