//! A scripted mock of a Databricks workspace for the connector tests: it answers only the
//! requests a test scripted, records every request, and answers anything else with a 418
//! that no action treats as success, so an unexpected request fails the test loudly.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use brickwire_api::SecretString;
use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions};
use serde_json::Value;

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty, a string when not JSON).
    pub body: Value,
}

struct Scripted {
    method: String,
    path: String,
    status: u16,
    body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// The running mock.
pub struct Mock {
    pub url: String,
    shared: Shared,
}

impl Mock {
    /// Starts the mock on an ephemeral port.
    pub async fn start() -> Mock {
        let shared = Shared::default();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock { url, shared }
    }

    /// Scripts the next answer: `method path` (no query) answers `status` with `body`.
    /// Answers are used in order.
    pub fn on(&self, method: &str, path: &str, status: u16, body: Value) -> &Self {
        self.shared.script.lock().unwrap().push_back(Scripted {
            method: method.into(),
            path: path.into(),
            status,
            body,
        });
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Asserts that every scripted answer was used.
    pub fn assert_done(&self) {
        let left: Vec<String> = self
            .shared
            .script
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect();
        assert!(left.is_empty(), "scripted requests never sent: {left:?}");
    }

    /// A client for the mock with a PAT and no client-side rate limit.
    pub fn client(&self) -> Client {
        Client::with_credentials(
            self.url.parse().unwrap(),
            Arc::new(PatCredentials::new(&SecretString::new("dapi-test-token"))),
            ClientOptions {
                rate_limit: None,
                ..ClientOptions::default()
            },
        )
        .unwrap()
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let body_value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    shared.seen.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query,
        headers,
        body: body_value,
    });
    let mut script = shared.script.lock().unwrap();
    let hit = script
        .iter()
        .position(|s| s.method == method.as_str() && s.path == uri.path());
    match hit.and_then(|i| script.remove(i)) {
        Some(s) => (
            StatusCode::from_u16(s.status).unwrap(),
            [
                ("content-type", "application/json"),
                ("x-request-id", "req-mock"),
            ],
            s.body.to_string(),
        )
            .into_response(),
        None => (
            StatusCode::IM_A_TEAPOT,
            format!("unexpected request {method} {uri}"),
        )
            .into_response(),
    }
}
