//! [`Client`]: one connection pool, one credentials provider, and the request path every service
//! module goes through.
//!
//! Services build an [`ApiRequest`] (pure data, testable without a server) and hand it to
//! [`Client::call`] (JSON in, typed JSON out), [`Client::send`] (raw status, headers and body)
//! or [`Client::send_stream`] (body as a byte stream). Every attempt goes through the same
//! path: rate limit, credentials, one HTTP attempt with its own timeout, then the retry policy
//! of [`crate::http::retry`] inside the overall retry deadline.
//!
//! The request and response types live in `request`, JSON decoding in `decode`, the shared
//! connection pool and rate limit in `transport`; this file keeps the builder, one HTTP
//! attempt and the retry loop.

mod decode;
mod request;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_api::error::{ApiError, ErrorResponse, parse_error};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::credentials::CredentialsProvider;
use crate::error::{AuthError, Error, Result};
use crate::http::backoff::parse_retry_after;
use crate::http::retry::{Decision, Failure};
use crate::http::{Clock, Jitter, RateLimiter, RetryPolicy, TokioClock, UniformJitter};

/// Transport settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Timeout of one HTTP attempt, from connecting to the end of the body (default 60 s).
    /// For [`Client::send_stream`] it bounds the wait for the headers and each read.
    pub http_timeout: Duration,
    /// Deadline for an operation including all its retries (default 300 s).
    pub retry_timeout: Duration,
    /// Client-side rate limit in requests per second, burst 1 (default 15); `None` disables
    /// it.
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

pub(crate) use decode::decode_json;
use request::path_without_query;
pub use request::{ApiRequest, ApiResponse, ApiStream, RequestBody};
pub use transport::SharedTransport;
use transport::{check_timeouts, http_client, rate_limiter};

/// The `User-Agent` of every request: `brickwire/<version> os/<os> arch/<arch>`.
pub fn user_agent() -> String {
    format!(
        "brickwire/{} os/{} arch/{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A Databricks workspace client. Cheap to clone; clones share the connection pool, the
/// token cache and the rate limiter.
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
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    rate_limiter: Option<Arc<RateLimiter>>,
}

/// Builds a [`Client`] with a non-default retry policy, clock or jitter (mostly for tests).
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use brickwire_client::{Client, ClientOptions, SecretString};
/// # use brickwire_client::credentials::PatCredentials;
/// # use brickwire_client::http::{FixedJitter, ManualClock};
/// let client = Client::builder(
///     "https://dbc-1234.cloud.databricks.com".parse().unwrap(),
///     Arc::new(PatCredentials::new(&SecretString::new("dapi123"))),
/// )
/// .options(ClientOptions { rate_limit: None, ..ClientOptions::default() })
/// .clock(Arc::new(ManualClock::new()))
/// .jitter(Arc::new(FixedJitter(Duration::ZERO)))
/// .build()
/// .unwrap();
/// assert_eq!(client.host().as_str(), "https://dbc-1234.cloud.databricks.com/");
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    host: Url,
    credentials: Arc<dyn CredentialsProvider>,
    options: ClientOptions,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    shared: Option<SharedTransport>,
}

impl ClientBuilder {
    /// Transport settings (timeouts, rate limit).
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The retry policy (default: the official SDKs' one).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock for retry delays, the retry deadline and the rate limiter (default
    /// [`TokioClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The jitter source (default [`UniformJitter`], `U[0,1)` s).
    pub fn jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// Shares `transport`'s rate limit and connection pool instead of making its own (the
    /// options' `rate_limit` then no longer applies; their timeouts still do).
    pub fn shared_transport(mut self, transport: SharedTransport) -> Self {
        self.shared = Some(transport);
        self
    }

    /// Builds the client and its connection pool.
    pub fn build(self) -> Result<Client> {
        let options = self.options;
        let (rate_limiter, http) = match self.shared {
            Some(shared) => {
                check_timeouts(&options)?;
                (shared.rate_limiter, shared.http)
            }
            None => (
                rate_limiter(&options, self.clock.clone())?.map(Arc::new),
                http_client(&options)?,
            ),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                host: self.host,
                http,
                credentials: self.credentials,
                options,
                policy: self.policy,
                clock: self.clock,
                jitter: self.jitter,
                rate_limiter,
            }),
        })
    }
}

/// Whether an attempt keeps the whole body or hands back a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Buffered,
    Streaming,
}

enum Received {
    Buffered(ApiResponse),
    Streaming(reqwest::Response),
}

/// Where a request goes: the workspace (authenticated, rate limited) or a pre-signed link.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Workspace,
    External,
}

/// How one attempt failed.
enum AttemptError {
    /// The server answered with an error status.
    Api(ApiError),
    /// The request failed in transport; `sent` says whether it may have reached the server.
    Transport { message: String, sent: bool },
    /// Not worth retrying at all (an invalid request).
    Fatal(Error),
}

impl AttemptError {
    /// The failure as the retry policy sees it; `None` for failures never worth retrying.
    fn as_failure(&self) -> Option<Failure<'_>> {
        match self {
            AttemptError::Api(api) => Some(Failure::Api(api)),
            AttemptError::Transport { sent: false, .. } => Some(Failure::NotSent),
            AttemptError::Transport { sent: true, .. } => Some(Failure::MaybeSent),
            AttemptError::Fatal(_) => None,
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Api(api) => api.fmt(f),
            AttemptError::Transport { message, .. } => f.write_str(message),
            AttemptError::Fatal(error) => error.fmt(f),
        }
    }
}

/// What the logs and errors call a request: method and path, never the query string.
struct Label {
    method: Method,
    path: String,
}

impl Client {
    /// A client for the workspace at `host` with the given credentials.
    pub fn with_credentials(
        host: Url,
        credentials: Arc<dyn CredentialsProvider>,
        options: ClientOptions,
    ) -> Result<Self> {
        Self::builder(host, credentials).options(options).build()
    }

    /// A [`ClientBuilder`] with default options, retry policy, clock and jitter.
    pub fn builder(host: Url, credentials: Arc<dyn CredentialsProvider>) -> ClientBuilder {
        ClientBuilder {
            host,
            credentials,
            options: ClientOptions::default(),
            policy: RetryPolicy::default(),
            clock: Arc::new(TokioClock),
            jitter: Arc::new(UniformJitter::new()),
            shared: None,
        }
    }

    /// Whether `other` is this client or a clone of it (one connection pool, one credentials
    /// provider and token cache, one rate limit).
    pub fn is_clone_of(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether this client and `other` draw on one rate limit (clones, or clients built with
    /// the same [`SharedTransport`]).
    pub fn shares_rate_limit_with(&self, other: &Client) -> bool {
        match (&self.inner.rate_limiter, &other.inner.rate_limiter) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The workspace URL.
    pub fn host(&self) -> &Url {
        &self.inner.host
    }

    /// The transport settings.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The credentials provider.
    pub fn credentials(&self) -> &Arc<dyn CredentialsProvider> {
        &self.inner.credentials
    }

    /// The clock of this client's retries, deadline and rate limit. Waiters should sleep on
    /// it too, so tests that inject a [`crate::http::ManualClock`] control them as well.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The jitter source of this client's retries (for waiters' poll delays too).
    pub fn jitter(&self) -> &Arc<dyn Jitter> {
        &self.inner.jitter
    }

    /// Sends a request and decodes a JSON response (an empty body decodes as `{}`).
    ///
    /// A body that does not decode gives [`Error::Decode`] naming the JSON path that broke.
    pub async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T> {
        let response = self.send(request).await?;
        decode_json(&response.body)
    }

    /// Sends a request and returns the raw response; error statuses become [`Error::Api`].
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse> {
        let url = self.workspace_url(&request)?;
        match self
            .execute(&request, &url, Target::Workspace, Mode::Buffered)
            .await?
        {
            Received::Buffered(response) => Ok(response),
            Received::Streaming(_) => unreachable!("buffered mode reads the whole body"),
        }
    }

    /// Sends a request and returns the body as a stream of chunks, for large downloads.
    /// Error statuses become [`Error::Api`] as with [`Client::send`].
    pub async fn send_stream(&self, request: ApiRequest) -> Result<ApiStream> {
        let url = self.workspace_url(&request)?;
        let label = Label::of(&request.method, &url, Target::Workspace);
        let received = self
            .execute(&request, &url, Target::Workspace, Mode::Streaming)
            .await?;
        Ok(into_stream(received, label))
    }

    /// Downloads a pre-signed link (e.g. a SQL `external_link`) as a stream, with the
    /// client's connection pool, timeouts and retries but WITHOUT the workspace credentials
    /// (the link authorizes itself; sending a workspace token to cloud storage would leak
    /// it). `http_headers` are the headers Databricks lists beside the link (a statement
    /// chunk's `http_headers`), which the storage may require; an `Authorization` among them
    /// is dropped. Logs and errors never contain the link's query string, which holds its
    /// signature.
    pub async fn fetch_external(
        &self,
        url: &Url,
        http_headers: &[(String, String)],
    ) -> Result<ApiStream> {
        let mut request = ApiRequest::get(url.path());
        request.headers = http_headers.to_vec();
        let label = Label::of(&request.method, url, Target::External);
        let received = self
            .execute(&request, url, Target::External, Mode::Streaming)
            .await?;
        Ok(into_stream(received, label))
    }

    /// The URL of a workspace request; refuses paths that would leave the workspace, since
    /// every workspace request carries the credentials.
    fn workspace_url(&self, request: &ApiRequest) -> Result<Url> {
        let host = &self.inner.host;
        let url = host.join(&request.path).map_err(|e| {
            Error::Config(format!(
                "invalid request path `{}`: {e}",
                path_without_query(&request.path)
            ))
        })?;
        if url.origin() != host.origin() {
            return Err(Error::Config(format!(
                "request path `{}` leaves the workspace {}; use Client::fetch_external for \
                 pre-signed links",
                path_without_query(&request.path),
                host.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Runs attempts until one succeeds, the retry policy gives up, or the deadline passes.
    async fn execute(
        &self,
        request: &ApiRequest,
        url: &Url,
        target: Target,
        mode: Mode,
    ) -> Result<Received> {
        let inner = &*self.inner;
        let label = Label::of(&request.method, url, target);
        let deadline = inner.clock.now() + inner.options.retry_timeout;
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        let mut rejected: Option<SecretString> = None;
        let mut last: Option<String> = None;
        loop {
            let authorization = match target {
                Target::Workspace => {
                    if let Some(limiter) = inner.rate_limiter.as_ref().filter(|_| request.paced) {
                        limiter.acquire().await;
                    }
                    Some(
                        inner
                            .credentials
                            .authorization(rejected.take().as_ref())
                            .await?,
                    )
                }
                Target::External => None,
            };
            let remaining = deadline.saturating_duration_since(inner.clock.now());
            if remaining.is_zero() {
                return Err(label.deadline_error(
                    attempt - 1,
                    inner.options.retry_timeout,
                    last.as_deref(),
                ));
            }
            let timeout = inner.options.http_timeout.min(remaining);
            let failure = match self
                .attempt(request, url, target, authorization.as_ref(), timeout, mode)
                .await
            {
                Ok(received) => return Ok(received),
                Err(failure) => failure,
            };
            let decision = match &failure {
                AttemptError::Api(api)
                    if target == Target::Workspace
                        && !refreshed
                        && api.is_credentials_rejected() =>
                {
                    // The token may have expired or been revoked since it was cached: ask the
                    // provider for a fresh one, once, and retry at once.
                    refreshed = true;
                    rejected = authorization;
                    label.log_retry(
                        attempt,
                        "credentials rejected; refreshing them",
                        Duration::ZERO,
                    );
                    attempt += 1;
                    continue;
                }
                other => match other.as_failure() {
                    Some(kind) => {
                        inner
                            .policy
                            .decide(kind, request.idempotent, attempt, inner.jitter.next())
                    }
                    None => Decision::GiveUp,
                },
            };
            match decision {
                Decision::GiveUp => return Err(label.error(failure)),
                Decision::OutcomeUnknown => return Err(label.outcome_unknown(&failure)),
                Decision::Retry { delay, reason } => {
                    if inner.clock.now() + delay >= deadline {
                        return Err(label.deadline_error(
                            attempt,
                            inner.options.retry_timeout,
                            Some(&failure.to_string()),
                        ));
                    }
                    last = Some(failure.to_string());
                    label.log_retry(attempt, &reason, delay);
                    inner.clock.sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One HTTP attempt, bounded by `timeout`.
    async fn attempt(
        &self,
        request: &ApiRequest,
        url: &Url,
        target: Target,
        authorization: Option<&SecretString>,
        timeout: Duration,
        mode: Mode,
    ) -> Result<Received, AttemptError> {
        let builder = self.build_request(request, url, authorization)?;
        let exchange = async {
            let response = builder.send().await.map_err(transport_failure)?;
            let status = response.status();
            if !status.is_success() {
                let headers = response.headers().clone();
                // The status is what matters; a body cut short still parses as far as it got.
                let body = response.bytes().await.unwrap_or_default();
                return Err(AttemptError::Api(
                    self.api_error(target, status, &headers, &body),
                ));
            }
            match mode {
                Mode::Streaming => Ok(Received::Streaming(response)),
                Mode::Buffered => {
                    let headers = response.headers().clone();
                    let body = response.bytes().await.map_err(transport_failure)?;
                    Ok(Received::Buffered(ApiResponse {
                        status,
                        headers,
                        body,
                    }))
                }
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AttemptError::Transport {
                message: format!("timed out: no complete response within {timeout:?}"),
                sent: true,
            }),
        }
    }

    fn build_request(
        &self,
        request: &ApiRequest,
        url: &Url,
        authorization: Option<&SecretString>,
    ) -> Result<reqwest::RequestBuilder, AttemptError> {
        let mut builder = self.inner.http.request(request.method.clone(), url.clone());
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(authorization) = authorization {
            let mut value = HeaderValue::from_str(authorization.expose_secret()).map_err(|_| {
                AttemptError::Fatal(Error::Auth(AuthError::other(
                    "the credentials provider returned a header value that is not valid in HTTP",
                )))
            })?;
            value.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                continue;
            }
            builder = builder.header(name, value);
        }
        Ok(match &request.body {
            None => builder,
            Some(RequestBody::Json(v)) => builder.json(v),
            Some(RequestBody::Form(f)) => builder.form(f),
            Some(RequestBody::Bytes { content_type, data }) => builder
                .header(http::header::CONTENT_TYPE, content_type)
                .body(data.clone()),
        })
    }

    fn api_error(
        &self,
        target: Target,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiError {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after")
            .and_then(|value| parse_retry_after(value, self.inner.clock.system_time()));
        let response = ErrorResponse {
            status: status.as_u16(),
            request_id: header("x-request-id"),
            retry_after,
        };
        match target {
            Target::Workspace => parse_error(&response, body),
            // Cloud storage answers in XML, and some of its errors echo the link's signature
            // (`<SignatureProvided>`): keep only `<Code>` and `<Message>`.
            Target::External => {
                let text = String::from_utf8_lossy(body);
                let mut error = parse_error(&response, b"");
                error.error_code = xml_element(&text, "Code").or(error.error_code);
                if let Some(message) = xml_element(&text, "Message") {
                    error.message = message;
                }
                error.kind = brickwire_api::error::classify(
                    error.status,
                    error.error_code.as_deref(),
                    &error.message,
                );
                error
            }
        }
    }
}

fn into_stream(received: Received, label: Label) -> ApiStream {
    let response = match received {
        Received::Streaming(response) => response,
        Received::Buffered(_) => unreachable!("streaming mode returns the response"),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes_stream()
        .map(move |chunk| {
            chunk.map_err(|e| Error::Transport {
                method: label.method.to_string(),
                path: label.path.clone(),
                message: describe(e),
                maybe_sent: true,
            })
        })
        .boxed();
    ApiStream {
        status,
        headers,
        body,
    }
}

fn transport_failure(error: reqwest::Error) -> AttemptError {
    if error.is_builder() {
        return AttemptError::Fatal(Error::Config(format!(
            "invalid request: {}",
            describe(error)
        )));
    }
    // A connect error means no byte of the request left; anything later may have reached
    // the server.
    let sent = !error.is_connect();
    AttemptError::Transport {
        message: describe(error),
        sent,
    }
}

/// The error and its causes on one line, without the URL (it may hold secrets in its query).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The text of the first `<name>...</name>` element of an XML document.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_owned())
}

impl Label {
    fn of(method: &Method, url: &Url, target: Target) -> Self {
        let path = match target {
            Target::Workspace => url.path().to_owned(),
            // Name the host of an external link too, never its query (the signature).
            Target::External => format!("{}{}", url.origin().ascii_serialization(), url.path()),
        };
        Self {
            method: method.clone(),
            path,
        }
    }

    fn log_retry(&self, attempt: u32, reason: &str, delay: Duration) {
        tracing::debug!(
            method = %self.method,
            path = %self.path,
            attempt,
            reason,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "retrying Databricks request"
        );
    }

    fn error(&self, failure: AttemptError) -> Error {
        match failure {
            AttemptError::Api(api) => Error::Api(Box::new(api)),
            AttemptError::Fatal(error) => error,
            AttemptError::Transport { message, sent } => Error::Transport {
                method: self.method.to_string(),
                path: self.path.clone(),
                message,
                maybe_sent: sent,
            },
        }
    }

    fn outcome_unknown(&self, failure: &AttemptError) -> Error {
        Error::Transport {
            method: self.method.to_string(),
            path: self.path.clone(),
            message: format!(
                "{failure}; the request may have reached the server, so its outcome is unknown \
                 (not retried: the request is not idempotent)"
            ),
            maybe_sent: true,
        }
    }

    fn deadline_error(&self, attempts: u32, retry_timeout: Duration, last: Option<&str>) -> Error {
        let mut message = format!(
            "{} {}: retry deadline of {retry_timeout:?} reached after {attempts} attempt(s)",
            self.method, self.path
        );
        if let Some(last) = last {
            message.push_str(&format!("; last error: {last}"));
        }
        Error::Timeout(message)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn client_on(transport: Option<&SharedTransport>, options: ClientOptions) -> Result<Client> {
        let builder = Client::builder(
            "https://dbc-1.cloud.databricks.com".parse().unwrap(),
            Arc::new(crate::credentials::PatCredentials::new(
                &crate::SecretString::new("dapi-1"),
            )),
        )
        .options(options);
        match transport {
            Some(t) => builder.shared_transport(t.clone()).build(),
            None => builder.build(),
        }
    }

    #[tokio::test]
    async fn clients_on_one_shared_transport_share_its_rate_limit() {
        let shared = SharedTransport::new(&ClientOptions::default()).unwrap();
        let a = client_on(Some(&shared), ClientOptions::default()).unwrap();
        let b = client_on(Some(&shared), ClientOptions::default()).unwrap();
        let own = client_on(None, ClientOptions::default()).unwrap();
        assert!(a.shares_rate_limit_with(&b));
        assert!(a.shares_rate_limit_with(&a.clone()));
        assert!(!a.shares_rate_limit_with(&own));
        // Without a limit there is nothing to share.
        let unlimited = ClientOptions {
            rate_limit: None,
            ..ClientOptions::default()
        };
        let free = SharedTransport::new(&unlimited).unwrap();
        let c = client_on(Some(&free), unlimited.clone()).unwrap();
        assert!(!c.shares_rate_limit_with(&c.clone()));
        // The options are still checked when the transport is shared.
        let zero = ClientOptions {
            http_timeout: Duration::ZERO,
            ..ClientOptions::default()
        };
        assert!(client_on(Some(&shared), zero).is_err());
        assert!(
            SharedTransport::new(&ClientOptions {
                rate_limit: Some(-1.0),
                ..ClientOptions::default()
            })
            .is_err()
        );
    }

    #[test]
    fn debug_output_withholds_credentials() {
        let mut request = ApiRequest::post("/oidc/v1/token?access_token=in-path")
            .query("token", "query-secret")
            .query("cluster_id", "c1")
            .json(json!({"grant_type": "refresh_token", "refresh_token": "body-secret"}));
        request.headers.push((
            "X-Databricks-Azure-SP-Management-Token".into(),
            "header-secret".into(),
        ));
        let form = RequestBody::Form(vec![
            ("client_id".into(), "app".into()),
            ("client_secret".into(), "form-secret".into()),
        ]);
        let bytes = RequestBody::Bytes {
            content_type: "application/octet-stream".into(),
            data: Bytes::from_static(b"raw-secret"),
        };
        let shown = format!("{request:?} {form:?} {bytes:?}");
        for secret in [
            "in-path",
            "query-secret",
            "body-secret",
            "header-secret",
            "form-secret",
            "raw-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for visible in [
            "cluster_id",
            "c1",
            "client_id",
            "grant_type",
            "/oidc/v1/token",
        ] {
            assert!(shown.contains(visible), "{visible} missing from {shown}");
        }
    }

    #[test]
    fn body_and_header_builders() {
        let request = ApiRequest::post("/oidc/v1/token")
            .form(vec![("grant_type".into(), "client_credentials".into())])
            .header("X-Databricks-Workspace-Id", "42");
        assert_eq!(
            request.body,
            Some(RequestBody::Form(vec![(
                "grant_type".into(),
                "client_credentials".into()
            )]))
        );
        assert_eq!(
            request.headers,
            vec![("X-Databricks-Workspace-Id".to_owned(), "42".to_owned())]
        );
        let upload = ApiRequest::put("/api/2.0/fs/files/a").bytes("text/csv", "a,b\n");
        assert!(
            matches!(upload.body, Some(RequestBody::Bytes { ref content_type, ref data }) if content_type == "text/csv" && data.as_ref() == b"a,b\n")
        );
    }

    #[test]
    fn builders_set_idempotency_by_method() {
        assert!(ApiRequest::get("/x").idempotent);
        assert!(ApiRequest::put("/x").idempotent);
        assert!(ApiRequest::delete("/x").idempotent);
        assert!(!ApiRequest::post("/x").idempotent);
        assert!(!ApiRequest::patch("/x").idempotent);
        assert!(ApiRequest::post("/x").idempotent(true).idempotent);
    }

    #[test]
    fn xml_elements_are_found() {
        let body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message>\
                    <SignatureProvided>sig</SignatureProvided></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("Request has expired")
        );
        assert_eq!(xml_element(body, "Missing"), None);
    }
}
