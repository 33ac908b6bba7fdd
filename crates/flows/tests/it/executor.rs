//! The executor's rules with a scripted action runner: which attempts run, what the journal
//! holds, and how a run resumes from it. Time is tokio's paused clock, so waits, retry delays
//! and timeouts run instantly and in order; nothing here asserts wall time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use brickwire_client::http::{Clock, ManualClock, TokioClock};
use brickwire_connector::{ActionError, ErrorCode};
use brickwire_flows::definition::Format;
use brickwire_flows::{
    ActionRunner, Executor, ExecutorOptions, FlowDefinition, MemoryJournal, RunContext, RunJournal,
    RunOutcome, StepKind, StepRecord, StepStatus, validate,
};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

type Answer = Result<Value, ActionError>;

/// Answers each action from a per-action queue (then echoes `{"action", "input"}`), and
/// records every call.
#[derive(Default)]
struct Script {
    answers: Mutex<Vec<(String, VecDeque<Answer>)>>,
    calls: Mutex<Vec<(Option<String>, String, Value)>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Every call takes this long (tokio time).
    latency: Option<Duration>,
    /// Calls of this action never answer.
    hang: Option<String>,
}

impl Script {
    fn answer(&self, action: &str, answer: Answer) {
        let mut answers = self.answers.lock().unwrap();
        match answers.iter_mut().find(|(a, _)| a == action) {
            Some((_, queue)) => queue.push_back(answer),
            None => answers.push((action.into(), VecDeque::from([answer]))),
        }
    }

    fn calls_of(&self, action: &str) -> Vec<Value> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(_, a, _)| a == action)
            .map(|(_, _, i)| i.clone())
            .collect()
    }
}

impl ActionRunner for Script {
    fn run<'a>(
        &'a self,
        account: Option<&'a str>,
        action: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                account.map(str::to_owned),
                action.to_owned(),
                input.clone(),
            ));
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            if self.hang.as_deref() == Some(action) {
                std::future::pending::<()>().await;
            }
            if let Some(latency) = self.latency {
                tokio::time::sleep(latency).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let scripted = {
                let mut answers = self.answers.lock().unwrap();
                answers
                    .iter_mut()
                    .find(|(a, _)| a == action)
                    .and_then(|(_, q)| q.pop_front())
            };
            scripted.unwrap_or_else(|| Ok(json!({"action": action, "input": input})))
        })
    }
}

fn unavailable() -> ActionError {
    ActionError {
        code: ErrorCode::Unavailable,
        message: "Databricks is temporarily unavailable".into(),
        error_code: Some("TEMPORARILY_UNAVAILABLE".into()),
        status: Some(503),
        request_id: None,
        retryable: true,
    }
}

fn not_found() -> ActionError {
    ActionError {
        code: ErrorCode::NotFound,
        message: "Job 9 does not exist.".into(),
        error_code: Some("RESOURCE_DOES_NOT_EXIST".into()),
        status: Some(404),
        request_id: None,
        retryable: false,
    }
}

fn flow(yaml: &str) -> Arc<brickwire_flows::CompiledFlow> {
    let definition = FlowDefinition::parse(yaml, Format::Yaml).expect("parses");
    Arc::new(validate(definition, brickwire_connector::Catalog::global()).expect("valid"))
}

fn ctx(event: Value) -> RunContext {
    RunContext {
        run_id: "run_test".into(),
        flow_id: "flow_test".into(),
        flow_version: 1,
        event,
        created_at: SystemTime::UNIX_EPOCH,
    }
}

/// No jitter; time is `clock`'s (waits and delays return at once and are recorded).
fn options_with(clock: Arc<dyn Clock>) -> ExecutorOptions {
    ExecutorOptions {
        clock,
        random: Arc::new(|| 0.0),
        ..ExecutorOptions::default()
    }
}

fn options() -> ExecutorOptions {
    options_with(Arc::new(ManualClock::new()))
}

async fn run(yaml: &str, script: Arc<Script>, journal: &MemoryJournal, event: Value) -> RunOutcome {
    run_on(yaml, script, journal, event, &ManualClock::new()).await
}

async fn run_on(
    yaml: &str,
    script: Arc<Script>,
    journal: &MemoryJournal,
    event: Value,
    clock: &ManualClock,
) -> RunOutcome {
    let executor = Executor::new(flow(yaml), script, options_with(Arc::new(clock.clone())));
    executor
        .execute(&ctx(event), journal, &CancellationToken::new())
        .await
}

fn attempts(journal: &MemoryJournal, path: &str) -> Vec<StepRecord> {
    journal
        .snapshot()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

const THREE_STEPS: &str = r#"
name: three steps
trigger: {type: manual}
steps:
  - id: first
    action: show-job
    input: {job_id: "{% $event.job_id %}"}
  - id: second
    action: query-clusters
    input: {limit: "{% $count($steps.first.input) + 1 %}"}
  - id: third
    action: list-users
"#;

#[tokio::test(start_paused = true)]
async fn steps_run_in_order_with_outputs_mapped_into_later_inputs() {
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    let outcome = run(THREE_STEPS, script.clone(), &journal, json!({"job_id": 7})).await;
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(script.calls_of("show-job"), vec![json!({"job_id": 7})]);
    // `$count` of the first step's echoed input object is 1
    assert_eq!(script.calls_of("query-clusters"), vec![json!({"limit": 2})]);
    let records = journal.snapshot();
    assert_eq!(records.len(), 3);
    assert!(
        records.iter().all(|r| r.status == StepStatus::Succeeded
            && r.attempt == 1
            && r.finished_at.is_some())
    );
    assert_eq!(records[0].input, Some(json!({"job_id": 7})));
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_never_repeats_a_completed_step() {
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    run(THREE_STEPS, script.clone(), &journal, json!({"job_id": 7})).await;
    // the process "died" after `first`: only its record survives
    let kept: Vec<StepRecord> = attempts(&journal, "first");
    let resumed = MemoryJournal::with_records(kept);
    let again = Arc::new(Script::default());
    let outcome = run(THREE_STEPS, again.clone(), &resumed, json!({"job_id": 7})).await;
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert!(again.calls_of("show-job").is_empty());
    assert_eq!(again.calls_of("query-clusters").len(), 1);
    assert_eq!(again.calls_of("list-users").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff_and_others_are_not() {
    let script = Arc::new(Script::default());
    script.answer("show-job", Err(unavailable()));
    script.answer("show-job", Err(unavailable()));
    let journal = MemoryJournal::new();
    let clock = ManualClock::new();
    let outcome = run_on(
        THREE_STEPS,
        script.clone(),
        &journal,
        json!({"job_id": 7}),
        &clock,
    )
    .await;
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let first = attempts(&journal, "first");
    assert_eq!(
        first.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![
            StepStatus::Failed,
            StepStatus::Failed,
            StepStatus::Succeeded
        ]
    );
    assert!(first[0].resume_at.is_some() && first[0].error.as_ref().unwrap().retryable);
    // 1s then 2s with no jitter (random = 0)
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );

    let script = Arc::new(Script::default());
    script.answer("show-job", Err(not_found()));
    let journal = MemoryJournal::new();
    let outcome = run(THREE_STEPS, script.clone(), &journal, json!({"job_id": 9})).await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "NOT_FOUND");
    assert_eq!(error.step.as_deref(), Some("first"));
    assert_eq!(error.error_code.as_deref(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert_eq!(script.calls_of("show-job").len(), 1);
    assert!(script.calls_of("query-clusters").is_empty());
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_max_attempts_and_on_any_retries_definite_failures() {
    let yaml = r#"
name: retry any
trigger: {type: manual}
steps:
  - id: look
    action: show-job
    input: {job_id: 9}
    retry: {max_attempts: 2, on: any}
"#;
    let script = Arc::new(Script::default());
    for _ in 0..5 {
        script.answer("show-job", Err(not_found()));
    }
    let journal = MemoryJournal::new();
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    assert!(matches!(outcome, RunOutcome::Failed { .. }));
    assert_eq!(script.calls_of("show-job").len(), 2);
    let look = attempts(&journal, "look");
    assert_eq!(
        look[1].resume_at, None,
        "the last attempt schedules no other"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unsafe_step_in_flight_interrupts_and_a_safe_one_is_repeated() {
    let yaml = r#"
name: unsafe
trigger: {type: manual}
steps:
  - id: make
    action: create-group
    input: {displayName: ops}
"#;
    let in_flight = StepRecord {
        path: "make".into(),
        step_id: "make".into(),
        kind: StepKind::Action,
        attempt: 1,
        status: StepStatus::Running,
        action: Some("create-group".into()),
        account: None,
        input: Some(json!({"displayName": "ops"})),
        output: None,
        error: None,
        started_at: SystemTime::UNIX_EPOCH,
        finished_at: None,
        resume_at: None,
    };
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::with_records(vec![in_flight.clone()]);
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    let RunOutcome::Interrupted { path, reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(path, "make");
    assert!(reason.contains("create-group"), "{reason}");
    assert!(script.calls_of("create-group").is_empty());

    // a person chose to run it again: the attempt is abandoned, the next one runs
    let mut abandoned = in_flight.clone();
    abandoned.status = StepStatus::Abandoned;
    let journal = MemoryJournal::with_records(vec![abandoned]);
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    assert!(matches!(outcome, RunOutcome::Succeeded { .. }));
    assert_eq!(attempts(&journal, "make").last().unwrap().attempt, 2);

    // a read-only action in flight is simply run again
    let safe = r#"
name: safe
trigger: {type: manual}
steps:
  - id: make
    action: list-users
"#;
    let mut running = in_flight;
    running.action = Some("list-users".into());
    let journal = MemoryJournal::with_records(vec![running]);
    let script = Arc::new(Script::default());
    let outcome = run(safe, script.clone(), &journal, json!({})).await;
    assert!(matches!(outcome, RunOutcome::Succeeded { .. }));
    let make = attempts(&journal, "make");
    assert_eq!(
        make.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![StepStatus::Abandoned, StepStatus::Succeeded]
    );
}

#[tokio::test(start_paused = true)]
async fn run_job_gets_an_idempotency_token_of_the_run_and_step() {
    let yaml = r#"
name: run a job
trigger: {type: manual}
steps:
  - id: each
    for_each: "{% [1, 2] %}"
    steps:
      - id: start
        action: run-job
        input: {job_id: "{% $item %}"}
"#;
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    run(yaml, script.clone(), &journal, json!({})).await;
    let calls = script.calls_of("run-job");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0]["idempotency_token"],
        json!(brickwire_flows::engine::idempotency_token(
            "run_test",
            "each[0].start"
        ))
    );
    assert_ne!(calls[0]["idempotency_token"], calls[1]["idempotency_token"]);
    assert_eq!(calls[0]["idempotency_token"].as_str().unwrap().len(), 64);
}

#[tokio::test(start_paused = true)]
async fn if_and_switch_take_the_branch_their_values_choose() {
    let yaml = r#"
name: branches
trigger: {type: manual}
steps:
  - id: check
    if: "{% $event.state = 'FAILED' %}"
    then:
      - {id: on_failed, action: list-users}
    else:
      - {id: on_ok, action: list-groups}
  - id: route
    switch: "{% $event.kind %}"
    cases:
      - value: a
        steps: [{id: case_a, action: query-jobs}]
      - value: "{% 'b' %}"
        steps: [{id: case_b, action: query-catalogs}]
    default: [{id: other, action: query-warehouses}]
"#;
    for (event, expected) in [
        (
            json!({"state": "FAILED", "kind": "b"}),
            ["list-users", "query-catalogs"],
        ),
        (
            json!({"state": "SUCCESS", "kind": "a"}),
            ["list-groups", "query-jobs"],
        ),
        (
            json!({"state": "SUCCESS", "kind": "z"}),
            ["list-groups", "query-warehouses"],
        ),
    ] {
        let script = Arc::new(Script::default());
        let journal = MemoryJournal::new();
        let outcome = run(yaml, script.clone(), &journal, event.clone()).await;
        assert!(
            matches!(outcome, RunOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
        let called: Vec<String> = script
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, a, _)| a.clone())
            .collect();
        assert_eq!(called, expected, "{event}");
        let check = attempts(&journal, "check");
        assert_eq!(check[0].kind, StepKind::If);
    }
}

#[tokio::test(start_paused = true)]
async fn for_each_runs_at_most_its_concurrency_and_keeps_item_order() {
    let yaml = r#"
name: loop
trigger: {type: manual}
steps:
  - id: each
    for_each: "{% $event.ids %}"
    concurrency: 3
    steps:
      - id: look
        action: show-job
        input: {job_id: "{% $item %}"}
  - id: after
    action: query-jobs
    input: {name: "{% $join($steps.each.look.input.job_id.$string(), ',') %}"}
"#;
    let script = Arc::new(Script {
        latency: Some(Duration::from_millis(100)),
        ..Script::default()
    });
    let journal = MemoryJournal::new();
    let ids: Vec<i64> = (1..=10).collect();
    let outcome = run(yaml, script.clone(), &journal, json!({"ids": ids})).await;
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(script.most_in_flight.load(Ordering::SeqCst), 3);
    assert_eq!(
        script.calls_of("query-jobs"),
        vec![json!({"name": "1,2,3,4,5,6,7,8,9,10"})]
    );
    assert_eq!(attempts(&journal, "each[9].look").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn on_error_continue_and_handlers_see_the_error() {
    let yaml = r#"
name: handled
trigger: {type: manual}
steps:
  - id: soft
    action: show-job
    input: {job_id: 9}
    on_error: continue
  - id: hard
    action: show-job
    input: {job_id: 9}
    on_error:
      steps:
        - id: notify
          action: http-request
          input:
            method: POST
            path: /api/2.0/jobs/list
            body: "{% $string({'text': $error.step & ': ' & $error.code}) %}"
  - id: last
    action: list-users
    input: {filter: "{% $string($steps.soft) %}"}
"#;
    let script = Arc::new(Script::default());
    script.answer("show-job", Err(not_found()));
    script.answer("show-job", Err(not_found()));
    let journal = MemoryJournal::new();
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let notify = script.calls_of("http-request");
    assert_eq!(notify[0]["body"], json!(r#"{"text":"hard: NOT_FOUND"}"#));
    assert_eq!(
        script.calls_of("list-users"),
        vec![json!({"filter": "null"})]
    );
    assert_eq!(attempts(&journal, "soft")[0].status, StepStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_failure_inside_a_loop_is_the_loops_and_fail_steps_end_the_run() {
    let yaml = r#"
name: fails
trigger: {type: manual}
steps:
  - id: each
    for_each: [1, 2, 3]
    on_error: continue
    steps:
      - id: stop
        if: "{% $item = 2 %}"
        then:
          - id: boom
            fail: {message: "{% 'item ' & $item & ' is bad' %}", code: BAD_ITEM}
  - id: final
    fail: {message: done badly}
"#;
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    let outcome = run(yaml, script, &journal, json!({})).await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "FLOW_FAILED");
    assert_eq!(error.message, "done badly");
    let boom = attempts(&journal, "each[1].boom");
    assert_eq!(boom[0].error.as_ref().unwrap().code, "BAD_ITEM");
    assert_eq!(boom[0].error.as_ref().unwrap().message, "item 2 is bad");
    // the other iterations ran to their end
    assert_eq!(
        attempts(&journal, "each[2].stop")[0].status,
        StepStatus::Succeeded
    );
    assert_eq!(attempts(&journal, "each")[0].status, StepStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn expression_errors_name_the_step_and_the_expression() {
    let yaml = r#"
name: bad expression
trigger: {type: manual}
steps:
  - id: compute
    action: show-job
    input: {job_id: "{% $number($event.id) %}"}
"#;
    let journal = MemoryJournal::new();
    let outcome = run(
        yaml,
        Arc::new(Script::default()),
        &journal,
        json!({"id": "x"}),
    )
    .await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "EXPRESSION_ERROR");
    assert!(
        error.message.contains("step `compute`"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("$number($event.id)"),
        "{}",
        error.message
    );
    assert_eq!(attempts(&journal, "compute")[0].status, StepStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_step_timeout_fails_the_attempt_and_a_safe_action_is_retried() {
    let yaml = r#"
name: slow
trigger: {type: manual}
steps:
  - id: slow
    action: list-users
    timeout_seconds: 5
    retry: {max_attempts: 2, initial_delay_seconds: 1}
"#;
    let script = Arc::new(Script {
        hang: Some("list-users".into()),
        ..Script::default()
    });
    let journal = MemoryJournal::new();
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "TIMEOUT");
    assert_eq!(script.calls_of("list-users").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn waits_sleep_then_resume_with_only_the_rest_and_poll_until_a_condition() {
    let yaml = r#"
name: waits
trigger: {type: manual}
steps:
  - id: pause
    wait: {seconds: 60}
  - id: until_done
    wait:
      action: get-job-run
      input: {run_id: 5}
      until: "{% $poll.state.life_cycle_state = 'TERMINATED' %}"
      interval_seconds: 10
"#;
    let script = Arc::new(Script::default());
    script.answer(
        "get-job-run",
        Ok(json!({"state": {"life_cycle_state": "RUNNING"}})),
    );
    script.answer("get-job-run", Err(unavailable()));
    script.answer(
        "get-job-run",
        Ok(json!({"state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}})),
    );
    let journal = MemoryJournal::new();
    let clock = ManualClock::new();
    let outcome = run_on(yaml, script.clone(), &journal, json!({}), &clock).await;
    let RunOutcome::Succeeded { output } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(output["state"]["result_state"], "SUCCESS");
    assert_eq!(script.calls_of("get-job-run").len(), 3);
    let secs = |s| Duration::from_secs(s);
    assert_eq!(clock.sleeps(), vec![secs(60), secs(10), secs(10)]);

    // resumed mid-wait: the recorded end stands, only the rest is slept
    let mut pause = attempts(&journal, "pause").remove(0);
    pause.status = StepStatus::Running;
    pause.output = None;
    let clock = ManualClock::new();
    pause.resume_at = Some(clock.system_time() + secs(20));
    let resumed = MemoryJournal::with_records(vec![pause]);
    let script = Arc::new(Script::default());
    script.answer(
        "get-job-run",
        Ok(json!({"state": {"life_cycle_state": "TERMINATED"}})),
    );
    let outcome = run_on(yaml, script, &resumed, json!({}), &clock).await;
    assert!(matches!(outcome, RunOutcome::Succeeded { .. }));
    assert_eq!(clock.sleeps(), vec![secs(20)]);
    assert_eq!(attempts(&resumed, "pause").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_wait_until_that_never_holds_times_out() {
    let yaml = r#"
name: never
trigger: {type: manual}
steps:
  - id: until_done
    wait:
      action: get-job-run
      input: {run_id: 5}
      until: "{% $poll.done %}"
      interval_seconds: 10
      timeout_seconds: 35
"#;
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    let outcome = run(yaml, script.clone(), &journal, json!({})).await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "TIMEOUT");
    assert_eq!(script.calls_of("get-job-run").len(), 4);
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_run_inside_a_wait() {
    let yaml = r#"
name: long wait
trigger: {type: manual}
steps:
  - id: pause
    wait: {seconds: 3600}
  - id: never
    action: list-users
"#;
    let script = Arc::new(Script::default());
    // tokio's paused clock: the wait really waits (in virtual time) until the cancel
    let executor = Executor::new(
        flow(yaml),
        script.clone(),
        options_with(Arc::new(TokioClock)),
    );
    let journal = MemoryJournal::new();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        c.cancel();
    });
    let outcome = executor.execute(&ctx(json!({})), &journal, &cancel).await;
    assert_eq!(outcome, RunOutcome::Cancelled);
    assert!(script.calls_of("list-users").is_empty());
    assert_eq!(attempts(&journal, "pause")[0].status, StepStatus::Running);
}

#[tokio::test(start_paused = true)]
async fn steps_use_their_own_account_or_the_flows() {
    let yaml = r#"
name: two workspaces
account: source
trigger: {type: manual}
steps:
  - {id: read, action: list-users}
  - {id: write, action: list-groups, account: target}
"#;
    let script = Arc::new(Script::default());
    let journal = MemoryJournal::new();
    run(yaml, script.clone(), &journal, json!({})).await;
    let accounts: Vec<Option<String>> = script
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(a, _, _)| a.clone())
        .collect();
    assert_eq!(accounts, vec![Some("source".into()), Some("target".into())]);
    assert_eq!(
        attempts(&journal, "write")[0].account.as_deref(),
        Some("target")
    );
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_cannot_write_fails_the_run_before_the_action() {
    struct Broken;
    impl RunJournal for Broken {
        fn records(&self) -> BoxFuture<'_, Result<Vec<StepRecord>, brickwire_flows::FlowError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn write(&self, _: StepRecord) -> BoxFuture<'_, Result<(), brickwire_flows::FlowError>> {
            Box::pin(async { Err(brickwire_flows::FlowError::Journal("disk full".into())) })
        }
    }
    let script = Arc::new(Script::default());
    let executor = Executor::new(flow(THREE_STEPS), script.clone(), options());
    let outcome = executor
        .execute(
            &ctx(json!({"job_id": 1})),
            &Broken,
            &CancellationToken::new(),
        )
        .await;
    let RunOutcome::Failed { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(error.code, "JOURNAL_ERROR");
    assert!(
        script.calls.lock().unwrap().is_empty(),
        "nothing ran unrecorded"
    );
}
