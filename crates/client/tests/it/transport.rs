//! Transport tests against local mock servers: retries and their exact delays, the retry
//! deadline, no replay of ambiguous non-idempotent requests, the forced credentials refresh,
//! the client-side rate limit, the User-Agent, streaming, and what the retry log may contain.
//!
//! Delays are asserted exactly with a [`ManualClock`] (sleeps return at once and are recorded)
//! and a [`FixedJitter`]; one test uses tokio's paused time with the real clock. The mock
//! servers answer from a script and answer 418 to any request beyond it, which every test
//! checks through the request count.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use brickwire_client::credentials::PatCredentials;
use brickwire_client::http::{Clock, FixedJitter, ManualClock, TokioClock};
use brickwire_client::{
    ApiRequest, Client, ClientOptions, CredentialsProvider, Error, ErrorKind, SecretString,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const JITTER: Duration = Duration::from_millis(250);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// ---------------------------------------------------------------------------------------------
// Mock server: answers from a script, records what it saw, 418 for anything unexpected.

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

#[derive(Debug, Default)]
struct Script {
    replies: VecDeque<Reply>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
struct Mock {
    url: Url,
    script: Arc<Mutex<Script>>,
}

impl Mock {
    async fn start(replies: Vec<Reply>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            seen: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, script }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }

    /// Asserts the server saw exactly `n` requests and used its whole script.
    fn assert_requests(&self, n: usize) {
        let script = self.script.lock().unwrap();
        assert_eq!(script.seen.len(), n, "requests seen: {:?}", script.seen);
        assert!(
            script.replies.is_empty(),
            "unused replies: {:?}",
            script.replies
        );
    }
}

async fn answer(State(script): State<Arc<Mutex<Script>>>, request: Request) -> Response {
    let mut script = script.lock().unwrap();
    script.seen.push(Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers: request.headers().clone(),
    });
    let Some(reply) = script.replies.pop_front() else {
        return (StatusCode::IM_A_TEAPOT, "unexpected request").into_response();
    };
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A raw HTTP/1.1 server that reads each request completely, then drops the connection for
/// the first `drops` requests and answers `200 {"ok":true}` after that; any request beyond
/// `drops + answers` gets a 418.
async fn dropping_server(drops: usize, answers: usize) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            tokio::spawn(async move {
                while read_request(&mut socket).await.is_ok() {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    if n <= drops {
                        return; // dropped after the request was read: outcome unknown
                    }
                    let (status, body) = if n <= drops + answers {
                        ("200 OK", r#"{"ok":true}"#)
                    } else {
                        ("418 I'm a teapot", "unexpected request")
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if socket.write_all(head.as_bytes()).await.is_err()
                        || socket.write_all(body.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

/// Reads one HTTP/1.1 request (headers and a `content-length` body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> io::Result<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while data.len() < end + 4 + length {
                let n = socket.read(&mut buf).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Ok(());
        }
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
}

// ---------------------------------------------------------------------------------------------
// Clients.

const TOKEN: &str = "dapi-very-secret-token";

fn pat() -> Arc<dyn CredentialsProvider> {
    Arc::new(PatCredentials::new(&SecretString::new(TOKEN)))
}

fn options() -> ClientOptions {
    ClientOptions {
        rate_limit: None,
        ..ClientOptions::default()
    }
}

fn client_with(
    url: &Url,
    credentials: Arc<dyn CredentialsProvider>,
    options: ClientOptions,
    clock: Arc<dyn Clock>,
) -> Client {
    Client::builder(url.clone(), credentials)
        .options(options)
        .clock(clock)
        .jitter(Arc::new(FixedJitter(JITTER)))
        .build()
        .unwrap()
}

fn client(url: &Url, clock: &ManualClock) -> Client {
    client_with(url, pat(), options(), Arc::new(clock.clone()))
}

// ---------------------------------------------------------------------------------------------
// Retries.

#[tokio::test]
async fn throttled_429_waits_retry_after_seconds_plus_jitter() {
    let mock = Mock::start(vec![
        reply(
            429,
            r#"{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}"#,
        )
        .header("retry-after", "2"),
        reply(200, r#"{"ok":true}"#),
    ])
    .await;
    let clock = ManualClock::new();
    let out: Value = client(&mock.url, &clock)
        .call(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap();
    assert_eq!(out, json!({"ok": true}));
    assert_eq!(clock.sleeps(), vec![secs(2.25)]);
    mock.assert_requests(2);
}

#[tokio::test]
async fn throttled_429_understands_an_http_date() {
    let clock = ManualClock::new();
    let date = httpdate::fmt_http_date(clock.system_time() + Duration::from_secs(5));
    let mock = Mock::start(vec![
        reply(429, "").header("retry-after", date),
        reply(200, "{}"),
    ])
    .await;
    client(&mock.url, &clock)
        .send(ApiRequest::get("/api/2.0/sql/warehouses"))
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), vec![secs(5.25)]);
    mock.assert_requests(2);
}

#[tokio::test]
async fn unavailable_503_without_header_waits_one_second_even_for_a_post() {
    let mock = Mock::start(vec![reply(503, ""), reply(200, r#"{"job_id":1}"#)]).await;
    let clock = ManualClock::new();
    let out: Value = client(&mock.url, &clock)
        .call(ApiRequest::post("/api/2.2/jobs/create").json(json!({"name": "x"})))
        .await
        .unwrap();
    assert_eq!(out["job_id"], 1);
    assert_eq!(clock.sleeps(), vec![secs(1.25)]);
    mock.assert_requests(2);
}

#[tokio::test]
async fn transient_messages_back_off_linearly() {
    let transient =
        r#"{"error_code":"INVALID_STATE","message":"ClusterNotReadyException: not ready"}"#;
    let mock = Mock::start(vec![
        reply(400, transient),
        reply(500, r#"{"message":"Unexpected error, try again"}"#),
        reply(200, "{}"),
    ])
    .await;
    let clock = ManualClock::new();
    client(&mock.url, &clock)
        .send(ApiRequest::post("/api/2.0/clusters/start"))
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), vec![secs(1.25), secs(2.25)]);
    mock.assert_requests(3);
}

#[tokio::test]
async fn final_statuses_are_returned_without_retrying() {
    for (status, kind) in [
        (400, ErrorKind::InvalidInput),
        (403, ErrorKind::PermissionDenied),
        (404, ErrorKind::NotFound),
        (409, ErrorKind::Conflict),
        (500, ErrorKind::Internal),
        (501, ErrorKind::Internal),
        (504, ErrorKind::Timeout),
    ] {
        let mock = Mock::start(vec![reply(status, r#"{"message":"no"}"#)]).await;
        let clock = ManualClock::new();
        let err = client(&mock.url, &clock)
            .send(ApiRequest::get("/api/2.1/clusters/get"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.kind(), kind, "{status}");
        assert!(clock.sleeps().is_empty(), "{status}");
        mock.assert_requests(1);
    }
}

/// A clock that brings the server up during the first retry sleep.
#[derive(Debug)]
struct StartServerOnSleep {
    clock: ManualClock,
    port: u16,
    started: Mutex<bool>,
    count: Arc<AtomicUsize>,
}

impl Clock for StartServerOnSleep {
    fn now(&self) -> tokio::time::Instant {
        self.clock.now()
    }

    fn system_time(&self) -> std::time::SystemTime {
        self.clock.system_time()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let mut started = self.started.lock().unwrap();
        if !*started {
            *started = true;
            let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
            listener.set_nonblocking(true).unwrap();
            let listener = TcpListener::from_std(listener).unwrap();
            let count = self.count.clone();
            let app = axum::Router::new().fallback(move || {
                count.fetch_add(1, Ordering::SeqCst);
                async { r#"{"ok":true}"# }
            });
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        self.clock.sleep(duration)
    }
}

#[tokio::test]
async fn refused_connections_are_retried_even_for_a_post() {
    // A port nobody listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let count = Arc::new(AtomicUsize::new(0));
    let clock = ManualClock::new();
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = client_with(
        &url,
        pat(),
        options(),
        Arc::new(StartServerOnSleep {
            clock: clock.clone(),
            port,
            started: Mutex::new(false),
            count: count.clone(),
        }),
    );
    let out: Value = client
        .call(ApiRequest::post("/api/2.2/jobs/create"))
        .await
        .unwrap();
    assert_eq!(out, json!({"ok": true}));
    assert_eq!(clock.sleeps(), vec![secs(1.25)]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_retry_deadline_ends_in_a_timeout() {
    let busy = || reply(503, r#"{"message":"busy"}"#).header("retry-after", "100");
    let mock = Mock::start(vec![busy(), busy(), busy()]).await;
    let clock = ManualClock::new();
    let err = client(&mock.url, &clock)
        .send(ApiRequest::get("/api/2.0/sql/statements/abc"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(matches!(err, Error::Timeout(_)));
    let text = err.to_string();
    assert!(text.contains("after 3 attempt(s)"), "{text}");
    assert!(text.contains("busy (HTTP 503)"), "{text}");
    // 0 s, 100.25 s, 200.5 s; a fourth attempt could only start after 300 s.
    assert_eq!(clock.sleeps(), vec![secs(100.25), secs(100.25)]);
    mock.assert_requests(3);
}

#[tokio::test]
async fn an_ambiguous_post_is_not_replayed() {
    let (url, count) = dropping_server(1, 0).await;
    let clock = ManualClock::new();
    let err = client(&url, &clock)
        .send(ApiRequest::post("/api/2.2/jobs/run-now").json(json!({"job_id": 1})))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.to_string().contains("outcome is unknown"), "{err}");
    assert!(clock.sleeps().is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_idempotent_request_is_replayed_after_a_dropped_connection() {
    for request in [
        ApiRequest::get("/api/2.1/clusters/get").query("cluster_id", "c1"),
        ApiRequest::post("/api/2.0/sql/statements/").idempotent(true),
    ] {
        let (url, count) = dropping_server(1, 1).await;
        let clock = ManualClock::new();
        let out: Value = client(&url, &clock).call(request).await.unwrap();
        assert_eq!(out, json!({"ok": true}));
        assert_eq!(clock.sleeps(), vec![secs(1.25)]);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}

/// A server that reads requests and never answers.
async fn silent_server() -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            tokio::spawn(async move {
                if read_request(&mut socket).await.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn attempt_timeouts_retry_idempotent_requests_only() {
    let short = ClientOptions {
        http_timeout: Duration::from_millis(200),
        retry_timeout: Duration::from_secs(3),
        rate_limit: None,
    };
    let (url, count) = silent_server().await;
    let clock = ManualClock::new();
    let client = client_with(&url, pat(), short, Arc::new(clock.clone()));

    let err = client
        .send(ApiRequest::post("/api/2.2/jobs/create"))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Virtual time: attempt at 0 s, sleep 1.25 s, attempt, then 2.25 s more would pass 3 s.
    let err = client
        .send(ApiRequest::get("/api/2.2/jobs/get"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(clock.sleeps(), vec![secs(1.25)]);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn paused_tokio_time_drives_the_real_clock() {
    let mock = Mock::start(vec![
        reply(429, "").header("retry-after", "2"),
        reply(200, "{}"),
    ])
    .await;
    let client = client_with(&mock.url, pat(), options(), Arc::new(TokioClock));
    let start = tokio::time::Instant::now();
    client
        .send(ApiRequest::get("/api/2.0/preview/scim/v2/Me"))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), secs(2.25));
    mock.assert_requests(2);
}

// ---------------------------------------------------------------------------------------------
// Credentials refresh.

/// Hands out `Bearer token-<n>`, where `n` counts the refreshes so far.
#[derive(Debug, Default)]
struct CountingProvider {
    refreshes: AtomicUsize,
}

impl CredentialsProvider for CountingProvider {
    fn auth_type(&self) -> &'static str {
        "test"
    }

    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, brickwire_client::Result<SecretString>> {
        Box::pin(async move {
            let current = format!("Bearer token-{}", self.refreshes.load(Ordering::SeqCst));
            if rejected.is_some_and(|r| r.expose_secret() == current) {
                let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                return Ok(SecretString::new(format!("Bearer token-{n}")));
            }
            Ok(SecretString::new(current))
        })
    }
}

fn authorizations(mock: &Mock) -> Vec<String> {
    mock.seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once() {
    for rejection in [
        reply(
            401,
            r#"{"error_code":"UNAUTHENTICATED","message":"expired"}"#,
        ),
        reply(
            403,
            r#"{"error_code":"403","message":"Invalid access token."}"#,
        ),
    ] {
        let mock = Mock::start(vec![rejection, reply(200, "{}")]).await;
        let provider = Arc::new(CountingProvider::default());
        let clock = ManualClock::new();
        let client = client_with(&mock.url, provider.clone(), options(), Arc::new(clock));
        // POST: a rejected request was not processed, so replaying it is safe.
        client
            .send(ApiRequest::post("/api/2.2/jobs/create"))
            .await
            .unwrap();
        assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(authorizations(&mock), ["Bearer token-0", "Bearer token-1"]);
        mock.assert_requests(2);
    }
}

#[tokio::test]
async fn a_second_rejection_is_unauthenticated() {
    let mock = Mock::start(vec![reply(401, ""), reply(401, "")]).await;
    let provider = Arc::new(CountingProvider::default());
    let clock = ManualClock::new();
    let client = client_with(
        &mock.url,
        provider.clone(),
        options(),
        Arc::new(clock.clone()),
    );
    let err = client
        .send(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_eq!(err.status(), Some(401));
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert!(clock.sleeps().is_empty());
    mock.assert_requests(2);
}

#[tokio::test]
async fn permission_denied_does_not_refresh() {
    let mock = Mock::start(vec![reply(
        403,
        r#"{"error_code":"PERMISSION_DENIED","message":"not allowed"}"#,
    )])
    .await;
    let provider = Arc::new(CountingProvider::default());
    let client = client_with(
        &mock.url,
        provider.clone(),
        options(),
        Arc::new(ManualClock::new()),
    );
    let err = client
        .send(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 0);
    mock.assert_requests(1);
}

// ---------------------------------------------------------------------------------------------
// Rate limit, headers, streaming, external links.

/// A client limited to 2 requests per second on a manual clock, against a mock that answers
/// `{}` four times.
async fn two_per_second() -> (Mock, ManualClock, Client) {
    let mock = Mock::start(vec![reply(200, "{}"); 4]).await;
    let clock = ManualClock::new();
    let limited = ClientOptions {
        rate_limit: Some(2.0),
        ..ClientOptions::default()
    };
    let client = client_with(&mock.url, pat(), limited, Arc::new(clock.clone()));
    (mock, clock, client)
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let (mock, clock, client) = two_per_second().await;
    for _ in 0..4 {
        client
            .clone()
            .send(ApiRequest::get("/api/2.0/sql/warehouses"))
            .await
            .unwrap();
    }
    assert_eq!(clock.sleeps(), vec![secs(0.5); 3]);
    mock.assert_requests(4);
}

#[tokio::test]
async fn an_unpaced_request_does_not_wait_for_the_rate_limit_nor_use_its_slot() {
    let (mock, clock, client) = two_per_second().await;
    let paced = || ApiRequest::get("/api/2.0/sql/warehouses");
    let unpaced = || ApiRequest::get("/api/2.0/sql/statements/s/result/chunks/1").paced(false);
    client.send(paced()).await.unwrap();
    client.send(unpaced()).await.unwrap();
    client.send(unpaced()).await.unwrap();
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
    // The next paced request waits for the interval after the first, as if the two unpaced
    // ones had not been sent.
    client.send(paced()).await.unwrap();
    assert_eq!(clock.sleeps(), vec![secs(0.5)]);
    mock.assert_requests(4);
}

#[tokio::test]
async fn a_bad_rate_limit_is_a_config_error() {
    let err = Client::with_credentials(
        "http://127.0.0.1:1".parse().unwrap(),
        pat(),
        ClientOptions {
            rate_limit: Some(0.0),
            ..ClientOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn requests_carry_user_agent_token_query_and_body() {
    let mock = Mock::start(vec![reply(200, "{}")]).await;
    client(&mock.url, &ManualClock::new())
        .send(
            ApiRequest::post("/api/2.0/workspace/mkdirs")
                .query("a", 1)
                .query("a", 2)
                .query_opt("b", Some(true))
                .query_opt("c", None::<&str>)
                .json(json!({"path": "/x"})),
        )
        .await
        .unwrap();
    let seen = &mock.seen()[0];
    let agent = seen.headers["user-agent"].to_str().unwrap();
    assert!(
        agent.starts_with(&format!("brickwire/{} os/", env!("CARGO_PKG_VERSION"))),
        "{agent}"
    );
    assert!(agent.contains(" arch/"), "{agent}");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/2.0/workspace/mkdirs");
    assert_eq!(seen.query.as_deref(), Some("a=1&a=2&b=true"));
    mock.assert_requests(1);
}

#[tokio::test]
async fn send_stream_yields_the_body_in_chunks_and_errors_as_usual() {
    let big = "x".repeat(1 << 20);
    let mock = Mock::start(vec![reply(503, ""), reply(200, &big), reply(404, "")]).await;
    let clock = ManualClock::new();
    let client = client(&mock.url, &clock);
    let stream = client
        .send_stream(ApiRequest::get("/api/2.0/fs/files/big.csv"))
        .await
        .unwrap();
    assert_eq!(stream.status, 200);
    let chunks: Vec<Bytes> = stream
        .body
        .map(|chunk| chunk.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), big.len());
    assert_eq!(clock.sleeps(), vec![secs(1.25)]);
    let err = client
        .send_stream(ApiRequest::get("/api/2.0/fs/files/missing.csv"))
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    mock.assert_requests(3);
}

#[tokio::test]
async fn a_body_cut_short_is_a_transport_error_of_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await.unwrap();
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-ten-b";
        socket.write_all(head.as_bytes()).await.unwrap();
        // Dropping the socket cuts the body 90 bytes short.
    });
    let stream = client(&url, &ManualClock::new())
        .send_stream(ApiRequest::get("/api/2.0/fs/files/a.csv"))
        .await
        .unwrap();
    let items: Vec<_> = stream.body.collect().await;
    let err = items
        .into_iter()
        .find_map(Result::err)
        .expect("the stream must end in an error");
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        err.to_string().contains("GET /api/2.0/fs/files/a.csv"),
        "{err}"
    );
}

#[tokio::test]
async fn external_links_get_no_credentials_and_keep_their_signature() {
    let mock = Mock::start(vec![reply(200, "chunk-bytes")]).await;
    let client = client(&mock.url, &ManualClock::new());
    let mut link = mock.url.join("/bucket/result/chunk-0").unwrap();
    link.set_query(Some("X-Amz-Signature=sig-secret&X-Amz-Expires=900"));
    let http_headers = [
        ("x-ms-blob-type".to_owned(), "BlockBlob".to_owned()),
        (
            "Authorization".to_owned(),
            "Bearer must-not-override".to_owned(),
        ),
    ];
    let stream = client.fetch_external(&link, &http_headers).await.unwrap();
    let body: Vec<u8> = stream.body.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(body, b"chunk-bytes");
    let seen = &mock.seen()[0];
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(seen.headers["x-ms-blob-type"], "BlockBlob");
    assert_eq!(
        seen.query.as_deref(),
        Some("X-Amz-Signature=sig-secret&X-Amz-Expires=900")
    );
    mock.assert_requests(1);
}

#[tokio::test]
async fn external_link_errors_keep_code_and_message_but_not_the_signature() {
    let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
               <Message>Request has expired</Message>\
               <SignatureProvided>sig-secret</SignatureProvided></Error>";
    let mock = Mock::start(vec![reply(403, xml)]).await;
    let client = client(&mock.url, &ManualClock::new());
    let mut link = mock.url.join("/bucket/chunk-1").unwrap();
    link.set_query(Some("X-Amz-Signature=sig-secret"));
    let err = client.fetch_external(&link, &[]).await.unwrap_err();
    assert_eq!(err.error_code(), Some("AccessDenied"));
    assert_eq!(err.api().unwrap().message, "Request has expired");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("sig-secret"), "{shown}");
    mock.assert_requests(1);
}

#[tokio::test]
async fn workspace_requests_never_leave_the_workspace() {
    let mock = Mock::start(vec![]).await;
    let err = client(&mock.url, &ManualClock::new())
        .send(ApiRequest::get("https://elsewhere.example/steal"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    mock.assert_requests(0);
}

// ---------------------------------------------------------------------------------------------
// Logs.

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tracing's per-callsite interest cache is process-wide, and a callsite first hit by a
/// parallel test without a subscriber can stay "not interested" for this test's scoped one. So
/// this test re-runs itself alone in a child process and checks the logs there.
#[test]
fn retries_are_logged_without_secrets() {
    const CHILD: &str = "BRICKWIRE_TRANSPORT_LOG_CHILD";
    if std::env::var_os(CHILD).is_none() {
        // The test's name inside this binary: its module path without the crate's name.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::retries_are_logged_without_secrets");
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(check_retry_logs());
}

async fn check_retry_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mock = Mock::start(vec![
        reply(503, r#"{"message":"busy"}"#),
        reply(401, ""),
        reply(200, "{}"),
    ])
    .await;
    client(&mock.url, &ManualClock::new())
        .send(
            ApiRequest::post("/oidc/v1/token")
                .query("token", "query-secret")
                .json(json!({"client_secret": "body-secret"})),
        )
        .await
        .unwrap();
    mock.assert_requests(3);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let retries: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("retrying Databricks request"))
        .collect();
    assert_eq!(retries.len(), 2, "{logs}");
    assert!(retries[0].contains("method=POST"), "{logs}");
    assert!(retries[0].contains("path=/oidc/v1/token"), "{logs}");
    assert!(retries[0].contains("attempt=1"), "{logs}");
    assert!(retries[0].contains(r#"reason="HTTP 503""#), "{logs}");
    assert!(retries[0].contains("delay_ms=1250"), "{logs}");
    assert!(retries[1].contains("credentials rejected"), "{logs}");
    for secret in [TOKEN, "query-secret", "body-secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into {logs}");
    }
}
