//! Shared set-up of the service's integration tests: a service on a temporary data directory
//! with a manual clock, the emulator, and an HTTP client that does not follow redirects.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::ClientOptions;
use brickwire_client::credentials::ManualClock;
use brickwire_emulator::oauth::drive::{
    AppConnection, Decision, answer_consent, register_app_connection,
};
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_service::{RunningService, ServeOptions, Service, StartupEnv};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Everything logged (at every level) by this test binary, for "no secret in the logs" checks.
pub static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line into [`LOGS`] (once per test binary).
pub fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .try_init();
}

/// Panics if `secret` was logged.
pub fn assert_not_logged(secret: &str) {
    let logs = LOGS.lock().unwrap();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(!contains(&logs, secret), "a secret was logged");
}

/// A running service and what tests need around it.
pub struct Svc {
    pub dir: tempfile::TempDir,
    pub service: Option<RunningService>,
    pub key: String,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub fn options(dir: &std::path::Path, clock: Arc<ManualClock>) -> ServeOptions {
    let mut options = ServeOptions::new(dir);
    options.clock = clock;
    options.client_options = ClientOptions {
        rate_limit: None,
        http_timeout: Duration::from_secs(30),
        retry_timeout: Duration::from_secs(30),
    };
    options.link_timeout = Duration::from_secs(5);
    options
}

impl Svc {
    pub async fn start() -> Svc {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let service = Service::start(options(dir.path(), clock.clone()))
            .await
            .unwrap();
        let key = service
            .generated_api_key()
            .expect("a first start generates a key")
            .expose_secret()
            .to_owned();
        Svc {
            dir,
            service: Some(service),
            key,
            clock,
            http: http_client(),
        }
    }

    /// A replica on a shared PostgreSQL database: the master key and operator key come from
    /// its environment (as every replica of a fleet gets them), its clock is its own, and
    /// `public_url` is the load balancer's URL in front of the fleet (its own URL if `None`).
    pub async fn replica(
        database_url: &SecretString,
        master_key: &SecretString,
        key: &str,
        public_url: Option<url::Url>,
    ) -> Svc {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let mut options = options(dir.path(), clock.clone());
        options.database_url = Some(database_url.clone());
        options.public_url = public_url;
        options.env = StartupEnv {
            master_key: Some(master_key.clone()),
            api_key: Some(SecretString::new(key)),
        };
        let service = Service::start(options).await.unwrap();
        Svc {
            dir,
            service: Some(service),
            key: key.to_owned(),
            clock,
            http: http_client(),
        }
    }

    /// Stops the service and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.service.take().unwrap().shutdown().await;
        let service = Service::start(options(self.dir.path(), self.clock.clone()))
            .await
            .unwrap();
        assert!(
            service.generated_api_key().is_none(),
            "the key is generated once"
        );
        self.service = Some(service);
    }

    pub fn service(&self) -> &RunningService {
        self.service.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.service().url().as_str().trim_end_matches('/'),
            path
        )
    }

    /// Calls the operator API with the key; returns status and JSON (Null for no body).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, json)
    }

    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.api(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {json}");
        json
    }

    /// Creates a connect session; returns (id, connect_url).
    pub async fn session(&self, body: Value) -> (String, String) {
        let created = self
            .ok(Method::POST, "/api/v1/connect-sessions", Some(body))
            .await;
        (
            created["id"].as_str().unwrap().to_owned(),
            created["connect_url"].as_str().unwrap().to_owned(),
        )
    }

    /// Runs an action on an account.
    pub async fn action(&self, account: &str, action: &str, input: Value) -> (StatusCode, Value) {
        self.api(
            Method::POST,
            &format!("/api/v1/linked-accounts/{account}/actions/{action}"),
            Some(input),
        )
        .await
    }

    /// All bytes of the database files (main file and WAL).
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("brickwire.db")
            {
                all.extend(std::fs::read(&path).unwrap());
            }
        }
        all
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The emulator and helpers for its admin API and app connections.
pub struct Workspace {
    pub emulator: Emulator,
    pub http: reqwest::Client,
}

impl Workspace {
    pub async fn start() -> Workspace {
        Workspace {
            emulator: Emulator::start(EmulatorOptions::default()).await.unwrap(),
            http: http_client(),
        }
    }

    pub fn base_url(&self) -> String {
        self.emulator.base_url().trim_end_matches('/').to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let mut request = self.http.request(method.clone(), self.url(path));
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// How many requests reached `endpoint`, e.g. `POST /oidc/v1/token`.
    pub async fn hits(&self, endpoint: &str) -> u64 {
        self.admin(Method::GET, "/_emulator/counters", Value::Null)
            .await["endpoints"][endpoint]
            .as_u64()
            .unwrap_or(0)
    }

    /// Registers an app connection as a workspace admin would; returns its client id.
    pub async fn app_connection(
        &self,
        redirect_url: &str,
        scopes: &[&str],
        single_use_refresh_tokens: bool,
    ) -> String {
        let app = AppConnection {
            name: "brickwire service test",
            redirect_urls: &[redirect_url],
            scopes,
            single_use_refresh_tokens,
        };
        register_app_connection(&self.http, &self.base_url(), self.emulator.token(), &app)
            .await
            .unwrap()
    }

    /// Opens a consent page URL and clicks Allow (or Deny) as the first user; returns the
    /// `Location` the emulator redirects to.
    pub async fn consent(&self, authorize_url: &str, allow: bool) -> String {
        let decision = if allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        answer_consent(&self.http, authorize_url, None, decision)
            .await
            .unwrap()
    }
}

/// The `value` of the first input named `name` in a page.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..][..html[start..].find('"')?].to_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The `data-linked-account-id` of a success page.
pub fn linked_account_id(html: &str) -> Option<String> {
    let marker = "data-linked-account-id=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..][..html[start..].find('"')?].to_owned())
}

/// The `data-status` of a result page.
pub fn result_status(html: &str) -> Option<String> {
    let marker = "id=\"result\" data-status=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..][..html[start..].find('"')?].to_owned())
}
