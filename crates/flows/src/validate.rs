//! Validation of a [`FlowDefinition`] against the action catalog, producing a
//! [`CompiledFlow`] or every problem with its path: exactly one kind per step, unique step ids,
//! known action ids, static inputs that fail the action's schema, expressions that do not
//! parse, references to steps that do not exist or do not come earlier (a cycle), bad cron
//! expressions and time zones, bounds of retries, timeouts and concurrency.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use brickwire_connector::Catalog;
use serde_json::Value;

use crate::definition::{FlowDefinition, OnError, RetryPolicy, StepDef, Trigger};
use crate::error::ValidationError;
use crate::expr;

/// The most iterations of a `for_each` that may run at once.
pub const MAX_FOR_EACH_CONCURRENCY: u32 = 32;
/// The most runs of one flow that may execute at once.
pub const MAX_FLOW_CONCURRENCY: u32 = 64;
/// The most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 20;

/// A validated flow, ready for an [`crate::Executor`].
#[derive(Debug, Clone)]
pub struct CompiledFlow {
    /// The definition as validated.
    pub definition: FlowDefinition,
}

/// A cron expression (5 fields, or 6 with seconds first) and an IANA time zone (default UTC),
/// as a schedule trigger names them.
pub fn parse_schedule(
    cron: &str,
    timezone: Option<&str>,
) -> Result<(croner::Cron, chrono_tz::Tz), ValidationError> {
    let parsed = croner::Cron::from_str(cron)
        .map_err(|e| ValidationError::new("trigger.cron", format!("not a cron expression: {e}")))?;
    let tz = match timezone {
        None => chrono_tz::UTC,
        Some(name) => chrono_tz::Tz::from_str(name).map_err(|_| {
            ValidationError::new(
                "trigger.timezone",
                format!("unknown time zone `{name}` (expected an IANA name such as Europe/Berlin)"),
            )
        })?,
    };
    Ok((parsed, tz))
}

/// Validates `definition` against `catalog`.
pub fn validate(
    definition: FlowDefinition,
    catalog: &Catalog,
) -> Result<CompiledFlow, Vec<ValidationError>> {
    let mut checker = Checker {
        catalog,
        errors: Vec::new(),
        ids: HashMap::new(),
    };
    checker.definition(&definition);
    if checker.errors.is_empty() {
        Ok(CompiledFlow { definition })
    } else {
        Err(checker.errors)
    }
}

/// Where a step id is defined, for reference checks.
struct Defined {
    path: String,
    /// The `for_each` steps it is inside, innermost last.
    loops: Vec<String>,
}

struct Checker<'a> {
    catalog: &'a Catalog,
    errors: Vec<ValidationError>,
    ids: HashMap<String, Defined>,
}

impl Checker<'_> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError::new(path, message));
    }

    fn definition(&mut self, def: &FlowDefinition) {
        let name = def.name.trim();
        if name.is_empty() || def.name.chars().count() > 200 {
            self.error("name", "expected 1 to 200 characters");
        }
        if let Some(c) = def.concurrency
            && !(1..=MAX_FLOW_CONCURRENCY).contains(&c)
        {
            self.error(
                "concurrency",
                format!("expected 1 to {MAX_FLOW_CONCURRENCY}, got {c}"),
            );
        }
        self.trigger(&def.trigger);
        if def.steps.is_empty() {
            self.error("steps", "a flow needs at least one step");
        }
        self.collect_ids(&def.steps, "steps", &[]);
        let mut visible = HashSet::new();
        self.steps(&def.steps, "steps", &mut visible, &Bound::default());
    }

    fn trigger(&mut self, trigger: &Trigger) {
        match trigger {
            Trigger::Manual {
                input_schema: Some(schema),
            } => {
                if let Err(e) = jsonschema::validator_for(schema) {
                    self.error(
                        "trigger.input_schema",
                        format!("not a valid JSON Schema: {e}"),
                    );
                }
            }
            Trigger::Schedule { cron, timezone } => {
                if let Err(e) = parse_schedule(cron, timezone.as_deref()) {
                    self.errors.push(e);
                }
            }
            Trigger::Sync {
                source,
                poll_interval_seconds,
                ..
            } => {
                if !source.is_object() {
                    self.error(
                        "trigger.source",
                        "expected an Incremental Sync source spec object, e.g. {\"type\": \"job_runs\"}",
                    );
                }
                if *poll_interval_seconds == Some(0) {
                    self.error("trigger.poll_interval_seconds", "expected at least 1");
                }
            }
            Trigger::Manual { input_schema: None } | Trigger::Webhook { .. } => {}
        }
    }

    /// First pass: every id, unique and well formed, with where it is.
    fn collect_ids(&mut self, steps: &[StepDef], path: &str, loops: &[String]) {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{path}[{i}]");
            if !valid_id(&step.id) {
                self.error(
                    format!("{at}.id"),
                    format!(
                        "`{}` is not a step id (letters, digits, `_` and `-`, starting with a letter, at most 64)",
                        step.id
                    ),
                );
            } else if let Some(first) = self.ids.get(&step.id) {
                let first = first.path.clone();
                self.error(
                    format!("{at}.id"),
                    format!("step id `{}` is used already at {first}", step.id),
                );
            } else {
                self.ids.insert(
                    step.id.clone(),
                    Defined {
                        path: at.clone(),
                        loops: loops.to_vec(),
                    },
                );
            }
            for (child_path, children, is_loop) in children(step, &at) {
                let mut inner = loops.to_vec();
                if is_loop {
                    inner.push(step.id.clone());
                }
                self.collect_ids(children, &child_path, &inner);
            }
        }
    }

    /// Second pass: each step's shape, in order, with the ids visible to it.
    fn steps(
        &mut self,
        steps: &[StepDef],
        path: &str,
        visible: &mut HashSet<String>,
        bound: &Bound,
    ) {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{path}[{i}]");
            self.step(step, &at, visible, bound);
        }
    }

    fn step(&mut self, step: &StepDef, at: &str, visible: &mut HashSet<String>, bound: &Bound) {
        let kinds: Vec<&str> = [
            ("action", step.action.is_some()),
            ("if", step.if_.is_some()),
            ("switch", step.switch.is_some()),
            ("for_each", step.for_each.is_some()),
            ("wait", step.wait.is_some()),
            ("fail", step.fail.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        match kinds.len() {
            0 => self.error(
                at,
                "a step needs exactly one of action, if, switch, for_each, wait, fail",
            ),
            1 => {}
            _ => self.error(
                at,
                format!(
                    "a step has exactly one kind, this one has {}",
                    kinds.join(", ")
                ),
            ),
        }
        let kind = kinds.first().copied().unwrap_or("");
        self.misplaced(step, at, kind);
        self.common(step, at, kind);

        match kind {
            "action" => {
                let action = step.action.as_deref().unwrap_or_default();
                self.action_input(
                    action,
                    step.input.as_ref(),
                    &format!("{at}.input"),
                    &format!("{at}.action"),
                );
                self.expressions(
                    step.input.as_ref(),
                    &format!("{at}.input"),
                    visible,
                    bound,
                    step,
                );
            }
            "if" => {
                self.condition(step.if_.as_ref(), &format!("{at}.if"), visible, bound, step);
                if step.then.as_ref().is_none_or(Vec::is_empty) {
                    self.error(
                        format!("{at}.then"),
                        "an `if` needs a non-empty `then` list",
                    );
                }
                let mut inner = visible.clone();
                if let Some(then) = &step.then {
                    self.steps(then, &format!("{at}.then"), &mut inner, bound);
                }
                if let Some(else_) = &step.else_ {
                    self.steps(else_, &format!("{at}.else"), &mut inner, bound);
                }
                visible.extend(inner);
            }
            "switch" => {
                self.expressions(
                    step.switch.as_ref(),
                    &format!("{at}.switch"),
                    visible,
                    bound,
                    step,
                );
                let mut inner = visible.clone();
                match &step.cases {
                    Some(cases) if !cases.is_empty() => {
                        for (c, case) in cases.iter().enumerate() {
                            let cat = format!("{at}.cases[{c}]");
                            self.expressions(
                                Some(&case.value),
                                &format!("{cat}.value"),
                                visible,
                                bound,
                                step,
                            );
                            self.steps(&case.steps, &format!("{cat}.steps"), &mut inner, bound);
                        }
                    }
                    _ => self.error(
                        format!("{at}.cases"),
                        "a `switch` needs a non-empty `cases` list",
                    ),
                }
                if let Some(default) = &step.default {
                    self.steps(default, &format!("{at}.default"), &mut inner, bound);
                }
                visible.extend(inner);
            }
            "for_each" => {
                self.expressions(
                    step.for_each.as_ref(),
                    &format!("{at}.for_each"),
                    visible,
                    bound,
                    step,
                );
                if let Some(list) = &step.for_each
                    && expr::expression_source(list).is_none()
                    && !list.is_array()
                {
                    self.error(
                        format!("{at}.for_each"),
                        "expected a list or an expression that yields one",
                    );
                }
                if let Some(c) = step.concurrency
                    && !(1..=MAX_FOR_EACH_CONCURRENCY).contains(&c)
                {
                    self.error(
                        format!("{at}.concurrency"),
                        format!("expected 1 to {MAX_FOR_EACH_CONCURRENCY}, got {c}"),
                    );
                }
                match &step.steps {
                    Some(body) if !body.is_empty() => {
                        let mut inner = visible.clone();
                        let bound = bound.with("item").with("index");
                        self.steps(body, &format!("{at}.steps"), &mut inner, &bound);
                    }
                    _ => self.error(
                        format!("{at}.steps"),
                        "a `for_each` needs a non-empty `steps` list",
                    ),
                }
            }
            "wait" => self.wait(step, at, visible, bound),
            "fail" => {
                if let Some(fail) = &step.fail {
                    self.expressions(
                        Some(&fail.message),
                        &format!("{at}.fail.message"),
                        visible,
                        bound,
                        step,
                    );
                    if let Some(code) = &fail.code
                        && (code.is_empty()
                            || !code
                                .chars()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    {
                        self.error(
                            format!("{at}.fail.code"),
                            "expected UPPER_SNAKE_CASE, e.g. JOB_FAILED",
                        );
                    }
                }
            }
            _ => {}
        }

        if let Some(OnError::Handler { steps }) = &step.on_error {
            if steps.is_empty() {
                self.error(
                    format!("{at}.on_error.steps"),
                    "an error handler needs at least one step",
                );
            }
            let mut inner = visible.clone();
            self.steps(
                steps,
                &format!("{at}.on_error.steps"),
                &mut inner,
                &bound.with("error"),
            );
            visible.extend(inner);
        }
        visible.insert(step.id.clone());
    }

    /// Fields that belong to another kind of step.
    fn misplaced(&mut self, step: &StepDef, at: &str, kind: &str) {
        let fields: [(&str, bool, &str); 8] = [
            ("input", step.input.is_some(), "action"),
            ("then", step.then.is_some(), "if"),
            ("else", step.else_.is_some(), "if"),
            ("cases", step.cases.is_some(), "switch"),
            ("default", step.default.is_some(), "switch"),
            ("concurrency", step.concurrency.is_some(), "for_each"),
            ("steps", step.steps.is_some(), "for_each"),
            ("retry", step.retry.is_some(), "action"),
        ];
        for (field, present, owner) in fields {
            if present && !kind.is_empty() && kind != owner {
                self.error(
                    format!("{at}.{field}"),
                    format!("`{field}` belongs to a `{owner}` step, this is a `{kind}` step"),
                );
            }
        }
    }

    fn common(&mut self, step: &StepDef, at: &str, kind: &str) {
        if let Some(retry) = &step.retry {
            self.retry(retry, &format!("{at}.retry"));
        }
        if let Some(t) = step.timeout_seconds {
            if !(t > 0.0 && t.is_finite()) {
                self.error(
                    format!("{at}.timeout_seconds"),
                    format!("expected a positive number of seconds, got {t}"),
                );
            }
            if kind != "action" && !kind.is_empty() {
                self.error(
                    format!("{at}.timeout_seconds"),
                    "a timeout applies to `action` steps (a `wait` has its own `timeout_seconds`)",
                );
            }
        }
        if let Some(account) = &step.account
            && account.trim().is_empty()
        {
            self.error(
                format!("{at}.account"),
                "expected a linked account id or name",
            );
        }
    }

    fn retry(&mut self, retry: &RetryPolicy, at: &str) {
        if !(1..=MAX_ATTEMPTS).contains(&retry.max_attempts) {
            self.error(
                format!("{at}.max_attempts"),
                format!("expected 1 to {MAX_ATTEMPTS}, got {}", retry.max_attempts),
            );
        }
        for (field, value) in [
            ("initial_delay_seconds", retry.initial_delay_seconds),
            ("max_delay_seconds", retry.max_delay_seconds),
        ] {
            if !(0.0..=86_400.0).contains(&value) {
                self.error(
                    format!("{at}.{field}"),
                    format!("expected 0 to 86400 seconds, got {value}"),
                );
            }
        }
        if !(retry.multiplier >= 1.0 && retry.multiplier <= 10.0) {
            self.error(
                format!("{at}.multiplier"),
                format!("expected 1 to 10, got {}", retry.multiplier),
            );
        }
        if !(0.0..=1.0).contains(&retry.jitter) {
            self.error(
                format!("{at}.jitter"),
                format!("expected 0 to 1, got {}", retry.jitter),
            );
        }
    }

    fn wait(&mut self, step: &StepDef, at: &str, visible: &HashSet<String>, bound: &Bound) {
        let Some(wait) = &step.wait else { return };
        let at = format!("{at}.wait");
        match (&wait.seconds, &wait.until) {
            (Some(_), Some(_)) => {
                self.error(&at, "a wait has either `seconds` or `until`, not both")
            }
            (None, None) => self.error(
                &at,
                "a wait needs `seconds`, or `until` with an `action` to poll",
            ),
            (Some(seconds), None) => {
                if expr::expression_source(seconds).is_none()
                    && seconds
                        .as_f64()
                        .is_none_or(|s| !(0.0..=31_622_400.0).contains(&s))
                {
                    self.error(
                        format!("{at}.seconds"),
                        "expected a number of seconds (0 to a year) or an expression",
                    );
                }
                self.expressions(
                    Some(seconds),
                    &format!("{at}.seconds"),
                    visible,
                    bound,
                    step,
                );
                for (field, present) in [
                    ("action", wait.action.is_some()),
                    ("input", wait.input.is_some()),
                    ("interval_seconds", wait.interval_seconds.is_some()),
                ] {
                    if present {
                        self.error(
                            format!("{at}.{field}"),
                            format!("`{field}` belongs to a wait with `until`"),
                        );
                    }
                }
            }
            (None, Some(until)) => {
                match wait.action.as_deref() {
                    None => self.error(
                        format!("{at}.action"),
                        "a wait with `until` needs the `action` it polls",
                    ),
                    Some(action) => {
                        self.action_input(
                            action,
                            wait.input.as_ref(),
                            &format!("{at}.input"),
                            &format!("{at}.action"),
                        );
                        if let Some(found) = self.catalog.get(action)
                            && !found.retry_safe()
                        {
                            self.error(format!("{at}.action"), format!("`{action}` changes something; a wait polls an action that is safe to repeat (e.g. retrieve-job-run)"));
                        }
                    }
                }
                self.expressions(
                    wait.input.as_ref(),
                    &format!("{at}.input"),
                    visible,
                    bound,
                    step,
                );
                self.condition(
                    Some(until),
                    &format!("{at}.until"),
                    visible,
                    &bound.with("poll"),
                    step,
                );
            }
        }
        for (field, value) in [
            ("interval_seconds", wait.interval_seconds),
            ("timeout_seconds", wait.timeout_seconds),
        ] {
            if let Some(v) = value
                && !(v > 0.0 && v.is_finite())
            {
                self.error(
                    format!("{at}.{field}"),
                    format!("expected a positive number of seconds, got {v}"),
                );
            }
        }
    }

    /// A condition: a boolean or an expression.
    fn condition(
        &mut self,
        value: Option<&Value>,
        at: &str,
        visible: &HashSet<String>,
        bound: &Bound,
        step: &StepDef,
    ) {
        if let Some(v) = value
            && expr::expression_source(v).is_none()
            && !v.is_boolean()
        {
            self.error(at, "expected a boolean or an expression \"{% ... %}\"");
        }
        self.expressions(value, at, visible, bound, step);
    }

    /// The action exists, and its input, where static, matches the action's schema.
    fn action_input(
        &mut self,
        action: &str,
        input: Option<&Value>,
        input_at: &str,
        action_at: &str,
    ) {
        let Some(found) = self.catalog.get(action) else {
            let hint = closest(action, self.catalog.actions().iter().map(|a| a.id()));
            self.error(
                action_at,
                match hint {
                    Some(h) => format!("unknown action id `{action}` (did you mean `{h}`? `brickwire actions` lists them)"),
                    None => format!("unknown action id `{action}` (`brickwire actions` lists them)"),
                },
            );
            return;
        };
        let input = input
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if expr::expression_source(&input).is_some() {
            return;
        }
        if !input.is_object() {
            self.error(
                input_at,
                "expected an object (the action's input) or an expression",
            );
            return;
        }
        let Ok(validator) = jsonschema::validator_for(found.input_schema()) else {
            return;
        };
        for error in validator.iter_errors(&input) {
            let pointer = error.instance_path().as_str().to_owned();
            // a value computed at run time is checked when the step runs
            if under_expression(&input, &pointer) {
                continue;
            }
            let field = pointer.trim_start_matches('/').replace('/', ".");
            let at = if field.is_empty() {
                input_at.to_owned()
            } else {
                format!("{input_at}.{field}")
            };
            let message = match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    // a required field may come from a whole-object expression one level up
                    self.error(
                        format!("{at}.{name}").trim_start_matches('.'),
                        format!("required by `{action}` and missing"),
                    );
                    continue;
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    format!(
                        "unknown field(s) {} for `{action}` (see `brickwire actions show {action}`)",
                        unexpected.join(", ")
                    )
                }
                _ => format!("{error} (input of `{action}`)"),
            };
            self.error(at, message);
        }
    }

    /// Every expression in `value` parses and refers only to bound variables and steps that
    /// come earlier.
    fn expressions(
        &mut self,
        value: Option<&Value>,
        at: &str,
        visible: &HashSet<String>,
        bound: &Bound,
        step: &StepDef,
    ) {
        let Some(value) = value else { return };
        match value {
            Value::String(_) => {
                let Some(source) = expr::expression_source(value) else {
                    return;
                };
                if let Err(e) = expr::check_syntax(source) {
                    self.error(at, format!("expression `{source}` does not parse: {e}"));
                    return;
                }
                for var in ["item", "index", "error", "poll"] {
                    if mentions_var(source, var) && !bound.has(var) {
                        self.error(
                            at,
                            format!("`${var}` is not bound here ({})", where_bound(var)),
                        );
                    }
                }
                for id in step_references(source) {
                    self.reference(&id, at, visible, step);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.expressions(Some(item), &format!("{at}[{i}]"), visible, bound, step);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.expressions(Some(item), &format!("{at}.{key}"), visible, bound, step);
                }
            }
            _ => {}
        }
    }

    fn reference(&mut self, id: &str, at: &str, visible: &HashSet<String>, step: &StepDef) {
        if visible.contains(id) {
            return;
        }
        match self.ids.get(id) {
            None => {
                let hint = closest(id, self.ids.keys().map(String::as_str));
                let hint = hint.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
                self.error(at, format!("`$steps.{id}` refers to no step{hint}"));
            }
            Some(_) if id == step.id => self.error(
                at,
                format!("`$steps.{id}` refers to the step itself (a cycle); a step reads only earlier steps"),
            ),
            Some(defined) => {
                let message = match defined.loops.last() {
                    // the loop ran earlier: its body's steps belong to its iterations
                    Some(l) if visible.contains(l) => format!(
                        "`$steps.{id}` is inside the `for_each` `{l}` and not in scope here; read the loop's output `$steps.{l}` instead"
                    ),
                    _ => format!(
                        "`$steps.{id}` refers to a step that does not come earlier ({}); a step reads only earlier steps",
                        defined.path
                    ),
                };
                self.error(at, message);
            }
        }
    }
}

/// Variables bound in the current position.
#[derive(Debug, Clone, Default)]
struct Bound(Vec<&'static str>);

impl Bound {
    fn with(&self, var: &'static str) -> Bound {
        let mut inner = self.0.clone();
        inner.push(var);
        Bound(inner)
    }

    fn has(&self, var: &str) -> bool {
        self.0.contains(&var)
    }
}

fn where_bound(var: &str) -> &'static str {
    match var {
        "item" | "index" => "only inside a `for_each`'s steps",
        "error" => "only inside an `on_error` handler's steps",
        _ => "only in a wait's `until`",
    }
}

/// The child step lists of a step: (path, steps, whether it is a loop body).
fn children<'a>(step: &'a StepDef, at: &str) -> Vec<(String, &'a [StepDef], bool)> {
    let mut out: Vec<(String, &'a [StepDef], bool)> = Vec::new();
    if let Some(then) = &step.then {
        out.push((format!("{at}.then"), then, false));
    }
    if let Some(else_) = &step.else_ {
        out.push((format!("{at}.else"), else_, false));
    }
    if let Some(cases) = &step.cases {
        for (c, case) in cases.iter().enumerate() {
            out.push((format!("{at}.cases[{c}].steps"), &case.steps, false));
        }
    }
    if let Some(default) = &step.default {
        out.push((format!("{at}.default"), default, false));
    }
    if let Some(body) = &step.steps {
        out.push((format!("{at}.steps"), body, step.for_each.is_some()));
    }
    if let Some(OnError::Handler { steps }) = &step.on_error {
        out.push((format!("{at}.on_error.steps"), steps, false));
    }
    out
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && id.len() <= 64
}

/// Whether `$var` occurs in `source` as a whole name.
fn mentions_var(source: &str, var: &str) -> bool {
    let needle = format!("${var}");
    source.match_indices(&needle).any(|(at, _)| {
        source[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// The step ids an expression reads: `$steps.id`, `` $steps.`my-id` `` and `$steps["id"]` /
/// `$steps['id']`.
fn step_references(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, needle) in source.match_indices("$steps") {
        let rest = &source[at + needle.len()..];
        let id = if let Some(rest) = rest.strip_prefix('.') {
            if let Some(quoted) = rest.strip_prefix('`') {
                quoted.split('`').next().map(str::to_owned)
            } else {
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                (!id.is_empty()).then_some(id)
            }
        } else if let Some(rest) = rest.strip_prefix('[') {
            let rest = rest.trim_start();
            rest.chars()
                .next()
                .filter(|q| *q == '"' || *q == '\'')
                .and_then(|q| rest[1..].split(q).next().map(str::to_owned))
        } else {
            None
        };
        if let Some(id) = id
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

/// Whether the JSON pointer `pointer` in `input` is, or is under, an expression value.
fn under_expression(input: &Value, pointer: &str) -> bool {
    let mut current = input;
    if expr::expression_source(current).is_some() {
        return true;
    }
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        current = match current {
            Value::Object(map) => match map.get(&token) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
        if expr::expression_source(current).is_some() {
            return true;
        }
    }
    false
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_references_read_every_spelling() {
        assert_eq!(
            step_references("$steps.a.x + $steps.`b-c`.y & $steps[\"d\"] & $steps['e'] & $steps.a"),
            vec!["a", "b-c", "d", "e"]
        );
    }

    #[test]
    fn a_path_under_an_expression_is_not_checked_statically() {
        let input = serde_json::json!({"job_id": "{% $event.id %}", "params": {"x": 1}});
        assert!(under_expression(&input, "/job_id"));
        assert!(!under_expression(&input, "/params/x"));
    }

    #[test]
    fn typos_get_a_hint() {
        assert_eq!(
            closest("run-jbo", ["run-job", "list-jobs"].into_iter()),
            Some("run-job")
        );
        assert_eq!(closest("zzzzzz", ["run-job"].into_iter()), None);
    }
}
