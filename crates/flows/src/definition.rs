//! The flow definition as a person writes it (JSON or YAML): [`FlowDefinition`], its
//! [`Trigger`] and its [`StepDef`]s. These types only describe the shape; what must hold
//! between fields (exactly one step kind, known action ids, unique step ids, references to
//! earlier steps only) is checked by [`crate::validate`], which names the path of each problem.
//!
//! A step is one flat object with exactly one kind key, so a flow reads like the work it does:
//!
//! ```yaml
//! name: job failed -> rerun once
//! trigger: {type: sync, source: {type: job_runs}}
//! steps:
//!   - id: rerun
//!     if: "{% $event.data.state.result_state = 'FAILED' %}"
//!     then:
//!       - id: run
//!         action: run-job
//!         input: {job_id: "{% $event.data.job_id %}"}
//! ```
//!
//! Values anywhere in `input` (and the conditions, lists and messages of control steps) may be
//! expressions: a string `"{% ... %}"` is replaced by the JSONata expression's value (see
//! [`crate::expr`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FlowError;

/// A whole flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    /// A name for people (1 to 200 characters).
    pub name: String,
    /// What the flow is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The linked account (id or display name; a profile for `brickwire flow run`) that every
    /// step uses unless it names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What starts a run.
    pub trigger: Trigger,
    /// The steps, run in order.
    pub steps: Vec<StepDef>,
    /// How many runs of this flow may execute at once (default 4; the service also bounds the
    /// total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

/// What starts a run. Every trigger gives the run an event, bound as `$event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A run per request (REST or CLI) with the given input as `$event`.
    Manual {
        /// A JSON Schema the input must match (optional).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_schema: Option<Value>,
    },
    /// A run at each time a cron expression matches. `$event` is
    /// `{"scheduled_at": RFC 3339}`.
    Schedule {
        /// Five fields (minute hour day-of-month month day-of-week), or six with seconds first.
        cron: String,
        /// An IANA time zone such as `Europe/Berlin` (default `UTC`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// A run per request to the flow's secret webhook URL; `$event` is
    /// `{"body": ..., "headers": {...}, "received_at": RFC 3339}`.
    Webhook {
        /// Require `Brickwire-Signature` (HMAC-SHA256 over `t.body`, as the trigger webhooks
        /// sign) with the flow's webhook secret.
        #[serde(default)]
        require_signature: bool,
    },
    /// A run per event of an Incremental Sync source (any preset or `custom`); `$event` is the
    /// sync event (`id`, `source`, `key`, `version`, `data`: the item as Databricks returned it).
    Sync {
        /// The linked account to poll (default: the flow's `account`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        /// The source spec, as `brickwire sync --spec` and `POST /api/v1/subscriptions` take it.
        source: Value,
        /// Where to start (`"now"`, `"beginning"`, or a time); default `"now"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_from: Option<Value>,
        /// Seconds between polls (default 60).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        poll_interval_seconds: Option<u64>,
    },
}

/// One step: common fields and exactly one kind (`action`, `if`, `switch`, `for_each`,
/// `wait`, `fail`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Unique in the flow (letters, digits, `_`, `-`; starting with a letter); later steps read
    /// its output as `$steps.<id>`.
    pub id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The linked account of this step (default: the flow's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,

    /// `action`: the id of a catalog action (`run-job`, `execute-statement`, `http-request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `action`: its input; values may be expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,

    /// `if`: a condition (an expression or a boolean).
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_: Option<Value>,
    /// `if`: the steps run when the condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<StepDef>>,
    /// `if`: the steps run when it does not.
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    pub else_: Option<Vec<StepDef>>,

    /// `switch`: the value to match (usually an expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<Value>,
    /// `switch`: the cases, the first equal one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<Vec<SwitchCase>>,
    /// `switch`: the steps run when no case matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<StepDef>>,

    /// `for_each`: the list to iterate (an expression yielding an array); each iteration binds
    /// `$item` and `$index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Value>,
    /// `for_each`: how many iterations run at once (default 1, at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// `for_each`: the steps of one iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepDef>>,

    /// `wait`: a duration, or until a condition on a polled action holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitDef>,

    /// `fail`: end the run as failed with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<FailDef>,

    /// How failed attempts are retried (default: 3 attempts, only on retryable errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The longest one attempt may take, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// What a failure (after retries) does: `fail` the run (default), `continue` (the step's
    /// output is `null`), or run `{steps: [...]}` with the error as `$error`, then continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
}

/// One case of a `switch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchCase {
    /// The value that selects this case (compared for JSON equality; may be an expression).
    pub value: Value,
    /// The steps it runs.
    pub steps: Vec<StepDef>,
}

/// What a `wait` waits for: `seconds`, or `until` with `action` (polled every
/// `interval_seconds`, its output bound as `$poll`) within `timeout_seconds`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitDef {
    /// Wait this long (may be an expression yielding a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<Value>,
    /// The condition on `$poll` that ends the wait, e.g.
    /// `"{% $poll.state.life_cycle_state = 'TERMINATED' %}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Value>,
    /// The action polled (should be read-only, e.g. `retrieve-job-run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Its input; values may be expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Seconds between polls (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<f64>,
    /// The longest the wait may take (default 3600); then the step fails with `TIMEOUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
}

/// What a `fail` step reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailDef {
    /// The message (a string or an expression).
    pub message: Value,
    /// A code for the error (default `FLOW_FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Retries of a step's failed attempts: exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 to 20; default 3).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay before the second attempt, in seconds (default 1).
    #[serde(default = "default_initial_delay")]
    pub initial_delay_seconds: f64,
    /// Longest delay, in seconds (default 60).
    #[serde(default = "default_max_delay")]
    pub max_delay_seconds: f64,
    /// Factor between delays (default 2).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Fraction of each delay taken off at random, 0 to 1 (default 0.5).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Which errors are retried: `retryable` ones (the action error's `retryable`; default) or
    /// `any`.
    #[serde(default)]
    pub on: RetryOn,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            initial_delay_seconds: default_initial_delay(),
            max_delay_seconds: default_max_delay(),
            multiplier: default_multiplier(),
            jitter: default_jitter(),
            on: RetryOn::default(),
        }
    }
}

fn default_max_attempts() -> u32 {
    3
}
fn default_initial_delay() -> f64 {
    1.0
}
fn default_max_delay() -> f64 {
    60.0
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_jitter() -> f64 {
    0.5
}

/// Which failures a [`RetryPolicy`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// Only errors whose `retryable` is true (throttling, 503, and unknown outcomes of actions
    /// that are safe to repeat).
    #[default]
    Retryable,
    /// Every error (an action that is not safe to repeat is still never repeated after an
    /// unknown outcome).
    Any,
}

/// What a step's failure does to the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OnError {
    /// `fail` or `continue`.
    Mode(OnErrorMode),
    /// Run these steps with the error as `$error`, then go on with the next step.
    Handler {
        /// The handler's steps.
        steps: Vec<StepDef>,
    },
}

/// The two plain [`OnError`] choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnErrorMode {
    /// End the run as failed (the default).
    Fail,
    /// Record the error, set the step's output to `null`, go on.
    Continue,
}

/// The format of a definition's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML (a superset of JSON).
    Yaml,
}

impl Format {
    /// The format a file name implies: `.json` is JSON, everything else YAML.
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

impl FlowDefinition {
    /// Parses a definition; a shape error names the path (`steps[1].retry.max_attempts`).
    pub fn parse(text: &str, format: Format) -> Result<FlowDefinition, FlowError> {
        let value: Value = match format {
            Format::Json => serde_json::from_str(text)
                .map_err(|e| FlowError::Parse(format!("not JSON: {e}")))?,
            Format::Yaml => serde_norway::from_str(text)
                .map_err(|e| FlowError::Parse(format!("not YAML: {e}")))?,
        };
        FlowDefinition::from_value(value)
    }

    /// Decodes a definition from JSON; a shape error names the path.
    pub fn from_value(value: Value) -> Result<FlowDefinition, FlowError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            FlowError::Invalid(vec![crate::error::ValidationError::new(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )])
        })
    }

    /// The JSON Schema (draft 2020-12) of a definition, as the service publishes it.
    pub fn json_schema() -> Value {
        brickwire_connector::catalog::input_schema_for::<FlowDefinition>()
    }
}
