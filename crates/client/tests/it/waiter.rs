//! Waiters: the exact backoff schedule and deadline on tokio's paused clock, and the SDK's
//! waiters (success, failure state, timeout) against a scripted server.

use crate::services_mock;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brickwire_client::waiter::{self, Verdict, WaitOptions};
use brickwire_client::{Error, ErrorKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use services_mock::{Expect, Mock};

/// Options that poll quickly on the real clock; tests assert outcomes, never durations.
fn quick() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(60),
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        jitter: Duration::ZERO,
        seed: Some(1),
    }
}

#[tokio::test(start_paused = true)]
async fn polls_follow_the_seeded_linear_backoff_exactly() {
    let start = tokio::time::Instant::now();
    let polls = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&polls);
    let options = WaitOptions {
        seed: Some(42),
        ..WaitOptions::default()
    };
    let done_after = 13;
    let value = waiter::poll_until(
        "thing",
        &options,
        || {
            let log = Arc::clone(&log);
            async move {
                let mut log = log.lock().unwrap();
                log.push(start.elapsed());
                Ok(log.len())
            }
        },
        |n: &usize| {
            if *n == done_after {
                Verdict::Done
            } else {
                Verdict::Pending {
                    state: "PENDING".into(),
                }
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(value, done_after);

    // the same seed gives the same jitter samples, so the schedule is exact
    let mut rng = StdRng::seed_from_u64(42);
    let mut expected = vec![Duration::ZERO];
    for attempt in 1..done_after as u32 {
        let last = *expected.last().unwrap();
        expected.push(last + options.delay(attempt, rng.random::<f64>()));
    }
    let polls = polls.lock().unwrap();
    assert_eq!(*polls, expected);
    // min(attempt, 10) s + U[0,1): the gap after the 12th poll is capped at 10 s
    let gap = polls[12] - polls[11];
    assert!(gap >= Duration::from_secs(10) && gap < Duration::from_secs(11));
}

#[tokio::test(start_paused = true)]
async fn gives_up_exactly_at_the_deadline() {
    let start = tokio::time::Instant::now();
    let options = WaitOptions {
        timeout: Duration::from_secs(30),
        seed: Some(7),
        ..WaitOptions::default()
    };
    let err = waiter::poll_until(
        "cluster c1",
        &options,
        || async { Ok(()) },
        |_: &()| Verdict::Pending {
            state: "PENDING".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let message = err.to_string();
    assert!(
        message.contains("cluster c1") && message.contains("PENDING"),
        "{message}"
    );
    // the last sleep is cut to the deadline and one final poll happens there
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test]
async fn cluster_running_succeeds_after_pending_polls() {
    let get = || Expect::get("/api/2.1/clusters/get").query(&[("cluster_id", "c1")]);
    let mock = Mock::start(vec![
        get().respond(json!({"cluster_id": "c1", "state": "PENDING"})),
        get().respond(json!({"cluster_id": "c1", "state": "PENDING"})),
        get().respond(json!({"cluster_id": "c1", "state": "RUNNING", "spark_context_id": 5})),
    ])
    .await;
    let cluster = mock
        .client
        .clusters()
        .wait_running("c1", &quick())
        .await
        .unwrap();
    assert_eq!(cluster.extra["spark_context_id"], 5);
    mock.verify();
}

#[tokio::test]
async fn cluster_running_fails_on_terminated_with_the_state_message() {
    let get = || Expect::get("/api/2.1/clusters/get").query(&[("cluster_id", "c1")]);
    let mock = Mock::start(vec![
        get().respond(json!({"state": "PENDING"})),
        get().respond(json!({"state": "TERMINATED", "state_message": "Quota exceeded"})),
    ])
    .await;
    let err = mock
        .client
        .clusters()
        .wait_running("c1", &quick())
        .await
        .unwrap_err();
    match err {
        Error::OperationFailed {
            operation,
            state,
            message,
        } => {
            assert_eq!(operation, "cluster c1");
            assert_eq!(state, "TERMINATED");
            assert_eq!(message, "Quota exceeded");
        }
        other => panic!("expected OperationFailed, got {other:?}"),
    }
    mock.verify();
}

#[tokio::test]
async fn a_zero_timeout_polls_once_and_times_out() {
    let mock = Mock::start(vec![
        Expect::get("/api/2.0/sql/warehouses/w1").respond(json!({"id": "w1", "state": "STARTING"})),
    ])
    .await;
    let options = WaitOptions {
        timeout: Duration::ZERO,
        ..quick()
    };
    let err = mock
        .client
        .warehouses()
        .wait_running("w1", &options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("STARTING"));
    mock.verify();
}

#[tokio::test]
async fn warehouse_waiters() {
    let get = || Expect::get("/api/2.0/sql/warehouses/w1");
    let mock = Mock::start(vec![
        get().respond(json!({"state": "STARTING"})),
        get().respond(json!({"state": "STOPPED", "health": {"summary": "capacity"}})),
        get().respond(json!({"state": "STOPPING"})),
        get().respond(json!({"state": "STOPPED"})),
    ])
    .await;
    let w = mock.client.warehouses();
    let err = w.wait_running("w1", &quick()).await.unwrap_err();
    assert!(
        matches!(&err, Error::OperationFailed { state, message, .. } if state == "STOPPED" && message == "capacity"),
        "{err:?}"
    );
    w.wait_stopped("w1", &quick()).await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn run_waiter_returns_failed_runs_and_fails_on_internal_error() {
    let get = |id: &str| Expect::get("/api/2.2/jobs/runs/get").query(&[("run_id", id)]);
    let mock = Mock::start(vec![
        get("1").respond(json!({"run_id": 1, "state": {"life_cycle_state": "RUNNING"}})),
        get("1").respond(json!({"run_id": 1, "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"}})),
        get("2").respond(json!({"run_id": 2, "state": {"life_cycle_state": "INTERNAL_ERROR", "state_message": "driver lost"}})),
    ])
    .await;
    let jobs = mock.client.jobs();
    let run = jobs.wait_run(1, &quick()).await.unwrap();
    assert!(!run.result_state().unwrap().is_success());
    let err = jobs.wait_run(2, &quick()).await.unwrap_err();
    assert!(
        matches!(&err, Error::OperationFailed { state, message, .. } if state == "INTERNAL_ERROR" && message == "driver lost"),
        "{err:?}"
    );
    mock.verify();
}

#[tokio::test]
async fn statement_waiters() {
    let get = || Expect::get("/api/2.0/sql/statements/s1");
    let mock = Mock::start(vec![
        get().respond(json!({"statement_id": "s1", "status": {"state": "PENDING"}})),
        get().respond(json!({"statement_id": "s1", "status": {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": "syntax"}}})),
        get().respond(json!({"statement_id": "s1", "status": {"state": "FAILED", "error": {"message": "syntax"}}})),
    ])
    .await;
    let st = mock.client.statements();
    let done = st.wait_terminal("s1", &quick()).await.unwrap();
    assert_eq!(done.error_message(), "syntax");
    let err = st.wait_succeeded("s1", &quick()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OperationFailed);
    mock.verify();
}

#[tokio::test]
async fn ensure_running_waits_out_termination_then_starts() {
    let get = || Expect::get("/api/2.1/clusters/get").query(&[("cluster_id", "c1")]);
    let mock = Mock::start(vec![
        get().respond(json!({"state": "TERMINATING"})),
        get().respond(json!({"state": "TERMINATED"})),
        Expect::post("/api/2.1/clusters/start").body(json!({"cluster_id": "c1"})),
        get().respond(json!({"state": "PENDING"})),
        get().respond(json!({"state": "RUNNING"})),
        // already running: one look, no start
        get().respond(json!({"state": "RUNNING"})),
        // ERROR is not retried
        get().respond(json!({"state": "ERROR", "state_message": "bad image"})),
    ])
    .await;
    let clusters = mock.client.clusters();
    clusters.ensure_running("c1", &quick()).await.unwrap();
    clusters.ensure_running("c1", &quick()).await.unwrap();
    let err = clusters.ensure_running("c1", &quick()).await.unwrap_err();
    assert!(
        matches!(&err, Error::OperationFailed { state, message, .. } if state == "ERROR" && message == "bad image"),
        "{err:?}"
    );
    mock.verify();
}

#[tokio::test]
async fn ensure_running_retries_when_a_start_races_a_termination() {
    let get = || Expect::get("/api/2.1/clusters/get").query(&[("cluster_id", "c1")]);
    let mock = Mock::start(vec![
        get().respond(json!({"state": "PENDING"})),
        // the wait for RUNNING sees TERMINATED: retried from the top
        get().respond(json!({"state": "TERMINATED", "state_message": "spot lost"})),
        get().respond(json!({"state": "TERMINATED"})),
        Expect::post("/api/2.1/clusters/start"),
        get().respond(json!({"state": "RUNNING"})),
    ])
    .await;
    mock.client
        .clusters()
        .ensure_running("c1", &quick())
        .await
        .unwrap();
    mock.verify();
}
