//! Credentials providers against a mock HTTP server: discovery and its fallback, the M2M and
//! refresh request shapes, rotation, the token cache's timing and concurrency rules, and
//! error messages without secrets.
//!
//! The mock answers only what each test expects; any other request gets a 500 and is recorded
//! as a failure, and the test panics when the mock is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use brickwire_client::credentials::{
    CredentialsProvider, ManualClock, OAuthM2mCredentials, OAuthRefreshCredentials, OAuthTokenSet,
    TokenCache, TokenEndpoint, discover_oidc_endpoints, exchange_authorization_code,
};
use brickwire_client::{ApiRequest, AuthError, AuthFailure, Config, Error, SecretString};
use serde_json::{Value, json};
use url::Url;

// ---------------------------------------------------------------------------------------------
// Mock server

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Recorded {
    fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn json_reply(status: u16, body: Value) -> Option<Reply> {
    Some(Reply {
        status,
        body: body.to_string(),
        delay: Duration::ZERO,
    })
}

type Handler = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

#[derive(Clone)]
struct MockState {
    handler: Handler,
    requests: Arc<Mutex<Vec<Recorded>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

struct Mock {
    base: String,
    state: MockState,
}

async fn serve(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.requests.lock().unwrap().push(recorded.clone());
    match (state.handler)(&recorded) {
        Some(reply) => {
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            (
                StatusCode::from_u16(reply.status).unwrap(),
                [("content-type", "application/json")],
                reply.body,
            )
                .into_response()
        }
        None => {
            state
                .failures
                .lock()
                .unwrap()
                .push(format!("unexpected {} {}", recorded.method, recorded.path));
            (StatusCode::INTERNAL_SERVER_ERROR, "unexpected request").into_response()
        }
    }
}

impl Mock {
    /// Starts a mock; `make` receives the base URL (`http://127.0.0.1:port`).
    async fn start<H>(make: impl FnOnce(String) -> H) -> Mock
    where
        H: Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = MockState {
            handler: Arc::new(make(base.clone())),
            requests: Arc::default(),
            failures: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock { base, state }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }

    fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let failures = self.state.failures.lock().unwrap().clone();
        if !failures.is_empty() && !std::thread::panicking() {
            panic!("the mock server got unexpected requests: {failures:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

const TOKEN_PATH: &str = "/oidc/v1/token";

fn token_reply(access: &str, expires_in: u64) -> Option<Reply> {
    json_reply(
        200,
        json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn cache(clock: &Arc<ManualClock>) -> TokenCache {
    TokenCache::new(clock.clone(), Duration::from_secs(300))
}

/// A token endpoint that hands out `at-1`, `at-2`, ... valid for `expires_in` seconds.
async fn counting_token_server(expires_in: u64, delay: Duration) -> (Mock, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let mock = Mock::start(move |_| {
        move |r: &Recorded| {
            if r.method != Method::POST || r.path != TOKEN_PATH {
                return None;
            }
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let mut reply = token_reply(&format!("at-{n}"), expires_in)?;
            reply.delay = delay;
            Some(reply)
        }
    })
    .await;
    (mock, issued)
}

fn m2m(mock: &Mock, clock: &Arc<ManualClock>) -> OAuthM2mCredentials {
    OAuthM2mCredentials::new(
        "sp-id",
        SecretString::new("sp-secret"),
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_cache(cache(clock))
}

fn bearer(token: &str) -> SecretString {
    SecretString::new(format!("Bearer {token}"))
}

fn auth_error(result: Result<SecretString, Error>) -> AuthError {
    match result {
        Err(Error::Auth(auth)) => auth,
        other => panic!("expected Error::Auth, got {other:?}"),
    }
}

fn auth_message(result: Result<SecretString, Error>) -> String {
    auth_error(result).message
}

// ---------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn discovery_follows_host_metadata() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" => json_reply(
                200,
                json!({"oidc_endpoint": format!("{base}/custom-oidc"), "workspace_id": "1", "cloud": "aws"}),
            ),
            "/custom-oidc/.well-known/oauth-authorization-server" => json_reply(
                200,
                json!({
                    "authorization_endpoint": format!("{base}/custom-oidc/v1/authorize"),
                    "token_endpoint": format!("{base}/custom-oidc/v1/token"),
                }),
            ),
            _ => None,
        }
    })
    .await;
    let endpoints = discover_oidc_endpoints(&reqwest::Client::new(), &mock.url("/"), None, None)
        .await
        .unwrap();
    assert_eq!(endpoints.token_endpoint, mock.url("/custom-oidc/v1/token"));
    assert_eq!(
        endpoints.authorization_endpoint,
        Some(mock.url("/custom-oidc/v1/authorize"))
    );
    assert_eq!(
        mock.paths(),
        [
            "/.well-known/databricks-config",
            "/custom-oidc/.well-known/oauth-authorization-server"
        ]
    );
}

#[tokio::test]
async fn discovery_fills_in_the_account_id() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" => json_reply(
                200,
                json!({"oidc_endpoint": format!("{base}/oidc/accounts/{{account_id}}")}),
            ),
            "/oidc/accounts/acc-1/.well-known/oauth-authorization-server" => json_reply(
                200,
                json!({"token_endpoint": format!("{base}/oidc/accounts/acc-1/v1/token")}),
            ),
            _ => None,
        }
    })
    .await;
    let endpoints =
        discover_oidc_endpoints(&reqwest::Client::new(), &mock.url("/"), None, Some("acc-1"))
            .await
            .unwrap();
    assert_eq!(
        endpoints.token_endpoint,
        mock.url("/oidc/accounts/acc-1/v1/token")
    );
}

fn fallback_document(base: &str) -> Option<Reply> {
    json_reply(
        200,
        json!({
            "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
            "token_endpoint": format!("{base}/oidc/v1/token"),
        }),
    )
}

#[tokio::test]
async fn discovery_falls_back_when_host_metadata_is_missing() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" => json_reply(404, json!({"error_code": "NOT_FOUND"})),
            "/oidc/.well-known/oauth-authorization-server" => fallback_document(&base),
            _ => None,
        }
    })
    .await;
    let endpoints = discover_oidc_endpoints(&reqwest::Client::new(), &mock.url("/"), None, None)
        .await
        .unwrap();
    assert_eq!(endpoints.token_endpoint, mock.url(TOKEN_PATH));
    assert_eq!(
        mock.paths(),
        [
            "/.well-known/databricks-config",
            "/oidc/.well-known/oauth-authorization-server"
        ]
    );
}

#[tokio::test]
async fn discovery_falls_back_when_the_metadata_document_fails() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" => {
                json_reply(200, json!({"oidc_endpoint": format!("{base}/broken")}))
            }
            "/broken/.well-known/oauth-authorization-server" => json_reply(503, json!({})),
            "/oidc/.well-known/oauth-authorization-server" => fallback_document(&base),
            _ => None,
        }
    })
    .await;
    let endpoints = discover_oidc_endpoints(&reqwest::Client::new(), &mock.url("/"), None, None)
        .await
        .unwrap();
    assert_eq!(endpoints.token_endpoint, mock.url(TOKEN_PATH));
    assert_eq!(
        mock.count("/oidc/.well-known/oauth-authorization-server"),
        1
    );
}

#[tokio::test]
async fn configured_discovery_url_wins() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match r.path.as_str() {
            "/idp/.well-known/openid-configuration" => {
                json_reply(200, json!({"token_endpoint": format!("{base}/idp/token")}))
            }
            _ => None,
        }
    })
    .await;
    let discovery = mock.url("/idp/.well-known/openid-configuration");
    let endpoints = discover_oidc_endpoints(
        &reqwest::Client::new(),
        &mock.url("/"),
        Some(&discovery),
        None,
    )
    .await
    .unwrap();
    assert_eq!(endpoints.token_endpoint, mock.url("/idp/token"));
    assert_eq!(mock.paths(), ["/idp/.well-known/openid-configuration"]);
}

#[tokio::test]
async fn discovery_failure_names_both_attempts() {
    let mock = Mock::start(|_| {
        |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" | "/oidc/.well-known/oauth-authorization-server" => {
                json_reply(404, json!({}))
            }
            _ => None,
        }
    })
    .await;
    let err = discover_oidc_endpoints(&reqwest::Client::new(), &mock.url("/"), None, None)
        .await
        .unwrap_err();
    let Error::Auth(AuthError { message, reason }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(reason, AuthFailure::Discovery);
    assert!(
        message.contains("/.well-known/databricks-config"),
        "{message}"
    );
    assert!(
        message.contains("/oidc/.well-known/oauth-authorization-server"),
        "{message}"
    );
    assert!(message.contains("discovery_url"), "{message}");
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_plain_http_remote_endpoint() {
    let mock = Mock::start(|_| {
        |r: &Recorded| match r.path.as_str() {
            "/.well-known/databricks-config" => json_reply(404, json!({})),
            "/oidc/.well-known/oauth-authorization-server" => json_reply(
                200,
                json!({"token_endpoint": "http://idp.example.com/token"}),
            ),
            _ => None,
        }
    })
    .await;
    let provider = OAuthM2mCredentials::new(
        "sp-id",
        SecretString::new("sp-secret"),
        TokenEndpoint::discover(mock.url("/"), None, None),
        reqwest::Client::new(),
    );
    let auth = auth_error(provider.authorization(None).await);
    assert!(auth.message.contains("must use https"), "{auth:?}");
    assert_eq!(auth.reason, AuthFailure::InsecureTokenEndpoint);
}

// ---------------------------------------------------------------------------------------------
// M2M

#[tokio::test]
async fn m2m_request_has_basic_auth_and_the_client_credentials_form() {
    let (mock, issued) = counting_token_server(3600, Duration::ZERO).await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    assert_eq!(provider.auth_type(), "oauth-m2m");
    let header = provider.authorization(None).await.unwrap();
    assert_eq!(header, bearer("at-1"));
    // Cached: no second request.
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    assert_eq!(issued.load(Ordering::SeqCst), 1);

    let request = &mock.requests()[0];
    assert_eq!(request.method, Method::POST);
    let expected = base64::engine::general_purpose::STANDARD.encode("sp-id:sp-secret");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form(),
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("scope".to_owned(), "all-apis".to_owned())
        ]
    );
}

#[tokio::test]
async fn m2m_from_config_end_to_end() {
    let mock = Mock::start(|base| {
        move |r: &Recorded| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/.well-known/databricks-config") => json_reply(404, json!({})),
            ("GET", "/oidc/.well-known/oauth-authorization-server") => fallback_document(&base),
            ("POST", TOKEN_PATH) => {
                let scope = r.form().into_iter().find(|(k, _)| k == "scope")?.1;
                (scope == "all-apis sql").then(|| token_reply("at-e2e", 3600))?
            }
            ("GET", "/api/2.1/clusters/list")
                if r.header("authorization") == Some("Bearer at-e2e") =>
            {
                json_reply(200, json!({"clusters": []}))
            }
            _ => None,
        }
    })
    .await;
    let env = |_: &str| None;
    let resolved = Config {
        host: Some(mock.base.clone()),
        client_id: Some("sp-id".into()),
        client_secret: Some(SecretString::new("sp-secret")),
        scopes: Some(vec!["sql".into(), "all-apis".into()]),
        ..Config::default()
    }
    .resolve_with(&env, None)
    .unwrap();
    let client = resolved.client().unwrap();
    let body: Value = client
        .call(ApiRequest::get("/api/2.1/clusters/list"))
        .await
        .unwrap();
    assert_eq!(body, json!({"clusters": []}));
    assert_eq!(mock.count(TOKEN_PATH), 1);
}

// ---------------------------------------------------------------------------------------------
// The token cache: timing

#[tokio::test]
async fn refreshes_before_expiry_and_not_earlier() {
    let (mock, issued) = counting_token_server(3600, Duration::ZERO).await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    clock.advance(Duration::from_secs(3299));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    // 300 s (the margin) before expiry: refresh.
    clock.advance(Duration::from_secs(1));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-2"));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn short_lived_tokens_refresh_at_half_their_lifetime() {
    let (mock, issued) = counting_token_server(60, Duration::ZERO).await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    clock.advance(Duration::from_secs(29));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-2"));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_early_refresh_keeps_the_valid_token_until_it_expires() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fail = failing.clone();
    let mock = Mock::start(move |_| {
        move |r: &Recorded| {
            if r.path != TOKEN_PATH {
                return None;
            }
            if fail.load(Ordering::SeqCst) {
                json_reply(503, json!({"error": "temporarily_unavailable"}))
            } else {
                token_reply("at-1", 3600)
            }
        }
    })
    .await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    failing.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(3400));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    clock.advance(Duration::from_secs(200));
    let message = auth_message(provider.authorization(None).await);
    assert!(message.contains("temporarily_unavailable"), "{message}");
    // But a rejected token is never handed out again.
    let clock2 = self::clock();
    failing.store(false, Ordering::SeqCst);
    let provider = m2m(&mock, &clock2);
    let first = provider.authorization(None).await.unwrap();
    failing.store(true, Ordering::SeqCst);
    assert!(provider.authorization(Some(&first)).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// The token cache: concurrency

#[tokio::test]
async fn fifty_concurrent_callers_cause_one_fetch() {
    let (mock, issued) = counting_token_server(3600, Duration::from_millis(50)).await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    let headers = futures::future::join_all((0..50).map(|_| provider.authorization(None))).await;
    for header in headers {
        assert_eq!(header.unwrap(), bearer("at-1"));
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn fifty_rejected_callers_cause_one_refresh() {
    let (mock, issued) = counting_token_server(3600, Duration::from_millis(50)).await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    let first = provider.authorization(None).await.unwrap();
    assert_eq!(first, bearer("at-1"));
    let headers =
        futures::future::join_all((0..50).map(|_| provider.authorization(Some(&first)))).await;
    for header in headers {
        assert_eq!(header.unwrap(), bearer("at-2"));
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    // A late caller rejected with the old header gets the new one, no refresh.
    assert_eq!(
        provider.authorization(Some(&first)).await.unwrap(),
        bearer("at-2")
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    // Rejecting the current header refreshes again.
    assert_eq!(
        provider.authorization(Some(&bearer("at-2"))).await.unwrap(),
        bearer("at-3")
    );
    assert_eq!(issued.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn concurrent_callers_share_a_failed_fetch() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            (r.path == TOKEN_PATH).then(|| Reply {
                status: 400,
                body: json!({"error": "invalid_client", "error_description": "bad client"})
                    .to_string(),
                delay: Duration::from_millis(50),
            })
        }
    })
    .await;
    let clock = clock();
    let provider = m2m(&mock, &clock);
    let results = futures::future::join_all((0..50).map(|_| provider.authorization(None))).await;
    for result in results {
        // Every waiter gets the typed reason, not just the caller that fetched.
        let auth = auth_error(result);
        assert!(auth.message.contains("invalid_client: bad client"));
        assert!(auth.needs_new_login(), "{auth:?}");
    }
    assert_eq!(mock.count(TOKEN_PATH), 1);
    // A later call tries again.
    assert!(provider.authorization(None).await.is_err());
    assert_eq!(mock.count(TOKEN_PATH), 2);
}

// ---------------------------------------------------------------------------------------------
// U2M refresh

fn stored_tokens(clock: &ManualClock, refresh: Option<&str>) -> OAuthTokenSet {
    use brickwire_client::credentials::Clock as _;
    OAuthTokenSet {
        access_token: SecretString::new("at-0"),
        token_type: "Bearer".into(),
        refresh_token: refresh.map(SecretString::new),
        expires_at: Some(clock.now() + Duration::from_secs(3600)),
        scope: Some("all-apis offline_access".into()),
    }
}

#[tokio::test]
async fn refresh_uses_the_refresh_token_and_hands_rotated_tokens_back() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            if r.path != TOKEN_PATH || r.header("authorization").is_some() {
                return None;
            }
            let form = r.form();
            let get = |k: &str| {
                form.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
            };
            if get("grant_type") != Some("refresh_token")
                || get("client_id") != Some("databricks-cli")
            {
                return None;
            }
            match get("refresh_token") {
                // The first refresh rotates the refresh token, the second does not.
                Some("rt-0") if form.len() == 3 => json_reply(
                    200,
                    json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
                           "refresh_token": "rt-1", "scope": "all-apis offline_access"}),
                ),
                Some("rt-1") if form.len() == 3 => token_reply("at-2", 3600),
                _ => None,
            }
        }
    })
    .await;
    let clock = clock();
    let stored: Arc<Mutex<Vec<OAuthTokenSet>>> = Arc::default();
    let sink = stored.clone();
    let provider = OAuthRefreshCredentials::new(
        stored_tokens(&clock, Some("rt-0")),
        "databricks-cli",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_cache(cache(&clock))
    .on_refresh(Arc::new(move |tokens: &OAuthTokenSet| {
        sink.lock().unwrap().push(tokens.clone())
    }));
    assert_eq!(provider.auth_type(), "external-browser");

    // The stored access token is used while fresh.
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-0"));
    assert!(mock.requests().is_empty());

    clock.advance(Duration::from_secs(3300));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-1"));
    {
        let stored = stored.lock().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].access_token.expose_secret(), "at-1");
        assert_eq!(
            stored[0].refresh_token.as_ref().unwrap().expose_secret(),
            "rt-1"
        );
    }

    // The next refresh uses the rotated token; without a new one the old one is kept.
    clock.advance(Duration::from_secs(3300));
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-2"));
    let stored = stored.lock().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[1].refresh_token.as_ref().unwrap().expose_secret(),
        "rt-1"
    );
    assert_eq!(mock.count(TOKEN_PATH), 2);
}

#[tokio::test]
async fn a_cancelled_caller_does_not_lose_a_rotated_refresh_token() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            let form = r.form();
            let refresh = form.iter().find(|(k, _)| k == "refresh_token")?.1.as_str();
            match (r.path.as_str(), refresh) {
                (TOKEN_PATH, "rt-0") => Some(Reply {
                    status: 200,
                    body: json!({"access_token": "at-1", "token_type": "Bearer",
                                 "expires_in": 3600, "refresh_token": "rt-1"})
                    .to_string(),
                    delay: Duration::from_millis(1500),
                }),
                (TOKEN_PATH, "rt-1") => token_reply("at-2", 3600),
                _ => None,
            }
        }
    })
    .await;
    let clock = clock();
    let stored: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = stored.clone();
    let provider = OAuthRefreshCredentials::new(
        stored_tokens(&clock, Some("rt-0")),
        "databricks-cli",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_cache(cache(&clock))
    .on_refresh(Arc::new(move |tokens: &OAuthTokenSet| {
        let refresh = tokens.refresh_token.as_ref().unwrap().expose_secret();
        sink.lock().unwrap().push(refresh.to_owned())
    }));
    clock.advance(Duration::from_secs(3600));
    // The caller gives up while the server is rotating the refresh token.
    let cancelled =
        tokio::time::timeout(Duration::from_millis(20), provider.authorization(None)).await;
    assert!(cancelled.is_err());
    // The exchange still completes and hands the rotated token back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stored.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no rotation stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*stored.lock().unwrap(), ["rt-1"]);
    // The next caller refreshes with the rotated token, not the spent one.
    assert_eq!(provider.authorization(None).await.unwrap(), bearer("at-2"));
    assert_eq!(mock.count(TOKEN_PATH), 2);
}

#[tokio::test]
async fn refresh_sends_the_client_secret_when_set() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            let form = r.form();
            let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
            (r.path == TOKEN_PATH
                && has("client_id", "my-app")
                && has("client_secret", "app-secret")
                && has("refresh_token", "rt-0"))
            .then(|| token_reply("at-1", 3600))?
        }
    })
    .await;
    let clock = clock();
    let provider = OAuthRefreshCredentials::new(
        stored_tokens(&clock, Some("rt-0")),
        "my-app",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_client_secret(SecretString::new("app-secret"))
    .with_cache(cache(&clock));
    // A rejected access token forces the refresh even though it has not expired.
    let header = provider.authorization(Some(&bearer("at-0"))).await.unwrap();
    assert_eq!(header, bearer("at-1"));
}

#[tokio::test]
async fn expired_session_without_refresh_token_asks_to_log_in() {
    let mock = Mock::start(|_| |_: &Recorded| None).await;
    let clock = clock();
    let provider = OAuthRefreshCredentials::new(
        stored_tokens(&clock, None),
        "databricks-cli",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_cache(cache(&clock));
    clock.advance(Duration::from_secs(3600));
    let auth = auth_error(provider.authorization(None).await);
    assert!(auth.message.contains("log in again"), "{auth:?}");
    assert_eq!(auth.reason, AuthFailure::NoRefreshToken);
    assert!(auth.needs_new_login());
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn authorization_code_exchange_sends_the_pkce_form() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            let expected = [
                ("grant_type", "authorization_code"),
                ("code", "code-1"),
                ("redirect_uri", "http://localhost:8020"),
                ("code_verifier", "verifier-1"),
                ("client_id", "databricks-cli"),
            ];
            let form = r.form();
            let matches = form.len() == expected.len()
                && expected
                    .iter()
                    .all(|(k, v)| form.iter().any(|(a, b)| a == k && b == v));
            (r.path == TOKEN_PATH && matches && r.header("authorization").is_none()).then(|| {
                json_reply(
                    200,
                    json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
                           "refresh_token": "rt-1", "scope": "all-apis offline_access"}),
                )
            })?
        }
    })
    .await;
    let tokens = exchange_authorization_code(
        &reqwest::Client::new(),
        &mock.url(TOKEN_PATH),
        "databricks-cli",
        None,
        &SecretString::new("code-1"),
        "http://localhost:8020",
        &SecretString::new("verifier-1"),
    )
    .await
    .unwrap();
    assert_eq!(tokens.authorization(), bearer("at-1"));
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt-1");
    assert!(tokens.expires_at.is_some());
    assert_eq!(tokens.scope.as_deref(), Some("all-apis offline_access"));
}

// ---------------------------------------------------------------------------------------------
// Errors and redaction

#[tokio::test]
async fn invalid_grant_becomes_an_auth_error_without_secrets() {
    let mock = Mock::start(|_| {
        |r: &Recorded| {
            (r.path == TOKEN_PATH).then(|| {
                json_reply(
                    400,
                    json!({"error": "invalid_grant",
                           "error_description": "Refresh token rt-SECRET expired\r\nlog in again"}),
                )
            })?
        }
    })
    .await;
    let clock = clock();
    let provider = OAuthRefreshCredentials::new(
        stored_tokens(&clock, Some("rt-SECRET")),
        "my-app",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_client_secret(SecretString::new("cs-SECRET"))
    .with_cache(cache(&clock));
    clock.advance(Duration::from_secs(3600));
    let err = provider.authorization(None).await.unwrap_err();
    let printed = format!("{err} {err:?}");
    assert!(matches!(err, Error::Auth(_)), "{printed}");
    assert!(printed.contains("invalid_grant"), "{printed}");
    assert!(printed.contains("expired log in again"), "{printed}");
    assert!(printed.contains("HTTP 400"), "{printed}");
    assert!(!printed.contains("rt-SECRET"), "{printed}");
    assert!(!printed.contains("cs-SECRET"), "{printed}");
    let auth = err.auth().unwrap();
    assert_eq!(
        auth.reason,
        AuthFailure::TokenEndpoint {
            status: 400,
            error: Some("invalid_grant".into()),
            description: Some("Refresh token [redacted] expired\r\nlog in again".into()),
        }
    );
    assert!(auth.needs_new_login(), "{auth:?}");
}

#[tokio::test]
async fn only_refusals_by_the_token_endpoint_need_a_new_login() {
    let mock = Mock::start(|_| {
        |r: &Recorded| match r.path.as_str() {
            "/revoked" => json_reply(400, json!({"error": "invalid_grant"})),
            "/wrong-client" => json_reply(401, json!({"error": "invalid_client"})),
            "/okta" => json_reply(
                400,
                json!({"errorCode": "invalid_grant", "errorSummary": "The refresh token is invalid."}),
            ),
            "/busy" => json_reply(503, json!({"error": "temporarily_unavailable"})),
            "/slow-down" => json_reply(429, json!({"error": "slow_down"})),
            "/plain-500" => Some(Reply {
                status: 500,
                body: String::new(),
                delay: Duration::ZERO,
            }),
            _ => None,
        }
    })
    .await;
    let clock = clock();
    for (path, status, error, needs_new_login) in [
        ("/revoked", 400, Some("invalid_grant"), true),
        ("/wrong-client", 401, Some("invalid_client"), true),
        ("/okta", 400, Some("invalid_grant"), true),
        ("/busy", 503, Some("temporarily_unavailable"), false),
        ("/slow-down", 429, Some("slow_down"), false),
        ("/plain-500", 500, None, false),
    ] {
        let provider = OAuthRefreshCredentials::new(
            stored_tokens(&clock, Some("rt-1")),
            "my-app",
            TokenEndpoint::fixed(mock.url(path)),
            reqwest::Client::new(),
        )
        .with_cache(cache(&clock));
        clock.advance(Duration::from_secs(3600));
        let auth = auth_error(provider.authorization(None).await);
        let AuthFailure::TokenEndpoint {
            status: got_status,
            error: got_error,
            ..
        } = &auth.reason
        else {
            panic!("{path}: {auth:?}");
        };
        assert_eq!(*got_status, status, "{path}");
        assert_eq!(got_error.as_deref(), error, "{path}");
        assert_eq!(auth.needs_new_login(), needs_new_login, "{path}: {auth:?}");
        assert!(
            auth.message.contains(&format!("failed with HTTP {status}")),
            "{path}: {auth:?}"
        );
    }
}

#[tokio::test]
async fn odd_token_responses_are_clear_errors() {
    let mock = Mock::start(|_| {
        |r: &Recorded| match r.path.as_str() {
            "/no-access-token" => json_reply(200, json!({"refresh_token": "rt-LEAK"})),
            "/not-json" => Some(Reply {
                status: 200,
                body: "at-LEAK".into(),
                delay: Duration::ZERO,
            }),
            "/plain-error" => Some(Reply {
                status: 502,
                body: "bad gateway".into(),
                delay: Duration::ZERO,
            }),
            _ => None,
        }
    })
    .await;
    let clock = clock();
    for (path, expect) in [
        ("/no-access-token", "no access_token"),
        ("/not-json", "not a token response"),
        ("/plain-error", "HTTP 502: bad gateway"),
    ] {
        let provider = OAuthM2mCredentials::new(
            "sp-id",
            SecretString::new("sp-secret"),
            TokenEndpoint::fixed(mock.url(path)),
            reqwest::Client::new(),
        )
        .with_cache(cache(&clock));
        let auth = auth_error(provider.authorization(None).await);
        let message = &auth.message;
        assert!(message.contains(expect), "{path}: {message}");
        assert!(!message.contains("LEAK"), "{message}");
        assert!(!format!("{auth:?}").contains("LEAK"), "{auth:?}");
        let reason = match path {
            "/plain-error" => AuthFailure::TokenEndpoint {
                status: 502,
                error: None,
                description: None,
            },
            _ => AuthFailure::InvalidTokenResponse,
        };
        assert_eq!(auth.reason, reason, "{path}");
        assert!(!auth.needs_new_login(), "{path}: {auth:?}");
    }
}

#[tokio::test]
async fn debug_of_secret_bearing_types_shows_no_secret() {
    let (mock, _) = counting_token_server(3600, Duration::ZERO).await;
    let clock = clock();
    let tokens = stored_tokens(&clock, Some("rt-SECRET"));
    let tokens = OAuthTokenSet {
        access_token: SecretString::new("at-SECRET"),
        ..tokens
    };
    let refresh = OAuthRefreshCredentials::new(
        tokens.clone(),
        "my-app",
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    )
    .with_client_secret(SecretString::new("cs-SECRET"))
    .on_refresh(Arc::new(|_| {}));
    let m2m = OAuthM2mCredentials::new(
        "sp-id",
        SecretString::new("sp-SECRET"),
        TokenEndpoint::fixed(mock.url(TOKEN_PATH)),
        reqwest::Client::new(),
    );
    m2m.authorization(None).await.unwrap();
    let header = tokens.authorization();
    let printed = format!(
        "{tokens:?} {refresh:?} {m2m:?} {header:?} {header} {:?}",
        TokenCache::default()
    );
    assert!(!printed.contains("SECRET"), "{printed}");
    assert!(!printed.contains("at-1"), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}
