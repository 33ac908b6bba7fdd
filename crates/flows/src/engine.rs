//! [`Executor`]: runs one run of a [`CompiledFlow`] over its [`RunJournal`], resuming from
//! what the journal holds.
//!
//! CONTRACT (the service and the CLI are written against these signatures; the bodies are
//! being filled in):
//! - completed steps (latest attempt `succeeded`) are never run again: their stored output is
//!   bound as `$steps.<id>`;
//! - an attempt found `running` (in flight when the process died) is retried only when its
//!   action is safe to retry ([`brickwire_connector::Action::retry_safe`], or `run-job`, which
//!   gets an `idempotency_token` derived from the run id and step path, see
//!   [`idempotency_token`]); otherwise the run ends [`RunOutcome::Interrupted`];
//! - `wait` steps record when they end (`resume_at`), so a resumed wait sleeps only the rest;
//! - cancellation (the token) is honoured between steps and inside waits and retry delays.

use std::sync::Arc;
use std::time::SystemTime;

use brickwire_client::http::{Clock, TokioClock};
use brickwire_connector::ActionError;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::error::StepError;
use crate::expr::ExprLimits;
use crate::journal::RunJournal;
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
        let _ = (ctx, journal, cancel, &self.runner, &self.options);
        todo!("the executor")
    }
}

/// The `idempotency_token` a `run-job` step sends: 64 hex characters of SHA-256 over the run
/// id and the step path, so the same step of the same run never starts a second job run, and
/// a replayed run (a new run id) starts a fresh one.
pub fn idempotency_token(run_id: &str, path: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}\n{path}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
