//! The run-history pages for people (server-rendered, no script), under `/ui`:
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET, POST | `/ui/sign-in` | the operator key in, a signed session cookie out |
//! | POST | `/ui/sign-out` | forgets the session cookie |
//! | GET | `/ui/flows` | every flow: enabled, version, trigger, last run |
//! | GET | `/ui/flows/{id}` | a flow's runs, newest first (`?status=`, `?after=` for the next page) |
//! | GET | `/ui/flow-runs/{id}` | a run: its event, outcome, and every step attempt |
//! | POST | `/ui/flow-runs/{id}/replay`, `/cancel`, `/resume` | the buttons; 303 to the run |
//!
//! Every page needs the operator: `Authorization: Bearer <operator key>`, or the session cookie
//! that signing in with the key sets. The cookie holds no key: it is an expiry signed with a
//! [`SessionKey`] drawn at random when the process starts (so a restart, which is also how the
//! operator key changes, signs everyone out), `HttpOnly`, `SameSite=Strict`, scoped to `/ui`.
//! Without either, a GET is sent to the sign-in page and a POST refused. A POST must also come
//! from a page of this service (its `Origin`, else `Referer`, is the request's own host or the
//! public URL), so another site cannot press the buttons for a signed-in operator. Every value
//! is escaped ([`escape_html`]): step inputs and outputs are data from the workspace. A store
//! failure is logged and shown as a generic message.
//!
//! Steps are listed in the run's tree order: top-level steps in the order they started, each
//! `for_each` followed by its iterations in index order (nested loops likewise, indented), the
//! attempts of a step one after another.
//!
//! Stable hooks for browser tests: `#run[data-status]`, `#outcome`,
//! `.step[data-path][data-status][data-attempt]`, `button[name=replay|cancel|resume]`,
//! `#notice`, `#next` (older runs).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brickwire_api::html::escape_html;
use brickwire_flows::StepRecord;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::api::{cancel, replay, resume, rfc3339, run_view, step_view};
use super::model::{FlowId, FlowRun, FlowRunId, RunFilter, RunStatus};
use crate::server::AppState;
use crate::server::html::page;

/// The cookie that carries a signed-in operator's session.
pub const SESSION_COOKIE: &str = "brickwire_ui_session";

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Runs per page of a flow's run list.
const RUNS_PER_PAGE: u32 = 25;

/// The most of one JSON value (pretty-printed) a page shows; the REST API has all of it.
const MAX_SHOWN_JSON: usize = 64 * 1024;

/// Signs the pages' session cookies. Random per process; never leaves it.
pub struct SessionKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self(key)
    }

    fn mac(&self, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_ref())
            .expect("HMAC accepts keys of any length");
        mac.update(b"brickwire ui session\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// A session cookie value that is valid until `expires`: `<unix seconds>.<signature>`.
    pub fn issue(&self, expires: SystemTime) -> String {
        let t = unix_seconds(expires);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(t).finalize().into_bytes());
        format!("{t}.{signature}")
    }

    /// Whether `value` was issued by this key and has not expired at `now` (the signature is
    /// compared in constant time).
    pub fn verify(&self, value: &str, now: SystemTime) -> bool {
        let Some((t, signature)) = value.split_once('.') else {
            return false;
        };
        let (Ok(t), Ok(signature)) = (t.parse::<u64>(), URL_SAFE_NO_PAD.decode(signature)) else {
            return false;
        };
        t > unix_seconds(now) && self.mac(t).verify_slice(&signature).is_ok()
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The page routes, behind [`require_operator_page`].
pub fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/flows") }))
        .route("/ui/sign-out", post(sign_out))
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

/// The bearer value of `Authorization`, if any (the scheme in any case, as the REST API).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The value of the session cookie, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request is the operator's: a valid operator key as bearer, or a live session.
fn is_operator(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(key) = bearer(headers) {
        return state.api_keys().verify(key);
    }
    session_cookie(headers).is_some_and(|value| {
        state
            .ui_session_key()
            .verify(value, state.accounts().clock().now())
    })
}

/// Whether a POST comes from a page of this service: its `Origin` (or, without one, its
/// `Referer`) is the request's own `Host`, or the public URL's origin (behind a proxy that
/// rewrites `Host`).
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|s| url::Url::parse(s).ok());
    let Some(source) = source else {
        return false;
    };
    let public = state.public_url();
    if source.scheme() == public.scheme()
        && source.host_str() == public.host_str()
        && source.port_or_known_default() == public.port_or_known_default()
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let port = source.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}{port}", source.host_str().unwrap_or_default()) == host
}

/// Middleware of the pages: the operator, and the same-origin check on POSTs.
async fn require_operator_page(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let is_post = req.method() == axum::http::Method::POST;
    if !is_operator(&state, req.headers()) {
        if is_post {
            return notice_page(StatusCode::UNAUTHORIZED, "Sign in first.", "/ui/sign-in");
        }
        return Redirect::to("/ui/sign-in").into_response();
    }
    if is_post && !same_origin(&state, req.headers()) {
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
        escape_html(message),
        escape_html(back)
    );
    respond(status, page("brickwire", &body))
}

async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

fn sign_in_form(status: StatusCode, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"notice\" class=\"bad\">{}</p>", escape_html(e)))
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
    #[serde(default)]
    key: String,
}

/// `; Secure` when the service is reached over HTTPS.
fn secure(state: &AppState) -> &'static str {
    if state.public_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&state, &headers) {
        return sign_in_form(
            StatusCode::FORBIDDEN,
            Some("This form must be sent from this service's page."),
        );
    }
    let key = serde_urlencoded::from_bytes::<SignIn>(&body)
        .map(|f| f.key)
        .unwrap_or_default();
    if !state.api_keys().verify(key.trim()) {
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            Some("That is not a valid operator key."),
        );
    }
    let expires = state.accounts().clock().now() + SESSION_LIFETIME;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/ui; Max-Age={}; HttpOnly; SameSite=Strict{}",
        state.ui_session_key().issue(expires),
        SESSION_LIFETIME.as_secs(),
        secure(&state),
    );
    with_cookie(Redirect::to("/ui/flows").into_response(), &cookie)
}

async fn sign_out(State(state): State<AppState>) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure(&state)
    );
    with_cookie(Redirect::to("/ui/sign-in").into_response(), &cookie)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    // The value is ours (digits, `.` and URL-safe base64), so it is always a valid header.
    if let Ok(v) = HeaderValue::from_str(cookie) {
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

/// A store failure: logged with its detail, shown without it.
fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a flows page failed");
    notice_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The service could not load this page; its log has the details. Try again in a moment.",
        "/ui/flows",
    )
}

fn not_found(what: &str) -> Response {
    notice_page(StatusCode::NOT_FOUND, &format!("No {what}."), "/ui/flows")
}

/// `<span class="status s-failed">failed</span>`.
fn status_badge(status: &str) -> String {
    let s = escape_html(status);
    format!("<span class=\"status s-{s}\">{s}</span>")
}

/// Page style on top of the connect page's.
const UI_STYLE: &str = "<style>\
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e3e7eb;padding:.4rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}\
.status{font-weight:600}.s-succeeded{color:#1e8e3e}.s-failed,.s-interrupted{color:#c5221f}.s-running,.s-queued{color:#1a5fb4}.s-cancelled,.s-abandoned{color:#5b6670}\
pre{background:#f1f3f5;padding:.5rem;border-radius:4px;overflow:auto;max-height:22rem;margin:.2rem 0;font-size:.82rem;white-space:pre-wrap;word-break:break-all}\
.bad{color:#c5221f}nav a{margin-right:1rem}form.inline{display:inline}form.inline button{margin:0 .5rem 0 0}\
nav form.inline button{background:none;color:#1a5fb4;padding:0;font-weight:400}\
#outcome{background:#fff;border:1px solid #d8dde3;border-radius:8px;padding:.75rem 1rem}\
#outcome.s-failed,#outcome.s-interrupted{border-left:6px solid #c5221f}#outcome.s-succeeded{border-left:6px solid #1e8e3e}\
</style>";

fn ui_page(title: &str, body: &str) -> Response {
    let nav = "<nav><a href=\"/ui/flows\">Flows</a>\
               <form class=\"inline\" method=\"post\" action=\"/ui/sign-out\">\
               <button type=\"submit\" name=\"sign-out\">Sign out</button></form></nav>";
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
                    id = escape_html(r.id.as_str()),
                    badge = status_badge(r.status.as_str()),
                    at = escape_html(&rfc3339(r.created_at)),
                )
            })
            .unwrap_or_else(|| "<span class=\"muted\">no runs</span>".into());
        rows.push_str(&format!(
            "<tr class=\"flow\" data-flow-id=\"{id}\"><td><a href=\"/ui/flows/{id}\">{name}</a><br><code>{id}</code></td>\
             <td>{enabled}</td><td>v{version}</td><td>{trigger}</td><td>{last}</td></tr>",
            id = escape_html(flow.id.as_str()),
            name = escape_html(&flow.name),
            enabled = if flow.enabled { "enabled" } else { "disabled" },
            version = flow.version,
            trigger = escape_html(&flow.trigger_type),
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
            // One more than shown: whether an older page exists.
            limit: Some(RUNS_PER_PAGE + 1),
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
    let more = runs.len() > RUNS_PER_PAGE as usize;
    let runs = &runs[..runs.len().min(RUNS_PER_PAGE as usize)];
    let now = state.accounts().clock().now();
    let mut rows = String::new();
    for run in runs {
        let view = run_view(run, now);
        rows.push_str(&format!(
            "<tr class=\"run\" data-run-id=\"{id}\" data-status=\"{st}\"><td><a href=\"/ui/flow-runs/{id}\"><code>{id}</code></a></td>\
             <td>{badge}</td><td>{trigger}</td><td>v{version}</td><td>{created}</td><td>{started}</td><td>{finished}</td><td>{duration}</td></tr>",
            id = escape_html(run.id.as_str()),
            st = escape_html(run.status.as_str()),
            badge = status_badge(run.status.as_str()),
            trigger = escape_html(&run.trigger),
            version = run.flow_version,
            created = escape_html(&view.created_at),
            started = escape_html(view.started_at.as_deref().unwrap_or_default()),
            finished = escape_html(view.finished_at.as_deref().unwrap_or_default()),
            duration = view.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
        ));
    }
    if runs.is_empty() {
        rows = "<tr><td colspan=\"8\" class=\"muted\">No runs.</td></tr>".into();
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
        Some(last) if more => format!(
            "<p><a id=\"next\" href=\"/ui/flows/{}?status={}&amp;after={}\">Older runs</a></p>",
            escape_html(flow.id.as_str()),
            escape_html(filter_value),
            escape_html(last.id.as_str())
        ),
        _ => String::new(),
    };
    ui_page(
        &flow.name,
        &format!(
            "<h1>{name}</h1><p class=\"muted\"><code>{id}</code> version {version}, {trigger} trigger, {enabled}</p>\
             <form method=\"get\"><select name=\"status\">{options}</select> <button type=\"submit\">Filter</button></form>\
             <table id=\"runs\"><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Version</th><th>Created</th><th>Started</th><th>Finished</th><th>Duration</th></tr>{rows}</table>{next}",
            name = escape_html(&flow.name),
            id = escape_html(flow.id.as_str()),
            version = flow.version,
            trigger = escape_html(&flow.trigger_type),
            enabled = if flow.enabled { "enabled" } else { "disabled" },
        ),
    )
}

/// A JSON value pretty-printed and escaped, cut at [`MAX_SHOWN_JSON`] bytes.
fn pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    if text.len() <= MAX_SHOWN_JSON {
        return escape_html(&text);
    }
    let mut cut = MAX_SHOWN_JSON;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n\u{2026} (cut at {} of {} bytes; GET /api/v1/flow-runs/&lt;run id&gt; has all of it)",
        escape_html(&text[..cut]),
        cut,
        text.len()
    )
}

async fn run_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    render_run(&state, FlowRunId::new(id), None).await
}

/// One segment of a step path: the step id and, inside a `for_each`, the iteration.
fn segments(path: &str) -> Vec<(&str, Option<u64>)> {
    path.split('.')
        .map(|segment| match segment.split_once('[') {
            Some((id, rest)) => (id, rest.trim_end_matches(']').parse().ok()),
            None => (segment, None),
        })
        .collect()
}

/// The records in the run's tree order (see the module docs), each with its nesting depth.
///
/// Per path segment the key is (when that step first appeared in the journal, the iteration),
/// so a step keeps its place among its siblings, a `for_each` comes before its iterations, and
/// iterations that ran concurrently and were written out of order come back in index order.
fn in_tree_order(records: &[StepRecord]) -> Vec<(usize, &StepRecord)> {
    // The step a segment names, with every iteration above it: `each[2].insert` -> `each`
    // and `each[2].insert`.
    let step_keys = |path: &str| -> Vec<String> {
        let mut keys = Vec::new();
        let mut prefix = String::new();
        for (id, index) in segments(path) {
            let key = format!("{prefix}{id}");
            prefix = match index {
                Some(i) => format!("{key}[{i}]."),
                None => format!("{key}."),
            };
            keys.push(key);
        }
        keys
    };
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (position, record) in records.iter().enumerate() {
        for key in step_keys(&record.path) {
            first_seen.entry(key).or_insert(position);
        }
    }
    // (per segment: first seen, iteration), attempt, journal position, the record.
    type Keyed<'a> = (Vec<(usize, i64)>, u32, usize, &'a StepRecord);
    let mut keyed: Vec<Keyed<'_>> = records
        .iter()
        .enumerate()
        .map(|(position, record)| {
            let key = step_keys(&record.path)
                .iter()
                .zip(segments(&record.path))
                .map(|(step, (_, index))| (first_seen[step], index.map_or(-1, |i| i as i64)))
                .collect();
            (key, record.attempt, position, record)
        })
        .collect();
    keyed.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    keyed
        .into_iter()
        .map(|(key, _, _, record)| (key.len() - 1, record))
        .collect()
}

/// The run's outcome in words: which step failed or was interrupted, and why.
fn outcome(run: &FlowRun) -> String {
    let at = |error: &brickwire_flows::StepError| {
        error
            .step
            .as_deref()
            .map(|s| format!(" at step <code>{}</code>", escape_html(s)))
            .unwrap_or_default()
    };
    let text = match (run.status, &run.error) {
        (RunStatus::Failed, Some(e)) => format!(
            "Failed{}: <strong>{}</strong> {}",
            at(e),
            escape_html(&e.code),
            escape_html(&e.message)
        ),
        (RunStatus::Interrupted, Some(e)) => format!(
            "Interrupted{}: {} <span class=\"muted\">Resume runs that step again; Cancel ends \
             the run.</span>",
            at(e),
            escape_html(&e.message)
        ),
        (RunStatus::Succeeded, _) => "Succeeded.".to_owned(),
        (RunStatus::Cancelled, _) => "Cancelled.".to_owned(),
        (RunStatus::Queued, _) => "Queued: waiting for a worker.".to_owned(),
        (RunStatus::Running, _) if run.cancel_requested => {
            "Running; a cancel was asked for and stops it at its next step.".to_owned()
        }
        (RunStatus::Running, _) => "Running.".to_owned(),
        (status, None) => escape_html(status.as_str()),
    };
    format!(
        "<p id=\"outcome\" class=\"s-{}\">{text}</p>",
        escape_html(run.status.as_str())
    )
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
    // The flow's name only labels the link; a failed lookup leaves the id.
    let flow_name = fs
        .store
        .flow(run.flow_id.clone())
        .await
        .map(|f| format!("{} ", escape_html(&f.name)))
        .unwrap_or_default();
    let now = state.accounts().clock().now();
    let view = run_view(&run, now);
    let mut rows = String::new();
    for (depth, record) in in_tree_order(&steps) {
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
             <td style=\"padding-left:{indent}rem\"><code>{path}</code><br><span class=\"muted\">{kind}{action}{account}</span></td>\
             <td>#{attempt}</td><td>{badge}{resume}</td><td>{started}<br>{duration}</td><td>{input}{detail}</td></tr>",
            indent = 0.5 + 1.5 * depth as f32,
            path = escape_html(&step.path),
            st = escape_html(&step.status),
            attempt = step.attempt,
            kind = escape_html(&step.kind),
            action = step.action.as_deref().map(|a| format!(" {}", escape_html(a))).unwrap_or_default(),
            account = step.account.as_deref().map(|a| format!(" on {}", escape_html(a))).unwrap_or_default(),
            badge = status_badge(&step.status),
            resume = step.resume_at.as_deref().map(|r| format!("<br><span class=\"muted\">until {}</span>", escape_html(r))).unwrap_or_default(),
            started = escape_html(&step.started_at),
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
            id = escape_html(run.id.as_str())
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
    let details = match (&view.error, &view.output) {
        (Some(error), _) => format!("<h2>Error</h2><pre id=\"error\">{}</pre>", pretty(error)),
        (None, Some(output)) => {
            format!("<h2>Output</h2><pre id=\"output\">{}</pre>", pretty(output))
        }
        _ => String::new(),
    };
    let notice_html = notice
        .as_ref()
        .map(|(_, m)| format!("<p id=\"notice\" class=\"bad\">{}</p>", escape_html(m)))
        .unwrap_or_default();
    let replay_of = run
        .replay_of
        .as_ref()
        .map(|r| {
            format!(
                ", replay of <a href=\"/ui/flow-runs/{r}\"><code>{r}</code></a>",
                r = escape_html(r.as_str())
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{notice_html}<h1>Run <code>{id}</code></h1>\
         <div id=\"run\" data-status=\"{st}\"><p>{badge} · flow <a href=\"/ui/flows/{flow}\">{flow_name}<code>{flow}</code></a> version {version} · \
         {trigger}{replay_of} · created {created}{started}{finished}{duration}{cancel}</p>{outcome}{buttons}</div>\
         {details}<h2>Event</h2><pre id=\"event\">{event}</pre>\
         <h2>Steps</h2><table id=\"steps\"><tr><th>Step</th><th>Attempt</th><th>Status</th><th>Started</th><th>Input, output or error</th></tr>{rows}</table>",
        id = escape_html(run.id.as_str()),
        st = escape_html(run.status.as_str()),
        badge = status_badge(run.status.as_str()),
        flow = escape_html(run.flow_id.as_str()),
        version = run.flow_version,
        trigger = escape_html(&run.trigger),
        created = escape_html(&view.created_at),
        started = view
            .started_at
            .as_deref()
            .map(|s| format!(" · started {}", escape_html(s)))
            .unwrap_or_default(),
        finished = view
            .finished_at
            .as_deref()
            .map(|s| format!(" · finished {}", escape_html(s)))
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
        outcome = outcome(&run),
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

#[cfg(test)]
mod tests {
    use brickwire_flows::{StepKind, StepStatus};

    use super::*;

    fn record(path: &str, attempt: u32) -> StepRecord {
        StepRecord {
            path: path.into(),
            step_id: path.rsplit('.').next().unwrap_or(path).into(),
            kind: StepKind::Action,
            attempt,
            status: StepStatus::Succeeded,
            action: None,
            account: None,
            input: None,
            output: None,
            error: None,
            started_at: UNIX_EPOCH,
            finished_at: None,
            resume_at: None,
        }
    }

    #[test]
    fn steps_come_in_tree_order_whatever_order_they_were_written_in() {
        // Iterations ran concurrently and finished out of order; `check` was retried after
        // the loop had started.
        let written = [
            ("check", 1),
            ("each", 1),
            ("each[1].get", 1),
            ("each[10].get", 1),
            ("each[0].get", 1),
            ("each[1].inner", 1),
            ("each[1].inner[1].put", 1),
            ("each[1].inner[0].put", 1),
            ("each[0].get", 2),
            ("each[2].get", 1),
            ("last", 1),
            ("check", 2),
        ];
        let records: Vec<StepRecord> = written.iter().map(|(p, a)| record(p, *a)).collect();
        let shown: Vec<(usize, &str, u32)> = in_tree_order(&records)
            .into_iter()
            .map(|(depth, r)| (depth, r.path.as_str(), r.attempt))
            .collect();
        assert_eq!(
            shown,
            [
                (0, "check", 1),
                (0, "check", 2),
                (0, "each", 1),
                (1, "each[0].get", 1),
                (1, "each[0].get", 2),
                (1, "each[1].get", 1),
                (1, "each[1].inner", 1),
                (2, "each[1].inner[0].put", 1),
                (2, "each[1].inner[1].put", 1),
                (1, "each[2].get", 1),
                (1, "each[10].get", 1),
                (0, "last", 1),
            ]
        );
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_with_its_key() {
        let key = SessionKey::generate();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let cookie = key.issue(now + SESSION_LIFETIME);
        assert!(key.verify(&cookie, now));
        assert!(!key.verify(&cookie, now + SESSION_LIFETIME));
        assert!(
            !SessionKey::generate().verify(&cookie, now),
            "another process's key"
        );
        let (t, signature) = cookie.split_once('.').unwrap();
        let later = format!("{}.{signature}", t.parse::<u64>().unwrap() + 3600);
        assert!(!key.verify(&later, now), "the expiry is signed");
        assert!(!key.verify("", now) && !key.verify("1.2.3", now));
        assert_eq!(format!("{key:?}"), "SessionKey([redacted])");
    }

    #[test]
    fn big_values_are_cut_and_escaped() {
        let big = Value::String(format!("<{}", "é".repeat(MAX_SHOWN_JSON)));
        let shown = pretty(&big);
        assert!(shown.starts_with("&quot;&lt;é"), "{}", &shown[..20]);
        assert!(shown.len() < MAX_SHOWN_JSON + 200);
        assert!(shown.contains("GET /api/v1/flow-runs/&lt;run id&gt; has all of it"));
    }
}
