//! The REST routes of flows under `/api/v1` ([`ENDPOINTS`], chained into
//! [`crate::server::routes::all_endpoints`], so they are behind the operator key and in the
//! OpenAPI document) and the inbound webhook route [`hook_routes`] (outside `/api/v1`: its
//! secret URL is its credential).
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET, POST | `/api/v1/flows` | list; create (validated, version 1) |
//! | POST | `/api/v1/flows/validate` | every problem of a definition, without storing it |
//! | GET | `/api/v1/flows/schema` | the definition's JSON Schema |
//! | GET, PUT, DELETE | `/api/v1/flows/{id}` | get (with the webhook URL); new version; delete |
//! | POST | `/api/v1/flows/{id}/enable`, `/disable` | start or stop its trigger |
//! | POST | `/api/v1/flows/{id}/runs` | start a run by hand, the body as `$event` |
//! | GET | `/api/v1/flow-runs` | runs, newest first (`flow_id`, `status`, time, paging) |
//! | GET | `/api/v1/flow-runs/{id}` | a run with every step attempt |
//! | POST | `/api/v1/flow-runs/{id}/replay`, `/cancel`, `/resume` | state changes of a run |
//! | POST | `/hooks/flows/{flow_id}/{secret}` | a webhook flow's trigger (no operator key) |
//!
//! A definition is sent as JSON (the definition itself), or wrapped as `{"definition": {...}}`
//! or `{"yaml": "..."}` (both with an optional `"enabled"`). Invalid definitions answer 400 in
//! the service's error shape plus `problems: [{path, message}]`, every problem at once.
//!
//! Manual runs: any enabled flow may be started by hand, whatever its trigger (so a sync or
//! webhook flow can be tried with a sample event); the body is `$event`, checked against a
//! manual trigger's `input_schema` when it has one. A disabled flow refuses (409).
//!
//! State rules: replay only failed or cancelled runs (an interrupted run is resumed, or
//! cancelled then replayed: replaying it as it is would leave the original open); cancel queued,
//! running or interrupted runs; resume interrupted runs only. A refused change is 409
//! `CONFLICT` naming the run's status.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use brickwire_connector::{Catalog, ErrorCode};
use brickwire_flows::definition::{FlowDefinition, Format};
use brickwire_flows::{CompiledFlow, FlowError, StepRecord, Trigger, ValidationError};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::model::{Enqueued, Flow, FlowId, FlowRun, FlowRunId, NewRun, RunFilter, RunStatus};
use crate::server::error::{ApiError, ApiPath, ApiQuery, parse_json};
use crate::server::routes::Endpoint;
use crate::server::{AppState, FlowsState};
use crate::triggers::Poller as _;

/// The path of a webhook flow's inbound route, relative to the public URL.
pub const HOOK_PATH: &str = "/hooks/flows/{flow_id}/{secret}";

/// How far a signed webhook's timestamp may be from now.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// The headers of an inbound webhook request that are not put into `$event.headers`
/// (credentials of other systems, and the signature itself).
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "brickwire-signature",
];

/// Validates a definition (JSON of [`FlowDefinition`]) the way the service does before it stores
/// one: its shape, then [`brickwire_flows::validate`] against the catalog, then a sync
/// trigger's source and start with the trigger engine's source check. Every problem names its
/// path (`steps[1].input.warehouse_id`, `trigger.source.type`).
pub fn check_definition(definition: Value) -> Result<CompiledFlow, Vec<ValidationError>> {
    let parsed = FlowDefinition::from_value(definition).map_err(problems_of)?;
    let sync_problem = match &parsed.trigger {
        Trigger::Sync {
            source, start_from, ..
        } => {
            let start = start_from.clone().unwrap_or_else(|| json!("now"));
            crate::triggers::SyncPoller::default()
                .validate(source, &start)
                .err()
                .map(|e| {
                    let field = e.field.trim_start_matches('.');
                    let path = match field {
                        "" | "source" => "trigger.source".to_owned(),
                        f if f.starts_with("start_from") => format!("trigger.{f}"),
                        f if f.starts_with("source") => format!("trigger.{f}"),
                        f => format!("trigger.source.{f}"),
                    };
                    ValidationError::new(path, e.message)
                })
        }
        _ => None,
    };
    let compiled = brickwire_flows::validate(parsed, Catalog::global());
    match (compiled, sync_problem) {
        (Ok(compiled), None) => Ok(compiled),
        (Ok(_), Some(problem)) => Err(vec![problem]),
        (Err(mut problems), extra) => {
            problems.extend(extra);
            Err(problems)
        }
    }
}

/// Parses a definition's text (JSON or YAML) and checks it with [`check_definition`].
pub fn check_text(text: &str, format: Format) -> Result<CompiledFlow, Vec<ValidationError>> {
    let value: Value = match format {
        Format::Json => serde_json::from_str(text)
            .map_err(|e| vec![ValidationError::new("", format!("not JSON: {e}"))])?,
        Format::Yaml => serde_norway::from_str(text)
            .map_err(|e| vec![ValidationError::new("", format!("not YAML: {e}"))])?,
    };
    check_definition(value)
}

fn problems_of(e: FlowError) -> Vec<ValidationError> {
    match e {
        FlowError::Invalid(problems) => problems,
        other => vec![ValidationError::new("", other.to_string())],
    }
}

/// One problem of a definition.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// Where, as a JSON path (`steps[2].input.warehouse_id`; empty: the whole definition).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl From<&ValidationError> for Problem {
    fn from(e: &ValidationError) -> Self {
        Problem {
            path: e.path.clone(),
            message: e.message.clone(),
        }
    }
}

/// The answer of `POST /api/v1/flows/validate`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidationReport {
    /// Whether the definition may be stored.
    pub valid: bool,
    /// Every problem (empty when valid).
    pub problems: Vec<Problem>,
}

/// 400 `INVALID_INPUT` with every problem: the service's error shape plus `problems`.
fn invalid_flow(problems: &[ValidationError]) -> ApiError {
    // The ApiError shape has no room for a list; the handler answers with `invalid_response`.
    let summary = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidInput,
        format!(
            "invalid flow ({} problem{}): {summary}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
    )
}

fn invalid_response(problems: &[ValidationError]) -> Response {
    let error = invalid_flow(problems);
    let body = json!({
        "error": error.action_error(),
        "problems": problems.iter().map(Problem::from).collect::<Vec<_>>(),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// A stored flow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FlowView {
    /// Its id (`flow_...`).
    pub id: String,
    /// The definition's name.
    pub name: String,
    /// Whether its trigger starts runs.
    pub enabled: bool,
    /// The current version (1 at creation, +1 per `PUT`).
    pub version: i64,
    /// `manual`, `schedule`, `webhook` or `sync`.
    pub trigger_type: String,
    /// The current definition.
    pub definition: Value,
    /// The trigger subscription feeding a sync flow.
    pub subscription_id: Option<String>,
    /// A webhook flow's secret URL (only on a single flow, never in the list): POST events to
    /// it. Whoever has it can start runs; rotate it by deleting and creating the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// The answer of `GET /api/v1/flows`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FlowList {
    /// Every flow, oldest first.
    pub flows: Vec<FlowView>,
}

/// A run (without its steps).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunView {
    /// Its id (`run_...`).
    pub id: String,
    /// The flow.
    pub flow_id: String,
    /// The flow version it executes.
    pub flow_version: i64,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `interrupted`.
    pub status: String,
    /// What started it: `manual`, `schedule`, `webhook`, `sync` or `replay`.
    pub trigger: String,
    /// The trigger's event (`$event`).
    pub event: Value,
    /// The run it replays.
    pub replay_of: Option<String>,
    /// The output of its last step, once succeeded.
    pub output: Option<Value>,
    /// Why it failed or was interrupted: `{code, message, step, retryable, ...}`.
    pub error: Option<Value>,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// When it was queued (RFC 3339).
    pub created_at: String,
    /// When a worker first took it.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// From start to end (or to now, while it runs), in milliseconds.
    pub duration_ms: Option<u64>,
}

/// The answer of `GET /api/v1/flow-runs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunList {
    /// The runs, newest first.
    pub runs: Vec<RunView>,
    /// Pass as `after` for the next page (absent on the last page).
    pub next_after: Option<String>,
}

/// One attempt of one step.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StepView {
    /// The step's path (`insert`, `each[2].insert`).
    pub path: String,
    /// The step's id.
    pub step_id: String,
    /// `action`, `if`, `switch`, `for_each`, `wait` or `fail`.
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `running`, `succeeded`, `failed` or `abandoned`.
    pub status: String,
    /// The action run.
    pub action: Option<String>,
    /// The account it ran on, as the definition names it.
    pub account: Option<String>,
    /// The evaluated input.
    pub input: Option<Value>,
    /// The output, once succeeded.
    pub output: Option<Value>,
    /// The error, once failed.
    pub error: Option<Value>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// A running wait: when it ends; a failed attempt: when the next is due.
    pub resume_at: Option<String>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<u64>,
}

/// The answer of `GET /api/v1/flow-runs/{id}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunView,
    /// Every step attempt, in the order written.
    pub steps: Vec<StepView>,
}

/// The answer of the webhook route.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunQueued {
    /// The queued run (or, for a repeated `Idempotency-Key`, the run queued the first time).
    pub run_id: String,
}

/// Milliseconds between two times (0 if they are out of order).
pub fn millis_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map_or(0, |d| d.as_millis() as u64)
}

/// The JSON of a flow; `public_url` given: with the webhook URL of a webhook flow.
pub fn flow_view(flow: &Flow, webhook_url: Option<String>) -> FlowView {
    FlowView {
        id: flow.id.to_string(),
        name: flow.name.clone(),
        enabled: flow.enabled,
        version: flow.version,
        trigger_type: flow.trigger_type.clone(),
        definition: flow.definition.clone(),
        subscription_id: flow.subscription_id.as_ref().map(ToString::to_string),
        webhook_url,
        created_at: rfc3339(flow.created_at),
        updated_at: rfc3339(flow.updated_at),
    }
}

/// The JSON of a run, its duration measured to `now` while it runs.
pub fn run_view(run: &FlowRun, now: SystemTime) -> RunView {
    RunView {
        id: run.id.to_string(),
        flow_id: run.flow_id.to_string(),
        flow_version: run.flow_version,
        status: run.status.as_str().to_owned(),
        trigger: run.trigger.clone(),
        event: run.event.clone(),
        replay_of: run.replay_of.as_ref().map(ToString::to_string),
        output: run.output.clone(),
        error: run
            .error
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        cancel_requested: run.cancel_requested,
        created_at: rfc3339(run.created_at),
        started_at: run.started_at.map(rfc3339),
        finished_at: run.finished_at.map(rfc3339),
        duration_ms: run_duration(run, now),
    }
}

/// How long a run took (to `now` while it runs; `None` before it started).
pub fn run_duration(run: &FlowRun, now: SystemTime) -> Option<u64> {
    let started = run.started_at?;
    Some(millis_between(started, run.finished_at.unwrap_or(now)))
}

/// The JSON of a step attempt.
pub fn step_view(record: &StepRecord) -> StepView {
    StepView {
        path: record.path.clone(),
        step_id: record.step_id.clone(),
        kind: record.kind.as_str().to_owned(),
        attempt: record.attempt,
        status: record.status.as_str().to_owned(),
        action: record.action.clone(),
        account: record.account.clone(),
        input: record.input.clone(),
        output: record.output.clone(),
        error: record
            .error
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        started_at: rfc3339(record.started_at),
        finished_at: record.finished_at.map(rfc3339),
        resume_at: record.resume_at.map(rfc3339),
        duration_ms: record
            .finished_at
            .map(|end| millis_between(record.started_at, end)),
    }
}

/// `2026-11-28T15:04:05.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    crate::server::time::rfc3339(t)
}

/// The flow state, or 404 when the service runs no flows (the routes are mounted only with it).
fn flows(state: &AppState) -> Result<&FlowsState, ApiError> {
    state
        .flows()
        .ok_or_else(|| ApiError::not_found("this service runs no flows"))
}

/// A store error as an answer; a state change that does not apply (`status`) is 409.
pub fn store_error(e: crate::Error) -> ApiError {
    match e {
        crate::Error::InvalidInput {
            field: "status",
            message,
        } => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message),
        other => other.into(),
    }
}

/// The webhook URL of a flow, if it is a webhook flow.
async fn webhook_url(state: &AppState, flow: &Flow) -> Result<Option<String>, ApiError> {
    if flow.trigger_type != "webhook" {
        return Ok(None);
    }
    let secret = flows(state)?
        .store
        .flow_webhook_secret(flow.id.clone())
        .await
        .map_err(store_error)?;
    Ok(Some(state.public_link(&format!(
        "/hooks/flows/{}/{}",
        flow.id,
        secret.expose_secret()
    ))))
}

/// A definition body: the definition itself, `{"definition": ...}` or `{"yaml": "..."}`, each
/// with an optional `enabled` (wrapped forms only; default true).
struct DefinitionBody {
    definition: Value,
    enabled: Option<bool>,
}

// the error is the finished HTTP answer, returned once per request
#[allow(clippy::result_large_err)]
fn definition_body(bytes: &Bytes) -> Result<DefinitionBody, Response> {
    let value: Value = parse_json(bytes).map_err(IntoResponse::into_response)?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::invalid("", "send the definition as a JSON object").into_response());
    };
    let wrapped = object.contains_key("definition") || object.contains_key("yaml");
    if !wrapped {
        return Ok(DefinitionBody {
            definition: Value::Object(object),
            enabled: None,
        });
    }
    let enabled = match object.remove("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(ApiError::invalid("enabled", "a boolean").into_response()),
    };
    let definition = match (object.remove("definition"), object.remove("yaml")) {
        (Some(definition), None) => definition,
        (None, Some(Value::String(text))) => serde_norway::from_str::<Value>(&text)
            .map_err(|e| invalid_response(&[ValidationError::new("", format!("not YAML: {e}"))]))?,
        (None, Some(_)) => {
            return Err(ApiError::invalid("yaml", "the definition's YAML text").into_response());
        }
        _ => {
            return Err(
                ApiError::invalid("", "send either `definition` or `yaml`, not both")
                    .into_response(),
            );
        }
    };
    if let Some(extra) = object.keys().next() {
        return Err(ApiError::invalid(
            extra,
            "unknown field; expected `definition` or `yaml`, and `enabled`",
        )
        .into_response());
    }
    Ok(DefinitionBody {
        definition,
        enabled,
    })
}

/// The definition as validated and stored (defaults filled in by the typed round trip).
// the error is the finished HTTP answer, returned once per request
#[allow(clippy::result_large_err)]
fn checked(definition: Value) -> Result<Value, Response> {
    let compiled = check_definition(definition).map_err(|p| invalid_response(&p))?;
    serde_json::to_value(&compiled.definition).map_err(|e| ApiError::internal(e).into_response())
}

async fn create_flow(State(state): State<AppState>, body: Bytes) -> Result<Response, Response> {
    let fs = flows(&state).map_err(IntoResponse::into_response)?;
    let body = definition_body(&body)?;
    let definition = checked(body.definition)?;
    let flow = fs
        .store
        .insert_flow(definition, body.enabled.unwrap_or(true))
        .await
        .map_err(|e| store_error(e).into_response())?;
    fs.engine.flow_changed(&flow.id);
    let url = webhook_url(&state, &flow)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((StatusCode::CREATED, Json(flow_view(&flow, url))).into_response())
}

async fn list_flows(State(state): State<AppState>) -> Result<Json<FlowList>, ApiError> {
    let fs = flows(&state)?;
    let all = fs.store.list_flows().await.map_err(store_error)?;
    Ok(Json(FlowList {
        flows: all.iter().map(|f| flow_view(f, None)).collect(),
    }))
}

async fn get_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlowView>, ApiError> {
    let fs = flows(&state)?;
    let flow = fs.store.flow(FlowId::new(id)).await.map_err(store_error)?;
    let url = webhook_url(&state, &flow).await?;
    Ok(Json(flow_view(&flow, url)))
}

async fn update_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let fs = flows(&state).map_err(IntoResponse::into_response)?;
    let id = FlowId::new(id);
    // 404 before 400: a definition for a flow that does not exist is not worth checking.
    fs.store
        .flow(id.clone())
        .await
        .map_err(|e| store_error(e).into_response())?;
    let body = definition_body(&body)?;
    let definition = checked(body.definition)?;
    let mut flow = fs
        .store
        .update_flow(id.clone(), definition)
        .await
        .map_err(|e| store_error(e).into_response())?;
    if let Some(enabled) = body.enabled.filter(|e| *e != flow.enabled) {
        flow = fs
            .store
            .set_flow_enabled(id.clone(), enabled)
            .await
            .map_err(|e| store_error(e).into_response())?;
    }
    fs.engine.flow_changed(&id);
    let url = webhook_url(&state, &flow)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Json(flow_view(&flow, url)).into_response())
}

async fn delete_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let fs = flows(&state)?;
    let id = FlowId::new(id);
    fs.store
        .delete_flow(id.clone())
        .await
        .map_err(store_error)?;
    fs.engine.flow_changed(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: &AppState,
    id: String,
    enabled: bool,
) -> Result<Json<FlowView>, ApiError> {
    let fs = flows(state)?;
    let id = FlowId::new(id);
    let flow = fs
        .store
        .set_flow_enabled(id.clone(), enabled)
        .await
        .map_err(store_error)?;
    fs.engine.flow_changed(&id);
    let url = webhook_url(state, &flow).await?;
    Ok(Json(flow_view(&flow, url)))
}

async fn enable_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlowView>, ApiError> {
    set_enabled(&state, id, true).await
}

async fn disable_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlowView>, ApiError> {
    set_enabled(&state, id, false).await
}

async fn validate_flow(body: Bytes) -> Result<Json<ValidationReport>, Response> {
    let body = definition_body(&body)?;
    let problems = match check_definition(body.definition) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(Problem::from).collect(),
    };
    Ok(Json(ValidationReport {
        valid: problems.is_empty(),
        problems,
    }))
}

async fn flow_schema() -> Json<Value> {
    Json(FlowDefinition::json_schema())
}

/// Checks a manual input against a manual trigger's `input_schema`.
fn check_input(flow: &Flow, input: &Value) -> Result<(), ApiError> {
    let Some(schema) = flow
        .definition
        .pointer("/trigger/input_schema")
        .filter(|_| flow.trigger_type == "manual")
    else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| ApiError::invalid("trigger.input_schema", e))?;
    let errors: Vec<String> = validator
        .iter_errors(input)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "",
            format!(
                "the input does not match the flow's input_schema: {}",
                errors.join("; ")
            ),
        ))
    }
}

async fn start_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fs = flows(&state)?;
    let flow = fs.store.flow(FlowId::new(id)).await.map_err(store_error)?;
    if !flow.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!("flow {} is disabled; enable it to start runs", flow.id),
        ));
    }
    let event: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(&body)?
    };
    check_input(&flow, &event)?;
    let dedupe_key = idempotency_key(&headers)?.map(|k| format!("manual:{k}"));
    let enqueued = fs
        .store
        .enqueue_run(NewRun {
            flow_id: flow.id.clone(),
            flow_version: None,
            trigger: "manual".into(),
            event,
            dedupe_key,
            replay_of: None,
            seed_steps: Vec::new(),
        })
        .await
        .map_err(store_error)?;
    let now = state.accounts().clock().now();
    match enqueued {
        Enqueued::Created(run) => {
            fs.engine.wake();
            Ok((StatusCode::CREATED, Json(run_view(&run, now))).into_response())
        }
        Enqueued::Duplicate(existing) => {
            let run = fs.store.run(existing).await.map_err(store_error)?;
            Ok(Json(run_view(&run, now)).into_response())
        }
    }
}

/// An `Idempotency-Key` header (1 to 200 visible ASCII characters).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1 to 200 visible ASCII characters"))?;
    Ok(Some(key.to_owned()))
}

/// Query of `GET /api/v1/flow-runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    flow_id: Option<String>,
    status: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// Parses the filters of the runs list (shared with the run-history pages).
pub fn run_filter(
    flow_id: Option<&str>,
    status: Option<&str>,
    created_after: Option<&str>,
    created_before: Option<&str>,
    limit: Option<&str>,
    after: Option<&str>,
) -> Result<RunFilter, ApiError> {
    let nonempty = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let status = match nonempty(status) {
        None => None,
        Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "one of queued, running, succeeded, failed, cancelled, interrupted",
            )
        })?),
    };
    let time = |field: &str, v: Option<String>| -> Result<Option<SystemTime>, ApiError> {
        v.map(|v| {
            chrono::DateTime::parse_from_rfc3339(&v)
                .map(SystemTime::from)
                .map_err(|_| {
                    ApiError::invalid(field, "an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
                })
        })
        .transpose()
    };
    let limit = match nonempty(limit) {
        None => None,
        Some(v) => Some(
            v.parse::<u32>()
                .ok()
                .filter(|v| (1..=500).contains(v))
                .ok_or_else(|| ApiError::invalid("limit", "an integer from 1 to 500"))?,
        ),
    };
    Ok(RunFilter {
        flow_id: nonempty(flow_id).map(FlowId::new),
        status,
        created_after: time("created_after", nonempty(created_after))?,
        created_before: time("created_before", nonempty(created_before))?,
        limit,
        after: nonempty(after).map(FlowRunId::new),
    })
}

async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let fs = flows(&state)?;
    let filter = run_filter(
        q.flow_id.as_deref(),
        q.status.as_deref(),
        q.created_after.as_deref(),
        q.created_before.as_deref(),
        q.limit.as_deref(),
        q.after.as_deref(),
    )?;
    let limit = filter.limit.unwrap_or(50) as usize;
    let runs = fs.store.list_runs(filter).await.map_err(store_error)?;
    let now = state.accounts().clock().now();
    let next_after = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(RunList {
        runs: runs.iter().map(|r| run_view(r, now)).collect(),
        next_after,
    }))
}

async fn get_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let fs = flows(&state)?;
    let id = FlowRunId::new(id);
    let run = fs.store.run(id.clone()).await.map_err(store_error)?;
    let steps = fs.store.run_steps(id).await.map_err(store_error)?;
    let now = state.accounts().clock().now();
    Ok(Json(RunDetail {
        run: run_view(&run, now),
        steps: steps.iter().map(step_view).collect(),
    }))
}

/// Queues a replay of a failed or cancelled run and wakes the engine (REST and UI).
pub async fn replay(fs: &FlowsState, id: FlowRunId) -> Result<FlowRun, ApiError> {
    let run = super::engine::replay_run(fs.store.as_ref(), id)
        .await
        .map_err(store_error)?;
    fs.engine.wake();
    Ok(run)
}

/// Cancels a run: queued and interrupted runs at once, a running one at its next step.
pub async fn cancel(fs: &FlowsState, id: FlowRunId, now: SystemTime) -> Result<FlowRun, ApiError> {
    let run = fs
        .store
        .request_cancel(id.clone(), now)
        .await
        .map_err(store_error)?;
    fs.engine.cancel_running(&id);
    Ok(run)
}

/// Queues an interrupted run again; its in-flight step runs once more.
pub async fn resume(fs: &FlowsState, id: FlowRunId) -> Result<FlowRun, ApiError> {
    let run = fs.store.resume_interrupted(id).await.map_err(store_error)?;
    fs.engine.wake();
    Ok(run)
}

async fn replay_route(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let run = replay(flows(&state)?, FlowRunId::new(id)).await?;
    let now = state.accounts().clock().now();
    Ok((StatusCode::CREATED, Json(run_view(&run, now))).into_response())
}

async fn cancel_route(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunView>, ApiError> {
    let now = state.accounts().clock().now();
    let run = cancel(flows(&state)?, FlowRunId::new(id), now).await?;
    Ok(Json(run_view(&run, now)))
}

async fn resume_route(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunView>, ApiError> {
    let run = resume(flows(&state)?, FlowRunId::new(id)).await?;
    Ok(Json(run_view(&run, state.accounts().clock().now())))
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn definition_body_schema(g: &mut SchemaGenerator) -> Schema {
    let definition = g.subschema_for::<FlowDefinition>();
    schemars::json_schema!({
        "description": "The definition itself, or wrapped with an optional `enabled` \
                        (default true): `{\"definition\": ...}` or `{\"yaml\": \"...\"}`.",
        "oneOf": [
            definition,
            {"type": "object", "required": ["definition"], "additionalProperties": false,
             "properties": {"definition": definition, "enabled": {"type": "boolean"}}},
            {"type": "object", "required": ["yaml"], "additionalProperties": false,
             "properties": {"yaml": {"type": "string"}, "enabled": {"type": "boolean"}}}
        ]
    })
}

fn any_json(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "description": "The run's event (`$event`); an empty body is `{}`. A manual trigger's \
                        `input_schema` applies. An `Idempotency-Key` header starts at most one \
                        run per key."
    })
}

fn json_schema_document(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "object", "description": "A JSON Schema (draft 2020-12)."})
}

/// The flow routes of the operator API.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: axum::http::Method::GET,
        path: "/flows",
        operation_id: "listFlows",
        summary: "List flows, oldest first",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<FlowList>),
        handler: || get(list_flows),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flows",
        operation_id: "createFlow",
        summary: "Create a flow (validated; 400 lists every problem with its path)",
        tag: "flows",
        query: &[],
        request: Some(definition_body_schema),
        request_optional: false,
        success: StatusCode::CREATED,
        response: Some(schema::<FlowView>),
        handler: || post(create_flow),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flows/validate",
        operation_id: "validateFlow",
        summary: "Every problem of a definition, without storing it",
        tag: "flows",
        query: &[],
        request: Some(definition_body_schema),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<ValidationReport>),
        handler: || post(validate_flow),
    },
    Endpoint {
        method: axum::http::Method::GET,
        path: "/flows/schema",
        operation_id: "getFlowSchema",
        summary: "The JSON Schema of a flow definition",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(json_schema_document),
        handler: || get(flow_schema),
    },
    Endpoint {
        method: axum::http::Method::GET,
        path: "/flows/{id}",
        operation_id: "getFlow",
        summary: "A flow at its current version (a webhook flow with its secret URL)",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<FlowView>),
        handler: || get(get_flow),
    },
    Endpoint {
        method: axum::http::Method::PUT,
        path: "/flows/{id}",
        operation_id: "updateFlow",
        summary: "Store a new version of a flow (runs record the version they execute)",
        tag: "flows",
        query: &[],
        request: Some(definition_body_schema),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<FlowView>),
        handler: || put(update_flow),
    },
    Endpoint {
        method: axum::http::Method::DELETE,
        path: "/flows/{id}",
        operation_id: "deleteFlow",
        summary: "Delete a flow with its versions, runs and sync subscription",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::NO_CONTENT,
        response: None,
        handler: || delete(delete_flow),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flows/{id}/enable",
        operation_id: "enableFlow",
        summary: "Enable a flow: its trigger starts runs",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<FlowView>),
        handler: || post(enable_flow),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flows/{id}/disable",
        operation_id: "disableFlow",
        summary: "Disable a flow: no new runs (queued and running runs go on)",
        tag: "flows",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<FlowView>),
        handler: || post(disable_flow),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flows/{id}/runs",
        operation_id: "startFlowRun",
        summary: "Start a run by hand with the body as `$event` (any enabled flow)",
        tag: "flows",
        query: &[],
        request: Some(any_json),
        request_optional: true,
        success: StatusCode::CREATED,
        response: Some(schema::<RunView>),
        handler: || post(start_run),
    },
    Endpoint {
        method: axum::http::Method::GET,
        path: "/flow-runs",
        operation_id: "listFlowRuns",
        summary: "Flow runs, newest first",
        tag: "flow runs",
        query: &[
            ("flow_id", "Only runs of this flow"),
            (
                "status",
                "Only runs in this status (queued, running, succeeded, failed, cancelled, interrupted)",
            ),
            (
                "created_after",
                "Only runs created at or after this RFC 3339 time",
            ),
            (
                "created_before",
                "Only runs created before this RFC 3339 time",
            ),
            ("limit", "Page size, 1 to 500 (default 50)"),
            (
                "after",
                "Continue after this run id (`next_after` of the previous page)",
            ),
        ],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<RunList>),
        handler: || get(list_runs),
    },
    Endpoint {
        method: axum::http::Method::GET,
        path: "/flow-runs/{id}",
        operation_id: "getFlowRun",
        summary: "A run with every step attempt (input, output or error, timings)",
        tag: "flow runs",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<RunDetail>),
        handler: || get(get_run),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flow-runs/{id}/replay",
        operation_id: "replayFlowRun",
        summary: "Replay a failed or cancelled run from its failed step, as a new run",
        tag: "flow runs",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::CREATED,
        response: Some(schema::<RunView>),
        handler: || post(replay_route),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flow-runs/{id}/cancel",
        operation_id: "cancelFlowRun",
        summary: "Cancel a queued, running or interrupted run",
        tag: "flow runs",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<RunView>),
        handler: || post(cancel_route),
    },
    Endpoint {
        method: axum::http::Method::POST,
        path: "/flow-runs/{id}/resume",
        operation_id: "resumeFlowRun",
        summary: "Resume an interrupted run: its in-flight step runs again",
        tag: "flow runs",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<RunView>),
        handler: || post(resume_route),
    },
];

/// The OpenAPI path item of the inbound webhook route (no operator key: the secret URL).
pub fn hook_openapi_paths() -> serde_json::Map<String, Value> {
    let mut paths = serde_json::Map::new();
    paths.insert(
        HOOK_PATH.to_owned(),
        json!({"post": {
            "operationId": "postFlowWebhook",
            "summary": "A webhook flow's trigger: the body (JSON, else text) becomes $event.body",
            "tags": ["flows"],
            "security": [],
            "parameters": [
                {"name": "flow_id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "secret", "in": "path", "required": true, "schema": {"type": "string"},
                 "description": "The flow's webhook secret (from GET /api/v1/flows/{id})"},
                {"name": "Brickwire-Signature", "in": "header", "required": false,
                 "schema": {"type": "string"},
                 "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of `t.body` with the secret>; required when the trigger sets require_signature"},
                {"name": "Idempotency-Key", "in": "header", "required": false,
                 "schema": {"type": "string"}, "description": "At most one run per key"}
            ],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {}}}},
            "responses": {
                "202": {"description": "The run is queued",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["run_id"],
                            "properties": {"run_id": {"type": "string"}}}}}},
                "401": {"description": "A required signature is missing or does not match"},
                "404": {"description": "No such webhook flow, or a wrong secret (alike)"},
                "409": {"description": "The flow is disabled"},
                "default": {"description": "An error",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            }
        }}),
    );
    paths
}

/// The inbound webhook route, `POST /hooks/flows/{flow_id}/{secret}`.
pub fn hook_routes() -> Router<AppState> {
    Router::new().route(HOOK_PATH, post(hook))
}

fn unknown_hook() -> ApiError {
    ApiError::not_found("no such webhook")
}

async fn hook(
    State(state): State<AppState>,
    axum::extract::Path((flow_id, secret)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fs = flows(&state)?;
    let flow = match fs.store.flow(FlowId::new(flow_id)).await {
        Ok(flow) => flow,
        Err(e) if e.is_not_found() => return Err(unknown_hook()),
        Err(e) => return Err(store_error(e)),
    };
    let expected = fs
        .store
        .flow_webhook_secret(flow.id.clone())
        .await
        .map_err(store_error)?;
    let matches: bool = expected
        .expose_secret()
        .as_bytes()
        .ct_eq(secret.as_bytes())
        .into();
    // A flow that is not a webhook flow has no webhook: the same answer as a wrong secret.
    if !matches || flow.trigger_type != "webhook" {
        return Err(unknown_hook());
    }
    let now = state.accounts().clock().now();
    let require_signature = flow
        .definition
        .pointer("/trigger/require_signature")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if require_signature {
        let header = headers
            .get(crate::triggers::signature::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthenticated,
                    "this webhook requires a Brickwire-Signature header",
                )
            })?;
        crate::triggers::signature::verify_signature(
            &expected,
            header,
            &body,
            now,
            SIGNATURE_TOLERANCE,
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                e.to_string(),
            )
        })?;
    }
    if !flow.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "the flow is disabled",
        ));
    }
    let event = json!({
        "body": hook_body(&body),
        "headers": hook_headers(&headers),
        "received_at": rfc3339(now),
    });
    let dedupe_key = idempotency_key(&headers)?.map(|k| format!("webhook:{k}"));
    let run_id = match fs
        .store
        .enqueue_run(NewRun {
            flow_id: flow.id.clone(),
            flow_version: None,
            trigger: "webhook".into(),
            event,
            dedupe_key,
            replay_of: None,
            seed_steps: Vec::new(),
        })
        .await
        .map_err(store_error)?
    {
        Enqueued::Created(run) => {
            fs.engine.wake();
            run.id
        }
        Enqueued::Duplicate(id) => id,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RunQueued {
            run_id: run_id.to_string(),
        }),
    )
        .into_response())
}

/// The body as JSON when it is JSON, else as text (`null` when empty).
fn hook_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The request's headers (lower-case names; repeated ones joined by `, `), without credentials.
fn hook_headers(headers: &HeaderMap) -> Value {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if HIDDEN_HEADERS.contains(&name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.to_owned(), Value::String(value));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_event() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer x".parse().unwrap());
        headers.insert("cookie", "a=b".parse().unwrap());
        headers.insert("x-github-event", "push".parse().unwrap());
        headers.append("x-tag", "a".parse().unwrap());
        headers.append("x-tag", "b".parse().unwrap());
        assert_eq!(
            hook_headers(&headers),
            json!({"x-github-event": "push", "x-tag": "a, b"})
        );
        assert_eq!(hook_body(b"{\"a\":1}"), json!({"a": 1}));
        assert_eq!(hook_body(b"plain"), json!("plain"));
        assert_eq!(hook_body(b"  "), Value::Null);
    }

    #[test]
    fn run_filters_name_the_bad_parameter() {
        let f = run_filter(
            Some("flow_1"),
            Some("failed"),
            Some("2026-01-01T00:00:00Z"),
            None,
            Some("10"),
            None,
        )
        .unwrap();
        assert_eq!(f.status, Some(RunStatus::Failed));
        assert_eq!(f.limit, Some(10));
        for (bad, field) in [
            (
                run_filter(None, Some("done"), None, None, None, None),
                "status",
            ),
            (
                run_filter(None, None, Some("yesterday"), None, None, None),
                "created_after",
            ),
            (run_filter(None, None, None, None, Some("0"), None), "limit"),
        ] {
            let e = bad.unwrap_err();
            assert!(
                e.action_error().message.contains(field),
                "{}",
                e.action_error().message
            );
        }
    }
}
