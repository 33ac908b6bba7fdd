//! The one error type of the client: every failure, classified once.
//!
//! [`Error::kind`] says what failed in Databricks' terms (not found, already exists, rate
//! limited, ...) so callers branch on a kind, not on a message. An [`ApiError`] keeps what the
//! server said: HTTP status, `error_code`, message, details and request id. No variant ever
//! holds a secret.

use std::time::Duration;

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, independent of how Databricks spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist (404, `RESOURCE_DOES_NOT_EXIST`, `*_DOES_NOT_EXIST`,
    /// 400 `INVALID_PARAMETER_VALUE` "... does not exist" for clusters, jobs and runs, SCIM 404).
    NotFound,
    /// The resource exists already (409, `*_ALREADY_EXISTS`).
    AlreadyExists,
    /// A conflicting concurrent change (409 `ABORTED`, other 409s).
    Conflict,
    /// The caller is authenticated but not allowed (403 `PERMISSION_DENIED`).
    PermissionDenied,
    /// The credentials are missing, wrong or expired (401, 403 "Invalid access token").
    Unauthenticated,
    /// The request itself is invalid (other 400s).
    InvalidInput,
    /// Throttled (429, `REQUEST_LIMIT_EXCEEDED`, `RESOURCE_EXHAUSTED`).
    RateLimited,
    /// The service is temporarily unavailable (503, transient messages).
    Unavailable,
    /// A deadline passed: an attempt, the retry budget, or a waiter.
    Timeout,
    /// The request could not be sent or its response not read.
    Transport,
    /// The response was not the JSON we expected.
    Decode,
    /// The server failed (500 and other 5xx).
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
    pub details: Vec<serde_json::Value>,
    /// The request id, from the `x-request-id` header or a `RequestInfo` detail.
    pub request_id: Option<String>,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
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

/// Every failure of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Databricks answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The configuration is incomplete or contradictory.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Credentials could not be obtained or refreshed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The request could not be sent, or the response not read.
    #[error("transport error on {method} {path}: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path (no query string, so no secret can leak through it).
        path: String,
        /// What went wrong.
        message: String,
        /// Whether the request may have reached the server.
        maybe_sent: bool,
    },
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A response body did not decode.
    #[error("could not decode the response at `{path}`: {message}")]
    Decode {
        /// The JSON path that broke, e.g. `clusters[3].state`.
        path: String,
        /// What was wrong there.
        message: String,
        /// The start of the body, for diagnosis.
        body_excerpt: String,
    },
    /// A long-running operation reached a failure state.
    #[error("{operation} reached failure state {state}: {message}")]
    OperationFailed {
        /// What was being waited for, e.g. `cluster 0123-456789-abc`.
        operation: String,
        /// The failure state reached.
        state: String,
        /// The state message, if any.
        message: String,
    },
}

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(api) => api.kind,
            Error::Config(_) => ErrorKind::Config,
            Error::Auth(_) => ErrorKind::Unauthenticated,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::OperationFailed { .. } => ErrorKind::OperationFailed,
        }
    }

    /// The server's answer, when there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// Whether the resource did not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Whether the resource existed already.
    pub fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|a| a.status)
    }

    /// Databricks' `error_code`, when the server sent one.
    pub fn error_code(&self) -> Option<&str> {
        self.api().and_then(|a| a.error_code.as_deref())
    }

    /// The request id, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.api().and_then(|a| a.request_id.as_deref())
    }
}

impl From<ApiError> for Error {
    fn from(value: ApiError) -> Self {
        Error::Api(Box::new(value))
    }
}
