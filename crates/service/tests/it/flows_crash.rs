//! kill -9 of the service in the middle of flow runs, then a restart on the same data
//! directory: between steps, inside a `for_each`, during a `wait`, with a step that is not safe
//! to repeat in flight, and with a `run-job` in flight. After the restart every run ends, no
//! completed step ran twice (side effects counted in the emulator: rows INSERTed, job runs
//! listed), the unsafe in-flight step leaves its run `interrupted`, and the job run in flight is
//! waited for again instead of started twice.
//!
//! The service is a child process so SIGKILL gives it no chance to clean up: the real
//! `brickwire serve` when `BRICKWIRE_BIN` names it (e.g. `$CARGO_TARGET_DIR/debug/brickwire`,
//! built with `cargo build --bin brickwire`), else `src/bin/flows_test_node.rs`
//! (`Service::start`, what `brickwire serve` runs, with faster ticks). The test writes flows and
//! queues runs through the store on the same data directory (as `brickwire flow deploy` does);
//! the service's workers pick them up. The emulator runs in this process and outlives the kills.

use crate::flows_support;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_flows::StepStatus;
use brickwire_service::flows::*;
use flows_support::*;
use serde_json::json;

/// The service child; killed (SIGKILL) on drop so a failing test leaves nothing behind.
struct Node(Child);

impl Node {
    async fn spawn(env: &Env) -> Self {
        let master_key = env.key.to_base64();
        let mut command = match std::env::var_os("BRICKWIRE_BIN") {
            Some(bin) => {
                // Relative to the workspace root, as scripts/test.sh and the pytest suites use it.
                let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
                let mut c = Command::new(root.join(bin));
                c.arg("serve")
                    .arg("--listen")
                    .arg("127.0.0.1:0")
                    .arg("--data-dir")
                    .arg(env.dir.path());
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_flows_test_node")),
        };
        let mut child = command
            .env("BRICKWIRE_DATA_DIR", env.dir.path())
            .env(
                "BRICKWIRE_MASTER_KEY",
                SecretString::expose_secret(&master_key),
            )
            .env_remove("BRICKWIRE_API_KEY")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the service starts");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            line
        })
        .await
        .unwrap();
        assert!(
            line.starts_with("ready ") || line.starts_with("brickwire serve listening at"),
            "{line}"
        );
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

fn rows_of(counts: &[(String, String, i64)], run: &FlowRunId) -> Vec<(String, i64)> {
    counts
        .iter()
        .filter(|(r, _, _)| r == run.as_str())
        .map(|(_, step, n)| (step.clone(), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_steps_the_run_resumes_after_the_completed_step() {
    let env = env().await;
    let table = create_table(&env.ws, "between").await;
    // The middle step is retry-safe and slow, so the kill finds it in flight or not started.
    patch_settings(
        &env.ws.emulator,
        json!({"faults": {"endpoints": {"/api/2.1/clusters/list": {"latency_ms": 1500}}}}),
    )
    .await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "between steps",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [
                insert_step("first", &table, &env.ws.warehouse_id),
                {"id": "clusters", "action": "list-clusters", "input": {}},
                insert_step("second", &table, &env.ws.warehouse_id),
            ],
        }),
    )
    .await;
    let node = Node::spawn(&env).await;
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    wait_steps(&env.store, &run.id, 60, "the first step to succeed", |s| {
        latest_is(s, "first", StepStatus::Succeeded)
    })
    .await;
    node.kill9();
    assert_eq!(
        env.store.run(run.id.clone()).await.unwrap().status,
        RunStatus::Running,
        "the dead process left the run running"
    );

    let node = Node::spawn(&env).await;
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    assert_eq!(
        attempts(&steps, "first"),
        1,
        "the completed step did not run again"
    );
    assert_eq!(
        rows_of(&row_counts(&env.ws, &table).await, &run.id),
        [("first".to_owned(), 1), ("second".to_owned(), 1)]
    );
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_wait_the_wait_sleeps_only_the_rest() {
    let env = env().await;
    let table = create_table(&env.ws, "waits").await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "wait in the middle",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [
                insert_step("first", &table, &env.ws.warehouse_id),
                {"id": "pause", "wait": {"seconds": 4}},
                insert_step("second", &table, &env.ws.warehouse_id),
            ],
        }),
    )
    .await;
    let node = Node::spawn(&env).await;
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    wait_steps(&env.store, &run.id, 60, "the wait to start", |s| {
        latest_is(s, "pause", StepStatus::Running)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill9();
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    let pause = steps.iter().find(|s| s.path == "pause").unwrap().clone();
    let ends_at = pause
        .resume_at
        .expect("a running wait records when it ends");

    let node = Node::spawn(&env).await;
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    assert_eq!(attempts(&steps, "first"), 1);
    let second = steps.iter().find(|s| s.path == "second").unwrap();
    assert!(
        second.started_at + Duration::from_millis(50) >= ends_at,
        "the wait was not cut short"
    );
    assert!(
        second.started_at < ends_at + Duration::from_millis(1200),
        "the wait resumed with the rest, not from the start: {:?} after its end",
        second.started_at.duration_since(ends_at)
    );
    assert_eq!(
        rows_of(&row_counts(&env.ws, &table).await, &run.id),
        [("first".to_owned(), 1), ("second".to_owned(), 1)]
    );
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_a_for_each_only_the_unfinished_iterations_run() {
    let env = env().await;
    let table = create_table(&env.ws, "loops").await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "for each",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [{
                "id": "each",
                "for_each": "{% [1, 2, 3, 4, 5] %}",
                "concurrency": 1,
                "steps": [
                    {"id": "breathe", "wait": {"seconds": 0.6}},
                    insert_item_step("row", &table, &env.ws.warehouse_id),
                ],
            }],
        }),
    )
    .await;
    let node = Node::spawn(&env).await;
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    // Iteration 3 inserted and iteration 4 is in its wait: nothing unsafe is in flight.
    wait_steps(&env.store, &run.id, 60, "iteration 4's wait", |s| {
        latest_is(s, "each[2].row", StepStatus::Succeeded)
            && latest_is(s, "each[3].breathe", StepStatus::Running)
    })
    .await;
    node.kill9();

    let node = Node::spawn(&env).await;
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    for i in 0..3 {
        assert_eq!(attempts(&steps, &format!("each[{i}].row")), 1);
    }
    assert_eq!(
        rows_of(&row_counts(&env.ws, &table).await, &run.id),
        (1..=5).map(|i| (format!("row-{i}"), 1)).collect::<Vec<_>>()
    );
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_step_in_flight_leaves_the_run_interrupted_until_resumed() {
    let env = env().await;
    let table = create_table(&env.ws, "unsafe").await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "insert in flight",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [insert_step("insert", &table, &env.ws.warehouse_id)],
        }),
    )
    .await;
    patch_settings(
        &env.ws.emulator,
        json!({"faults": {"endpoints": {"/api/2.0/sql/statements": {"latency_ms": 3000}}}}),
    )
    .await;
    let node = Node::spawn(&env).await;
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    wait_steps(&env.store, &run.id, 60, "the insert to start", |s| {
        latest_is(s, "insert", StepStatus::Running)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.kill9();
    patch_settings(
        &env.ws.emulator,
        json!({"faults": {"endpoints": {"/api/2.0/sql/statements": null}}}),
    )
    .await;
    let before = requests_to(&env.ws.emulator, "POST /api/2.0/sql/statements").await;

    let node = Node::spawn(&env).await;
    let stopped = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(stopped.status, RunStatus::Interrupted);
    let error = stopped.error.expect("an interrupted run says why");
    assert_eq!(error.code, "INTERRUPTED");
    assert_eq!(error.step.as_deref(), Some("insert"));
    assert_eq!(
        requests_to(&env.ws.emulator, "POST /api/2.0/sql/statements").await,
        before,
        "the unsafe step was not sent again"
    );

    // A person resumes it: the in-flight attempt is abandoned and the step runs again.
    env.store.resume_interrupted(run.id.clone()).await.unwrap();
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    let statuses: Vec<StepStatus> = steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Abandoned, StepStatus::Succeeded]);
    let rows = rows_of(&row_counts(&env.ws, &table).await, &run.id);
    assert_eq!(rows.len(), 1);
    assert!(
        (1..=2).contains(&rows[0].1),
        "the resumed insert ran once more at most: {rows:?}"
    );
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_job_in_flight_resumes_without_a_second_job_run() {
    let env = env().await;
    let job = create_job(&env.ws, "long job").await;
    patch_settings(
        &env.ws.emulator,
        json!({"jobs": {"run_pending_ms": 0, "task_run_ms": 4000}}),
    )
    .await;
    let flow = insert_flow(
        &env.store,
        json!({
            "name": "run a long job",
            "account": "emulator",
            "trigger": {"type": "manual"},
            "steps": [{"id": "run", "action": "run-job", "input": {"job_id": job, "wait": true}}],
        }),
    )
    .await;
    let node = Node::spawn(&env).await;
    let run = manual_run(&env.store, &flow.id, json!({})).await;
    wait_steps(&env.store, &run.id, 60, "run-job to start", |s| {
        latest_is(s, "run", StepStatus::Running)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while job_runs(&env.ws, job).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job run started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill9();
    assert_eq!(job_runs(&env.ws, job).await.len(), 1);

    let node = Node::spawn(&env).await;
    let done = wait_final(&env.store, &run.id, 60).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let runs = job_runs(&env.ws, job).await;
    assert_eq!(runs.len(), 1, "one job run: {runs:?}");
    assert!(
        requests_to(&env.ws.emulator, "POST /api/2.2/jobs/run-now").await >= 2,
        "run-now was sent again, with the same idempotency token"
    );
    let output = done.output.unwrap();
    assert_eq!(output["run_id"], runs[0]["run_id"]);
    node.kill9();
}
