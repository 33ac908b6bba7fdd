//! A scripted mock of the Databricks REST API for the service, pagination and waiter tests.
//!
//! Requests must arrive in the scripted order and match method, path, and (when given) query
//! and JSON body exactly; anything else gets a 400 `UNEXPECTED_REQUEST` (which no retry policy
//! retries) and is recorded, and [`Mock::verify`] panics on it or on unused expectations.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions, SecretString};
use serde_json::{Value, json};

/// One expected request and the answer to it.
#[derive(Debug, Clone)]
pub struct Expect {
    method: Method,
    path: String,
    query: Option<Vec<(String, String)>>,
    body: Option<Value>,
    status: u16,
    response: Value,
    raw: Option<Vec<u8>>,
}

impl Expect {
    /// Expects `method path` (any query, any body) and answers 200 `{}`.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: None,
            body: None,
            status: 200,
            response: json!({}),
            raw: None,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }

    /// Requires exactly this query, in this order.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }

    /// Requires exactly this JSON body.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Answers with this JSON.
    pub fn respond(mut self, response: Value) -> Self {
        self.response = response;
        self
    }

    /// Answers with these raw bytes (`application/octet-stream`) instead of JSON.
    pub fn respond_raw(mut self, bytes: &[u8]) -> Self {
        self.raw = Some(bytes.to_vec());
        self
    }

    /// Answers with this status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

#[derive(Default)]
struct Script {
    expected: Mutex<VecDeque<Expect>>,
    unexpected: Mutex<Vec<String>>,
    served: Mutex<usize>,
}

/// A running mock server.
pub struct Mock {
    /// The client pointed at the mock.
    pub client: Client,
    script: Arc<Script>,
    server: tokio::task::JoinHandle<()>,
}

impl Mock {
    /// Starts a mock that expects `script` in order.
    pub async fn start(script: Vec<Expect>) -> Self {
        let state = Arc::new(Script {
            expected: Mutex::new(script.into()),
            ..Script::default()
        });
        let handler_state = Arc::clone(&state);
        let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let state = Arc::clone(&handler_state);
            async move { handle(&state, method, uri, body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let url = url::Url::parse(&format!("http://{addr}")).unwrap();
        let token = SecretString::new("dapi-mock");
        let client = Client::with_credentials(
            url,
            Arc::new(PatCredentials::new(&token)),
            ClientOptions::default(),
        )
        .unwrap();
        Self {
            client,
            script: state,
            server,
        }
    }

    /// How many scripted requests were served.
    pub fn served(&self) -> usize {
        *self.script.served.lock().unwrap()
    }

    /// Panics on any unexpected request or unused expectation.
    pub fn verify(&self) {
        let unexpected = self.script.unexpected.lock().unwrap();
        assert!(
            unexpected.is_empty(),
            "unexpected requests: {unexpected:#?}"
        );
        let left = self.script.expected.lock().unwrap();
        assert!(left.is_empty(), "expected requests never came: {left:#?}");
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn handle(script: &Script, method: Method, uri: Uri, body: Bytes) -> Response {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let mut expected = script.expected.lock().unwrap();
    let problem = match expected.front() {
        None => Some("no more requests were expected".to_owned()),
        Some(e) if e.method != method || e.path != uri.path() => {
            Some(format!("expected {} {}", e.method, e.path))
        }
        Some(e) if e.query.as_ref().is_some_and(|q| *q != query) => {
            Some(format!("expected query {:?}", e.query))
        }
        Some(e) if e.body.is_some() && e.body != body => {
            Some(format!("expected body {:?}", e.body))
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        let seen = format!("{method} {uri} body={body:?}: {problem}");
        script.unexpected.lock().unwrap().push(seen.clone());
        let err = json!({"error_code": "UNEXPECTED_REQUEST", "message": seen});
        return (StatusCode::BAD_REQUEST, axum::Json(err)).into_response();
    }
    let e = expected.pop_front().unwrap();
    *script.served.lock().unwrap() += 1;
    let status = StatusCode::from_u16(e.status).unwrap();
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    if let Some(raw) = e.raw {
        return (status, [("content-type", "application/octet-stream")], raw).into_response();
    }
    (status, axum::Json(e.response)).into_response()
}
