//! The REST routes of triggers under `/api/v1` ([`ENDPOINTS`], chained into
//! [`crate::server::routes::all_endpoints`] and served when the service's state has a trigger
//! engine, so they are behind the operator key and in the OpenAPI document).
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET, POST | `/api/v1/subscriptions` | list; create (webhook or pull) |
//! | GET, PATCH, DELETE | `/api/v1/subscriptions/{id}` | get (never the secret); change; delete |
//! | POST | `/api/v1/subscriptions/{id}/pause`, `/resume` | stop or restart polling |
//! | POST | `/api/v1/subscriptions/{id}/poll` | poll now |
//! | GET | `/api/v1/subscriptions/{id}/cursor` | the committed cursor |
//! | POST | `/api/v1/subscriptions/{id}/cursor/reset` | forget it; start again from `start_from` |
//! | GET | `/api/v1/subscriptions/{id}/events` | pull events (`after`, `limit`) |
//! | GET | `/api/v1/subscriptions/{id}/dead-letters` | deliveries that failed `max_attempts` times |
//! | POST | `/api/v1/subscriptions/{id}/dead-letters/{delivery_id}/redeliver` | send one again |
//!
//! Errors use the service's shape ([`crate::server::ApiError`]: `{"error": {"code",
//! "message", "retryable", ...}}`), with `INVALID_INPUT` messages naming the field. Times are
//! Unix epoch milliseconds, as in Databricks' own APIs. The webhook secret is write-only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use brickwire_api::SecretString;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use brickwire_connector::ErrorCode;

use super::engine::{EngineError, TriggerEngine};
use super::model::{
    Delivery, DeliveryId, DeliveryState, DeliveryTarget, NewSubscription, Subscription,
    SubscriptionId, SubscriptionPatch, Webhook,
};
use crate::server::error::{ApiPath, ApiQuery};
use crate::server::routes::{Endpoint, schema};
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

/// The largest `max_attempts`.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// The shortest webhook signing secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// A webhook as a request sets it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The receiver (http or https).
    #[schemars(extend("format" = "uri"))]
    pub url: String,
    /// HMAC-SHA256 signing secret; stored encrypted, never returned
    #[schemars(with = "String", length(min = MIN_SECRET_LEN), extend("writeOnly" = true))]
    pub secret: SecretString,
}

/// The body of `POST /api/v1/subscriptions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// The linked account whose workspace is polled.
    pub linked_account_id: String,
    /// A brickwire-sync source spec, e.g. {"type": "job_runs"}
    #[schemars(extend("type" = "object"))]
    pub source: Value,
    /// Where the first poll starts.
    #[schemars(schema_with = "start_from_schema")]
    pub start_from: Value,
    /// Time between polls, in milliseconds.
    #[schemars(
        range(min = MIN_POLL_INTERVAL_MS, max = MAX_WINDOW_MS),
        extend("default" = DEFAULT_POLL_INTERVAL_MS)
    )]
    pub poll_interval_ms: Option<u64>,
    /// How far each poll reaches back behind the cursor, in milliseconds (absent or `null`:
    /// the source's default).
    #[schemars(range(max = MAX_WINDOW_MS))]
    pub overlap_ms: Option<u64>,
    /// Where events are POSTed, signed; absent or `null`: pull only.
    pub webhook: Option<WebhookSettings>,
    /// Attempts of one webhook delivery before it is dead-lettered.
    #[schemars(
        range(min = 1, max = MAX_ATTEMPTS_LIMIT),
        extend("default" = DEFAULT_MAX_ATTEMPTS)
    )]
    pub max_attempts: Option<u32>,
    /// Whether it starts paused.
    #[serde(default)]
    pub paused: bool,
}

/// The body of `PATCH /api/v1/subscriptions/{id}`: absent fields are left as they are.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = no_null_defaults)]
pub struct UpdateSubscription {
    /// Time between polls, in milliseconds.
    #[schemars(range(min = MIN_POLL_INTERVAL_MS, max = MAX_WINDOW_MS))]
    pub poll_interval_ms: Option<u64>,
    /// How far each poll reaches back, in milliseconds; `null` goes back to the source's
    /// default, absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(with = "Option<u64>", range(max = MAX_WINDOW_MS))]
    pub overlap_ms: Option<Option<u64>>,
    /// Attempts of one webhook delivery before it is dead-lettered.
    #[schemars(range(min = 1, max = MAX_ATTEMPTS_LIMIT))]
    pub max_attempts: Option<u32>,
    /// A new webhook; `null` makes the subscription pull-only, absent leaves it.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(with = "Option<WebhookSettings>")]
    pub webhook: Option<Option<WebhookSettings>>,
    /// Pauses (`true`) or resumes (`false`).
    pub paused: Option<bool>,
}

/// The body of `POST /api/v1/subscriptions/{id}/cursor/reset`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetCursor {
    /// Where the next poll starts.
    #[schemars(schema_with = "start_from_schema")]
    pub start_from: Value,
}

fn start_from_schema(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "description": "\"beginning\", \"now\" or {\"time\": <epoch ms>}",
        "oneOf": [
            {"enum": ["beginning", "now"]},
            {"type": "object", "required": ["time"], "properties": {"time": {"type": "integer"}}}
        ]
    })
}

/// In a patch, absent and `null` mean different things (leave it; clear it), so a field's
/// schema must not claim `null` as its default.
fn no_null_defaults(schema: &mut Schema) {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for property in properties.values_mut() {
            if let Some(fields) = property.as_object_mut()
                && fields.get("default") == Some(&Value::Null)
            {
                fields.remove("default");
            }
        }
    }
}

fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Where a subscription's events go besides the pull API.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeliveryTargetView {
    /// Only the pull API.
    Pull,
    /// POSTed in batches to `url`, signed.
    Webhook {
        /// The receiver.
        url: String,
    },
}

/// A subscription (never its webhook secret).
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionView {
    /// Its id (`sub_...`).
    pub id: String,
    /// The linked account whose workspace is polled.
    pub linked_account_id: String,
    /// The source spec.
    pub source: Value,
    /// Where the first poll (and the first after a cursor reset) starts.
    pub start_from: Value,
    /// Time between polls, in milliseconds.
    pub poll_interval_ms: u64,
    /// The overlap window, in milliseconds (`null`: the source's default).
    pub overlap_ms: Option<u64>,
    /// Webhook or pull-only.
    pub delivery: DeliveryTargetView,
    /// Attempts of one webhook delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// Paused subscriptions are not polled (stored events are still delivered).
    pub paused: bool,
    /// Every event up to this sequence id was delivered or dead-lettered.
    pub delivered_sequence: i64,
    /// When the last poll ended (epoch ms).
    pub last_poll_at: Option<i64>,
    /// The last poll's error, cleared by the next successful poll.
    pub last_error: Option<String>,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When its settings, pause state or cursor last changed (epoch ms).
    pub updated_at: i64,
}

/// The answer of `GET /api/v1/subscriptions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionList {
    /// Every subscription.
    pub subscriptions: Vec<SubscriptionView>,
}

/// A webhook delivery: a batch of a subscription's events, by sequence range.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeliveryView {
    /// Its id (`dlv_...`), sent to the receiver as `delivery_id`.
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// The first event's sequence id.
    pub first_sequence: i64,
    /// The last event's sequence id.
    pub last_sequence: i64,
    /// `pending`, `retrying`, `delivered` or `dead_letter`.
    #[schemars(with = "String")]
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due (epoch ms).
    pub next_attempt_at: i64,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it last changed (epoch ms).
    pub updated_at: i64,
}

/// The answer of `GET /api/v1/subscriptions/{id}/dead-letters`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeadLetterList {
    /// The deliveries that failed `max_attempts` times.
    pub dead_letters: Vec<DeliveryView>,
}

/// The answer of `POST /api/v1/subscriptions/{id}/poll`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PollOutcome {
    /// Events stored by this poll.
    pub new_events: u64,
    /// Events the subscription had already stored.
    pub duplicate_events: u64,
    /// The committed cursor (`null` when nothing was committed, see `discarded`).
    pub cursor: Value,
    /// The cursor was reset during every round of this poll, so nothing was committed; the
    /// scheduler polls again from the reset point at once.
    pub discarded: bool,
}

/// The answer of `GET /api/v1/subscriptions/{id}/cursor`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CursorView {
    /// The subscription.
    pub subscription_id: String,
    /// The committed cursor (`null` before the first poll and after a reset).
    pub cursor: Option<Value>,
    /// Where the next poll starts when there is no cursor.
    pub start_from: Value,
    /// When the last poll ended (epoch ms).
    pub last_poll_at: Option<i64>,
    /// The last poll's error.
    pub last_error: Option<String>,
}

/// The answer of `GET /api/v1/subscriptions/{id}/events`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventList {
    /// The events, oldest first: each event's own fields plus `sequence` (and `id`).
    pub events: Vec<Value>,
    /// Pass as `after` for the next page (`after` itself when there were none).
    pub next_after: i64,
}

/// The trigger routes of the operator API.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/subscriptions",
        operation_id: "listSubscriptions",
        summary: "List trigger subscriptions",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionList>),
        handler: || get(list_subscriptions),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions",
        operation_id: "createSubscription",
        summary: "Subscribe a linked account to a sync source (webhook or pull)",
        tag: "triggers",
        query: &[],
        request: Some(schema::<CreateSubscription>),
        request_optional: false,
        success: StatusCode::CREATED,
        response: Some(schema::<SubscriptionView>),
        handler: || post(create_subscription),
    },
    Endpoint {
        method: Method::GET,
        path: "/subscriptions/{id}",
        operation_id: "getSubscription",
        summary: "A subscription (never its webhook secret)",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionView>),
        handler: || get(get_subscription),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/subscriptions/{id}",
        operation_id: "updateSubscription",
        summary: "Change interval, overlap, webhook, attempts or pause",
        tag: "triggers",
        query: &[],
        request: Some(schema::<UpdateSubscription>),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionView>),
        handler: || patch(patch_subscription),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/subscriptions/{id}",
        operation_id: "deleteSubscription",
        summary: "Delete a subscription with its events and deliveries",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::NO_CONTENT,
        response: None,
        handler: || delete(delete_subscription),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions/{id}/pause",
        operation_id: "pauseSubscription",
        summary: "Stop polling (stored events are still delivered)",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionView>),
        handler: || post(pause),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions/{id}/resume",
        operation_id: "resumeSubscription",
        summary: "Poll again on the interval",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionView>),
        handler: || post(resume),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions/{id}/poll",
        operation_id: "pollSubscription",
        summary: "Poll now and commit the new events with the cursor",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<PollOutcome>),
        handler: || post(poll_now),
    },
    Endpoint {
        method: Method::GET,
        path: "/subscriptions/{id}/cursor",
        operation_id: "getSubscriptionCursor",
        summary: "The committed cursor",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<CursorView>),
        handler: || get(get_cursor),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions/{id}/cursor/reset",
        operation_id: "resetSubscriptionCursor",
        summary: "Forget the cursor; the next poll starts from start_from",
        tag: "triggers",
        query: &[],
        request: Some(schema::<ResetCursor>),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<SubscriptionView>),
        handler: || post(reset_cursor),
    },
    Endpoint {
        method: Method::GET,
        path: "/subscriptions/{id}/events",
        operation_id: "listSubscriptionEvents",
        summary: "Pull events after a sequence id",
        tag: "triggers",
        query: &[
            ("after", "Sequence id to start after (default 0)"),
            ("limit", "Most events returned, 1 to 1000 (default 100)"),
        ],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<EventList>),
        handler: || get(list_events),
    },
    Endpoint {
        method: Method::GET,
        path: "/subscriptions/{id}/dead-letters",
        operation_id: "listSubscriptionDeadLetters",
        summary: "Webhook deliveries that failed max_attempts times",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<DeadLetterList>),
        handler: || get(list_dead_letters),
    },
    Endpoint {
        method: Method::POST,
        path: "/subscriptions/{id}/dead-letters/{delivery_id}/redeliver",
        operation_id: "redeliverDeadLetter",
        summary: "Send a dead-lettered delivery again",
        tag: "triggers",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::ACCEPTED,
        response: Some(schema::<DeliveryView>),
        handler: || post(redeliver),
    },
];

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

type ApiResult<T> = Result<T, ApiError>;

/// The trigger engine, or 404 when the service runs none (the routes are served only with one).
fn engine(state: &AppState) -> ApiResult<&TriggerEngine> {
    state
        .triggers()
        .ok_or_else(|| ApiError::not_found("this service runs no triggers"))
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A subscription as the API answers it (never the webhook secret).
pub fn subscription_view(s: &Subscription) -> SubscriptionView {
    SubscriptionView {
        id: s.id.to_string(),
        linked_account_id: s.linked_account_id.to_string(),
        source: s.source.clone(),
        start_from: s.start_from.clone(),
        poll_interval_ms: s.poll_interval.as_millis() as u64,
        overlap_ms: s.overlap.map(|o| o.as_millis() as u64),
        delivery: match &s.delivery {
            DeliveryTarget::Pull => DeliveryTargetView::Pull,
            DeliveryTarget::Webhook { url } => DeliveryTargetView::Webhook {
                url: url.as_str().to_owned(),
            },
        },
        max_attempts: s.max_attempts,
        paused: s.paused,
        delivered_sequence: s.delivered_seq,
        last_poll_at: s.last_poll_at.map(ms),
        last_error: s.last_error.clone(),
        created_at: ms(s.created_at),
        updated_at: ms(s.updated_at),
    }
}

/// A delivery as the API answers it.
pub fn delivery_view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        subscription_id: d.subscription_id.to_string(),
        first_sequence: d.first_seq,
        last_sequence: d.last_seq,
        state: d.state,
        attempts: d.attempts,
        next_attempt_at: ms(d.next_attempt_at),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: ms(d.created_at),
        updated_at: ms(d.updated_at),
    }
}

/// Parses a JSON body (an empty one as `{}`); errors name the JSON path that broke.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let text = if body.is_empty() { &b"{}"[..] } else { body };
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        invalid(&field, e.inner())
    })
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
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&value) {
        return Err(invalid(
            "max_attempts",
            format!("between 1 and {MAX_ATTEMPTS_LIMIT}"),
        ));
    }
    Ok(value)
}

fn webhook(w: WebhookSettings) -> ApiResult<Webhook> {
    let url = Url::parse(&w.url).map_err(|e| invalid("webhook.url", e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("webhook.url", "an http or https URL is required"));
    }
    if w.secret.expose_secret().len() < MIN_SECRET_LEN {
        return Err(invalid(
            "webhook.secret",
            format!("a signing secret has at least {MIN_SECRET_LEN} characters"),
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
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let engine = engine(&state)?;
    let input: CreateSubscription = parse_body(&body)?;
    if input.linked_account_id.trim().is_empty() {
        return Err(invalid("linked_account_id", "is required"));
    }
    validate_source(engine, &input.source, &input.start_from)?;
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
    Ok((StatusCode::CREATED, Json(subscription_view(&created))))
}

async fn list_subscriptions(State(state): State<AppState>) -> ApiResult<Json<SubscriptionList>> {
    let all = engine(&state)?.store().list_subscriptions().await?;
    Ok(Json(SubscriptionList {
        subscriptions: all.iter().map(subscription_view).collect(),
    }))
}

async fn get_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SubscriptionView>> {
    let s = engine(&state)?
        .store()
        .subscription(SubscriptionId::new(id))
        .await?;
    Ok(Json(subscription_view(&s)))
}

async fn patch_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<SubscriptionView>> {
    let engine = engine(&state)?;
    let input: UpdateSubscription = parse_body(&body)?;
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
    Ok(Json(subscription_view(&s)))
}

async fn delete_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let engine = engine(&state)?;
    engine
        .store()
        .delete_subscription(SubscriptionId::new(id))
        .await?;
    engine.reload().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_paused(
    state: &AppState,
    id: String,
    paused: bool,
) -> ApiResult<Json<SubscriptionView>> {
    let engine = engine(state)?;
    let patch = SubscriptionPatch {
        paused: Some(paused),
        ..SubscriptionPatch::default()
    };
    let s = engine
        .store()
        .update_subscription(SubscriptionId::new(id), patch)
        .await?;
    engine.reload().await?;
    Ok(Json(subscription_view(&s)))
}

async fn pause(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SubscriptionView>> {
    set_paused(&state, id, true).await
}

async fn resume(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SubscriptionView>> {
    set_paused(&state, id, false).await
}

async fn poll_now(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PollOutcome>> {
    let report = engine(&state)?.poll_now(&SubscriptionId::new(id)).await?;
    Ok(Json(PollOutcome {
        new_events: report.commit.inserted,
        duplicate_events: report.commit.duplicates,
        cursor: report.cursor,
        discarded: report.commit.discarded,
    }))
}

async fn get_cursor(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CursorView>> {
    let s = engine(&state)?
        .store()
        .subscription(SubscriptionId::new(id))
        .await?;
    Ok(Json(CursorView {
        subscription_id: s.id.to_string(),
        cursor: s.cursor,
        start_from: s.start_from,
        last_poll_at: s.last_poll_at.map(ms),
        last_error: s.last_error,
    }))
}

async fn reset_cursor(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<SubscriptionView>> {
    let engine = engine(&state)?;
    let input: ResetCursor = parse_body(&body)?;
    let id = SubscriptionId::new(id);
    let current = engine.store().subscription(id.clone()).await?;
    validate_source(engine, &current.source, &input.start_from)?;
    let s = engine.store().reset_cursor(id, input.start_from).await?;
    Ok(Json(subscription_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

async fn list_events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    let engine = engine(&state)?;
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
    Ok(Json(EventList {
        next_after: events.last().map_or(after, |e| e.seq),
        events: events.iter().map(|e| e.to_json()).collect(),
    }))
}

async fn list_dead_letters(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeadLetterList>> {
    let dead = engine(&state)?
        .store()
        .dead_letters(SubscriptionId::new(id))
        .await?;
    Ok(Json(DeadLetterList {
        dead_letters: dead.iter().map(delivery_view).collect(),
    }))
}

async fn redeliver(
    State(state): State<AppState>,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let engine = engine(&state)?;
    let id = SubscriptionId::new(id);
    let d = engine
        .store()
        .redeliver(id.clone(), DeliveryId::new(delivery_id), engine.now())
        .await?;
    engine.wake_delivery(&id);
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&d))))
}
