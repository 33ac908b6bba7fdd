//! The one error type of the client: every failure, classified once.
//!
//! [`Error::kind`] says what failed in Databricks' terms (not found, already exists, rate
//! limited, ...) so callers branch on a kind, not on a message. An [`ApiError`] keeps what the
//! server said: HTTP status, `error_code`, message, details and request id; it is parsed and
//! classified in `brickwire_api::error` (pure functions, no I/O). An [`AuthError`] says why
//! credentials could not be had ([`AuthFailure`]: what the OAuth token endpoint answered, no
//! refresh token, ...), so callers ask [`AuthError::needs_new_login`] instead of reading the
//! message. No variant ever holds a secret: requests are named by method and path (never the
//! query string or headers), and body excerpts have credential fields withheld.

use std::fmt;

pub use brickwire_api::error::{ApiError, ErrorKind};

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    Auth(AuthError),
    /// The request could not be sent, or the response not read.
    #[error("transport error on {method} {path}: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path (no query string, so no secret can leak through it).
        path: String,
        /// What went wrong.
        message: String,
        /// Whether the request may have reached the server. When true, the outcome is
        /// unknown: the server may or may not have acted on it.
        maybe_sent: bool,
    },
    /// A deadline passed (an attempt, the retry deadline, or a waiter).
    #[error("timed out: {0}")]
    Timeout(String),
    /// A response body did not decode.
    #[error("could not decode the response at `{path}`: {message}")]
    Decode {
        /// The JSON path that broke, e.g. `clusters[3].state` (`.` for the root).
        path: String,
        /// What was wrong there.
        message: String,
        /// The start of the body, for diagnosis (credential fields withheld).
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

    /// Why credentials could not be obtained, when that is what failed.
    pub fn auth(&self) -> Option<&AuthError> {
        match self {
            Error::Auth(auth) => Some(auth),
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

    /// Whether sending the same request again may succeed and is known to be safe: 429, 503,
    /// a transient message, or a connection that failed before the request was sent.
    ///
    /// The client already retries these until its deadline; this is for callers that retry at
    /// a higher level (waiters, batch jobs). A request that may have reached the server
    /// ([`Error::is_outcome_unknown`]) is not retryable here: only the caller knows whether
    /// replaying it is harmless.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(api) => api.is_retryable(),
            Error::Transport { maybe_sent, .. } => !maybe_sent,
            _ => false,
        }
    }

    /// Whether the request may have reached the server before the connection failed, so
    /// its effect is unknown (the client does not replay such non-idempotent requests).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                maybe_sent: true,
                ..
            }
        )
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

    /// A decode error for `body`, naming the JSON path that broke.
    pub(crate) fn decode(path: String, message: String, body: &[u8]) -> Self {
        let message = if last_key(&path).is_some_and(is_sensitive_key) {
            // serde's messages quote the offending value; this one may be a credential.
            "invalid value (withheld: credential field)".to_owned()
        } else {
            message
        };
        Error::Decode {
            path,
            message,
            body_excerpt: safe_excerpt(body, EXCERPT_BYTES),
        }
    }
}

/// Why credentials could not be obtained or refreshed: the message a user reads, and the
/// [`AuthFailure`] a caller branches on.
///
/// ```
/// use brickwire_client::{AuthError, AuthFailure, Error};
///
/// let err = Error::Auth(AuthError::new(AuthFailure::NoRefreshToken, "log in again"));
/// assert!(err.auth().is_some_and(AuthError::needs_new_login));
/// assert_eq!(err.to_string(), "authentication failed: log in again");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    /// What went wrong, in words for the user (never a secret).
    pub message: String,
    /// What failed, for callers to act on.
    pub reason: AuthFailure,
}

/// What failed when credentials could not be obtained or refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The OAuth token endpoint answered an error status (an RFC 6749 error response when
    /// the body was one). Secrets that were sent are scrubbed from `error` and `description`.
    TokenEndpoint {
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth `error` code (`invalid_grant`, `invalid_client`, ...; or Okta-style
        /// `errorCode`), when the body had one.
        error: Option<String>,
        /// `error_description` (or `errorSummary`), when the body had one.
        description: Option<String>,
    },
    /// The token endpoint answered success with a body that is not a usable token response
    /// (not JSON, or no `access_token`).
    InvalidTokenResponse,
    /// The access token expired and there is no refresh token to renew it with.
    NoRefreshToken,
    /// The OAuth endpoints could not be discovered (host metadata, OIDC discovery document).
    Discovery,
    /// The token endpoint is neither https nor loopback http, so no secret is sent to it.
    InsecureTokenEndpoint,
    /// Anything else: a failed refresh task, a credential that changed kind, a provider's own
    /// failure.
    Other,
}

impl AuthError {
    /// An error for `reason`, described by `message`.
    pub fn new(reason: AuthFailure, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            reason,
        }
    }

    /// An error of reason [`AuthFailure::Other`].
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(AuthFailure::Other, message)
    }

    /// Whether trying again with the same login cannot succeed, so the user must log in
    /// again (or a linked account be reconnected): see [`AuthFailure::needs_new_login`].
    pub fn needs_new_login(&self) -> bool {
        self.reason.needs_new_login()
    }

    /// The same reason with `hint` appended to the message (`"<message>; <hint>"`).
    pub(crate) fn with_hint(self, hint: impl fmt::Display) -> Self {
        Self {
            message: format!("{}; {hint}", self.message),
            reason: self.reason,
        }
    }
}

impl AuthFailure {
    /// Whether trying again with the same login cannot succeed: the token endpoint refused
    /// the request with a 4xx other than 408 and 429 (`invalid_grant` for an expired, revoked
    /// or spent refresh token; `invalid_client`, ...), or there is no refresh token. Transport
    /// failures, 408 (a proxy or gateway timing out), 429, 5xx and discovery failures are
    /// transient.
    pub fn needs_new_login(&self) -> bool {
        match self {
            AuthFailure::TokenEndpoint { status, .. } => {
                (400..500).contains(status) && !matches!(status, 408 | 429)
            }
            AuthFailure::NoRefreshToken => true,
            _ => false,
        }
    }
}

impl From<AuthError> for Error {
    fn from(value: AuthError) -> Self {
        Error::Auth(value)
    }
}

impl From<ApiError> for Error {
    fn from(value: ApiError) -> Self {
        Error::Api(Box::new(value))
    }
}

const EXCERPT_BYTES: usize = 512;

/// JSON keys whose values are credentials.
const SENSITIVE_KEYS: &[&str] = &[
    "access_token",
    "assertion",
    "code",
    "subject_token",
    "refresh_token",
    "id_token",
    "token_value",
    "token",
    "client_secret",
    "password",
    "code_verifier",
    "secret",
];

/// Whether a JSON key, form field or query parameter holds a credential.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    SENSITIVE_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// The last object key of a `serde_path_to_error` path such as `a.b[0].access_token`.
fn last_key(path: &str) -> Option<&str> {
    let last = path.rsplit('.').next()?;
    let key = last.split('[').next()?;
    (!key.is_empty()).then_some(key)
}

/// The start of a body for diagnosis, with credential fields withheld: JSON values under a
/// sensitive key become `[redacted]`; a non-JSON body that mentions such a key is withheld.
pub(crate) fn safe_excerpt(body: &[u8], max: usize) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value) => {
            redact_json(&mut value);
            value.to_string()
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let lower = text.to_ascii_lowercase();
            let mentions =
                |k: &&str| lower.contains(&format!("{k}=")) || lower.contains(&format!("\"{k}\""));
            if SENSITIVE_KEYS.iter().any(mentions) {
                return "[body withheld: it may contain a credential]".to_owned();
            }
            text.into_owned()
        }
    };
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Replaces every value under a credential key with `"[redacted]"`, at any depth.
pub(crate) fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_sensitive_key(key) {
                    *v = serde_json::Value::String("[redacted]".to_owned());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_withhold_credentials() {
        let body = br#"{"access_token":"eyJhbGciOi-SECRET","nested":[{"client_secret":"SECRET2"}],"expires_in":"soon"}"#;
        let excerpt = safe_excerpt(body, 512);
        assert!(!excerpt.contains("SECRET"), "{excerpt}");
        assert!(excerpt.contains("expires_in"));
        let text = b"access_token=SECRET&x=1";
        assert!(!safe_excerpt(text, 512).contains("SECRET"));
        assert_eq!(safe_excerpt("héllo".as_bytes(), 2), "h...");
    }

    #[test]
    fn decode_errors_at_credential_fields_withhold_the_value() {
        let err = Error::decode(
            "access_token".into(),
            "invalid type: string \"SECRET\"".into(),
            b"{}",
        );
        assert!(!err.to_string().contains("SECRET"));
        let err = Error::decode(
            "clusters[0].state".into(),
            "unknown variant `X`".into(),
            b"{}",
        );
        assert!(err.to_string().contains("unknown variant"));
        assert_eq!(last_key("a.b[3]"), Some("b"));
    }

    #[test]
    fn only_token_endpoint_refusals_and_a_missing_refresh_token_need_a_new_login() {
        let answer = |status| AuthFailure::TokenEndpoint {
            status,
            error: None,
            description: None,
        };
        for status in [400, 401, 403, 499] {
            assert!(answer(status).needs_new_login(), "{status}");
        }
        for status in [399, 408, 429, 500, 503] {
            assert!(!answer(status).needs_new_login(), "{status}");
        }
        assert!(AuthFailure::NoRefreshToken.needs_new_login());
        for reason in [
            AuthFailure::Discovery,
            AuthFailure::InvalidTokenResponse,
            AuthFailure::InsecureTokenEndpoint,
            AuthFailure::Other,
        ] {
            assert!(!reason.needs_new_login(), "{reason:?}");
        }
        let err = Error::Auth(AuthError::other("x").with_hint("log in again"));
        assert_eq!(err.to_string(), "authentication failed: x; log in again");
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert!(!err.is_retryable());
    }

    #[test]
    fn retryability_and_unknown_outcomes() {
        let transport = |maybe_sent| Error::Transport {
            method: "POST".into(),
            path: "/api/2.2/jobs/create".into(),
            message: "connection closed".into(),
            maybe_sent,
        };
        assert!(transport(false).is_retryable());
        assert!(!transport(true).is_retryable());
        assert!(transport(true).is_outcome_unknown());
        assert!(!Error::Timeout("x".into()).is_retryable());
        assert_eq!(transport(true).kind(), ErrorKind::Transport);
    }
}
