//! The shared harness: a running emulator plus an authenticated HTTP client.

use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::Method;
use serde_json::Value;

/// A running emulator plus an authenticated HTTP client.
pub struct Harness {
    pub emulator: Emulator,
    http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        let emulator = Emulator::start(EmulatorOptions::default())
            .await
            .expect("emulator starts");
        Self {
            emulator,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; returns the status and the decoded JSON body (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.emulator.base_url(), path);
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.emulator.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }
}
