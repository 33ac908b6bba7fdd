//! The errors of the flows crate: [`FlowError`] (the crate boundary), [`ValidationError`] (one
//! problem in a definition, with its path) and [`StepError`] (why a step or a run failed, as
//! stored in the journal and shown in the run history).

use brickwire_connector::ActionError;
use serde::{Deserialize, Serialize};

/// A problem in a definition at `path` (`steps[2].input.warehouse_id`, `trigger.cron`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    /// Where, as a JSON path without the leading `$.` (empty: the whole definition).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ValidationError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// What failed in the flows crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The text is not JSON or YAML.
    #[error("cannot parse the flow: {0}")]
    Parse(String),
    /// The definition is not valid; every problem with its path.
    #[error("invalid flow: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// The journal could not be read or written (the run cannot go on durably).
    #[error("flow journal: {0}")]
    Journal(String),
}

/// Why a step (and so maybe its run) failed: an action's error, an expression's, a timeout,
/// a `fail` step. Serialized into the journal and the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// A stable code: the action error's (`NOT_FOUND`, `UNAVAILABLE`, ...), or
    /// `EXPRESSION_ERROR`, `TIMEOUT`, `FLOW_FAILED` (or a `fail` step's own), `INTERRUPTED`.
    pub code: String,
    /// What went wrong; names the step and, for expressions, the expression.
    pub message: String,
    /// Databricks' `error_code`, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The HTTP status, when Databricks answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Databricks' request id, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether running the step again unchanged may succeed.
    pub retryable: bool,
    /// The id of the step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

impl StepError {
    /// An error of `code` with no upstream details.
    pub fn new(code: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            error_code: None,
            status: None,
            request_id: None,
            retryable,
            step: None,
        }
    }

    /// The same error, attributed to `step`.
    pub fn at_step(mut self, step: &str) -> Self {
        self.step = Some(step.to_owned());
        self
    }

    /// From an action's error.
    pub fn from_action(error: &ActionError) -> Self {
        Self {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
            error_code: error.error_code.clone(),
            status: error.status,
            request_id: error.request_id.clone(),
            retryable: error.retryable,
            step: None,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step `{step}`: {}: {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}
