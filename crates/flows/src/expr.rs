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
///
/// An expression that yields nothing (JSONata's `undefined`, e.g. a missing field) leaves an
/// object's key out, and is `null` elsewhere. Whole numbers come back as JSON integers, so
/// `"{% $event.item.job_id %}"` stays an id and not `1.0`.
pub fn resolve(
    template: &Value,
    bindings: &Value,
    limits: &ExprLimits,
    step: &str,
) -> Result<Value, StepError> {
    Ok(resolve_inner(template, bindings, limits, step)?.unwrap_or(Value::Null))
}

/// Whether `template` holds an expression anywhere.
pub fn has_expression(template: &Value) -> bool {
    match template {
        Value::String(_) => expression_source(template).is_some(),
        Value::Array(items) => items.iter().any(has_expression),
        Value::Object(map) => map.values().any(has_expression),
        _ => false,
    }
}

/// Parses `source`, for validation: the parser's message when it is not JSONata.
pub fn check_syntax(source: &str) -> Result<(), String> {
    jsonata_core::parser::parse(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Evaluates one expression's source under `bindings`.
pub fn evaluate(
    source: &str,
    bindings: &Value,
    limits: &ExprLimits,
    step: &str,
) -> Result<Value, StepError> {
    Ok(evaluate_inner(source, bindings, limits, step)?.unwrap_or(Value::Null))
}

fn resolve_inner(
    template: &Value,
    bindings: &Value,
    limits: &ExprLimits,
    step: &str,
) -> Result<Option<Value>, StepError> {
    Ok(Some(match template {
        Value::String(_) => match expression_source(template) {
            Some(source) => return evaluate_inner(source, bindings, limits, step),
            None => template.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| Ok(resolve_inner(v, bindings, limits, step)?.unwrap_or(Value::Null)))
                .collect::<Result<_, StepError>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (key, value) in map {
                if let Some(value) = resolve_inner(value, bindings, limits, step)? {
                    out.insert(key.clone(), value);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }))
}

fn expression_error(step: &str, source: &str, message: impl std::fmt::Display) -> StepError {
    StepError::new(
        "EXPRESSION_ERROR",
        format!("step `{step}`: expression `{source}`: {message}"),
        false,
    )
    .at_step(step)
}

/// Binds only the variables the source mentions: converting every earlier step's output
/// for each expression would make a flow's cost grow with the size of what it read.
fn evaluate_inner(
    source: &str,
    bindings: &Value,
    limits: &ExprLimits,
    step: &str,
) -> Result<Option<Value>, StepError> {
    use jsonata_core::evaluator::{Context, Evaluator, EvaluatorOptions};
    use jsonata_core::value::JValue;

    let ast = jsonata_core::parser::parse(source).map_err(|e| expression_error(step, source, e))?;
    let mut context = Context::new();
    if let Value::Object(map) = bindings {
        for (name, value) in map {
            if mentions(source, name) {
                context.bind(name.clone(), JValue::from(value.clone()));
            }
        }
    }
    let options = EvaluatorOptions {
        timeout_ms: Some(limits.timeout_ms),
        max_stack_depth: Some(limits.max_depth),
        max_sequence_length: Some(limits.max_sequence),
        ..EvaluatorOptions::default()
    };
    let mut evaluator = Evaluator::with_options(context, options);
    let result = evaluator
        .evaluate(&ast, &JValue::Null)
        .map_err(|e| expression_error(step, source, e.message()))?;
    if result.is_undefined() {
        return Ok(None);
    }
    if result.is_function() {
        return Err(expression_error(
            step,
            source,
            "yields a function, not a JSON value",
        ));
    }
    let value = to_json(&result);
    let size = serde_json::to_vec(&value).map(|b| b.len()).unwrap_or(0);
    if size > limits.max_output_bytes {
        return Err(expression_error(
            step,
            source,
            format!(
                "yields {size} bytes of JSON, more than the limit of {}",
                limits.max_output_bytes
            ),
        ));
    }
    Ok(Some(value))
}

/// Whether `source` refers to the variable `$name` (followed by a character that cannot
/// continue a name).
fn mentions(source: &str, name: &str) -> bool {
    let needle = format!("${name}");
    source.match_indices(&needle).any(|(at, _)| {
        source[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// JSONata's value as JSON: numbers that are whole (and exact in a double) become integers.
fn to_json(value: &jsonata_core::value::JValue) -> Value {
    use jsonata_core::value::JValue;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        JValue::Number(n) if n.fract() == 0.0 && n.abs() <= EXACT => Value::from(*n as i64),
        JValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        JValue::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_undefined())
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        other => Value::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(template: Value, bindings: Value) -> Result<Value, StepError> {
        resolve(&template, &bindings, &ExprLimits::default(), "s")
    }

    #[test]
    fn literals_stay_and_expressions_are_replaced() {
        let out = run(
            json!({"a": 1, "b": "plain", "c": "{% $event.id * 2 %}", "d": ["{% $event.name & '!' %}"]}),
            json!({"event": {"id": 21, "name": "x"}}),
        )
        .unwrap();
        assert_eq!(out, json!({"a": 1, "b": "plain", "c": 42, "d": ["x!"]}));
    }

    #[test]
    fn whole_numbers_are_integers_and_undefined_drops_the_key() {
        let out = run(
            json!({"id": "{% $event.id %}", "gone": "{% $event.nothing %}", "f": "{% 1.5 %}"}),
            json!({"event": {"id": 1234567890123_i64}}),
        )
        .unwrap();
        assert_eq!(out, json!({"id": 1234567890123_i64, "f": 1.5}));
        assert!(out["id"].is_i64());
    }

    #[test]
    fn errors_name_the_step_and_the_expression() {
        let err = run(json!("{% $event.( %}"), json!({"event": {}})).unwrap_err();
        assert_eq!(err.code, "EXPRESSION_ERROR");
        assert!(err.message.contains("step `s`"), "{}", err.message);
        assert!(err.message.contains("$event.("), "{}", err.message);
        let err = run(json!("{% $number('x') %}"), json!({})).unwrap_err();
        assert!(err.message.contains("$number('x')"), "{}", err.message);
    }

    #[test]
    fn evaluation_is_bounded_in_time_and_size() {
        let limits = ExprLimits {
            timeout_ms: 50,
            ..ExprLimits::default()
        };
        let forever = json!("{% ($f := function($n){ $n > 0 ? $f($n) : 0 }; $f(1)) %}");
        let err = resolve(&forever, &json!({}), &limits, "s").unwrap_err();
        assert_eq!(err.code, "EXPRESSION_ERROR");
        let limits = ExprLimits {
            max_output_bytes: 100,
            ..ExprLimits::default()
        };
        let big = json!("{% $pad('', 1000, 'x') %}");
        let err = resolve(&big, &json!({}), &limits, "s").unwrap_err();
        assert!(
            err.message.contains("more than the limit"),
            "{}",
            err.message
        );
    }

    #[test]
    fn only_mentioned_variables_are_bound() {
        assert!(mentions("$steps.a", "steps"));
        assert!(!mentions("$stepsx", "steps"));
        assert!(mentions("$event", "event"));
        let out = run(
            json!("{% $exists($item) %}"),
            json!({"event": {"huge": [1, 2, 3]}}),
        )
        .unwrap();
        assert_eq!(out, json!(false));
    }
}
