//! The REST API's one error shape, `{"error": <ActionError>}`, with the HTTP status that fits
//! it, and the extractors whose rejections use that shape ([`ApiJson`], [`ApiQuery`]), so bad
//! input is always a 4xx naming the field and never a 500 or a plain-text body.
//!
//! Internal failures (the store, a bug) are logged with their detail and answered with a
//! generic 500 message: nothing internal, and never a secret, reaches the caller.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brickwire_connector::{ActionError, ErrorCode};
use serde::de::DeserializeOwned;

use crate::accounts::AccountClientError;
use crate::link::LinkError;

/// An error answer of the REST API.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error: ActionError,
    challenge: bool,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error: ActionError::new(code, message),
            challenge: false,
        }
    }

    /// 400 `INVALID_INPUT` naming `field`.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: ActionError::invalid_input(field, problem),
            challenge: false,
        }
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// 401 `UNAUTHENTICATED` for the operator key, with `WWW-Authenticate: Bearer`.
    pub fn operator_unauthenticated(message: impl Into<String>) -> Self {
        Self {
            challenge: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                message,
            )
        }
    }

    /// 500 with a generic message; `detail` is logged only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::UpstreamError,
            "internal error; the service log has the details",
        )
    }

    /// An action's error, with the status its code maps to (see [`status_of`]).
    pub fn from_action(error: ActionError) -> Self {
        Self {
            status: status_of(error.code),
            error,
            challenge: false,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error body's content.
    pub fn action_error(&self) -> &ActionError {
        &self.error
    }
}

/// The HTTP status of an action error code:
/// `INVALID_INPUT`/`CONFIG_ERROR` 400, `UNAUTHENTICATED` 401, `PERMISSION_DENIED` 403,
/// `NOT_FOUND`/`UNKNOWN_ACTION` 404, `ALREADY_EXISTS`/`CONFLICT` 409, `OPERATION_FAILED` 422,
/// `RATE_LIMITED` 429, `NETWORK_ERROR`/`UPSTREAM_ERROR` 502, `UNAVAILABLE` 503, `TIMEOUT` 504.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput | ErrorCode::ConfigError => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound | ErrorCode::UnknownAction => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists | ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::OperationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.error })),
        )
            .into_response();
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"brickwire\""),
            );
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        match e {
            E::NotFound { entity, id } => ApiError::not_found(format!("{entity} {id} not found")),
            E::InvalidInput { field, message } => ApiError::invalid(field, message),
            E::Conflict { .. } | E::LeaseLost { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
            }
            E::ConnectSessionConsumed | E::ConnectSessionExpired => {
                ApiError::new(StatusCode::GONE, ErrorCode::Conflict, e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let (status, error) = e.to_action_error();
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
            challenge: false,
        }
    }
}

impl From<AccountClientError> for ApiError {
    fn from(e: AccountClientError) -> Self {
        match e {
            AccountClientError::NotFound(id) => {
                ApiError::not_found(format!("linked account {id} not found"))
            }
            AccountClientError::NeedsReconnect(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                e.to_string(),
            ),
            AccountClientError::Store(e) => e.into(),
            AccountClientError::Client(e) => ApiError::internal(e),
        }
    }
}

/// A JSON body parsed with the field path of any error: a syntax error, a wrong type, a missing
/// or unknown field all give 400 `INVALID_INPUT` naming the field; a body over the limit 413;
/// a non-JSON content type 415.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(kind) = req.headers().get(header::CONTENT_TYPE) {
            let kind = kind.to_str().unwrap_or_default().to_ascii_lowercase();
            if !kind.starts_with("application/json") && !kind.contains("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::InvalidInput,
                    "send the body as JSON (Content-Type: application/json)",
                ));
            }
        }
        let bytes = body_bytes(req, state).await?;
        require_object(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: an empty body is `None`, anything else is parsed as [`ApiJson`].
#[derive(Debug, Clone)]
pub struct MaybeJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(MaybeJson(None));
        }
        require_object(&bytes)?;
        parse_json(&bytes).map(|v| MaybeJson(Some(v)))
    }
}

/// Reads the body, answering 413 in the error shape when it is over the limit.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidInput,
                format!(
                    "the request body is larger than the limit of {} bytes",
                    super::MAX_BODY_BYTES
                ),
            )
        } else {
            ApiError::invalid(
                "",
                format!("the request body could not be read: {rejection}"),
            )
        }
    })
}

/// Refuses a body that is not a JSON object (serde would read an array into a struct).
fn require_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "",
            "the request body must be a JSON object",
        )),
    }
}

/// Parses JSON naming the path of the first error (`scopes.additional[1]`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "",
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ApiError::invalid(&field, e.into_inner())
    })?;
    de.end()
        .map_err(|e| ApiError::invalid("", format!("trailing data after the JSON value: {e}")))?;
    Ok(value)
}

/// Path parameters; a segment that does not decode is 400 `INVALID_INPUT` (never plain text).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid("path", e.body_text()))
    }
}

/// Query parameters; an unknown or malformed parameter is 400 `INVALID_INPUT`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid("query", e))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        list: Vec<u32>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "inner": {"list": [1, "x"]}}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(
            err.action_error().message.contains("`inner.list[1]`"),
            "{}",
            err.action_error().message
        );
        let err = parse_json::<Body>(br#"{"name": "a", "extra": 1}"#).unwrap_err();
        assert!(err.action_error().message.contains("unknown field `extra`"));
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert!(err.action_error().message.contains("missing field `name`"));
        let err = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.action_error().code, ErrorCode::InvalidInput);
        let err = parse_json::<Body>(b"").unwrap_err();
        assert!(err.action_error().message.contains("empty"));
        let err = parse_json::<Body>(br#"{"name": "a"} {}"#).unwrap_err();
        assert!(err.action_error().message.contains("trailing"));
    }
}
