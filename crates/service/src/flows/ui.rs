//! The run-history pages for people (server-rendered, no script), under `/ui`:
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET, POST | `/ui/sign-in` | the operator key, kept in an HttpOnly `SameSite=Strict` cookie |
//! | GET | `/ui/flows` | every flow: enabled, version, trigger, last run |
//! | GET | `/ui/flows/{id}` | a flow's runs, newest first (`?status=`, `?after=` for the next page) |
//! | GET | `/ui/flow-runs/{id}` | a run: its event, outcome, and every step attempt |
//! | POST | `/ui/flow-runs/{id}/replay`, `/cancel`, `/resume` | the buttons; 303 to the run |
//!
//! Every page needs the operator key (the cookie, or `Authorization: Bearer`); without it a GET
//! is sent to the sign-in page and a POST refused. A POST must also come from a page of this
//! service (its `Origin`, else `Referer`, names the request's own host), so another site cannot
//! press the buttons for a signed-in operator. Every value is escaped ([`html::escape`]):
//! step inputs and outputs are data from the workspace.
//!
//! Stable hooks for browser tests: `#run[data-status]`, `.step[data-path][data-status]`,
//! `button[name=replay|cancel|resume]`, `#notice`.

use std::time::SystemTime;

use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::api::{cancel, replay, resume, rfc3339, run_view, step_view};
use super::model::{FlowId, FlowRunId, RunFilter, RunStatus};
use crate::server::AppState;
use crate::server::html::{escape, page};

/// The cookie that carries the operator key for the pages.
pub const OPERATOR_COOKIE: &str = "brickwire_operator";

/// Runs per page of a flow's run list.
const RUNS_PER_PAGE: u32 = 25;

/// The page routes, behind [`require_operator_page`].
pub fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/flows") }))
        .route("/ui/flows", get(flows_page))
        .route("/ui/flows/{id}", get(flow_page))
        .route("/ui/flow-runs/{id}", get(run_page))
        .route("/ui/flow-runs/{id}/{change}", post(change_run))
        .layer(axum::middleware::from_fn_with_state(
            state,
            require_operator_page,
        ));
    Router::new()
        .route("/ui/sign-in", get(sign_in_page).post(sign_in))
        .merge(guarded)
}

/// The operator key a request presents: `Authorization: Bearer`, else the cookie.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == OPERATOR_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Whether a POST comes from a page of this service: its `Origin` (or, without one, its
/// `Referer`) has the request's own `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    source
        .and_then(|s| url::Url::parse(s).ok())
        .is_some_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}{port}", u.host_str().unwrap_or_default()) == host
        })
}

/// Middleware of the pages: the operator key, and the same-origin check on POSTs.
async fn require_operator_page(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let signed_in = presented_key(req.headers()).is_some_and(|k| state.api_keys().verify(&k));
    let is_post = req.method() == axum::http::Method::POST;
    if !signed_in {
        if is_post {
            return notice_page(StatusCode::UNAUTHORIZED, "Sign in first.", "/ui/sign-in");
        }
        return Redirect::to("/ui/sign-in").into_response();
    }
    if is_post && !same_origin(req.headers()) {
        return notice_page(
            StatusCode::FORBIDDEN,
            "This form must be sent from a page of this service.",
            "/ui/flows",
        );
    }
    next.run(req).await
}

/// An HTML response as the connect page's ([`crate::server::html::respond`]), but with
/// `Referrer-Policy: same-origin`: these pages carry no token in their URLs, and under
/// `no-referrer` a browser sends `Origin: null` with a form, which the same-origin check of
/// the buttons must be able to read.
fn respond(status: StatusCode, html: String) -> Response {
    let mut response = crate::server::html::respond(status, html);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn notice_page(status: StatusCode, message: &str, back: &str) -> Response {
    let body = format!(
        "<h1>brickwire</h1><p id=\"notice\">{}</p><p><a href=\"{}\">Continue</a></p>",
        escape(message),
        escape(back)
    );
    respond(status, page("brickwire", &body))
}

async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

fn sign_in_form(status: StatusCode, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"notice\" class=\"bad\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Flows: sign in</h1>{error}<form method=\"post\" action=\"/ui/sign-in\" class=\"card\">\
         <label for=\"key\">Operator API key</label>\
         <input type=\"password\" id=\"key\" name=\"key\" autocomplete=\"off\" required>\
         <button type=\"submit\">Sign in</button>\
         <p class=\"muted\">The key printed at the first start of <code>brickwire serve</code> \
         (or <code>BRICKWIRE_API_KEY</code>).</p></form>"
    );
    respond(status, page("Sign in", &body))
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return sign_in_form(
            StatusCode::FORBIDDEN,
            Some("This form must be sent from this service's page."),
        );
    }
    if !state.api_keys().verify(form.key.trim()) {
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            Some("That is not a valid operator key."),
        );
    }
    let secure = if state.public_link("/").starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{OPERATOR_COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict{secure}",
        form.key.trim()
    );
    let mut response = Redirect::to("/ui/flows").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn no_flows() -> Response {
    notice_page(
        StatusCode::NOT_FOUND,
        "This service runs no flows.",
        "/ui/sign-in",
    )
}

fn failed(e: impl std::fmt::Display) -> Response {
    notice_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        &e.to_string(),
        "/ui/flows",
    )
}

fn not_found(what: &str) -> Response {
    notice_page(StatusCode::NOT_FOUND, &format!("No {what}."), "/ui/flows")
}

/// `<span class="status s-failed">failed</span>`.
fn status_badge(status: &str) -> String {
    let s = escape(status);
    format!("<span class=\"status s-{s}\">{s}</span>")
}

/// Page style on top of the connect page's.
const UI_STYLE: &str = "<style>\
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e3e7eb;padding:.4rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}\
.status{font-weight:600}.s-succeeded{color:#1e8e3e}.s-failed,.s-interrupted{color:#c5221f}.s-running,.s-queued{color:#1a5fb4}.s-cancelled,.s-abandoned{color:#5b6670}\
pre{background:#f1f3f5;padding:.5rem;border-radius:4px;overflow:auto;max-height:22rem;margin:.2rem 0;font-size:.82rem;white-space:pre-wrap;word-break:break-all}\
.bad{color:#c5221f}nav a{margin-right:1rem}form.inline{display:inline}form.inline button{margin:0 .5rem 0 0}\
</style>";

fn ui_page(title: &str, body: &str) -> Response {
    let nav = "<nav><a href=\"/ui/flows\">Flows</a></nav>";
    respond(
        StatusCode::OK,
        page(title, &format!("{UI_STYLE}{nav}{body}")),
    )
}

async fn flows_page(State(state): State<AppState>) -> Response {
    let Some(fs) = state.flows() else {
        return no_flows();
    };
    let flows = match fs.store.list_flows().await {
        Ok(f) => f,
        Err(e) => return failed(e),
    };
    let mut rows = String::new();
    for flow in &flows {
        let last = fs
            .store
            .list_runs(RunFilter {
                flow_id: Some(flow.id.clone()),
                limit: Some(1),
                ..RunFilter::default()
            })
            .await
            .ok()
            .and_then(|runs| runs.into_iter().next());
        let last = last
            .map(|r| {
                format!(
                    "<a href=\"/ui/flow-runs/{id}\">{badge}</a> {at}",
                    id = escape(r.id.as_str()),
                    badge = status_badge(r.status.as_str()),
                    at = escape(&rfc3339(r.created_at)),
                )
            })
            .unwrap_or_else(|| "<span class=\"muted\">no runs</span>".into());
        rows.push_str(&format!(
            "<tr class=\"flow\" data-flow-id=\"{id}\"><td><a href=\"/ui/flows/{id}\">{name}</a><br><code>{id}</code></td>\
             <td>{enabled}</td><td>v{version}</td><td>{trigger}</td><td>{last}</td></tr>",
            id = escape(flow.id.as_str()),
            name = escape(&flow.name),
            enabled = if flow.enabled { "enabled" } else { "disabled" },
            version = flow.version,
            trigger = escape(&flow.trigger_type),
        ));
    }
    if flows.is_empty() {
        rows =
            "<tr><td colspan=\"5\" class=\"muted\">No flows yet: <code>POST /api/v1/flows</code> \
                or <code>brickwire flow deploy FILE</code>.</td></tr>"
                .into();
    }
    ui_page(
        "Flows",
        &format!(
            "<h1>Flows</h1><table id=\"flows\"><tr><th>Flow</th><th>State</th><th>Version</th>\
             <th>Trigger</th><th>Last run</th></tr>{rows}</table>"
        ),
    )
}

#[derive(Deserialize)]
struct RunsQuery {
    status: Option<String>,
    after: Option<String>,
}

async fn flow_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let Some(fs) = state.flows() else {
        return no_flows();
    };
    let flow = match fs.store.flow(FlowId::new(id)).await {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return not_found("such flow"),
        Err(e) => return failed(e),
    };
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match RunStatus::parse(s) {
            Some(st) => Some(st),
            None => {
                return notice_page(
                    StatusCode::BAD_REQUEST,
                    &format!("`{s}` is not a run status."),
                    "/ui/flows",
                );
            }
        },
    };
    let runs = match fs
        .store
        .list_runs(RunFilter {
            flow_id: Some(flow.id.clone()),
            status,
            limit: Some(RUNS_PER_PAGE),
            after: query
                .after
                .clone()
                .filter(|a| !a.is_empty())
                .map(FlowRunId::new),
            ..RunFilter::default()
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let now = state.accounts().clock().now();
    let mut rows = String::new();
    for run in &runs {
        let view = run_view(run, now);
        rows.push_str(&format!(
            "<tr class=\"run\" data-run-id=\"{id}\" data-status=\"{st}\"><td><a href=\"/ui/flow-runs/{id}\"><code>{id}</code></a></td>\
             <td>{badge}</td><td>{trigger}</td><td>v{version}</td><td>{created}</td><td>{duration}</td></tr>",
            id = escape(run.id.as_str()),
            st = escape(run.status.as_str()),
            badge = status_badge(run.status.as_str()),
            trigger = escape(&run.trigger),
            version = run.flow_version,
            created = escape(&view.created_at),
            duration = view.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
        ));
    }
    if runs.is_empty() {
        rows = "<tr><td colspan=\"6\" class=\"muted\">No runs.</td></tr>".into();
    }
    let filter_value = query.status.as_deref().unwrap_or_default();
    let mut options = String::from("<option value=\"\">any status</option>");
    for s in [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "interrupted",
    ] {
        options.push_str(&format!(
            "<option{}>{s}</option>",
            if s == filter_value { " selected" } else { "" }
        ));
    }
    let next = match runs.last() {
        Some(last) if runs.len() as u32 == RUNS_PER_PAGE => format!(
            "<p><a id=\"next\" href=\"/ui/flows/{}?status={}&amp;after={}\">Older runs</a></p>",
            escape(flow.id.as_str()),
            escape(filter_value),
            escape(last.id.as_str())
        ),
        _ => String::new(),
    };
    ui_page(
        &flow.name,
        &format!(
            "<h1>{name}</h1><p class=\"muted\"><code>{id}</code> version {version}, {trigger} trigger, {enabled}</p>\
             <form method=\"get\"><select name=\"status\">{options}</select> <button type=\"submit\">Filter</button></form>\
             <table id=\"runs\"><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Version</th><th>Created</th><th>Duration</th></tr>{rows}</table>{next}",
            name = escape(&flow.name),
            id = escape(flow.id.as_str()),
            version = flow.version,
            trigger = escape(&flow.trigger_type),
            enabled = if flow.enabled { "enabled" } else { "disabled" },
        ),
    )
}

fn pretty(value: &Value) -> String {
    escape(&serde_json::to_string_pretty(value).unwrap_or_default())
}

async fn run_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    render_run(&state, FlowRunId::new(id), None).await
}

/// A run's page, with a notice (a refused button) on top.
async fn render_run(
    state: &AppState,
    id: FlowRunId,
    notice: Option<(StatusCode, String)>,
) -> Response {
    let Some(fs) = state.flows() else {
        return no_flows();
    };
    let run = match fs.store.run(id.clone()).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return not_found("such run"),
        Err(e) => return failed(e),
    };
    let steps = match fs.store.run_steps(id).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let now = state.accounts().clock().now();
    let view = run_view(&run, now);
    let mut rows = String::new();
    for record in &steps {
        let step = step_view(record);
        let detail = match (&step.output, &step.error) {
            (_, Some(error)) => format!(
                "<div class=\"bad\">error</div><pre class=\"error\">{}</pre>",
                pretty(error)
            ),
            (Some(output), None) => format!(
                "<div>output</div><pre class=\"output\">{}</pre>",
                pretty(output)
            ),
            (None, None) => String::new(),
        };
        let input = step
            .input
            .as_ref()
            .map(|i| format!("<div>input</div><pre class=\"input\">{}</pre>", pretty(i)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr class=\"step\" data-path=\"{path}\" data-status=\"{st}\" data-attempt=\"{attempt}\">\
             <td><code>{path}</code><br><span class=\"muted\">{kind}{action}{account}</span></td>\
             <td>#{attempt}</td><td>{badge}{resume}</td><td>{started}<br>{duration}</td><td>{input}{detail}</td></tr>",
            path = escape(&step.path),
            st = escape(&step.status),
            attempt = step.attempt,
            kind = escape(&step.kind),
            action = step.action.as_deref().map(|a| format!(" {}", escape(a))).unwrap_or_default(),
            account = step.account.as_deref().map(|a| format!(" on {}", escape(a))).unwrap_or_default(),
            badge = status_badge(&step.status),
            resume = step.resume_at.as_deref().map(|r| format!("<br><span class=\"muted\">until {}</span>", escape(r))).unwrap_or_default(),
            started = escape(&step.started_at),
            duration = step.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
        ));
    }
    if steps.is_empty() {
        rows = "<tr><td colspan=\"5\" class=\"muted\">No step has started yet.</td></tr>".into();
    }
    let mut buttons = String::new();
    let button = |name: &str, label: &str| {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/ui/flow-runs/{id}/{name}\">\
             <button type=\"submit\" name=\"{name}\">{label}</button></form>",
            id = escape(run.id.as_str())
        )
    };
    if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
        buttons.push_str(&button("replay", "Replay from the failed step"));
    }
    if matches!(run.status, RunStatus::Interrupted) {
        buttons.push_str(&button("resume", "Resume (run the interrupted step again)"));
    }
    if matches!(
        run.status,
        RunStatus::Queued | RunStatus::Running | RunStatus::Interrupted
    ) && !run.cancel_requested
    {
        buttons.push_str(&button("cancel", "Cancel"));
    }
    let outcome = match (&view.error, &view.output) {
        (Some(error), _) => format!("<h2>Error</h2><pre id=\"error\">{}</pre>", pretty(error)),
        (None, Some(output)) => {
            format!("<h2>Output</h2><pre id=\"output\">{}</pre>", pretty(output))
        }
        _ => String::new(),
    };
    let notice_html = notice
        .as_ref()
        .map(|(_, m)| format!("<p id=\"notice\" class=\"bad\">{}</p>", escape(m)))
        .unwrap_or_default();
    let replay_of = run
        .replay_of
        .as_ref()
        .map(|r| {
            format!(
                ", replay of <a href=\"/ui/flow-runs/{r}\"><code>{r}</code></a>",
                r = escape(r.as_str())
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{notice_html}<h1>Run <code>{id}</code></h1>\
         <div id=\"run\" data-status=\"{st}\"><p>{badge} · flow <a href=\"/ui/flows/{flow}\"><code>{flow}</code></a> version {version} · \
         {trigger}{replay_of} · created {created}{started}{finished}{duration}{cancel}</p>{buttons}</div>\
         {outcome}<h2>Event</h2><pre id=\"event\">{event}</pre>\
         <h2>Steps</h2><table id=\"steps\"><tr><th>Step</th><th>Attempt</th><th>Status</th><th>Started</th><th>Input, output or error</th></tr>{rows}</table>",
        id = escape(run.id.as_str()),
        st = escape(run.status.as_str()),
        badge = status_badge(run.status.as_str()),
        flow = escape(run.flow_id.as_str()),
        version = run.flow_version,
        trigger = escape(&run.trigger),
        created = escape(&view.created_at),
        started = view
            .started_at
            .as_deref()
            .map(|s| format!(" · started {}", escape(s)))
            .unwrap_or_default(),
        finished = view
            .finished_at
            .as_deref()
            .map(|s| format!(" · finished {}", escape(s)))
            .unwrap_or_default(),
        duration = view
            .duration_ms
            .map(|d| format!(" · {d} ms"))
            .unwrap_or_default(),
        cancel = if run.cancel_requested && !run.status.is_final() {
            " · cancel requested"
        } else {
            ""
        },
        event = pretty(&run.event),
    );
    let mut response = ui_page(&format!("Run {}", run.id), &body);
    if let Some((status, _)) = notice {
        *response.status_mut() = status;
    }
    response
}

async fn change_run(
    State(state): State<AppState>,
    Path((id, change)): Path<(String, String)>,
) -> Response {
    let Some(fs) = state.flows().cloned() else {
        return no_flows();
    };
    let id = FlowRunId::new(id);
    let now: SystemTime = state.accounts().clock().now();
    let result = match change.as_str() {
        "replay" => replay(&fs, id.clone()).await,
        "cancel" => cancel(&fs, id.clone(), now).await,
        "resume" => resume(&fs, id.clone()).await,
        _ => return not_found("such button"),
    };
    match result {
        Ok(run) => Redirect::to(&format!("/ui/flow-runs/{}", run.id)).into_response(),
        Err(e) if e.status() == StatusCode::NOT_FOUND => not_found("such run"),
        Err(e) => {
            render_run(
                &state,
                id,
                Some((e.status(), e.action_error().message.clone())),
            )
            .await
        }
    }
}
