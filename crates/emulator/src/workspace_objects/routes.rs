//! HTTP routes of `/api/2.0/workspace/*`: parse the request (JSON, query string or the
//! multipart form the SDK's `upload` sends), call [`super::State`], serialize the answer.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, RawQuery, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::state::Import;
use crate::error::{ApiError, ErrorCode};
use crate::state::{AppState, now_ms};

/// Room for a 10 MB import encoded as base64 inside JSON, so the size rule is answered with
/// `MAX_NOTEBOOK_SIZE_EXCEEDED` rather than a bare 413.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/workspace/import", post(import))
        .route("/api/2.0/workspace/export", get(export))
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/get-status", get(get_status))
        .route("/api/2.0/workspace/delete", post(delete))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Decodes a JSON body with a Databricks-shaped error; an empty body counts as `{}`.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            format!("Invalid JSON given in the body of the request: {e}"),
        )
    })
}

/// Decodes a query string with a Databricks-shaped error.
pub(crate) fn query<T: DeserializeOwned>(raw: Option<String>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid_parameter(format!("Invalid query parameter: {e}")))
}

/// A boolean sent as JSON `true` or as the string `"true"`.
fn flexible_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) => Ok(s.eq_ignore_ascii_case("true")),
        Value::Null => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

#[derive(Deserialize)]
struct PathBody {
    #[serde(default)]
    path: String,
}

async fn mkdirs(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: PathBody = json_body(&body)?;
    app.workspace_objects
        .lock()
        .expect("workspace lock")
        .mkdirs(&req.path, now_ms())?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ImportBody {
    #[serde(default)]
    path: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    overwrite: bool,
}

async fn import(State(app): State<AppState>, request: Request) -> Result<Json<Value>, ApiError> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let req = if multipart {
        read_multipart(request).await?
    } else {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| ApiError::invalid_parameter(format!("Cannot read the body: {e}")))?;
        let body: ImportBody = json_body(&body)?;
        let content = match body.content.as_deref() {
            None | Some("") => Vec::new(),
            Some(b64) => STANDARD.decode(b64.trim()).map_err(|_| {
                ApiError::invalid_parameter("The `content` field must be base64-encoded.")
            })?,
        };
        Import {
            path: body.path,
            content,
            format: body.format,
            language: body.language,
            overwrite: body.overwrite,
        }
    };
    let max = app.settings().workspace_objects.max_content_bytes;
    app.workspace_objects
        .lock()
        .expect("workspace lock")
        .import(req, max, now_ms())?;
    Ok(Json(json!({})))
}

async fn read_multipart(request: Request) -> Result<Import, ApiError> {
    let bad = |e: String| ApiError::invalid_parameter(format!("Invalid multipart body: {e}"));
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(e.body_text()))?;
    let mut req = Import::default();
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "content" => req.content = bytes.to_vec(),
            "path" => req.path = text(),
            "format" => req.format = Some(text()),
            "language" => req.language = Some(text()),
            "overwrite" => req.overwrite = text().eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    Ok(req)
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    path: String,
    format: Option<String>,
    #[serde(default)]
    direct_download: bool,
}

async fn export(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q: ExportQuery = query(raw)?;
    let exported = app
        .workspace_objects
        .lock()
        .expect("workspace lock")
        .export(&q.path, q.format.as_deref())?;
    if q.direct_download {
        return Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            exported.content,
        )
            .into_response());
    }
    let mut body = json!({"content": STANDARD.encode(&exported.content)});
    if let Some(file_type) = exported.file_type {
        body["file_type"] = json!(file_type);
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    path: String,
    notebooks_modified_after: Option<i64>,
}

async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: ListQuery = query(raw)?;
    let objects = app
        .workspace_objects
        .lock()
        .expect("workspace lock")
        .list(&q.path, q.notebooks_modified_after)?;
    // Databricks leaves the key out entirely for an empty folder.
    Ok(Json(if objects.is_empty() {
        json!({})
    } else {
        json!({"objects": objects})
    }))
}

async fn get_status(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: PathBody = query(raw)?;
    let info = app
        .workspace_objects
        .lock()
        .expect("workspace lock")
        .get_status(&q.path)?;
    Ok(Json(json!(info)))
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    path: String,
    #[serde(default, deserialize_with = "flexible_bool")]
    recursive: bool,
}

async fn delete(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: DeleteBody = json_body(&body)?;
    app.workspace_objects
        .lock()
        .expect("workspace lock")
        .delete(&req.path, req.recursive)?;
    Ok(Json(json!({})))
}
