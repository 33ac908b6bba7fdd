//! HTTP routes of `/api/2.1/jobs/*` and `/api/2.2/jobs/*` (same handlers; only 2.2 pages the
//! arrays of `jobs/get` and `runs/get` at 100 elements): parse, call [`super::State`] under
//! the lock after advancing the run queue, serialize.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::state::{RunContext, RunFilter, RunNow};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};
use crate::workspace_objects::EMULATOR_USER;
use crate::workspace_objects::routes::{json_body, query};

/// Elements per page of the arrays inside `jobs/get` and `runs/get` in API 2.2.
const ARRAY_PAGE: usize = 100;

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.1", "2.2"] {
        let p = |rest: &str| format!("/api/{version}/jobs/{rest}");
        router = router
            .route(&p("create"), post(create))
            .route(&p("list"), get(list))
            .route(&p("get"), get(get_job))
            .route(&p("update"), post(update))
            .route(&p("reset"), post(reset))
            .route(&p("delete"), post(delete))
            .route(&p("run-now"), post(run_now))
            .route(&p("runs/submit"), post(submit))
            .route(&p("runs/get"), get(get_run))
            .route(&p("runs/list"), get(list_runs))
            .route(&p("runs/get-output"), get(get_run_output))
            .route(&p("runs/cancel"), post(cancel_run))
            .route(&p("runs/cancel-all"), post(cancel_all))
            .route(&p("runs/delete"), post(delete_run));
    }
    router
}

/// Runs `f` on the jobs state after bringing the run queue up to date. The workspace lock is
/// taken first (and always in that order) so runs can check notebooks.
fn with_jobs<R>(
    app: &AppState,
    f: impl FnOnce(&mut super::State, i64, &dyn Fn(&str) -> bool) -> R,
) -> R {
    let workspace = app.workspace_objects.lock().expect("workspace lock");
    let mut jobs = app.jobs.lock().expect("jobs lock");
    let now = now_ms();
    let exists = |path: &str| workspace.notebook_exists(path);
    jobs.advance(now, &exists);
    f(&mut jobs, now, &exists)
}

fn run_context<'a>(
    settings: &'a super::Settings,
    app: &'a AppState,
    now: i64,
    notebook_exists: &'a dyn Fn(&str) -> bool,
) -> RunContext<'a> {
    RunContext {
        settings,
        base_url: &app.base_url,
        creator: EMULATOR_USER,
        now,
        notebook_exists,
    }
}

/// An int64 id sent as a JSON number or a numeric string.
fn id_field(value: Option<&Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| bad_id(name)),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad_id(name)),
        Some(_) => Err(bad_id(name)),
    }
}

fn bad_id(name: &str) -> ApiError {
    ApiError::invalid_parameter(format!("Invalid value for {name}: expected an integer."))
}

fn required_id(body: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    id_field(body.get(name), name)?.ok_or_else(|| ApiError::missing_field(name))
}

fn object_field(body: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::invalid_parameter(format!(
            "`{name}` must be an object."
        ))),
    }
}

fn is_v22(uri: &Uri) -> bool {
    uri.path().starts_with("/api/2.2/")
}

fn page_index(token: Option<&str>) -> Result<usize, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("page:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::invalid_parameter(format!("Invalid page token: {token}")))
}

/// Cuts the named arrays of `doc` to page `page`. Returns whether any array has more. When the
/// document needs paging at all, every named array is present (possibly empty) on every page,
/// since the SDK extends each of them.
fn page_arrays(doc: &mut Map<String, Value>, keys: &[&str], page: usize) -> bool {
    let longest = keys
        .iter()
        .filter_map(|k| doc.get(*k).and_then(Value::as_array).map(Vec::len))
        .max()
        .unwrap_or(0);
    if longest <= ARRAY_PAGE && page == 0 {
        return false;
    }
    for key in keys {
        let items = doc
            .get(*key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let slice: Vec<Value> = items
            .into_iter()
            .skip(page * ARRAY_PAGE)
            .take(ARRAY_PAGE)
            .collect();
        doc.insert((*key).to_owned(), json!(slice));
    }
    longest > (page + 1) * ARRAY_PAGE
}

fn set_next_page(doc: &mut Map<String, Value>, more: bool, page: usize) {
    if more {
        doc.insert("has_more".into(), json!(true));
        doc.insert(
            "next_page_token".into(),
            json!(URL_SAFE_NO_PAD.encode(format!("page:{}", page + 1))),
        );
    }
}

async fn create(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let settings: Map<String, Value> = json_body(&body)?;
    let job_id = with_jobs(&app, |jobs, now, _| {
        jobs.create(settings, EMULATOR_USER, now)
    })?;
    Ok(Json(json!({"job_id": job_id})))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    page_token: Option<String>,
    name: Option<String>,
    #[serde(default)]
    expand_tasks: bool,
}

fn limit(value: Option<i64>, default: i64, max: i64, zero: i64) -> Result<usize, ApiError> {
    let n = match value {
        None => default,
        Some(0) => zero,
        Some(n) if (1..=max).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid limit {n}: it must be between 1 and {max}."
            )));
        }
    };
    Ok(n as usize)
}

fn offset(value: Option<i64>) -> Result<usize, ApiError> {
    match value {
        None => Ok(0),
        Some(n) if n >= 0 => Ok(n as usize),
        Some(n) => Err(ApiError::invalid_parameter(format!(
            "Invalid offset {n}: it must not be negative."
        ))),
    }
}

async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: ListQuery = query(raw)?;
    let limit = limit(q.limit, 20, 100, 20)?;
    let offset = offset(q.offset)?;
    with_jobs(&app, |jobs, _, _| {
        let page = jobs.list(limit, q.page_token.as_deref(), offset, q.name.as_deref())?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|job| {
                let mut doc = job.to_json(q.expand_tasks);
                if q.expand_tasks
                    && let Value::Object(m) = &mut doc
                    && let Some(Value::Object(settings)) = m.get_mut("settings")
                    && page_arrays(
                        settings,
                        &["tasks", "job_clusters", "parameters", "environments"],
                        0,
                    )
                {
                    m.insert("has_more".into(), json!(true));
                }
                doc
            })
            .collect();
        let mut out = json!({"has_more": page.next_page_token.is_some()});
        if !items.is_empty() {
            out["jobs"] = json!(items);
        }
        if let Some(token) = page.next_page_token {
            out["next_page_token"] = json!(token);
        }
        Ok(Json(out))
    })
}

#[derive(Deserialize)]
struct GetQuery {
    job_id: Option<String>,
    run_id: Option<String>,
    page_token: Option<String>,
}

fn query_id(value: Option<&String>, name: &str) -> Result<i64, ApiError> {
    id_field(value.map(|s| Value::String(s.clone())).as_ref(), name)?
        .ok_or_else(|| ApiError::missing_field(name))
}

async fn get_job(
    State(app): State<AppState>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: GetQuery = query(raw)?;
    let job_id = query_id(q.job_id.as_ref(), "job_id")?;
    let page = page_index(q.page_token.as_deref())?;
    with_jobs(&app, |jobs, _, _| {
        let mut doc = jobs.get(job_id)?.to_json(true);
        if is_v22(&uri)
            && let Value::Object(m) = &mut doc
        {
            let more = match m.get_mut("settings") {
                Some(Value::Object(settings)) => page_arrays(
                    settings,
                    &["tasks", "job_clusters", "parameters", "environments"],
                    page,
                ),
                _ => false,
            };
            set_next_page(m, more, page);
        }
        Ok(Json(doc))
    })
}

async fn update(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let job_id = required_id(&body, "job_id")?;
    let new_settings = object_field(&body, "new_settings")?;
    let fields_to_remove: Vec<String> = match body.get("fields_to_remove") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::invalid_parameter("`fields_to_remove` must be an array of strings.")
        })?,
    };
    with_jobs(&app, |jobs, _, _| {
        jobs.update(job_id, new_settings, &fields_to_remove)
    })?;
    Ok(Json(json!({})))
}

async fn reset(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let job_id = required_id(&body, "job_id")?;
    if !matches!(body.get("new_settings"), Some(Value::Object(_))) {
        return Err(ApiError::missing_field("new_settings"));
    }
    let new_settings = object_field(&body, "new_settings")?;
    with_jobs(&app, |jobs, _, _| jobs.reset(job_id, new_settings))?;
    Ok(Json(json!({})))
}

async fn delete(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let job_id = required_id(&body, "job_id")?;
    with_jobs(&app, |jobs, now, _| jobs.delete(job_id, now))?;
    Ok(Json(json!({})))
}

/// Legacy per-task-type parameters of `run-now`, kept as the run's `overriding_parameters`.
const LEGACY_PARAMS: &[&str] = &[
    "notebook_params",
    "python_params",
    "jar_params",
    "sql_params",
    "spark_submit_params",
    "python_named_params",
    "dbt_commands",
    "pipeline_params",
];

async fn run_now(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mut body: Map<String, Value> = json_body(&body)?;
    let job_id = required_id(&body, "job_id")?;
    let job_parameters = object_field(&body, "job_parameters")?;
    let idempotency_token = match body.remove("idempotency_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let only =
        match body.remove("only") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value::<Vec<String>>(v).map_err(|_| {
                ApiError::invalid_parameter("`only` must be an array of task keys.")
            })?),
        };
    let queue_enabled = body
        .get("queue")
        .and_then(|q| q.get("enabled"))
        .and_then(Value::as_bool);
    let mut overriding_parameters = Map::new();
    for key in LEGACY_PARAMS {
        if let Some(v) = body.remove(*key) {
            overriding_parameters.insert((*key).to_owned(), v);
        }
    }
    for key in ["job_id", "job_parameters", "queue"] {
        body.remove(key);
    }
    let req = RunNow {
        job_id,
        job_parameters,
        idempotency_token,
        only,
        queue_enabled,
        overriding_parameters,
        extra: body,
    };
    let settings = app.settings().jobs;
    let run_id = with_jobs(&app, |jobs, now, exists| {
        jobs.run_now(req, &run_context(&settings, &app, now, exists))
    })?;
    Ok(Json(json!({"run_id": run_id, "number_in_job": run_id})))
}

async fn submit(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mut spec: Map<String, Value> = json_body(&body)?;
    spec.remove("access_control_list");
    let idempotency_token = match spec.remove("idempotency_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let settings = app.settings().jobs;
    let run_id = with_jobs(&app, |jobs, now, exists| {
        jobs.submit(
            spec,
            idempotency_token,
            &run_context(&settings, &app, now, exists),
        )
    })?;
    Ok(Json(json!({"run_id": run_id})))
}

async fn get_run(
    State(app): State<AppState>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: GetQuery = query(raw)?;
    let run_id = query_id(q.run_id.as_ref(), "run_id")?;
    let page = page_index(q.page_token.as_deref())?;
    with_jobs(&app, |jobs, now, _| {
        let mut doc = jobs.get_run(run_id)?.to_json(now, true);
        if is_v22(&uri)
            && let Value::Object(m) = &mut doc
        {
            let more = page_arrays(
                m,
                &["tasks", "job_clusters", "job_parameters", "repair_history"],
                page,
            );
            set_next_page(m, more, page);
        }
        Ok(Json(doc))
    })
}

async fn get_run_output(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: GetQuery = query(raw)?;
    let run_id = query_id(q.run_id.as_ref(), "run_id")?;
    with_jobs(&app, |jobs, now, _| {
        let (run, task) = jobs.task_run(run_id)?;
        Ok(Json(run.task_output_json(task, now)))
    })
}

#[derive(Deserialize)]
struct ListRunsQuery {
    job_id: Option<i64>,
    #[serde(default)]
    active_only: bool,
    #[serde(default)]
    completed_only: bool,
    start_time_from: Option<i64>,
    start_time_to: Option<i64>,
    run_type: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    page_token: Option<String>,
    #[serde(default)]
    expand_tasks: bool,
}

async fn list_runs(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: ListRunsQuery = query(raw)?;
    let limit = limit(q.limit, 20, 24, 24)?;
    let offset = offset(q.offset)?;
    let filter = RunFilter {
        job_id: q.job_id,
        active_only: q.active_only,
        completed_only: q.completed_only,
        start_time_from: q.start_time_from,
        start_time_to: q.start_time_to,
        run_type: q.run_type,
    };
    with_jobs(&app, |jobs, now, _| {
        let page = jobs.list_runs(&filter, limit, q.page_token.as_deref(), offset, now)?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|r| r.to_json(now, q.expand_tasks))
            .collect();
        let mut out = json!({"has_more": page.next_page_token.is_some()});
        if !items.is_empty() {
            out["runs"] = json!(items);
        }
        if let Some(token) = page.next_page_token {
            out["next_page_token"] = json!(token);
        }
        Ok(Json(out))
    })
}

async fn cancel_run(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let run_id = required_id(&body, "run_id")?;
    with_jobs(&app, |jobs, now, _| jobs.cancel_run(run_id, now))?;
    Ok(Json(json!({})))
}

async fn cancel_all(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let job_id = id_field(body.get("job_id"), "job_id")?;
    let all_queued = body
        .get("all_queued_runs")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    with_jobs(&app, |jobs, now, _| {
        jobs.cancel_all(job_id, all_queued, now)
    })?;
    Ok(Json(json!({})))
}

async fn delete_run(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Map<String, Value> = json_body(&body)?;
    let run_id = required_id(&body, "run_id")?;
    with_jobs(&app, |jobs, now, _| jobs.delete_run(run_id, now))?;
    Ok(Json(json!({})))
}
