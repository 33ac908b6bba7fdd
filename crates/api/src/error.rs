//! Databricks error responses, parsed and classified once, without I/O.
//!
//! Start with [`parse_error`]: it turns a failed response (status, a few header values, the
//! body) into an [`ApiError`] whatever shape the body has, and [`classify`] decides its
//! [`ErrorKind`]. Shapes understood, in the order the official SDKs try them:
//!
//! - empty body: the message is the HTTP reason phrase;
//! - JSON `{"error_code", "message", "details"}` (an integer `error_code` counts as absent);
//! - API 1.2 JSON `{"error": "msg"}`;
//! - SCIM JSON `{"detail", "status", "scimType"}`: code `SCIM_<status>`, message
//!   `"<scimType> <detail>"`;
//! - plain text `ERROR_CODE: message`;
//! - HTML with `<pre>msg</pre>` (or `<title>`): the code is the reason phrase upper-cased.
//!
//! [`TRANSIENT_MESSAGES`] lists the message fragments the official SDKs treat as transient.

use std::time::Duration;

use serde_json::Value;

/// What kind of failure an error is, independent of how Databricks spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist (404, `RESOURCE_DOES_NOT_EXIST`, `*_DOES_NOT_EXIST`,
    /// 400 `INVALID_PARAMETER_VALUE` "... does not exist" for clusters, jobs and runs, SCIM 404).
    NotFound,
    /// The resource exists already (`*_ALREADY_EXISTS`, `ALREADY_EXISTS`, SCIM 409
    /// `uniqueness`).
    AlreadyExists,
    /// A conflicting concurrent change (409 `ABORTED`, other 409s).
    Conflict,
    /// The caller is authenticated but not allowed (403 `PERMISSION_DENIED`).
    PermissionDenied,
    /// The credentials are missing, wrong or expired (401, 403 "Invalid access token").
    Unauthenticated,
    /// The request itself is invalid (other 400s and other 4xx).
    InvalidInput,
    /// Throttled (429, `REQUEST_LIMIT_EXCEEDED`, `RESOURCE_EXHAUSTED`).
    RateLimited,
    /// The service is temporarily unavailable (503, or a message from
    /// [`TRANSIENT_MESSAGES`]).
    Unavailable,
    /// A deadline passed: an attempt, the retry budget, or a waiter (also HTTP 504).
    Timeout,
    /// The request could not be sent or its response not read.
    Transport,
    /// The response was not the JSON we expected.
    Decode,
    /// The server failed (500, 501 and other 5xx).
    Internal,
    /// The configuration is incomplete or contradictory.
    Config,
    /// A long-running operation reached a failure state.
    OperationFailed,
}

/// What Databricks answered when a request failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The classification of this error.
    pub kind: ErrorKind,
    /// HTTP status code.
    pub status: u16,
    /// Databricks' `error_code` (for SCIM: `SCIM_<status>`), if any.
    pub error_code: Option<String>,
    /// The human-readable message.
    pub message: String,
    /// The `details` array of the error body, as sent.
    pub details: Vec<Value>,
    /// The request id, from the `x-request-id` header or a `RequestInfo` detail.
    pub request_id: Option<String>,
    /// `Retry-After`, when the server sent one the client could read.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Whether the official SDKs retry this answer: HTTP 429 and 503 always, any other status
    /// only when the message contains one of [`TRANSIENT_MESSAGES`].
    pub fn is_retryable(&self) -> bool {
        self.status == 429 || self.status == 503 || self.transient_match().is_some()
    }

    /// The entry of [`TRANSIENT_MESSAGES`] the message contains, if any.
    pub fn transient_match(&self) -> Option<&'static str> {
        transient_match(&self.message)
    }

    /// Whether the server rejected the credentials themselves (401, or the legacy
    /// 403 "Invalid access token."), so a refreshed token may succeed.
    pub fn is_credentials_rejected(&self) -> bool {
        self.status == 401 || (self.status == 403 && is_invalid_token_message(&self.message))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_code {
            Some(code) => write!(f, "{code}: {} (HTTP {})", self.message, self.status)?,
            None => write!(f, "{} (HTTP {})", self.message, self.status)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Message fragments that mark an error as transient, whatever its status. These are the
/// strings the official Databricks SDKs (Python `_BaseClient`, Go `apierr`) retry on.
pub const TRANSIENT_MESSAGES: &[&str] = &[
    "com.databricks.backend.manager.util.UnknownWorkerEnvironmentException",
    "does not have any associated worker environments",
    "There is no worker environment with id",
    "Unknown worker environment",
    "ClusterNotReadyException",
    "Unexpected error",
    "Please try again later or try a faster operation.",
    "RPC token bucket limit has been exceeded",
];

/// The entry of [`TRANSIENT_MESSAGES`] that `message` contains, if any.
pub fn transient_match(message: &str) -> Option<&'static str> {
    TRANSIENT_MESSAGES
        .iter()
        .copied()
        .find(|fragment| message.contains(fragment))
}

/// What the transport knows about a failed response besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorResponse<'a> {
    /// HTTP status code.
    pub status: u16,
    /// The `x-request-id` header, if present.
    pub request_id: Option<&'a str>,
    /// `Retry-After`, already parsed by the caller (it needs a clock for HTTP dates).
    pub retry_after: Option<Duration>,
}

/// Parses a failed response into an [`ApiError`] and classifies it.
///
/// ```
/// use brickwire_api::error::{parse_error, ErrorKind, ErrorResponse};
/// let body = br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist."}"#;
/// let err = parse_error(&ErrorResponse { status: 404, ..Default::default() }, body);
/// assert_eq!(err.kind, ErrorKind::NotFound);
/// assert_eq!(err.error_code.as_deref(), Some("RESOURCE_DOES_NOT_EXIST"));
/// ```
pub fn parse_error(response: &ErrorResponse<'_>, body: &[u8]) -> ApiError {
    let status = response.status;
    let parsed = parse_body(status, body);
    let request_id = response
        .request_id
        .map(str::to_owned)
        .or_else(|| request_id_from_details(&parsed.details));
    ApiError {
        kind: classify(status, parsed.error_code.as_deref(), &parsed.message),
        status,
        error_code: parsed.error_code,
        message: parsed.message,
        details: parsed.details,
        request_id,
        retry_after: response.retry_after,
    }
}

/// The code, message and details of an error body, before classification.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedBody {
    /// `error_code`, if the body had a usable one.
    pub error_code: Option<String>,
    /// The human-readable message.
    pub message: String,
    /// The `details` array, if any.
    pub details: Vec<Value>,
}

/// Extracts code, message and details from any error body shape (see the module docs).
pub fn parse_body(status: u16, body: &[u8]) -> ParsedBody {
    let reason = reason_phrase(status);
    if body.iter().all(u8::is_ascii_whitespace) {
        return ParsedBody {
            message: reason.to_owned(),
            ..ParsedBody::default()
        };
    }
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return parse_json_object(&map);
    }
    let text = String::from_utf8_lossy(body);
    if let Some((code, message)) = parse_code_colon_message(&text) {
        return ParsedBody {
            error_code: Some(code.to_owned()),
            message: message.to_owned(),
            details: Vec::new(),
        };
    }
    if let Some(message) = html_message(&text) {
        return ParsedBody {
            error_code: Some(reason.to_uppercase().replace(' ', "_")),
            message: if message.is_empty() {
                reason.to_owned()
            } else {
                message
            },
            details: Vec::new(),
        };
    }
    ParsedBody {
        message: format!("unparseable error response: {}", excerpt(&text, 512)),
        ..ParsedBody::default()
    }
}

fn parse_json_object(map: &serde_json::Map<String, Value>) -> ParsedBody {
    let text = |key: &str| match map.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut error_code = text("error_code");
    let mut message = text("message").unwrap_or_else(|| "request failed".to_owned());
    let details = match map.get("details") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    if let Some(error) = text("error") {
        message = error;
    }
    if let Some(detail) = text("detail").filter(|d| !d.is_empty()) {
        let detail = if detail == "null" {
            "SCIM API Internal Error".to_owned()
        } else {
            detail
        };
        let scim_type = text("scimType").unwrap_or_default();
        message = format!("{scim_type} {detail}").trim().to_owned();
        let scim_status = match map.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        error_code = Some(format!("SCIM_{scim_status}"));
    }
    ParsedBody {
        error_code,
        message,
        details,
    }
}

/// `ERROR_CODE: message` at the start of a text body (code: `[A-Z_]+`, message up to the
/// end of the first line).
fn parse_code_colon_message(text: &str) -> Option<(&str, &str)> {
    let (code, rest) = text.split_once(": ")?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return None;
    }
    Some((code, rest.lines().next().unwrap_or("")))
}

/// The text of the first `<pre>` element on one line, else of `<title>`.
fn html_message(text: &str) -> Option<String> {
    ["pre", "title"].iter().find_map(|tag| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        text.lines().find_map(|line| {
            let start = line.find(&open)? + open.len();
            let end = line[start..].rfind(&close)? + start;
            Some(unescape_html(&line[start..end]))
        })
    })
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn excerpt(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The `request_id` of a `type.googleapis.com/google.rpc.RequestInfo` detail.
fn request_id_from_details(details: &[Value]) -> Option<String> {
    details.iter().find_map(|detail| {
        let kind = detail.get("@type")?.as_str()?;
        if !kind.ends_with("google.rpc.RequestInfo") {
            return None;
        }
        detail
            .get("request_id")?
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    })
}

fn is_invalid_token_message(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("invalid access token")
}

/// Decides the [`ErrorKind`] of an error from its status, code and message.
///
/// Credential rejections come first, then throttling and unavailability (which callers
/// retry), then a specific `error_code`, which takes precedence over the generic status.
pub fn classify(status: u16, error_code: Option<&str>, message: &str) -> ErrorKind {
    let code = error_code.unwrap_or("");
    if status == 401 || (status == 403 && is_invalid_token_message(message)) {
        return ErrorKind::Unauthenticated;
    }
    if status == 429 || matches!(code, "REQUEST_LIMIT_EXCEEDED" | "RESOURCE_EXHAUSTED") {
        return ErrorKind::RateLimited;
    }
    if status == 503 || transient_match(message).is_some() {
        return ErrorKind::Unavailable;
    }
    if code == "NOT_FOUND" || code.ends_with("_DOES_NOT_EXIST") {
        return ErrorKind::NotFound;
    }
    if code == "ALREADY_EXISTS" || code.ends_with("_ALREADY_EXISTS") {
        return ErrorKind::AlreadyExists;
    }
    if code == "SCIM_409"
        && (message.starts_with("uniqueness") || message.contains("already exists"))
    {
        return ErrorKind::AlreadyExists;
    }
    // Clusters, jobs and runs answer an unknown id with 400 INVALID_PARAMETER_VALUE
    // "Cluster <id> does not exist" / "Run: 1 in job: 2 doesn't exist"; the SDKs re-map it.
    if status == 400
        && code == "INVALID_PARAMETER_VALUE"
        && (message.contains("does not exist") || message.contains("doesn't exist"))
    {
        return ErrorKind::NotFound;
    }
    match code {
        "PERMISSION_DENIED" => return ErrorKind::PermissionDenied,
        "UNAUTHENTICATED" => return ErrorKind::Unauthenticated,
        "ABORTED" => return ErrorKind::Conflict,
        "INVALID_PARAMETER_VALUE" | "INVALID_STATE" | "BAD_REQUEST" => {
            return ErrorKind::InvalidInput;
        }
        "DEADLINE_EXCEEDED" => return ErrorKind::Timeout,
        "TEMPORARILY_UNAVAILABLE" => return ErrorKind::Unavailable,
        "UNKNOWN" | "DATA_LOSS" | "INTERNAL_ERROR" => return ErrorKind::Internal,
        _ => {}
    }
    match status {
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        504 => ErrorKind::Timeout,
        400..=499 => ErrorKind::InvalidInput,
        _ => ErrorKind::Internal,
    }
}

/// The canonical reason phrase of a status code (`"Not Found"`), or `"Unknown Error"`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Entity",
        425 => "Too Early",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> ApiError {
        parse_error(
            &ErrorResponse {
                status,
                ..Default::default()
            },
            body.as_bytes(),
        )
    }

    #[test]
    fn every_body_shape_parses() {
        // (status, body, error_code, message)
        let cases: &[(u16, &str, Option<&str>, &str)] = &[
            (
                404,
                r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/x) doesn't exist."}"#,
                Some("RESOURCE_DOES_NOT_EXIST"),
                "Path (/x) doesn't exist.",
            ),
            (
                400,
                r#"{"error_code":400,"message":"legacy integer code"}"#,
                None,
                "legacy integer code",
            ),
            (
                403,
                r#"{"error_code":"403","message":"Invalid access token."}"#,
                Some("403"),
                "Invalid access token.",
            ),
            (
                500,
                r#"{"error":"api 1.2 message"}"#,
                None,
                "api 1.2 message",
            ),
            (400, r#"{"error_code":"X"}"#, Some("X"), "request failed"),
            (
                404,
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User 7 not found.","status":"404"}"#,
                Some("SCIM_404"),
                "User 7 not found.",
            ),
            (
                409,
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User already exists.","status":"409","scimType":"uniqueness"}"#,
                Some("SCIM_409"),
                "uniqueness User already exists.",
            ),
            (
                500,
                r#"{"detail":"null","status":500,"scimType":""}"#,
                Some("SCIM_500"),
                "SCIM API Internal Error",
            ),
            (
                400,
                "INVALID_PARAMETER_VALUE: bad value\nsecond line",
                Some("INVALID_PARAMETER_VALUE"),
                "bad value",
            ),
            (
                502,
                "<html><body><pre>upstream &lt;gone&gt;</pre></body></html>",
                Some("BAD_GATEWAY"),
                "upstream <gone>",
            ),
            (
                503,
                "<html><head><title>Maintenance</title></head></html>",
                Some("SERVICE_UNAVAILABLE"),
                "Maintenance",
            ),
            (404, "<pre></pre>", Some("NOT_FOUND"), "Not Found"),
            (404, "", None, "Not Found"),
            (503, "  \n", None, "Service Unavailable"),
            (
                500,
                "something odd",
                None,
                "unparseable error response: something odd",
            ),
            (500, "[1,2]", None, "unparseable error response: [1,2]"),
        ];
        for (status, body, code, message) in cases {
            let err = parse(*status, body);
            assert_eq!(err.error_code.as_deref(), *code, "code of {body:?}");
            assert_eq!(err.message, *message, "message of {body:?}");
            assert_eq!(err.status, *status);
        }
    }

    #[test]
    fn every_error_is_classified() {
        use ErrorKind::*;
        // (status, error_code, message, kind)
        let cases: &[(u16, Option<&str>, &str, ErrorKind)] = &[
            (404, None, "Not Found", NotFound),
            (404, Some("RESOURCE_DOES_NOT_EXIST"), "x", NotFound),
            (404, Some("CATALOG_DOES_NOT_EXIST"), "x", NotFound),
            (400, Some("TABLE_DOES_NOT_EXIST"), "x", NotFound),
            (404, Some("NOT_FOUND"), "x", NotFound),
            (404, Some("SCIM_404"), "User 1 not found", NotFound),
            (
                400,
                Some("INVALID_PARAMETER_VALUE"),
                "Cluster 0123-456789-abc does not exist",
                NotFound,
            ),
            (
                400,
                Some("INVALID_PARAMETER_VALUE"),
                "Job 12 does not exist.",
                NotFound,
            ),
            (
                400,
                Some("INVALID_PARAMETER_VALUE"),
                "Run: 1 in job: 2 doesn't exist",
                NotFound,
            ),
            (
                400,
                Some("INVALID_PARAMETER_VALUE"),
                "num_workers must be >= 0",
                InvalidInput,
            ),
            (409, Some("ALREADY_EXISTS"), "x", AlreadyExists),
            (409, Some("RESOURCE_ALREADY_EXISTS"), "x", AlreadyExists),
            (400, Some("RESOURCE_ALREADY_EXISTS"), "x", AlreadyExists),
            (400, Some("SCHEMA_ALREADY_EXISTS"), "x", AlreadyExists),
            (
                409,
                Some("SCIM_409"),
                "uniqueness User already exists.",
                AlreadyExists,
            ),
            (409, Some("ABORTED"), "x", Conflict),
            (409, None, "Conflict", Conflict),
            (403, Some("PERMISSION_DENIED"), "no", PermissionDenied),
            (403, None, "Forbidden", PermissionDenied),
            (401, None, "Unauthorized", Unauthenticated),
            (401, Some("UNAUTHENTICATED"), "x", Unauthenticated),
            (403, Some("403"), "Invalid access token.", Unauthenticated),
            (400, None, "Bad Request", InvalidInput),
            (400, Some("INVALID_STATE"), "quota", InvalidInput),
            (400, Some("QUOTA_EXCEEDED"), "quota", InvalidInput),
            (422, None, "x", InvalidInput),
            (429, None, "Too Many Requests", RateLimited),
            (429, Some("REQUEST_LIMIT_EXCEEDED"), "x", RateLimited),
            (400, Some("RESOURCE_EXHAUSTED"), "x", RateLimited),
            (503, None, "Service Unavailable", Unavailable),
            (
                400,
                Some("INVALID_STATE"),
                "ClusterNotReadyException: starting",
                Unavailable,
            ),
            (504, None, "Gateway Timeout", Timeout),
            (500, None, "Internal Server Error", Internal),
            (500, Some("UNKNOWN"), "x", Internal),
            (501, None, "Not Implemented", Internal),
            (502, None, "Bad Gateway", Internal),
        ];
        for (status, code, message, kind) in cases {
            assert_eq!(
                classify(*status, *code, message),
                *kind,
                "{status} {code:?} {message:?}"
            );
        }
    }

    #[test]
    fn request_id_comes_from_header_then_details() {
        let body = br#"{"error_code":"X","message":"m","details":[
            {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"r"},
            {"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"from-body","serving_data":""}]}"#;
        let mut response = ErrorResponse {
            status: 400,
            ..Default::default()
        };
        let err = parse_error(&response, body);
        assert_eq!(err.request_id.as_deref(), Some("from-body"));
        assert_eq!(err.details.len(), 2);
        response.request_id = Some("from-header");
        let err = parse_error(&response, body);
        assert_eq!(err.request_id.as_deref(), Some("from-header"));
        assert_eq!(err.to_string(), "X: m (HTTP 400) [request id from-header]");
    }

    #[test]
    fn retry_after_is_kept_and_retryability_follows_the_sdks() {
        let err = parse_error(
            &ErrorResponse {
                status: 429,
                request_id: None,
                retry_after: Some(Duration::from_secs(7)),
            },
            b"",
        );
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
        assert!(err.is_retryable());
        for (status, body, retryable) in [
            (503, "", true),
            (500, "", false),
            (504, "", false),
            (
                400,
                r#"{"message":"Unexpected error while starting"}"#,
                true,
            ),
            (409, r#"{"error_code":"ABORTED","message":"x"}"#, false),
        ] {
            assert_eq!(
                parse(status, body).is_retryable(),
                retryable,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn credential_rejections_are_recognised() {
        assert!(parse(401, "").is_credentials_rejected());
        assert!(
            parse(
                403,
                r#"{"error_code":"403","message":"Invalid access token."}"#
            )
            .is_credentials_rejected()
        );
        assert!(
            !parse(403, r#"{"error_code":"PERMISSION_DENIED","message":"no"}"#)
                .is_credentials_rejected()
        );
    }
}
