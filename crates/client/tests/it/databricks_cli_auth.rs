//! `auth_type = databricks-cli` end to end against a small OAuth workspace mock: a profile in a
//! temporary home, its tokens in `~/.databricks/token-cache.json`, a refresh when the cached
//! access token has expired or is rejected, and the rotated tokens written back to the cache.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use brickwire_client::config::AuthType;
use brickwire_client::credentials::{CliTokenCache, OAuthTokenSet};
use brickwire_client::{ApiRequest, Config, SecretString};
use serde_json::{Value, json};

/// The mock's OAuth state: the one valid access token and the one valid refresh token
/// (refresh tokens are single use and rotate, as with `enable_single_use_refresh_tokens`).
#[derive(Default)]
struct Workspace {
    access: String,
    refresh: String,
    refreshes: u32,
    forms: Vec<Vec<(String, String)>>,
}

type Shared = Arc<Mutex<Workspace>>;

async fn token(State(ws): State<Shared>, body: String) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut ws = ws.lock().unwrap();
    ws.forms.push(form.clone());
    if field("grant_type").as_deref() != Some("refresh_token")
        || field("refresh_token") != Some(ws.refresh.clone())
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "bad refresh token"})),
        )
            .into_response();
    }
    ws.refreshes += 1;
    ws.access = format!("at-{}", ws.refreshes);
    ws.refresh = format!("rt-{}", ws.refreshes);
    axum::Json(json!({
        "access_token": ws.access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": ws.refresh, "scope": "all-apis offline_access",
    }))
    .into_response()
}

async fn me(State(ws): State<Shared>, headers: HeaderMap) -> Response {
    let expected = format!("Bearer {}", ws.lock().unwrap().access);
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(h) if h == expected => {
            axum::Json(json!({"userName": "ada@example.com"})).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}),
            ),
        )
            .into_response(),
    }
}

async fn start(ws: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
    });
    let app = Router::new()
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(move || async move { axum::Json(discovery) }),
        )
        .route("/oidc/v1/token", post(token))
        .route("/api/2.0/preview/scim/v2/Me", get(me))
        .with_state(ws);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

struct Setup {
    home: tempfile::TempDir,
    base: String,
    ws: Shared,
}

impl Setup {
    /// A home with profile `dev` (`auth_type = databricks-cli`) and `tokens` cached under the
    /// profile name; the workspace accepts `at-0` and refresh token `rt-0`.
    async fn new(profile_extra: &str, cached_access: &str, expires_at: SystemTime) -> Setup {
        let ws: Shared = Arc::new(Mutex::new(Workspace {
            access: "at-0".into(),
            refresh: "rt-0".into(),
            ..Workspace::default()
        }));
        let base = start(ws.clone()).await;
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".databrickscfg"),
            format!("[dev]\nhost = {base}\nauth_type = databricks-cli\n{profile_extra}"),
        )
        .unwrap();
        CliTokenCache::in_home(home.path())
            .store(
                &["dev"],
                &OAuthTokenSet {
                    access_token: SecretString::new(cached_access),
                    token_type: "Bearer".into(),
                    refresh_token: Some(SecretString::new("rt-0")),
                    expires_at: Some(expires_at),
                    scope: None,
                },
            )
            .unwrap();
        Setup { home, base, ws }
    }

    fn config(&self) -> brickwire_client::config::ResolvedConfig {
        Config {
            profile: Some("dev".into()),
            ..Config::default()
        }
        .resolve_with(&|_| None, Some(self.home.path()))
        .unwrap()
    }

    fn cached(&self, key: &str) -> Value {
        let cache = CliTokenCache::in_home(self.home.path());
        let doc: Value = serde_json::from_slice(&std::fs::read(cache.path()).unwrap()).unwrap();
        doc["tokens"][key].clone()
    }
}

async fn call_me(config: &brickwire_client::config::ResolvedConfig) -> Value {
    let client = config.client().unwrap();
    let response = client
        .send(ApiRequest::get("/api/2.0/preview/scim/v2/Me"))
        .await
        .unwrap();
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test]
async fn a_fresh_cached_token_is_used_without_refresh() {
    let setup = Setup::new("", "at-0", SystemTime::now() + Duration::from_secs(3600)).await;
    let config = setup.config();
    assert_eq!(config.auth_type, Some(AuthType::DatabricksCli));
    assert_eq!(
        config.token_cache_keys().unwrap(),
        vec!["dev".to_owned(), setup.base.clone()]
    );
    assert_eq!(call_me(&config).await["userName"], "ada@example.com");
    assert_eq!(setup.ws.lock().unwrap().refreshes, 0);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_rotation_written_back() {
    let setup = Setup::new("", "at-stale", SystemTime::now() - Duration::from_secs(60)).await;
    assert_eq!(
        call_me(&setup.config()).await["userName"],
        "ada@example.com"
    );
    {
        let ws = setup.ws.lock().unwrap();
        assert_eq!(ws.refreshes, 1);
        let form = &ws.forms[0];
        assert!(
            form.contains(&("client_id".into(), "databricks-cli".into())),
            "{form:?}"
        );
    }
    // written under the key it was found at and under the host key
    for key in ["dev", setup.base.as_str()] {
        let entry = setup.cached(key);
        assert_eq!(entry["access_token"], "at-1", "{key}");
        assert_eq!(entry["refresh_token"], "rt-1", "{key}");
    }
    // a second process starts from the rotated refresh token: force another refresh by
    // expiring the cached access token again
    let mut entry = setup.cached("dev");
    entry["expiry"] = "2000-01-01T00:00:00Z".into();
    let cache = CliTokenCache::in_home(setup.home.path());
    let mut doc: Value = serde_json::from_slice(&std::fs::read(cache.path()).unwrap()).unwrap();
    doc["tokens"]["dev"] = entry;
    std::fs::write(cache.path(), doc.to_string()).unwrap();
    assert_eq!(
        call_me(&setup.config()).await["userName"],
        "ada@example.com"
    );
    assert_eq!(setup.ws.lock().unwrap().refreshes, 2);
    assert_eq!(setup.cached("dev")["refresh_token"], "rt-2");
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once() {
    // The cache believes the token is fresh, but the workspace revoked it.
    let setup = Setup::new(
        "",
        "at-revoked",
        SystemTime::now() + Duration::from_secs(3600),
    )
    .await;
    assert_eq!(
        call_me(&setup.config()).await["userName"],
        "ada@example.com"
    );
    assert_eq!(setup.ws.lock().unwrap().refreshes, 1);
    assert_eq!(setup.cached("dev")["refresh_token"], "rt-1");
}

#[tokio::test]
async fn a_custom_client_id_from_the_profile_is_used_for_refresh() {
    let setup = Setup::new(
        "client_id = my-app\n",
        "at-stale",
        SystemTime::now() - Duration::from_secs(1),
    )
    .await;
    call_me(&setup.config()).await;
    let ws = setup.ws.lock().unwrap();
    assert!(
        ws.forms[0].contains(&("client_id".into(), "my-app".into())),
        "{:?}",
        ws.forms
    );
}

#[tokio::test]
async fn a_missing_login_says_how_to_log_in() {
    let setup = Setup::new("", "at-0", SystemTime::now()).await;
    std::fs::write(
        setup.home.path().join(".databrickscfg"),
        format!(
            "[other]\nhost = {}\nauth_type = databricks-cli\nclient_id = my-app\n",
            setup.base
        ),
    )
    .unwrap();
    let config = Config {
        profile: Some("other".into()),
        ..Config::default()
    }
    .resolve_with(&|_| None, Some(setup.home.path()))
    .unwrap();
    // `dev` is cached, but under its profile name only: `other` finds nothing
    let message = config.client().unwrap_err().to_string();
    assert!(message.contains("no cached login"), "{message}");
    assert!(
        message.contains(&format!(
            "brickwire auth login --host {} --client-id my-app --profile other",
            setup.base
        )),
        "{message}"
    );
}

/// Two processes loaded the same login; its refresh tokens are single use. The first refresh
/// wins and rotates; the second one's refresh is refused, so it takes the winner's tokens from
/// the cache instead of failing.
#[tokio::test]
async fn a_second_process_continues_from_the_tokens_the_first_one_rotated() {
    use brickwire_client::credentials::CredentialsProvider;
    let setup = Setup::new("", "at-stale", SystemTime::now() - Duration::from_secs(60)).await;
    let first = setup.config().databricks_cli_credentials().unwrap();
    let second = setup.config().databricks_cli_credentials().unwrap();
    assert_eq!(
        first.authorization(None).await.unwrap().expose_secret(),
        "Bearer at-1"
    );
    assert_eq!(
        second.authorization(None).await.unwrap().expose_secret(),
        "Bearer at-1"
    );
    {
        let ws = setup.ws.lock().unwrap();
        assert_eq!(ws.refreshes, 1, "only the first refresh succeeded");
        assert_eq!(
            ws.forms.len(),
            2,
            "the second process tried with the spent token"
        );
    }
    // the second process now holds rt-1: when at-1 is refused, it refreshes from there
    let rejected = SecretString::new("Bearer at-1");
    setup.ws.lock().unwrap().access = "revoked".into();
    assert_eq!(
        second
            .authorization(Some(&rejected))
            .await
            .unwrap()
            .expose_secret(),
        "Bearer at-2"
    );
    assert_eq!(setup.cached("dev")["refresh_token"], "rt-2");
}

#[tokio::test]
async fn a_refused_refresh_with_nothing_newer_in_the_cache_is_an_error() {
    use brickwire_client::credentials::CredentialsProvider;
    let setup = Setup::new("", "at-stale", SystemTime::now() - Duration::from_secs(60)).await;
    setup.ws.lock().unwrap().refresh = "someone-else".into();
    let provider = setup.config().databricks_cli_credentials().unwrap();
    let err = provider.authorization(None).await.unwrap_err();
    // The hint is added to the message; the reason stays what the token endpoint said.
    assert!(
        err.auth().is_some_and(|auth| auth.needs_new_login()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(
        message.contains(&format!(
            "log in again: `brickwire auth login --host {} --profile dev`",
            setup.base
        )),
        "{message}"
    );
    assert!(!message.contains("rt-0"), "no token in errors: {message}");
}
