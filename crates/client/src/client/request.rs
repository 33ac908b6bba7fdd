//! What a service hands to the [`super::Client`]: an [`ApiRequest`] (pure data, built and
//! tested without a server) with its [`RequestBody`], and what comes back: a whole
//! [`ApiResponse`] or an [`ApiStream`]. `Debug` of a request withholds credentials.

use std::fmt;

use bytes::Bytes;
use futures::stream::BoxStream;
use http::{HeaderMap, Method, StatusCode};

use crate::error::{Result, is_sensitive_key};

/// The body of an [`ApiRequest`]. `Debug` withholds credential fields (`client_secret`,
/// `refresh_token`, ...) and raw bytes.
#[derive(Clone, PartialEq)]
pub enum RequestBody {
    /// A JSON document (`Content-Type: application/json`).
    Json(serde_json::Value),
    /// A form (`application/x-www-form-urlencoded`).
    Form(Vec<(String, String)>),
    /// Raw bytes with their content type.
    Bytes {
        /// The `Content-Type` to send.
        content_type: String,
        /// The payload.
        data: Bytes,
    },
}

/// One Databricks REST call, as data: method, path relative to the workspace, query, body.
///
/// `Debug` withholds header values and the values of credential query parameters and body
/// fields, so a request can be logged.
#[derive(Clone, PartialEq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute path on the workspace, e.g. `/api/2.1/clusters/get`.
    pub path: String,
    /// Query parameters in order; repeated keys are allowed.
    pub query: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<RequestBody>,
    /// Extra headers (never `Authorization`: the credentials provider owns it).
    pub headers: Vec<(String, String)>,
    /// Whether replaying the request is harmless when its outcome is unknown.
    /// Defaults to true for GET, HEAD, PUT, DELETE and OPTIONS, false for POST and PATCH.
    pub idempotent: bool,
    /// Whether the client-side rate limit paces this request (default true). Only requests
    /// whose number is already bounded by something else opt out: the link lookups of a
    /// result download, which never run more than its download window at once. The server's
    /// 429 and `Retry-After` are honoured either way.
    pub paced: bool,
}

impl ApiRequest {
    /// A request with no query and no body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            idempotent,
            paced: true,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` with an empty JSON object as its body until [`ApiRequest::json`],
    /// `form` or `bytes` sets another: the Databricks SDKs send `{}` with
    /// `Content-Type: application/json` for a POST without fields (start a warehouse, cancel
    /// a statement), and gateways may treat a bodiless POST differently.
    pub fn post(path: impl Into<String>) -> Self {
        let mut request = Self::new(Method::POST, path);
        request.body = Some(RequestBody::Json(serde_json::Value::Object(
            Default::default(),
        )));
        request
    }

    /// `PATCH path`.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Adds one query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((key.into(), value.to_string()));
        self
    }

    /// Adds a query parameter when the value is present.
    pub fn query_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(RequestBody::Json(body));
        self
    }

    /// Sets a form body (`application/x-www-form-urlencoded`), as OAuth token endpoints want.
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.body = Some(RequestBody::Form(fields));
        self
    }

    /// Sets a raw body with its content type.
    pub fn bytes(mut self, content_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        self.body = Some(RequestBody::Bytes {
            content_type: content_type.into(),
            data: data.into(),
        });
        self
    }

    /// Adds a header (an `Authorization` header here is ignored: the credentials provider
    /// owns it).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Marks the request as safe (or not) to replay when its outcome is unknown.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Lets the request through the client-side rate limit without waiting (or not); see
    /// [`ApiRequest::paced`].
    pub fn paced(mut self, paced: bool) -> Self {
        self.paced = paced;
        self
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestBody::Json(value) => {
                let mut value = value.clone();
                crate::error::redact_json(&mut value);
                f.debug_tuple("Json").field(&value).finish()
            }
            RequestBody::Form(fields) => f
                .debug_tuple("Form")
                .field(&redacted_pairs(fields))
                .finish(),
            RequestBody::Bytes { content_type, data } => f
                .debug_struct("Bytes")
                .field("content_type", content_type)
                .field("len", &data.len())
                .finish(),
        }
    }
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &path_without_query(&self.path))
            .field("query", &redacted_pairs(&self.query))
            .field("body", &self.body)
            .field("headers", &header_names)
            .field("idempotent", &self.idempotent)
            .finish()
    }
}

fn redacted_pairs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(key, value)| {
            if is_sensitive_key(key) {
                (key.as_str(), "[redacted]")
            } else {
                (key.as_str(), value.as_str())
            }
        })
        .collect()
}

/// A raw response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// A successful response whose body is read as it arrives (large downloads such as SQL
/// result chunks). Retries cover everything up to the response headers; a failure while
/// streaming the body is an [`Error::Transport`] item of the stream.
pub struct ApiStream {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, chunk by chunk.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl fmt::Debug for ApiStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiStream")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The path of a request without its query string or fragment, so no secret in them is shown.
pub(super) fn path_without_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}
