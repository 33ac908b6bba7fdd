//! [`Executor`]: runs one run of a [`CompiledFlow`] over its [`RunJournal`], resuming from
//! what the journal holds.
//!
//! The rules it keeps:
//! - completed steps (latest attempt `succeeded`) are never run again: their stored output is
//!   bound as `$steps.<id>`;
//! - an attempt found `running` (in flight when the process died) is retried only when its
//!   action is safe to retry ([`brickwire_connector::Action::retry_safe`], or `run-job`, which
//!   gets an `idempotency_token` derived from the run id and step path, see
//!   [`idempotency_token`]); otherwise the run ends [`RunOutcome::Interrupted`];
//! - `wait` steps record when they end (`resume_at`), so a resumed wait sleeps only the rest;
//! - cancellation (the token) is honoured between steps and inside waits and retry delays.
//! - a failure travels up: a step's `on_error` handles its own failure and those of the steps
//!   nested in it (an `if` branch, a `for_each` iteration); unhandled, it fails the run.
//!
//! Every attempt's record is written with the clock's wall time, so a test can drive waits
//! and retry delays with a manual clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_client::http::{Clock, TokioClock};
use brickwire_connector::ActionError;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::definition::{
    FlowDefinition, OnError, OnErrorMode, RetryOn, RetryPolicy, StepDef, WaitDef,
};
use crate::error::{FlowError, StepError};
use crate::expr::{self, ExprLimits};
use crate::journal::{RunJournal, StepKind, StepRecord, StepStatus};
use crate::validate::CompiledFlow;

/// Runs catalog actions on behalf of a flow: the service resolves `account` to a linked
/// account's shared client, the CLI to a profile's client.
pub trait ActionRunner: Send + Sync {
    /// Runs `action` with `input` on `account` (the step's, else the flow's; `None` if
    /// neither names one). Returns Databricks' JSON or the action error.
    fn run<'a>(
        &'a self,
        account: Option<&'a str>,
        action: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, ActionError>>;
}

/// What a run is, bound as `$run` in expressions (with `$event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// The run's id (idempotency tokens derive from it).
    pub run_id: String,
    /// The flow's id.
    pub flow_id: String,
    /// The version of the flow the run executes.
    pub flow_version: i64,
    /// The trigger's event (`$event`).
    pub event: Value,
    /// When the run was created.
    pub created_at: SystemTime,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Every step completed; the output of the last top-level step.
    Succeeded {
        /// That output.
        output: Value,
    },
    /// A step failed (after its retries) and nothing handled it, or a `fail` step ran.
    Failed {
        /// The error, with the step it happened at.
        error: StepError,
    },
    /// A step that is not safe to repeat was in flight when the process died: a person must
    /// resume (run it again) or cancel.
    Interrupted {
        /// Its path.
        path: String,
        /// Why it was not repeated.
        reason: String,
    },
    /// The cancel token fired.
    Cancelled,
}

/// Knobs of an [`Executor`].
#[derive(Clone)]
pub struct ExecutorOptions {
    /// Time and sleeping (waits, retry delays, timeouts); injectable for tests.
    pub clock: Arc<dyn Clock>,
    /// Randomness in `[0, 1)` for retry jitter; injectable for tests.
    pub random: Arc<dyn Fn() -> f64 + Send + Sync>,
    /// Time and size bounds of expression evaluation.
    pub expr_limits: ExprLimits,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(TokioClock),
            random: Arc::new(rand::random::<f64>),
            expr_limits: ExprLimits::default(),
        }
    }
}

impl std::fmt::Debug for ExecutorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorOptions")
            .field("expr_limits", &self.expr_limits)
            .finish_non_exhaustive()
    }
}

/// Runs runs of one compiled flow.
#[derive(Clone)]
pub struct Executor {
    flow: Arc<CompiledFlow>,
    runner: Arc<dyn ActionRunner>,
    options: ExecutorOptions,
}

impl Executor {
    /// An executor of `flow` whose actions run through `runner`.
    pub fn new(
        flow: Arc<CompiledFlow>,
        runner: Arc<dyn ActionRunner>,
        options: ExecutorOptions,
    ) -> Self {
        Self {
            flow,
            runner,
            options,
        }
    }

    /// The flow.
    pub fn flow(&self) -> &Arc<CompiledFlow> {
        &self.flow
    }

    /// Runs (or resumes) the run `ctx` over `journal` until it ends or `cancel` fires. A
    /// journal error ends the run as failed with code `JOURNAL_ERROR` (nothing after it ran).
    pub async fn execute(
        &self,
        ctx: &RunContext,
        journal: &dyn RunJournal,
        cancel: &CancellationToken,
    ) -> RunOutcome {
        let records = match journal.records().await {
            Ok(records) => records,
            Err(e) => return journal_failed(e),
        };
        let mut latest: HashMap<String, StepRecord> = HashMap::new();
        for record in records {
            match latest.get(&record.path) {
                Some(seen) if seen.attempt > record.attempt => {}
                _ => {
                    latest.insert(record.path.clone(), record);
                }
            }
        }
        let run = Run {
            executor: self,
            ctx,
            journal,
            cancel,
            latest,
        };
        let mut frame = Frame::default();
        match run.steps(&self.flow.definition.steps, &mut frame).await {
            Ok(output) => RunOutcome::Succeeded { output },
            Err(Stop::Failed(error)) => RunOutcome::Failed { error },
            Err(Stop::Ended(outcome)) => outcome,
        }
    }
}

/// The most items a `for_each` iterates (each iteration's steps are journaled).
pub const MAX_FOR_EACH_ITEMS: usize = 10_000;

/// Why executing steps stopped before the end.
enum Stop {
    /// A step failed; an enclosing `on_error` may handle it.
    Failed(StepError),
    /// The run ends here whatever handlers there are (cancelled, interrupted, journal error).
    Ended(RunOutcome),
}

type Flow<T> = Result<T, Stop>;

fn journal_failed(error: FlowError) -> RunOutcome {
    RunOutcome::Failed {
        error: StepError::new("JOURNAL_ERROR", error.to_string(), false),
    }
}

/// What is in scope where a step runs: the path prefix of the iterations it is in, the
/// outputs of earlier steps, and `$item`/`$index`/`$error`.
#[derive(Debug, Clone, Default)]
struct Frame {
    prefix: String,
    steps: Map<String, Value>,
    item: Option<(Value, usize)>,
    error: Option<Value>,
}

/// One execution of one run.
struct Run<'a> {
    executor: &'a Executor,
    ctx: &'a RunContext,
    journal: &'a dyn RunJournal,
    cancel: &'a CancellationToken,
    /// The latest attempt of each path when the execution began.
    latest: HashMap<String, StepRecord>,
}

impl Run<'_> {
    fn now(&self) -> SystemTime {
        self.executor.options.clock.system_time()
    }

    fn definition(&self) -> &FlowDefinition {
        &self.executor.flow.definition
    }

    async fn write(&self, record: &StepRecord) -> Flow<()> {
        self.journal
            .write(record.clone())
            .await
            .map_err(|e| Stop::Ended(journal_failed(e)))
    }

    /// Sleeps `duration`, or stops when the run is cancelled.
    async fn sleep(&self, duration: Duration) -> Flow<()> {
        tokio::select! {
            _ = self.executor.options.clock.sleep(duration) => Ok(()),
            _ = self.cancel.cancelled() => Err(Stop::Ended(RunOutcome::Cancelled)),
        }
    }

    async fn sleep_until(&self, at: SystemTime) -> Flow<()> {
        let rest = at.duration_since(self.now()).unwrap_or_default();
        if rest.is_zero() {
            return Ok(());
        }
        self.sleep(rest).await
    }

    /// The bindings an expression template reads: only the variables it mentions, so a large
    /// earlier output is not copied for an expression that does not read it.
    fn bindings(&self, frame: &Frame, template: &Value, poll: Option<&Value>) -> Value {
        let mut sources = Vec::new();
        collect_sources(template, &mut sources);
        let wants = |name: &str| sources.iter().any(|s| s.contains(name));
        let mut b = Map::new();
        if wants("$event") {
            b.insert("event".into(), self.ctx.event.clone());
        }
        if wants("$steps") {
            b.insert("steps".into(), Value::Object(frame.steps.clone()));
        }
        if wants("$run") {
            b.insert(
                "run".into(),
                json!({
                    "id": self.ctx.run_id,
                    "flow_id": self.ctx.flow_id,
                    "flow_version": self.ctx.flow_version,
                    "created_at": rfc3339(self.ctx.created_at),
                }),
            );
        }
        if let Some((item, index)) = &frame.item {
            b.insert("item".into(), item.clone());
            b.insert("index".into(), Value::from(*index));
        }
        if let Some(error) = &frame.error {
            b.insert("error".into(), error.clone());
        }
        if let Some(poll) = poll {
            b.insert("poll".into(), poll.clone());
        }
        Value::Object(b)
    }

    fn resolve(
        &self,
        template: &Value,
        frame: &Frame,
        poll: Option<&Value>,
        step: &str,
    ) -> Result<Value, StepError> {
        let bindings = self.bindings(frame, template, poll);
        expr::resolve(
            template,
            &bindings,
            &self.executor.options.expr_limits,
            step,
        )
    }

    /// Runs `steps` in order in `frame`; the output of the last one (or `null`).
    fn steps<'s>(
        &'s self,
        steps: &'s [StepDef],
        frame: &'s mut Frame,
    ) -> BoxFuture<'s, Flow<Value>> {
        Box::pin(async move {
            let mut last = Value::Null;
            for step in steps {
                if self.cancel.is_cancelled() {
                    return Err(Stop::Ended(RunOutcome::Cancelled));
                }
                last = self.step(step, frame).await?;
                frame.steps.insert(step.id.clone(), last.clone());
            }
            Ok(last)
        })
    }

    /// One step with its `on_error`.
    async fn step(&self, step: &StepDef, frame: &mut Frame) -> Flow<Value> {
        let path = format!("{}{}", frame.prefix, step.id);
        let prev = self.latest.get(&path);
        let result = match prev {
            Some(p) if p.status == StepStatus::Succeeded => {
                return Ok(p.output.clone().unwrap_or(Value::Null));
            }
            // the failure was recorded as final before the process stopped: handle it again
            Some(p) if p.status == StepStatus::Failed && p.resume_at.is_none() => {
                Err(Stop::Failed(p.error.clone().unwrap_or_else(|| {
                    StepError::new("FLOW_FAILED", "failed", false).at_step(&step.id)
                })))
            }
            _ => self.step_body(step, &path, prev, frame).await,
        };
        let error = match result {
            Err(Stop::Failed(error)) => error,
            other => return other,
        };
        match &step.on_error {
            None | Some(OnError::Mode(OnErrorMode::Fail)) => Err(Stop::Failed(error)),
            Some(OnError::Mode(OnErrorMode::Continue)) => Ok(Value::Null),
            Some(OnError::Handler { steps }) => {
                let mut handler = frame.clone();
                handler.error = Some(serde_json::to_value(&error).unwrap_or(Value::Null));
                let output = self.steps(steps, &mut handler).await?;
                // the handler's steps are in scope after it, as an `if` branch's are
                for (id, value) in handler.steps {
                    frame.steps.insert(id, value);
                }
                Ok(output)
            }
        }
    }

    async fn step_body(
        &self,
        step: &StepDef,
        path: &str,
        prev: Option<&StepRecord>,
        frame: &mut Frame,
    ) -> Flow<Value> {
        if let Some(action) = &step.action {
            self.action(step, action, path, prev, frame).await
        } else if let Some(wait) = &step.wait {
            self.wait(step, wait, path, prev, frame).await
        } else if step.if_.is_some() || step.switch.is_some() || step.for_each.is_some() {
            self.control(step, path, prev, frame).await
        } else if let Some(fail) = &step.fail {
            let mut record = self.record(step, StepKind::Fail, path, 1);
            let message = match self.resolve(&fail.message, frame, None, &step.id) {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(e) => return self.fail(record, e).await,
            };
            record.input = Some(json!({"message": message}));
            let code = fail.code.clone().unwrap_or_else(|| "FLOW_FAILED".into());
            self.fail(
                record,
                StepError::new(code, message, false).at_step(&step.id),
            )
            .await
        } else {
            Err(Stop::Failed(
                StepError::new(
                    "FLOW_FAILED",
                    format!("step `{}` has no kind", step.id),
                    false,
                )
                .at_step(&step.id),
            ))
        }
    }

    fn record(&self, step: &StepDef, kind: StepKind, path: &str, attempt: u32) -> StepRecord {
        StepRecord {
            path: path.to_owned(),
            step_id: step.id.clone(),
            kind,
            attempt,
            status: StepStatus::Running,
            action: step
                .action
                .clone()
                .or_else(|| step.wait.as_ref().and_then(|w| w.action.clone())),
            account: self.account(step),
            input: None,
            output: None,
            error: None,
            started_at: self.now(),
            finished_at: None,
            resume_at: None,
        }
    }

    fn account(&self, step: &StepDef) -> Option<String> {
        step.account
            .clone()
            .or_else(|| self.definition().account.clone())
    }

    /// Records `record` as failed for good and stops with `error`.
    async fn fail(&self, mut record: StepRecord, error: StepError) -> Flow<Value> {
        record.status = StepStatus::Failed;
        record.error = Some(error.clone());
        record.finished_at = Some(self.now());
        record.resume_at = None;
        self.write(&record).await?;
        Err(Stop::Failed(error))
    }

    async fn succeed(&self, mut record: StepRecord, output: Value) -> Flow<Value> {
        record.status = StepStatus::Succeeded;
        record.output = Some(output.clone());
        record.finished_at = Some(self.now());
        record.resume_at = None;
        self.write(&record).await?;
        Ok(output)
    }

    async fn action(
        &self,
        step: &StepDef,
        action: &str,
        path: &str,
        prev: Option<&StepRecord>,
        frame: &Frame,
    ) -> Flow<Value> {
        let safe = action == RUN_JOB
            || brickwire_connector::Catalog::global()
                .get(action)
                .is_some_and(|a| a.retry_safe());
        let policy = step.retry.clone().unwrap_or_default();
        let account = self.account(step);
        let mut attempt = match prev {
            None => 1,
            Some(p) => match p.status {
                StepStatus::Running if !safe => {
                    return Err(Stop::Ended(RunOutcome::Interrupted {
                        path: path.to_owned(),
                        reason: format!(
                            "`{action}` may have run already and running it twice is not the same as once"
                        ),
                    }));
                }
                StepStatus::Running => {
                    // in flight when the process stopped; safe to repeat, so repeat it
                    let mut abandoned = p.clone();
                    abandoned.status = StepStatus::Abandoned;
                    abandoned.finished_at = Some(self.now());
                    self.write(&abandoned).await?;
                    p.attempt + 1
                }
                StepStatus::Failed => {
                    if let Some(at) = p.resume_at {
                        self.sleep_until(at).await?;
                    }
                    p.attempt + 1
                }
                StepStatus::Abandoned | StepStatus::Succeeded => p.attempt + 1,
            },
        };
        let template = step
            .input
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()));
        loop {
            let mut record = self.record(step, StepKind::Action, path, attempt);
            let mut input = match self.resolve(&template, frame, None, &step.id) {
                Ok(input) => input,
                Err(e) => return self.fail(record, e).await,
            };
            if action == RUN_JOB
                && let Value::Object(fields) = &mut input
                && !fields.contains_key("idempotency_token")
            {
                fields.insert(
                    "idempotency_token".into(),
                    idempotency_token(&self.ctx.run_id, path).into(),
                );
            }
            record.input = Some(input.clone());
            self.write(&record).await?;
            let run = self.executor.runner.run(account.as_deref(), action, input);
            let timeout = step.timeout_seconds.map(Duration::from_secs_f64);
            let result = tokio::select! {
                biased;
                result = run => result,
                _ = sleep_or_never(&self.executor.options.clock, timeout) => Err(ActionError {
                    code: brickwire_connector::ErrorCode::Timeout,
                    message: format!("no answer within the step's timeout of {}s", step.timeout_seconds.unwrap_or_default()),
                    error_code: None,
                    status: None,
                    request_id: None,
                    retryable: safe,
                }),
                _ = self.cancel.cancelled() => {
                    let mut cancelled = record.clone();
                    cancelled.status = StepStatus::Abandoned;
                    cancelled.error = Some(StepError::new("CANCELLED", "the run was cancelled while the action was in flight", false).at_step(&step.id));
                    cancelled.finished_at = Some(self.now());
                    self.write(&cancelled).await?;
                    return Err(Stop::Ended(RunOutcome::Cancelled));
                }
            };
            let error = match result {
                Ok(output) => return self.succeed(record, output).await,
                Err(error) => error,
            };
            let retry = attempt < policy.max_attempts
                && match policy.on {
                    RetryOn::Retryable => error.retryable,
                    RetryOn::Any => error.retryable || safe || !outcome_unknown(&error),
                };
            let step_error = StepError::from_action(&error).at_step(&step.id);
            if !retry {
                return self.fail(record, step_error).await;
            }
            let delay = backoff(&policy, attempt, (self.executor.options.random)());
            record.status = StepStatus::Failed;
            record.error = Some(step_error);
            record.finished_at = Some(self.now());
            record.resume_at = Some(self.now() + delay);
            self.write(&record).await?;
            tracing::debug!(run = %self.ctx.run_id, path, attempt, delay_ms = delay.as_millis() as u64, "retrying a failed step");
            self.sleep(delay).await?;
            attempt += 1;
        }
    }

    async fn wait(
        &self,
        step: &StepDef,
        wait: &WaitDef,
        path: &str,
        prev: Option<&StepRecord>,
        frame: &Frame,
    ) -> Flow<Value> {
        // a wait found running resumes with its recorded end (or deadline)
        let resumed = prev.filter(|p| p.status == StepStatus::Running && p.resume_at.is_some());
        let attempt = prev.map_or(1, |p| {
            if resumed.is_some() {
                p.attempt
            } else {
                p.attempt + 1
            }
        });
        if let Some(seconds) = &wait.seconds {
            let (record, ends) = match resumed {
                Some(p) => (p.clone(), p.resume_at.unwrap_or_else(|| self.now())),
                None => {
                    let mut record = self.record(step, StepKind::Wait, path, attempt);
                    let secs = match self.resolve(seconds, frame, None, &step.id) {
                        Ok(v) => match v.as_f64() {
                            Some(s) if s >= 0.0 && s.is_finite() => s,
                            _ => {
                                let e = StepError::new("EXPRESSION_ERROR", format!("step `{}`: wait.seconds must be a number of seconds, got {v}", step.id), false).at_step(&step.id);
                                return self.fail(record, e).await;
                            }
                        },
                        Err(e) => return self.fail(record, e).await,
                    };
                    let ends = self.now() + Duration::from_secs_f64(secs);
                    record.input = Some(json!({"seconds": secs}));
                    record.resume_at = Some(ends);
                    self.write(&record).await?;
                    (record, ends)
                }
            };
            self.sleep_until(ends).await?;
            let waited = record
                .input
                .as_ref()
                .and_then(|i| i.get("seconds"))
                .cloned()
                .unwrap_or(Value::Null);
            return self
                .succeed(record, json!({"waited_seconds": waited}))
                .await;
        }
        let (Some(until), Some(action)) = (&wait.until, &wait.action) else {
            let record = self.record(step, StepKind::Wait, path, attempt);
            return self
                .fail(
                    record,
                    StepError::new(
                        "FLOW_FAILED",
                        "a wait needs `seconds` or `until` with `action`",
                        false,
                    )
                    .at_step(&step.id),
                )
                .await;
        };
        let interval = Duration::from_secs_f64(wait.interval_seconds.unwrap_or(10.0));
        let (mut record, deadline) = match resumed {
            Some(p) => (p.clone(), p.resume_at.unwrap_or_else(|| self.now())),
            None => {
                let mut record = self.record(step, StepKind::Wait, path, attempt);
                let template = wait
                    .input
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                match self.resolve(&template, frame, None, &step.id) {
                    Ok(input) => record.input = Some(input),
                    Err(e) => return self.fail(record, e).await,
                }
                let deadline =
                    self.now() + Duration::from_secs_f64(wait.timeout_seconds.unwrap_or(3600.0));
                record.resume_at = Some(deadline);
                self.write(&record).await?;
                (record, deadline)
            }
        };
        let input = record.input.clone().unwrap_or(Value::Null);
        let account = self.account(step);
        let mut polls = 0u64;
        loop {
            polls += 1;
            let polled = tokio::select! {
                r = self.executor.runner.run(account.as_deref(), action, input.clone()) => r,
                _ = self.cancel.cancelled() => return Err(Stop::Ended(RunOutcome::Cancelled)),
            };
            match polled {
                Ok(poll) => {
                    let holds = match self.resolve(until, frame, Some(&poll), &step.id) {
                        Ok(v) => truthy(&v),
                        Err(e) => return self.fail(record, e).await,
                    };
                    if holds {
                        record.output = Some(poll.clone());
                        return self.succeed(record, poll).await;
                    }
                }
                // a poll that may work next time is only a missed look
                Err(e) if e.retryable => {
                    tracing::debug!(run = %self.ctx.run_id, path, error = %e.message, "a wait's poll failed; polling on");
                }
                Err(e) => {
                    return self
                        .fail(record, StepError::from_action(&e).at_step(&step.id))
                        .await;
                }
            }
            if self.now() + interval > deadline {
                record.input = Some(input.clone());
                let e = StepError::new(
                    "TIMEOUT",
                    format!("step `{}`: the condition did not hold within the wait's timeout ({polls} polls of `{action}`)", step.id),
                    false,
                )
                .at_step(&step.id);
                return self.fail(record, e).await;
            }
            self.sleep(interval).await?;
        }
    }

    /// `if`, `switch` and `for_each`: a record around the steps they run.
    async fn control(
        &self,
        step: &StepDef,
        path: &str,
        prev: Option<&StepRecord>,
        frame: &mut Frame,
    ) -> Flow<Value> {
        let kind = if step.if_.is_some() {
            StepKind::If
        } else if step.switch.is_some() {
            StepKind::Switch
        } else {
            StepKind::ForEach
        };
        let resumed = prev.filter(|p| p.status == StepStatus::Running && p.input.is_some());
        let mut record = match resumed {
            Some(p) => p.clone(),
            None => {
                let mut record = self.record(step, kind, path, prev.map_or(1, |p| p.attempt + 1));
                // decided once and recorded, so a resumed run takes the same branch over the
                // same items even if an expression reads the time
                let input = match self.decide(step, kind, frame) {
                    Ok(input) => input,
                    Err(e) => return self.fail(record, e).await,
                };
                record.input = Some(input);
                self.write(&record).await?;
                record
            }
        };
        let input = record.input.clone().unwrap_or(Value::Null);
        let result = match kind {
            StepKind::If => {
                let branch = if input["condition"] == Value::Bool(true) {
                    step.then.as_deref()
                } else {
                    step.else_.as_deref()
                };
                self.steps(branch.unwrap_or(&[]), frame).await
            }
            StepKind::Switch => {
                let branch = match input["case"].as_u64() {
                    Some(c) => step
                        .cases
                        .as_ref()
                        .and_then(|cases| cases.get(c as usize))
                        .map(|c| c.steps.as_slice()),
                    None => step.default.as_deref(),
                };
                self.steps(branch.unwrap_or(&[]), frame).await
            }
            _ => {
                self.for_each(
                    step,
                    path,
                    input.as_array().map(Vec::as_slice).unwrap_or(&[]),
                    frame,
                )
                .await
            }
        };
        match result {
            Ok(output) => {
                record.input = Some(input);
                self.succeed(record, output).await
            }
            Err(Stop::Failed(error)) => self.fail(record, error).await,
            Err(ended) => Err(ended),
        }
    }

    /// The recorded decision of a control step: `{"condition": bool}`, `{"value", "case"}`, or
    /// the list a `for_each` iterates.
    fn decide(&self, step: &StepDef, kind: StepKind, frame: &Frame) -> Result<Value, StepError> {
        match kind {
            StepKind::If => {
                let condition = self.resolve(
                    step.if_.as_ref().unwrap_or(&Value::Null),
                    frame,
                    None,
                    &step.id,
                )?;
                Ok(json!({"condition": truthy(&condition)}))
            }
            StepKind::Switch => {
                let value = self.resolve(
                    step.switch.as_ref().unwrap_or(&Value::Null),
                    frame,
                    None,
                    &step.id,
                )?;
                let mut case = Value::Null;
                for (i, c) in step.cases.iter().flatten().enumerate() {
                    if self.resolve(&c.value, frame, None, &step.id)? == value {
                        case = Value::from(i);
                        break;
                    }
                }
                Ok(json!({"value": value, "case": case}))
            }
            _ => {
                let list = self.resolve(
                    step.for_each.as_ref().unwrap_or(&Value::Null),
                    frame,
                    None,
                    &step.id,
                )?;
                let list = match list {
                    Value::Array(items) => items,
                    // JSONata yields a single value for a one-item sequence, nothing for none
                    Value::Null => Vec::new(),
                    other
                        if step
                            .for_each
                            .as_ref()
                            .and_then(expr::expression_source)
                            .is_some() =>
                    {
                        vec![other]
                    }
                    other => {
                        return Err(StepError::new(
                            "EXPRESSION_ERROR",
                            format!(
                                "step `{}`: for_each must yield a list, got {other}",
                                step.id
                            ),
                            false,
                        )
                        .at_step(&step.id));
                    }
                };
                if list.len() > MAX_FOR_EACH_ITEMS {
                    return Err(StepError::new(
                        "EXPRESSION_ERROR",
                        format!(
                            "step `{}`: for_each yields {} items, more than {MAX_FOR_EACH_ITEMS}",
                            step.id,
                            list.len()
                        ),
                        false,
                    )
                    .at_step(&step.id));
                }
                Ok(Value::Array(list))
            }
        }
    }

    /// One iteration of a `for_each`: its body's outputs by step id.
    fn iteration<'s>(
        &'s self,
        body: &'s [StepDef],
        mut inner: Frame,
    ) -> BoxFuture<'s, Flow<Value>> {
        Box::pin(async move {
            self.steps(body, &mut inner).await?;
            let own: Map<String, Value> = body
                .iter()
                .filter_map(|s| inner.steps.get(&s.id).map(|v| (s.id.clone(), v.clone())))
                .collect();
            Ok(Value::Object(own))
        })
    }

    /// The iterations of a `for_each`, at most `concurrency` at once; the output lists each
    /// iteration's step outputs in item order. Every iteration runs to its end even when one
    /// fails, so none is left half-done; the first failure (in item order) is the loop's.
    async fn for_each(
        &self,
        step: &StepDef,
        path: &str,
        items: &[Value],
        frame: &Frame,
    ) -> Flow<Value> {
        let body = step.steps.as_deref().unwrap_or(&[]);
        let concurrency = step.concurrency.unwrap_or(1).max(1) as usize;
        let results: Vec<Flow<Value>> = futures::stream::iter(0..items.len())
            .map(|index| {
                let inner = Frame {
                    prefix: format!("{path}[{index}]."),
                    steps: frame.steps.clone(),
                    item: Some((items[index].clone(), index)),
                    error: frame.error.clone(),
                };
                self.iteration(body, inner)
            })
            .buffered(concurrency)
            .collect()
            .await;
        let mut outputs = Vec::with_capacity(results.len());
        let mut failure = None;
        for result in results {
            match result {
                Ok(output) => outputs.push(output),
                Err(Stop::Ended(outcome)) => return Err(Stop::Ended(outcome)),
                Err(Stop::Failed(error)) => {
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(Stop::Failed(error)),
            None => Ok(Value::Array(outputs)),
        }
    }
}

const RUN_JOB: &str = "run-job";

/// Whether an action error leaves open whether the action took effect (no answer, or a 5xx).
fn outcome_unknown(error: &ActionError) -> bool {
    use brickwire_connector::ErrorCode;
    matches!(error.code, ErrorCode::Timeout | ErrorCode::NetworkError)
        || error.status.is_some_and(|s| s >= 500)
}

/// The delay before attempt `attempt + 1`: exponential, capped, with `jitter` of it taken off
/// at random (`random` in `[0, 1)`).
fn backoff(policy: &RetryPolicy, attempt: u32, random: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(60) as i32;
    let base = (policy.initial_delay_seconds * policy.multiplier.powi(exponent))
        .min(policy.max_delay_seconds);
    let jittered = base * (1.0 - policy.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0));
    Duration::from_secs_f64(jittered.max(0.0))
}

/// JSONata's notion of truth for a condition's value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(truthy),
        Value::Object(map) => !map.is_empty(),
    }
}

fn collect_sources<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(_) => out.extend(expr::expression_source(value)),
        Value::Array(items) => items.iter().for_each(|v| collect_sources(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_sources(v, out)),
        _ => {}
    }
}

async fn sleep_or_never(clock: &Arc<dyn Clock>, duration: Option<Duration>) {
    match duration {
        Some(d) => clock.sleep(d).await,
        None => std::future::pending().await,
    }
}

fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `idempotency_token` a `run-job` step sends: 64 hex characters of SHA-256 over the run
/// id and the step path, so the same step of the same run never starts a second job run, and
/// a replayed run (a new run id) starts a fresh one.
pub fn idempotency_token(run_id: &str, path: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}\n{path}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_down() {
        let policy = RetryPolicy::default();
        assert_eq!(backoff(&policy, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(&policy, 3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(&policy, 30, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(&policy, 2, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn truth_follows_jsonata() {
        assert!(
            !truthy(&json!(null))
                && !truthy(&json!(0))
                && !truthy(&json!(""))
                && !truthy(&json!([]))
        );
        assert!(truthy(&json!("x")) && truthy(&json!([0, 1])) && truthy(&json!({"a": 1})));
    }
}
