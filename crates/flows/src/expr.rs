//! Expressions: JSONata (the language AWS Step Functions uses for the same job), written as a
//! whole JSON string `"{% ... %}"`; every other value is literal. [`resolve`] walks a JSON
//! template and replaces each expression by its value.
//!
//! Bindings: `$event` (the trigger's event), `$steps` (id -> output of each completed step in
//! scope), `$run` (`{id, flow_id, flow_version, created_at}`), and where they apply `$item` and
//! `$index` (a `for_each` iteration), `$error` (an `on_error` handler), `$poll` (a `wait`'s
//! polled output).
//!
//! Evaluation is bounded ([`ExprLimits`]): wall time, recursion depth, sequence length, and the
//! size of the JSON it yields. An error names the step and the expression.

use serde_json::Value;

use crate::error::StepError;

/// Bounds of one expression's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprLimits {
    /// Wall time, in milliseconds (default 1000).
    pub timeout_ms: u64,
    /// Recursion depth (default 200).
    pub max_depth: usize,
    /// Longest sequence an expression may build (default 100,000).
    pub max_sequence: usize,
    /// Largest result, in bytes of JSON (default 1 MiB).
    pub max_output_bytes: usize,
}

impl Default for ExprLimits {
    fn default() -> Self {
        Self {
            timeout_ms: 1000,
            max_depth: 200,
            max_sequence: 100_000,
            max_output_bytes: 1024 * 1024,
        }
    }
}

/// The JSONata source of `value` if it is an expression string (`"{% $event.id %}"` ->
/// `$event.id`).
pub fn expression_source(value: &Value) -> Option<&str> {
    let s = value.as_str()?.trim();
    let inner = s.strip_prefix("{%")?.strip_suffix("%}")?;
    Some(inner.trim())
}

/// Replaces every expression in `template` by its value under `bindings` (an object whose
/// keys are the variable names without `$`). `step` names the step in errors.
pub fn resolve(
    template: &Value,
    bindings: &Value,
    limits: &ExprLimits,
    step: &str,
) -> Result<Value, StepError> {
    let _ = (template, bindings, limits, step);
    todo!("expression evaluation")
}
