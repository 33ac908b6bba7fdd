//! The flow engine against in-process emulators: a manual run end to end, the per-flow and
//! total concurrency bounds, cancel of a run in a wait, replay from the failed step, schedule
//! ticks on a manual clock, sync-triggered runs (one per event), retries through 503 faults
//! without a second job run, and a flow across two linked accounts.

use crate::flows_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_client::http::ManualClock;
use brickwire_flows::StepStatus;
use brickwire_service::flows::*;
use brickwire_service::triggers::{EngineOptions, SyncPoller, TriggerEngine, TriggerStore};
use flows_support::*;
use serde_json::{Value, json};

fn engine(env: &Env, options: FlowEngineOptions) -> FlowEngine {
    FlowEngine::new(
        Arc::new(env.store.clone()),
        Arc::new(env.store.clone()),
        account_clients(&env.store),
        options,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_of_three_steps_runs_end_to_end() {
    let env = env().await;
    let table = create_table(&env.ws, "manual").await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "three steps",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "clusters", "action": "list-clusters", "input": {}},
                insert_step("insert", &table, &env.ws.warehouse_id),
                {"id": "count", "action": "execute-statement", "input": {
                    "warehouse_id": env.ws.warehouse_id,
                    "statement": format!("SELECT COUNT(*) AS n FROM {table}"),
                }},
            ],
        }),
    )
    .await;
    let flows = engine(&env, fast_options());
    let task = flows.start().await.unwrap();
    let run = manual_run(&env.store, &flow.id, json!({"who": "test"})).await;
    flows.wake();
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.flow_version, 1);
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    assert_eq!(
        done.output.unwrap()["result"]["data_array"],
        json!([["1"]]),
        "the run's output is the last step's"
    );
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    let paths: Vec<(&str, u32, StepStatus)> = steps
        .iter()
        .map(|s| (s.path.as_str(), s.attempt, s.status))
        .collect();
    assert_eq!(
        paths,
        [
            ("clusters", 1, StepStatus::Succeeded),
            ("insert", 1, StepStatus::Succeeded),
            ("count", 1, StepStatus::Succeeded),
        ]
    );
    assert!(
        steps[1].input.as_ref().unwrap()["statement"]
            .as_str()
            .unwrap()
            .contains(run.id.as_str()),
        "the expression was evaluated into the recorded input"
    );
    assert_eq!(
        row_counts(&env.ws, &table).await,
        [(run.id.to_string(), "insert".into(), 1)]
    );
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_respect_the_per_flow_and_the_total_bound() {
    let env = env().await;
    let waiting = |name: &str, concurrency: u32| {
        json!({
            "name": name,
            "concurrency": concurrency,
            "trigger": {"type": "manual"},
            "steps": [{"id": "pause", "wait": {"seconds": 0.3}}],
        })
    };
    let narrow = insert_flow(&env.store, waiting("narrow", 2)).await;
    let wide = insert_flow(&env.store, waiting("wide", 10)).await;
    let mut runs = Vec::new();
    for _ in 0..8 {
        runs.push(manual_run(&env.store, &narrow.id, json!({})).await.id);
        runs.push(manual_run(&env.store, &wide.id, json!({})).await.id);
    }
    let flows = engine(
        &env,
        FlowEngineOptions {
            max_concurrent_runs: 5,
            ..fast_options()
        },
    );
    let task = flows.start().await.unwrap();
    let (mut max_total, mut max_narrow) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = env
            .store
            .list_runs(RunFilter {
                status: Some(RunStatus::Running),
                ..RunFilter::default()
            })
            .await
            .unwrap();
        max_total = max_total.max(running.len());
        max_narrow = max_narrow.max(running.iter().filter(|r| r.flow_id == narrow.id).count());
        max_total = max_total.max(flows.running_count());
        let finished = env
            .store
            .list_runs(RunFilter {
                status: Some(RunStatus::Succeeded),
                limit: Some(100),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .len();
        if finished == runs.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{finished} finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(max_total <= 5, "total bound: {max_total} at once");
    assert!(max_narrow <= 2, "per-flow bound: {max_narrow} at once");
    assert!(
        max_total >= 3,
        "runs did execute side by side ({max_total})"
    );
    assert_eq!(max_narrow, 2, "the narrow flow used its bound");
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_run_inside_a_wait() {
    let env = env().await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "long wait",
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "pause", "wait": {"seconds": 3600}},
                {"id": "after", "action": "list-clusters", "account": "emulator", "input": {}},
            ],
        }),
    )
    .await;
    let flows = engine(&env, fast_options());
    let task = flows.start().await.unwrap();
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    flows.wake();
    wait_steps(&env.store, &run.id, 30, "the wait to start", |s| {
        latest_is(s, "pause", StepStatus::Running)
    })
    .await;
    let asked = env
        .store
        .request_cancel(run.id.clone(), SystemTime::now())
        .await
        .unwrap();
    assert!(asked.cancel_requested);
    flows.cancel_running(&run.id);
    let done = wait_final(&env.store, &run.id, 10).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    assert_eq!(
        requests_to(&env.ws.emulator, "GET /api/2.1/clusters/list").await,
        0,
        "nothing after the wait ran"
    );
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_reruns_only_from_the_failed_step() {
    let env = env().await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "replayable",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "clusters", "action": "list-clusters", "input": {}},
                {"id": "catalog", "action": "retrieve-catalog",
                 "input": {"name": "{% $event.catalog %}"}},
                {"id": "schemas", "action": "query-schemas",
                 "input": {"catalog_name": "{% $steps.catalog.name %}"}},
            ],
        }),
    )
    .await;
    let flows = engine(&env, fast_options());
    let task = flows.start().await.unwrap();
    let run = manual_run(&env.store, &flow.id, json!({"catalog": "late_cat"})).await;
    flows.wake();
    let failed = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "NOT_FOUND");
    assert_eq!(error.step.as_deref(), Some("catalog"));
    assert_eq!(
        requests_to(&env.ws.emulator, "GET /api/2.1/clusters/list").await,
        1
    );

    // The cause is fixed outside the flow; the replay starts at the failed step.
    action(&env.ws, "create-catalog", json!({"name": "late_cat"})).await;
    let replay = flows.replay(run.id.clone()).await.unwrap();
    assert_eq!(replay.trigger, "replay");
    assert_eq!(replay.replay_of.as_ref(), Some(&run.id));
    assert_eq!(replay.flow_version, failed.flow_version);
    assert_eq!(replay.event, json!({"catalog": "late_cat"}));
    let done = wait_final(&env.store, &replay.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(
        requests_to(&env.ws.emulator, "GET /api/2.1/clusters/list").await,
        1,
        "the succeeded step was not run again"
    );
    let steps = env.store.run_steps(replay.id.clone()).await.unwrap();
    assert!(latest_is(&steps, "catalog", StepStatus::Succeeded));
    assert!(latest_is(&steps, "schemas", StepStatus::Succeeded));
    // The old run stays as it was; a succeeded run is not replayed.
    assert_eq!(
        env.store.run(run.id.clone()).await.unwrap().status,
        RunStatus::Failed
    );
    let err = replay_run(&env.store, replay.id.clone()).await.unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_queues_one_run_per_tick_of_its_time_zone() {
    let env = env().await;
    // 2027-01-15 08:00:00 UTC = 09:00 in Berlin.
    let clock = Arc::new(ManualClock::with_wall_time(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "hourly at :30 Berlin, mornings",
            "trigger": {"type": "schedule", "cron": "30 9-11 * * *", "timezone": "Europe/Berlin"},
            "steps": [{"id": "pause", "wait": {"seconds": 0}}],
        }),
    )
    .await;
    let options = FlowEngineOptions {
        clock: clock.clone(),
        ..fast_options()
    };
    let flows = engine(&env, options.clone());
    let task = flows.start().await.unwrap();
    let scheduled = || async {
        let mut at: Vec<String> = env
            .store
            .list_runs(RunFilter {
                flow_id: Some(flow.id.clone()),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.trigger, "schedule");
                r.event["scheduled_at"].as_str().unwrap().to_owned()
            })
            .collect();
        at.sort();
        at
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(scheduled().await.is_empty(), "no tick yet");
    clock.advance(Duration::from_secs(2 * 3600)); // to 10:00 UTC = 11:00 Berlin
    let expected = ["2027-01-15T08:30:00Z", "2027-01-15T09:30:00Z"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scheduled().await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            scheduled().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second replica on the same store at the same time queues no tick twice.
    let second = engine(&env, options);
    let second_task = second.start().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    let expected = [
        "2027-01-15T08:30:00Z",
        "2027-01-15T09:30:00Z",
        "2027-01-15T10:30:00Z",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scheduled().await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            scheduled().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scheduled().await, expected);

    // Disabled: no more ticks.
    env.store
        .set_flow_enabled(flow.id.clone(), false)
        .await
        .unwrap();
    flows.reload_flow(&flow.id).await;
    second.reload_flow(&flow.id).await;
    clock.advance(Duration::from_secs(24 * 3600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scheduled().await.len(), 3);
    task.stop();
    second_task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_flow_runs_once_per_finished_job_run() {
    let env = env().await;
    let trigger_options = EngineOptions {
        tick: Duration::from_millis(20),
        poll_jitter: 0.0,
        ..EngineOptions::default()
    };
    let triggers = TriggerEngine::new(
        Arc::new(env.store.clone()),
        Arc::new(account_clients(&env.store)),
        Arc::new(SyncPoller::default()),
        trigger_options,
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
        Some(json!({"count": 5, "start_time": start - 60_000, "step_ms": 1000})),
    )
    .await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "on each finished job run",
            "account": "emulator",
            "trigger": {"type": "sync", "source": {"type": "job_runs"},
                        "start_from": "beginning", "poll_interval_seconds": 1},
            "steps": [{"id": "echo", "wait": {"seconds": 0}}],
        }),
    )
    .await;
    let flows = engine(&env, fast_options()).with_trigger_engine(triggers.clone());
    let task = flows.start().await.unwrap();
    let flow_now = env.store.flow(flow.id.clone()).await.unwrap();
    let sub = flow_now.subscription_id.clone().expect("a subscription");
    assert!(
        env.store.subscription(sub.clone()).await.is_ok(),
        "in the trigger store"
    );

    let event_ids = || async {
        env.store
            .list_runs(RunFilter {
                flow_id: Some(flow.id.clone()),
                limit: Some(500),
                ..RunFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.trigger, "sync");
                r.event["id"].as_str().unwrap().to_owned()
            })
            .collect::<Vec<_>>()
    };
    let wait_for = |n: usize| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ids = event_ids().await;
            if ids.len() >= n {
                return ids;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} runs", ids.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_for(5).await;
    admin(
        &env.ws.emulator,
        reqwest::Method::POST,
        "/_emulator/seed/job-runs",
        Some(json!({"count": 3, "start_time": start - 30_000, "step_ms": 1000})),
    )
    .await;
    wait_for(8).await;
    // Several more polls and consumer passes: nothing runs twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ids = event_ids().await;
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 8, "{ids:?}");
    // A restart reuses the subscription and the consumed position.
    task.stop();
    let again = engine(&env, fast_options()).with_trigger_engine(triggers.clone());
    let again_task = again.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(event_ids().await.len(), 8);
    assert_eq!(
        env.store
            .flow(flow.id.clone())
            .await
            .unwrap()
            .subscription_id,
        Some(sub.clone())
    );

    // Disabled: the subscription is paused; deleted: it goes with the flow.
    env.store
        .set_flow_enabled(flow.id.clone(), false)
        .await
        .unwrap();
    again.reload_flow(&flow.id).await;
    assert!(env.store.subscription(sub.clone()).await.unwrap().paused);
    env.store.delete_flow(flow.id.clone()).await.unwrap();
    again.reload_flow(&flow.id).await;
    assert!(
        env.store
            .subscription(sub)
            .await
            .unwrap_err()
            .is_not_found()
    );
    again_task.stop();
    triggers_task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_through_503s_start_exactly_one_job_run() {
    let env = env().await;
    let job = create_job(&env.ws, "flaky run-now").await;
    patch_settings(
        &env.ws.emulator,
        json!({
            "jobs": {"run_pending_ms": 0, "task_run_ms": 50},
            "faults": {"seed": 7, "endpoints": {
                "/api/2.2/jobs/run-now": {"unavailable_probability": 0.3},
                "/api/2.1/jobs/run-now": {"unavailable_probability": 0.3},
            }},
        }),
    )
    .await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "run the job",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [{"id": "run", "action": "run-job",
                       "input": {"job_id": job, "wait": true},
                       "retry": {"max_attempts": 20, "initial_delay_seconds": 0.05,
                                 "max_delay_seconds": 0.2}}],
        }),
    )
    .await;
    let flows = engine(&env, fast_options());
    let task = flows.start().await.unwrap();
    let mut runs = Vec::new();
    for i in 0..5 {
        runs.push(manual_run(&env.store, &flow.id, json!({ "i": i })).await.id);
    }
    flows.wake();
    for id in &runs {
        let done = wait_final(&env.store, id, 120).await;
        assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
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
    assert_eq!(
        job_runs(&env.ws, job).await.len(),
        runs.len(),
        "one job run per flow run"
    );
    task.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_spans_two_linked_accounts() {
    let env = env().await;
    let other = link_workspace(Arc::new(env.store.clone()), "second workspace").await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "copy a catalog",
            "account": env.ws.account.id,
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "source", "action": "create-catalog", "input": {"name": "from_a"}},
                {"id": "copy", "action": "create-catalog", "account": "second workspace",
                 "input": {"name": "{% $steps.source.name & '_copy' %}"}},
            ],
        }),
    )
    .await;
    let lost = insert_flow(
        &env.store,
        json!({
            "name": "unknown account",
            "trigger": {"type": "manual"},
            "steps": [{"id": "x", "action": "list-clusters", "account": "nobody", "input": {}}],
        }),
    )
    .await;
    let flows = engine(&env, fast_options());
    let task = flows.start().await.unwrap();
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    let lost_run = manual_run(&env.store, &lost.id, json!({})).await;
    flows.wake();
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let names = |ws: &Workspace| {
        let ws_client = ws.client.clone();
        async move {
            let out: Value = brickwire_connector::Catalog::global()
                .get("query-catalogs")
                .unwrap()
                .run(&ws_client, json!({}))
                .await
                .unwrap();
            out.to_string()
        }
    };
    let a = names(&env.ws).await;
    let b = names(&other).await;
    assert!(a.contains("from_a") && !a.contains("from_a_copy"), "{a}");
    assert!(b.contains("from_a_copy"), "{b}");
    let failed = wait_final(&env.store, &lost_run.id, 60).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, "NOT_FOUND");
    assert!(error.message.contains("nobody"), "{}", error.message);
    task.stop();
}
