//! The REST routes of triggers, mounted under `/api/v1` by the service's router (which adds
//! operator authentication). Start at [`router`].
//!
//! Errors use the service's shape ([`crate::server::ApiError`]: `{"error": {"code",
//! "message", "retryable", ...}}`), with `INVALID_INPUT` messages naming the field. Times are Unix epoch milliseconds, as in
//! Databricks' own APIs. The webhook secret is write-only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use brickwire_api::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use brickwire_connector::ErrorCode;

use super::engine::{EngineError, TriggerEngine};
use super::model::{
    Delivery, DeliveryId, DeliveryTarget, NewSubscription, Subscription, SubscriptionId,
    SubscriptionPatch, Webhook,
};
use crate::server::{ApiError, AppState};
use crate::store::LinkedAccountId;

/// Default poll interval when the request names none.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 60_000;
/// Shortest poll interval accepted.
pub const MIN_POLL_INTERVAL_MS: u64 = 100;
/// Longest poll interval and overlap accepted (one day).
pub const MAX_WINDOW_MS: u64 = 86_400_000;
/// Default attempts per webhook delivery.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Default and largest `limit` of the events list.
pub const DEFAULT_EVENTS_LIMIT: u32 = 100;
/// Largest `limit` of the events list.
pub const MAX_EVENTS_LIMIT: u32 = 1000;

/// One route of the triggers API, as the OpenAPI document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// `get`, `post`, `patch` or `delete`.
    pub method: &'static str,
    /// The path below `/api/v1`, with `{param}` placeholders.
    pub path: &'static str,
    /// The OpenAPI `operationId`.
    pub operation_id: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// The request body's JSON Schema, if it takes one.
    pub request: Option<fn() -> Value>,
    /// The success status.
    pub success: u16,
}

fn webhook_schema() -> Value {
    json!({"type": ["object", "null"], "required": ["url", "secret"], "properties": {
        "url": {"type": "string", "format": "uri"},
        "secret": {"type": "string", "minLength": 16, "writeOnly": true,
                   "description": "HMAC-SHA256 signing secret; stored encrypted, never returned"}
    }})
}

fn start_from_schema() -> Value {
    json!({"description": "\"beginning\", \"now\" or {\"time\": <epoch ms>}",
           "oneOf": [{"enum": ["beginning", "now"]},
                     {"type": "object", "required": ["time"], "properties": {"time": {"type": "integer"}}}]})
}

fn create_schema() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "required": ["linked_account_id", "source", "start_from"], "properties": {
        "linked_account_id": {"type": "string"},
        "source": {"type": "object", "description": "A brickwire-sync source spec, e.g. {\"type\": \"job_runs\"}"},
        "start_from": start_from_schema(),
        "poll_interval_ms": {"type": "integer", "minimum": MIN_POLL_INTERVAL_MS, "maximum": MAX_WINDOW_MS, "default": DEFAULT_POLL_INTERVAL_MS},
        "overlap_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_WINDOW_MS},
        "webhook": webhook_schema(),
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100, "default": DEFAULT_MAX_ATTEMPTS},
        "paused": {"type": "boolean", "default": false}
    }})
}

fn patch_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "poll_interval_ms": {"type": "integer", "minimum": MIN_POLL_INTERVAL_MS, "maximum": MAX_WINDOW_MS},
        "overlap_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_WINDOW_MS},
        "webhook": webhook_schema(),
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
        "paused": {"type": "boolean"}
    }})
}

fn reset_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["start_from"],
           "properties": {"start_from": start_from_schema()}})
}

/// Every route of the triggers API (the router serves exactly these; a test checks it).
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/subscriptions",
        operation_id: "listSubscriptions",
        summary: "List trigger subscriptions",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "post",
        path: "/subscriptions",
        operation_id: "createSubscription",
        summary: "Subscribe a linked account to a sync source (webhook or pull)",
        query: &[],
        request: Some(create_schema),
        success: 201,
    },
    Operation {
        method: "get",
        path: "/subscriptions/{id}",
        operation_id: "getSubscription",
        summary: "A subscription (never its webhook secret)",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "patch",
        path: "/subscriptions/{id}",
        operation_id: "updateSubscription",
        summary: "Change interval, overlap, webhook, attempts or pause",
        query: &[],
        request: Some(patch_schema),
        success: 200,
    },
    Operation {
        method: "delete",
        path: "/subscriptions/{id}",
        operation_id: "deleteSubscription",
        summary: "Delete a subscription with its events and deliveries",
        query: &[],
        request: None,
        success: 204,
    },
    Operation {
        method: "post",
        path: "/subscriptions/{id}/pause",
        operation_id: "pauseSubscription",
        summary: "Stop polling (stored events are still delivered)",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "post",
        path: "/subscriptions/{id}/resume",
        operation_id: "resumeSubscription",
        summary: "Poll again on the interval",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "post",
        path: "/subscriptions/{id}/poll",
        operation_id: "pollSubscription",
        summary: "Poll now and commit the new events with the cursor",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "get",
        path: "/subscriptions/{id}/cursor",
        operation_id: "getSubscriptionCursor",
        summary: "The committed cursor",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "post",
        path: "/subscriptions/{id}/cursor/reset",
        operation_id: "resetSubscriptionCursor",
        summary: "Forget the cursor; the next poll starts from start_from",
        query: &[],
        request: Some(reset_schema),
        success: 200,
    },
    Operation {
        method: "get",
        path: "/subscriptions/{id}/events",
        operation_id: "listSubscriptionEvents",
        summary: "Pull events after a sequence id",
        query: &[
            ("after", "Sequence id to start after (default 0)"),
            ("limit", "Most events returned, 1 to 1000 (default 100)"),
        ],
        request: None,
        success: 200,
    },
    Operation {
        method: "get",
        path: "/subscriptions/{id}/dead-letters",
        operation_id: "listSubscriptionDeadLetters",
        summary: "Webhook deliveries that failed max_attempts times",
        query: &[],
        request: None,
        success: 200,
    },
    Operation {
        method: "post",
        path: "/subscriptions/{id}/dead-letters/{delivery_id}/redeliver",
        operation_id: "redeliverDeadLetter",
        summary: "Send a dead-lettered delivery again",
        query: &[],
        request: None,
        success: 202,
    },
];

/// The OpenAPI path items of [`OPERATIONS`], keyed by full path (`prefix` + path, e.g.
/// `/api/v1/subscriptions`), with errors referring to `#/components/schemas/ErrorBody`.
pub fn openapi_paths(prefix: &str) -> serde_json::Map<String, Value> {
    let mut paths = serde_json::Map::new();
    for op in OPERATIONS {
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(op.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": "string"}})
        }));
        let mut operation = json!({
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": ["triggers"],
            "responses": {
                op.success.to_string(): {"description": "Success"},
                "default": {"description": "An error",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            }
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(schema) = op.request {
            operation["requestBody"] = json!({"required": true,
                "content": {"application/json": {"schema": schema()}}});
        }
        let item = paths
            .entry(format!("{prefix}{}", op.path))
            .or_insert_with(|| json!({}));
        item[op.method] = operation;
    }
    paths
}

fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(field, problem)
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Busy { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            EngineError::Client { .. } | EngineError::Poll(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamError,
                e.to_string(),
            ),
        }
    }
}

impl FromRef<AppState> for TriggerEngine {
    /// The service merges the triggers routes only when its state has an engine.
    fn from_ref(state: &AppState) -> Self {
        state
            .triggers()
            .cloned()
            .expect("the triggers routes are mounted only with a trigger engine")
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The triggers routes, with the engine as state (for tests and standalone use).
pub fn router(engine: TriggerEngine) -> Router {
    routes().with_state(engine)
}

/// The triggers routes over any state the engine can be taken from, so the service merges
/// them into its own `/api/v1` router (behind its operator authentication).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    TriggerEngine: FromRef<S>,
{
    Router::new()
        .route(
            "/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/subscriptions/{id}",
            get(get_subscription)
                .patch(patch_subscription)
                .delete(delete_subscription),
        )
        .route("/subscriptions/{id}/pause", post(pause))
        .route("/subscriptions/{id}/resume", post(resume))
        .route("/subscriptions/{id}/poll", post(poll_now))
        .route("/subscriptions/{id}/cursor", get(get_cursor))
        .route("/subscriptions/{id}/cursor/reset", post(reset_cursor))
        .route("/subscriptions/{id}/events", get(list_events))
        .route("/subscriptions/{id}/dead-letters", get(list_dead_letters))
        .route(
            "/subscriptions/{id}/dead-letters/{delivery_id}/redeliver",
            post(redeliver),
        )
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The JSON of a subscription (never the webhook secret).
pub fn subscription_json(s: &Subscription) -> Value {
    let delivery = match &s.delivery {
        DeliveryTarget::Pull => json!({"type": "pull"}),
        DeliveryTarget::Webhook { url } => json!({"type": "webhook", "url": url.as_str()}),
    };
    json!({
        "id": s.id,
        "linked_account_id": s.linked_account_id,
        "source": s.source,
        "start_from": s.start_from,
        "poll_interval_ms": s.poll_interval.as_millis() as u64,
        "overlap_ms": s.overlap.map(|o| o.as_millis() as u64),
        "delivery": delivery,
        "max_attempts": s.max_attempts,
        "paused": s.paused,
        "delivered_sequence": s.delivered_seq,
        "last_poll_at": s.last_poll_at.map(ms),
        "last_error": s.last_error,
        "created_at": ms(s.created_at),
        "updated_at": ms(s.updated_at),
    })
}

/// The JSON of a delivery.
pub fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "subscription_id": d.subscription_id,
        "first_sequence": d.first_seq,
        "last_sequence": d.last_seq,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": ms(d.next_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": ms(d.created_at),
        "updated_at": ms(d.updated_at),
    })
}

/// Parses a JSON body; errors name the JSON path that broke.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let text = if body.is_empty() { &b"{}"[..] } else { body };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        invalid(&field, e.inner())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookIn {
    url: String,
    secret: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIn {
    linked_account_id: String,
    source: Value,
    start_from: Value,
    #[serde(default)]
    poll_interval_ms: Option<u64>,
    #[serde(default)]
    overlap_ms: Option<u64>,
    #[serde(default)]
    webhook: Option<WebhookIn>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    paused: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchIn {
    #[serde(default)]
    poll_interval_ms: Option<u64>,
    /// `null` goes back to the source's default; absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    overlap_ms: Option<Option<u64>>,
    #[serde(default)]
    max_attempts: Option<u32>,
    /// `null` makes the subscription pull-only; absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    webhook: Option<Option<WebhookIn>>,
    #[serde(default)]
    paused: Option<bool>,
}

fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn interval(field: &str, value: u64) -> ApiResult<Duration> {
    if !(MIN_POLL_INTERVAL_MS..=MAX_WINDOW_MS).contains(&value) {
        return Err(invalid(
            field,
            format!("between {MIN_POLL_INTERVAL_MS} and {MAX_WINDOW_MS} milliseconds"),
        ));
    }
    Ok(Duration::from_millis(value))
}

fn overlap(value: u64) -> ApiResult<Duration> {
    if value > MAX_WINDOW_MS {
        return Err(invalid(
            "overlap_ms",
            format!("at most {MAX_WINDOW_MS} milliseconds"),
        ));
    }
    Ok(Duration::from_millis(value))
}

fn attempts(value: u32) -> ApiResult<u32> {
    if !(1..=100).contains(&value) {
        return Err(invalid("max_attempts", "between 1 and 100"));
    }
    Ok(value)
}

fn webhook(w: WebhookIn) -> ApiResult<Webhook> {
    let url = Url::parse(&w.url).map_err(|e| invalid("webhook.url", e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("webhook.url", "an http or https URL is required"));
    }
    if w.secret.expose_secret().len() < 16 {
        return Err(invalid(
            "webhook.secret",
            "a signing secret has at least 16 characters",
        ));
    }
    Ok(Webhook {
        url,
        secret: w.secret,
    })
}

fn validate_source(engine: &TriggerEngine, source: &Value, start_from: &Value) -> ApiResult<()> {
    engine
        .poller()
        .validate(source, start_from)
        .map_err(|e| invalid(&e.field, e.message))
}

async fn create_subscription(
    State(engine): State<TriggerEngine>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let input: CreateIn = parse_body(&body)?;
    if input.linked_account_id.trim().is_empty() {
        return Err(invalid("linked_account_id", "is required"));
    }
    validate_source(&engine, &input.source, &input.start_from)?;
    let new = NewSubscription {
        linked_account_id: LinkedAccountId::new(input.linked_account_id),
        source: input.source,
        start_from: input.start_from,
        poll_interval: interval(
            "poll_interval_ms",
            input.poll_interval_ms.unwrap_or(DEFAULT_POLL_INTERVAL_MS),
        )?,
        overlap: input.overlap_ms.map(overlap).transpose()?,
        webhook: input.webhook.map(webhook).transpose()?,
        max_attempts: attempts(input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))?,
        paused: input.paused,
    };
    let created = engine.store().insert_subscription(new).await?;
    engine.reload().await?;
    Ok((StatusCode::CREATED, axum::Json(subscription_json(&created))))
}

async fn list_subscriptions(State(engine): State<TriggerEngine>) -> ApiResult<impl IntoResponse> {
    let all = engine.store().list_subscriptions().await?;
    let items: Vec<Value> = all.iter().map(subscription_json).collect();
    Ok(axum::Json(json!({ "subscriptions": items })))
}

async fn get_subscription(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = engine.store().subscription(SubscriptionId::new(id)).await?;
    Ok(axum::Json(subscription_json(&s)))
}

async fn patch_subscription(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let input: PatchIn = parse_body(&body)?;
    let patch = SubscriptionPatch {
        poll_interval: input
            .poll_interval_ms
            .map(|v| interval("poll_interval_ms", v))
            .transpose()?,
        overlap: match input.overlap_ms {
            None => None,
            Some(None) => Some(None),
            Some(Some(v)) => Some(Some(overlap(v)?)),
        },
        max_attempts: input.max_attempts.map(attempts).transpose()?,
        webhook: match input.webhook {
            None => None,
            Some(None) => Some(None),
            Some(Some(w)) => Some(Some(webhook(w)?)),
        },
        paused: input.paused,
    };
    let s = engine
        .store()
        .update_subscription(SubscriptionId::new(id), patch)
        .await?;
    engine.reload().await?;
    Ok(axum::Json(subscription_json(&s)))
}

async fn delete_subscription(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    engine
        .store()
        .delete_subscription(SubscriptionId::new(id))
        .await?;
    engine.reload().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_paused(engine: &TriggerEngine, id: String, paused: bool) -> ApiResult<Value> {
    let patch = SubscriptionPatch {
        paused: Some(paused),
        ..SubscriptionPatch::default()
    };
    let s = engine
        .store()
        .update_subscription(SubscriptionId::new(id), patch)
        .await?;
    engine.reload().await?;
    Ok(subscription_json(&s))
}

async fn pause(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(set_paused(&engine, id, true).await?))
}

async fn resume(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(set_paused(&engine, id, false).await?))
}

async fn poll_now(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let report = engine.poll_now(&SubscriptionId::new(id)).await?;
    Ok(axum::Json(json!({
        "new_events": report.commit.inserted,
        "duplicate_events": report.commit.duplicates,
        "cursor": report.cursor,
    })))
}

async fn get_cursor(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let s = engine.store().subscription(SubscriptionId::new(id)).await?;
    Ok(axum::Json(json!({
        "subscription_id": s.id,
        "cursor": s.cursor,
        "start_from": s.start_from,
        "last_poll_at": s.last_poll_at.map(ms),
        "last_error": s.last_error,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetIn {
    start_from: Value,
}

async fn reset_cursor(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let input: ResetIn = parse_body(&body)?;
    let id = SubscriptionId::new(id);
    let current = engine.store().subscription(id.clone()).await?;
    validate_source(&engine, &current.source, &input.start_from)?;
    let s = engine.store().reset_cursor(id, input.start_from).await?;
    Ok(axum::Json(subscription_json(&s)))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

async fn list_events(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<impl IntoResponse> {
    let after = match q.after.as_deref() {
        None | Some("") => 0,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| invalid("after", "a sequence id (integer >= 0)"))?,
    };
    let limit = match q.limit.as_deref() {
        None | Some("") => DEFAULT_EVENTS_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|v| (1..=MAX_EVENTS_LIMIT).contains(v))
            .ok_or_else(|| invalid("limit", format!("an integer from 1 to {MAX_EVENTS_LIMIT}")))?,
    };
    let events = engine
        .store()
        .events_after(SubscriptionId::new(id), after, limit)
        .await?;
    let next_after = events.last().map_or(after, |e| e.seq);
    let items: Vec<Value> = events.iter().map(|e| e.to_json()).collect();
    Ok(axum::Json(
        json!({"events": items, "next_after": next_after}),
    ))
}

async fn list_dead_letters(
    State(engine): State<TriggerEngine>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let dead = engine.store().dead_letters(SubscriptionId::new(id)).await?;
    let items: Vec<Value> = dead.iter().map(delivery_json).collect();
    Ok(axum::Json(json!({ "dead_letters": items })))
}

async fn redeliver(
    State(engine): State<TriggerEngine>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let id = SubscriptionId::new(id);
    let d = engine
        .store()
        .redeliver(id.clone(), DeliveryId::new(delivery_id), engine.now())
        .await?;
    engine.wake_delivery(&id);
    Ok((StatusCode::ACCEPTED, axum::Json(delivery_json(&d))))
}
