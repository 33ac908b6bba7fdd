//! Databricks error responses: `{"error_code", "message", "details"}` and the SCIM shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered the way Databricks answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Databricks `error_code` (for SCIM errors, the `scimType`, possibly empty).
    pub error_code: String,
    /// Human-readable message.
    pub message: String,
    /// Whether to answer with the SCIM error body instead of the Databricks one.
    pub scim: bool,
    /// `Retry-After` in seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A Databricks-shaped error.
    pub fn new(status: StatusCode, error_code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_code: error_code.to_owned(),
            message: message.into(),
            scim: false,
            retry_after: None,
        }
    }

    /// A SCIM error body (`urn:ietf:params:scim:api:messages:2.0:Error`).
    pub fn scim(status: StatusCode, scim_type: &str, detail: impl Into<String>) -> Self {
        Self {
            scim: true,
            ..Self::new(status, scim_type, detail)
        }
    }

    /// 400 `INVALID_PARAMETER_VALUE`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    /// 404 `RESOURCE_DOES_NOT_EXIST`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    /// 401 for a missing or unknown token.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    /// Sets `Retry-After`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// Parses a request body as a JSON object, answering a malformed one the way Databricks does
/// (400 `MALFORMED_REQUEST`). An empty body counts as `{}`.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - expected a map",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            format!("Could not parse request object: {e}"),
        )),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = if self.scim {
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": self.message,
                "status": self.status.as_u16().to_string(),
            });
            if !self.error_code.is_empty() {
                body["scimType"] = json!(self.error_code);
            }
            let mut r = (self.status, Json(body)).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            );
            r
        } else {
            let body = json!({"error_code": self.error_code, "message": self.message});
            (self.status, Json(body)).into_response()
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
