//! The one error shape of every action: a stable `code`, a message naming the field or the
//! Databricks reason, Databricks' `error_code` and request id when there was one, and whether
//! retrying may help.
//!
//! [`ActionError::from_client`] maps the client's [`ErrorKind`] once; nothing else in the crate
//! inspects client errors. Messages come from validation or from the server's own message, so
//! they never hold a credential.

use brickwire_client::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// What kind of failure an [`ActionError`] is. Serialized as `SCREAMING_SNAKE_CASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The input does not match the action's schema, or Databricks rejected it (400).
    InvalidInput,
    /// The action id is not in the catalog.
    UnknownAction,
    /// The resource does not exist.
    NotFound,
    /// The resource exists already.
    AlreadyExists,
    /// A concurrent change conflicted (409).
    Conflict,
    /// Authenticated but not allowed.
    PermissionDenied,
    /// The credentials are missing, wrong or expired.
    Unauthenticated,
    /// Throttled by Databricks.
    RateLimited,
    /// A deadline passed (a request, the retry budget, or a `wait`).
    Timeout,
    /// Databricks is temporarily unavailable (503).
    Unavailable,
    /// The request could not be sent or its answer not read.
    NetworkError,
    /// A long-running operation reached a failure state (cluster `ERROR`, run `INTERNAL_ERROR`).
    OperationFailed,
    /// The connection settings (host, token) are incomplete or wrong.
    ConfigError,
    /// Databricks failed or answered something unexpected.
    UpstreamError,
}

impl ErrorCode {
    /// The wire spelling, e.g. `INVALID_INPUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::UnknownAction => "UNKNOWN_ACTION",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::NetworkError => "NETWORK_ERROR",
            ErrorCode::OperationFailed => "OPERATION_FAILED",
            ErrorCode::ConfigError => "CONFIG_ERROR",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an action failed, in one stable, serializable shape:
///
/// ```json
/// {"code": "NOT_FOUND", "message": "Cluster 0123 does not exist",
///  "error_code": "RESOURCE_DOES_NOT_EXIST", "request_id": "…", "status": 404, "retryable": false}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ActionError {
    /// The classification.
    pub code: ErrorCode,
    /// What went wrong: the field and what was expected, or Databricks' own message.
    pub message: String,
    /// Databricks' `error_code`, when the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The HTTP status, when the server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The request id, when the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether running the action again, unchanged, may succeed.
    pub retryable: bool,
}

impl ActionError {
    /// An error with no upstream details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(
            code,
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Timeout
        );
        Self {
            code,
            message: message.into(),
            error_code: None,
            status: None,
            request_id: None,
            retryable,
        }
    }

    /// `INVALID_INPUT` naming the field: ``invalid input at `cluster_id`: ...``.
    pub fn invalid_input(field: &str, problem: impl std::fmt::Display) -> Self {
        let message = if field.is_empty() {
            format!("invalid input: {problem}")
        } else {
            format!("invalid input at `{field}`: {problem}")
        };
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// Maps a client error. `retry_safe` is the action's own retry safety: a failure whose
    /// outcome is unknown (timeout, transport, 5xx) is retryable only for a retry-safe action,
    /// while throttling and 503 (the request was not carried out) always are.
    pub fn from_client(error: &Error, retry_safe: bool) -> Self {
        let (code, retryable) = match error.kind() {
            ErrorKind::NotFound => (ErrorCode::NotFound, false),
            ErrorKind::AlreadyExists => (ErrorCode::AlreadyExists, false),
            ErrorKind::Conflict => (ErrorCode::Conflict, retry_safe),
            ErrorKind::PermissionDenied => (ErrorCode::PermissionDenied, false),
            ErrorKind::Unauthenticated => (ErrorCode::Unauthenticated, false),
            ErrorKind::InvalidInput => (ErrorCode::InvalidInput, false),
            ErrorKind::RateLimited => (ErrorCode::RateLimited, true),
            ErrorKind::Unavailable => (ErrorCode::Unavailable, true),
            ErrorKind::Timeout => (ErrorCode::Timeout, retry_safe),
            ErrorKind::Transport => {
                let maybe_sent = !matches!(
                    error,
                    Error::Transport {
                        maybe_sent: false,
                        ..
                    }
                );
                (ErrorCode::NetworkError, retry_safe || !maybe_sent)
            }
            ErrorKind::Config => (ErrorCode::ConfigError, false),
            ErrorKind::OperationFailed => (ErrorCode::OperationFailed, false),
            ErrorKind::Internal => (ErrorCode::UpstreamError, retry_safe),
            _ => (ErrorCode::UpstreamError, false),
        };
        let api = error.api();
        Self {
            code,
            message: match api {
                Some(api) if !api.message.trim().is_empty() => api.message.clone(),
                Some(api) => format!("Databricks answered HTTP {} without a message", api.status),
                None => error.to_string(),
            },
            error_code: api.and_then(|a| a.error_code.clone()),
            status: api.map(|a| a.status),
            request_id: api.and_then(|a| a.request_id.clone()),
            retryable,
        }
    }

    /// The error as JSON (the shape documented on [`ActionError`]).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickwire_client::error::ApiError;

    fn api(kind: ErrorKind, status: u16, code: &str) -> Error {
        ApiError {
            kind,
            status,
            error_code: Some(code.into()),
            message: "Cluster c-1 does not exist".into(),
            details: vec![],
            request_id: Some("req-1".into()),
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn api_errors_keep_code_status_and_request_id() {
        let e = ActionError::from_client(
            &api(ErrorKind::NotFound, 404, "RESOURCE_DOES_NOT_EXIST"),
            true,
        );
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "code": "NOT_FOUND", "message": "Cluster c-1 does not exist",
                "error_code": "RESOURCE_DOES_NOT_EXIST", "status": 404,
                "request_id": "req-1", "retryable": false
            })
        );
    }

    #[test]
    fn retryability_depends_on_the_action_for_unknown_outcomes() {
        let internal = api(ErrorKind::Internal, 500, "INTERNAL_ERROR");
        assert!(ActionError::from_client(&internal, true).retryable);
        assert!(!ActionError::from_client(&internal, false).retryable);
        let throttled = api(ErrorKind::RateLimited, 429, "REQUEST_LIMIT_EXCEEDED");
        let e = ActionError::from_client(&throttled, false);
        assert_eq!((e.code, e.retryable), (ErrorCode::RateLimited, true));
        let refused = Error::Transport {
            method: "POST".into(),
            path: "/api/2.1/clusters/create".into(),
            message: "connection refused".into(),
            maybe_sent: false,
        };
        assert!(ActionError::from_client(&refused, false).retryable);
    }
}
