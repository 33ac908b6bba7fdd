//! HTTP routes of the Statement Execution API, plus the emulator's own "cloud storage" that
//! serves external links (`/_emulator/results/{token}`, outside `/api/` so it needs no token).
//!
//! Responses carrying rows are streamed: the metadata is serialized first, then the chunk's
//! rows are encoded piece by piece into the body.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::stream::{self, StreamExt};

use super::encode::ChunkBody;
use super::model::{
    Disposition, ExecuteBody, ExternalLink, Format, OnWaitTimeout, ResultDataMeta, StatementHead,
    StatementState, StatementStatus, UNKNOWN_VALUE, chunk_internal_link,
};
use super::run::{self, Job};
use super::state::{ChunkRef, LINK_HEADER, LinkRefusal, iso8601};
use crate::error::{ApiError, ErrorCode};
use crate::sql::QueryParam;
use crate::state::{AppState, now_ms};

/// Longest SQL text accepted (Databricks: 16 MiB).
const MAX_STATEMENT_BYTES: usize = 16 * 1024 * 1024;

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/statements", post(execute))
        .route("/api/2.0/sql/statements/{statement_id}", get(get_statement))
        .route(
            "/api/2.0/sql/statements/{statement_id}/result/chunks/{chunk_index}",
            get(get_chunk),
        )
        .route(
            "/api/2.0/sql/statements/{statement_id}/cancel",
            post(cancel),
        )
        .route("/_emulator/results/{token}", get(fetch_link))
}

/// A known value of one of the api's enums; an `Other` is refused, naming the field.
fn enum_field<T>(
    field: &str,
    value: Option<T>,
    known: fn(&str) -> Option<T>,
    as_str: fn(&T) -> &str,
    allowed: &[&str],
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            let text = as_str(&v);
            known(text).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "{field}: '{text}' is not a valid value; expected one of {}.",
                    allowed.join(", ")
                ))
            })
        })
        .transpose()
}

fn non_negative(field: &str, value: Option<i64>) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            u64::try_from(v).map_err(|_| {
                ApiError::invalid_parameter(format!("{field} must be a non-negative number."))
            })
        })
        .transpose()
}

/// `0s`, or `5s` to `50s`.
fn parse_wait_timeout(value: Option<&str>) -> Result<Duration, ApiError> {
    let text = value.unwrap_or("10s");
    let seconds = text
        .strip_suffix('s')
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n == 0 || (5..=50).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "wait_timeout: '{text}' is invalid; it must be '0s' or between '5s' and '50s'."
            ))
        })?;
    Ok(Duration::from_secs(seconds))
}

fn validate(body: ExecuteBody) -> Result<(Job, Duration, OnWaitTimeout), ApiError> {
    let statement = body
        .statement
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_parameter("statement is required."))?;
    if statement.len() > MAX_STATEMENT_BYTES {
        return Err(ApiError::invalid_parameter(
            "statement is longer than the 16 MiB limit.",
        ));
    }
    let warehouse_id = body
        .warehouse_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter("warehouse_id is required."))?;
    let disposition = enum_field(
        "disposition",
        body.disposition,
        Disposition::known,
        Disposition::as_str,
        Disposition::KNOWN_WIRE,
    )?
    .unwrap_or(Disposition::Inline);
    let format = enum_field(
        "format",
        body.format,
        Format::known,
        Format::as_str,
        Format::KNOWN_WIRE,
    )?
    .unwrap_or(Format::JsonArray);
    if disposition == Disposition::Inline && format != Format::JsonArray {
        return Err(ApiError::invalid_parameter(format!(
            "format {} is only supported with disposition EXTERNAL_LINKS.",
            format.as_str()
        )));
    }
    let on_wait_timeout = enum_field(
        "on_wait_timeout",
        body.on_wait_timeout,
        OnWaitTimeout::known,
        OnWaitTimeout::as_str,
        OnWaitTimeout::KNOWN_WIRE,
    )?
    .unwrap_or(OnWaitTimeout::Continue);
    let wait = parse_wait_timeout(body.wait_timeout.as_deref())?;
    let parameters = body
        .parameters
        .into_iter()
        .map(|p| {
            if p.name.is_empty() {
                return Err(ApiError::invalid_parameter(
                    "parameters[].name is required.",
                ));
            }
            Ok(QueryParam {
                name: p.name,
                value: p.value,
                type_name: p.type_name,
            })
        })
        .collect::<Result<_, _>>()?;
    let job = Job {
        statement,
        warehouse_id,
        catalog: body.catalog.filter(|s| !s.is_empty()),
        schema: body.schema.filter(|s| !s.is_empty()),
        parameters,
        row_limit: non_negative("row_limit", body.row_limit)?,
        byte_limit: non_negative("byte_limit", body.byte_limit)?,
        disposition,
        format,
    };
    Ok((job, wait, on_wait_timeout))
}

async fn execute(State(app): State<AppState>, raw: Bytes) -> Result<Response, ApiError> {
    let body: ExecuteBody = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::invalid_parameter(format!("Malformed request body: {e}")))?;
    let (job, wait, on_wait_timeout) = validate(body)?;
    app.warehouses
        .lock()
        .expect("warehouses lock")
        .require_for_statement(&job.warehouse_id)?;
    let id = run::submit(app.0.clone(), job);
    if wait.is_zero() {
        // Asynchronous mode answers at once, before the statement could have moved on.
        let head = StatementHead {
            statement_id: id,
            status: StatementStatus {
                state: StatementState::Pending,
                error: None,
                sql_state: None,
            },
            manifest: None,
        };
        return Ok(json_response(serde_json::to_vec(&head).unwrap_or_default()));
    }
    if !run::wait(&app, &id, wait).await && on_wait_timeout == OnWaitTimeout::Cancel {
        app.statements
            .lock()
            .expect("statements lock")
            .cancel(&id, now_ms())?;
    }
    statement_response(&app, &id)
}

async fn get_statement(
    State(app): State<AppState>,
    Path(statement_id): Path<String>,
) -> Result<Response, ApiError> {
    statement_response(&app, &statement_id)
}

async fn get_chunk(
    State(app): State<AppState>,
    Path((statement_id, chunk_index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let chunk_index: usize = chunk_index.parse().map_err(|_| {
        ApiError::invalid_parameter(format!("chunk_index '{chunk_index}' is not a number."))
    })?;
    let settings = app.settings().statements;
    let chunk = app.statements.lock().expect("statements lock").chunk(
        &statement_id,
        chunk_index,
        now_ms(),
        &settings,
    )?;
    let (meta, rows) = result_data(&app, &chunk)?;
    Ok(json_response_stream(object_prefix(&meta), rows, b"}"))
}

async fn cancel(
    State(app): State<AppState>,
    Path(statement_id): Path<String>,
) -> Result<Response, ApiError> {
    app.statements
        .lock()
        .expect("statements lock")
        .cancel(&statement_id, now_ms())?;
    Ok(json_response(b"{}".to_vec()))
}

/// `StatementResponse` for `id`: head, then `result` (the first chunk) when SUCCEEDED.
fn statement_response(app: &AppState, id: &str) -> Result<Response, ApiError> {
    let settings = app.settings().statements;
    let (head, first) = {
        let mut statements = app.statements.lock().expect("statements lock");
        let head = statements.get(id, now_ms(), &settings)?.head();
        let has_chunks = head
            .manifest
            .as_ref()
            .is_some_and(|m| m.total_chunk_count > 0);
        let first = has_chunks
            .then(|| statements.chunk(id, 0, now_ms(), &settings))
            .transpose()?;
        (head, first)
    };
    let mut prefix = object_prefix(&head);
    let Some(first) = first else {
        prefix.push(b'}');
        return Ok(json_response(prefix));
    };
    let (meta, rows) = result_data(app, &first)?;
    prefix.extend_from_slice(b",\"result\":");
    prefix.extend_from_slice(&object_prefix(&meta));
    Ok(json_response_stream(prefix, rows, b"}}"))
}

/// The serialized object without its closing brace, so fields can follow.
fn object_prefix<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.pop();
    bytes
}

/// `ResultData` of a chunk: its metadata (with a fresh link for EXTERNAL_LINKS) and, for
/// INLINE, the rows to stream as `data_array`.
fn result_data(
    app: &AppState,
    chunk: &ChunkRef,
) -> Result<(ResultDataMeta, Option<ChunkBody>), ApiError> {
    let info = chunk.result.chunks[chunk.chunk_index];
    let has_next = chunk.chunk_index + 1 < chunk.result.chunks.len();
    let next_index = has_next.then_some(chunk.chunk_index + 1);
    let next_link = next_index.map(|n| chunk_internal_link(&chunk.statement_id, n));
    match &chunk.disposition {
        Disposition::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
        Disposition::Inline => {
            let pieces = chunk
                .result
                .slices(info.row_offset, info.row_count)
                .map_err(unreadable)?;
            let rows = ChunkBody::new(
                Format::JsonArray,
                chunk.result.schema.clone(),
                pieces,
                false,
            );
            let meta = ResultDataMeta {
                chunk_index: info.chunk_index,
                row_offset: info.row_offset,
                row_count: info.row_count,
                byte_count: None,
                external_links: None,
                next_chunk_index: next_index,
                next_chunk_internal_link: next_link,
            };
            Ok((meta, Some(rows)))
        }
        Disposition::ExternalLinks => {
            let lifetime = app.settings().statements.link_lifetime_secs;
            let (token, grant) = app.statements.lock().expect("statements lock").grant_link(
                &chunk.statement_id,
                chunk.chunk_index,
                now_ms(),
                lifetime,
            );
            let byte_count = info.byte_count.unwrap_or_default();
            let link = ExternalLink {
                chunk_index: info.chunk_index,
                row_offset: info.row_offset,
                row_count: info.row_count,
                byte_count,
                external_link: format!("{}/_emulator/results/{token}", app.base_url),
                expiration: iso8601(grant.expires_at),
                http_headers: [(LINK_HEADER.to_owned(), grant.key)].into(),
                next_chunk_index: next_index,
                next_chunk_internal_link: next_link.clone(),
            };
            let meta = ResultDataMeta {
                chunk_index: info.chunk_index,
                row_offset: info.row_offset,
                row_count: info.row_count,
                byte_count: Some(byte_count),
                external_links: Some(vec![link]),
                next_chunk_index: next_index,
                next_chunk_internal_link: next_link,
            };
            Ok((meta, None))
        }
    }
}

/// A kept result that cannot be read back (its spill file is damaged or gone).
fn unreadable(e: arrow::error::ArrowError) -> ApiError {
    tracing::error!(error = %e, "statement result unreadable");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InternalError,
        "The statement's result could not be read.",
    )
}

fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `prefix`, then `"data_array":[...]` streamed from `rows` (if any), then `suffix`.
fn json_response_stream(
    mut prefix: Vec<u8>,
    rows: Option<ChunkBody>,
    suffix: &'static [u8],
) -> Response {
    let Some(rows) = rows else {
        prefix.extend_from_slice(suffix);
        return json_response(prefix);
    };
    prefix.extend_from_slice(b",\"data_array\":");
    let body = stream::once(async move { Ok(Bytes::from(prefix)) })
        .chain(stream::iter(rows))
        .chain(stream::once(async move { Ok(Bytes::from_static(suffix)) }));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from_stream(body),
    )
        .into_response()
}

/// Serves an external link like a presigned object-store URL: no `Authorization`, the listed
/// header required, refused (403) once expired.
async fn fetch_link(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let settings = app.settings().statements;
    let key = headers.get(LINK_HEADER).and_then(|v| v.to_str().ok());
    let granted = app.statements.lock().expect("statements lock").redeem_link(
        &token,
        key,
        headers.contains_key(header::AUTHORIZATION),
        now_ms(),
        &settings,
    );
    let chunk = match granted {
        Ok(chunk) => chunk,
        Err(refusal) => return refused(refusal),
    };
    let info = chunk.result.chunks[chunk.chunk_index];
    let pieces = match chunk.result.slices(info.row_offset, info.row_count) {
        Ok(pieces) => pieces,
        Err(e) => return unreadable(e).into_response(),
    };
    let body = ChunkBody::new(
        chunk.format.clone(),
        chunk.result.schema.clone(),
        pieces,
        chunk.chunk_index == 0,
    );
    let content_type = match chunk.format {
        Format::JsonArray => "application/json",
        Format::Csv => "text/csv",
        Format::ArrowStream => "application/vnd.apache.arrow.stream",
        Format::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
    };
    let mut response = Body::from_stream(stream::iter(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(n) = info.byte_count {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    response
}

fn refused(refusal: LinkRefusal) -> Response {
    let (code, message) = match refusal {
        LinkRefusal::AuthorizationSent => (
            "InvalidArgument",
            "Only one auth mechanism allowed; do not send an Authorization header to a presigned URL.",
        ),
        LinkRefusal::Unknown => ("AccessDenied", "Access Denied"),
        LinkRefusal::Expired => ("AccessDenied", "Request has expired"),
        LinkRefusal::HeaderMismatch => (
            "AccessDenied",
            "There were headers present in the request which were not signed",
        ),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (
        StatusCode::FORBIDDEN,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        )],
        body,
    )
        .into_response()
}
