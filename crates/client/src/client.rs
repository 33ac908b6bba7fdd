//! [`Client`]: one connection pool, one credentials provider, and the request path every service
//! module goes through.
//!
//! Services build an [`ApiRequest`] (pure data, testable without a server) and hand it to
//! [`Client::call`] (JSON in, typed JSON out) or [`Client::send`] (raw status, headers and body).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::credentials::CredentialsProvider;
use crate::error::{Error, Result};

/// Transport settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Timeout of one HTTP attempt.
    pub http_timeout: Duration,
    /// Deadline for an operation including all its retries.
    pub retry_timeout: Duration,
    /// Client-side rate limit in requests per second; `None` disables it.
    pub rate_limit: Option<f64>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            http_timeout: Duration::from_secs(60),
            retry_timeout: Duration::from_secs(300),
            rate_limit: Some(15.0),
        }
    }
}

/// The body of an [`ApiRequest`].
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
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

    /// Marks the request as safe (or not) to replay when its outcome is unknown.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
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

/// A Databricks workspace client. Cheap to clone; clones share the connection pool and the
/// token cache.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    host: Url,
    http: reqwest::Client,
    credentials: Arc<dyn CredentialsProvider>,
    options: ClientOptions,
}

impl Client {
    /// A client for the workspace at `host` with the given credentials.
    pub fn with_credentials(
        host: Url,
        credentials: Arc<dyn CredentialsProvider>,
        options: ClientOptions,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("brickwire/", env!("CARGO_PKG_VERSION")))
            .timeout(options.http_timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                host,
                http,
                credentials,
                options,
            }),
        })
    }

    /// The workspace URL.
    pub fn host(&self) -> &Url {
        &self.inner.host
    }

    /// The transport settings.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Sends a request and decodes a JSON response (an empty body decodes as `{}`).
    pub async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T> {
        let response = self.send(request).await?;
        let body: &[u8] = if response.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &response.body
        };
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            path: String::new(),
            message: e.to_string(),
            body_excerpt: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        })
    }

    /// Sends a request and returns the raw response; error statuses become [`Error::Api`].
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse> {
        let inner = &self.inner;
        let url = inner
            .host
            .join(&request.path)
            .map_err(|e| Error::Config(format!("invalid path `{}`: {e}", request.path)))?;
        let authorization = inner.credentials.authorization(None).await?;
        let mut builder = inner
            .http
            .request(request.method.clone(), url)
            .query(&request.query)
            .header(http::header::AUTHORIZATION, authorization.expose_secret());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = match &request.body {
            None => builder,
            Some(RequestBody::Json(v)) => builder.json(v),
            Some(RequestBody::Form(f)) => builder.form(f),
            Some(RequestBody::Bytes { content_type, data }) => builder
                .header(http::header::CONTENT_TYPE, content_type)
                .body(data.clone()),
        };
        let transport = |e: reqwest::Error| Error::Transport {
            method: request.method.to_string(),
            path: request.path.clone(),
            maybe_sent: !e.is_connect(),
            message: e.without_url().to_string(),
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(crate::error::ApiError {
                kind: crate::ErrorKind::Internal,
                status: status.as_u16(),
                error_code: None,
                message: String::from_utf8_lossy(&body).into_owned(),
                details: Vec::new(),
                request_id: None,
                retry_after: None,
            }
            .into());
        }
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
    }
}
