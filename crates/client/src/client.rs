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
//! connection pool and rate limit in `transport`, one HTTP attempt and the retry loop in
//! `retry`; this file keeps the client, its builder and its public calls.

mod decode;
mod request;
mod retry;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

use crate::credentials::CredentialsProvider;
use crate::error::{Error, Result};
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
use retry::{Label, Mode, Received, Target, into_stream};
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
}
