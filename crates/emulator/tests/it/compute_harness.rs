//! The harness of the compute tests (clusters, warehouses, admin, faults): an emulator and
//! reqwest with the emulator's token, replies decoded with status and `Retry-After`.

use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A running emulator and a client for it.
pub struct Harness {
    /// The emulator; dropping it stops the server.
    pub emu: Emulator,
    /// A plain HTTP client.
    pub http: reqwest::Client,
}

/// A decoded response: status, `Retry-After` if any, and the JSON body (`null` if empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Harness {
    /// Starts an emulator on an ephemeral port.
    pub async fn start() -> Self {
        let emu = Emulator::start(EmulatorOptions::default())
            .await
            .expect("emulator starts");
        Self {
            emu,
            http: reqwest::Client::new(),
        }
    }

    /// Starts an emulator whose lifecycle steps all complete at once, except those set later.
    pub async fn instant() -> Self {
        let h = Self::start().await;
        h.settings(json!({
            "clusters": {"start_delay_ms": 0, "restart_delay_ms": 0, "resize_delay_ms": 0,
                         "terminate_delay_ms": 0},
            "warehouses": {"start_delay_ms": 0, "stop_delay_ms": 0, "delete_delay_ms": 0},
        }))
        .await;
        h
    }

    /// `base_url + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    /// Sends an authenticated API request with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.emu.token());
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request is answered");
        decode(resp).await
    }

    /// Authenticated GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// Authenticated POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Calls the admin API (no token) and returns the body; panics unless it answers 200.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, self.url(&format!("/_emulator{path}")));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply = decode(req.send().await.expect("admin answers")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        reply.body
    }

    /// PATCHes the settings.
    pub async fn settings(&self, patch: Value) -> Value {
        self.admin(Method::PATCH, "/settings", Some(patch)).await
    }
}

/// Reads status, `Retry-After` and JSON body.
pub async fn decode(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let bytes = resp.bytes().await.expect("body is read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("body is JSON")
    };
    Reply {
        status,
        retry_after,
        body,
    }
}

/// Asserts a Databricks error body.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.body["error_code"], json!(code), "{:?}", reply.body);
    assert!(reply.body["message"].is_string(), "{:?}", reply.body);
}
