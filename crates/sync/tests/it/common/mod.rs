//! The shared harness of the sync tests: an in-process emulator, a client for it, and
//! helpers to seed data and read the request counters.

#![allow(dead_code)]

use brickwire_client::{Client, Config};
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_sync::{Cursor, Event, PollBatch, PollOptions, SourceSpec, poll};
use reqwest::Method;
use serde_json::{Value, json};

pub struct Env {
    pub emu: Emulator,
    pub client: Client,
    http: reqwest::Client,
}

impl Env {
    /// An emulator whose runs, clusters and warehouses change state at once.
    pub async fn start() -> Self {
        let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
        {
            let mut s = emu.state().settings.write().unwrap();
            s.jobs.run_pending_ms = 0;
            s.jobs.task_run_ms = 0;
        }
        // The client's default rate limit (15 requests/s, as the SDKs) would make request
        // counts, not the code under test, set the pace of these tests.
        let client = Config {
            host: Some(emu.base_url().to_owned()),
            token: Some(emu.token().into()),
            rate_limit: Some(100_000.0),
            ..Config::default()
        }
        .resolve_with(&|_| None, None)
        .unwrap()
        .client()
        .unwrap();
        let env = Self {
            emu,
            client,
            http: reqwest::Client::new(),
        };
        env.admin(
            Method::PATCH,
            "/settings",
            Some(json!({
                "clusters": {"start_delay_ms": 0, "restart_delay_ms": 0, "resize_delay_ms": 0,
                             "terminate_delay_ms": 0},
                "warehouses": {"start_delay_ms": 0, "stop_delay_ms": 0, "delete_delay_ms": 0},
            })),
        )
        .await;
        env
    }

    /// Calls the admin API; panics unless it answers 200.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_emulator{path}", self.emu.base_url()));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Calls the workspace API; panics unless it answers 200.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.token());
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// The seeded running warehouse.
    pub async fn warehouse(&self) -> String {
        let seeded = self.admin(Method::POST, "/seed", None).await;
        seeded["warehouse_id"].as_str().unwrap().to_owned()
    }

    /// Runs a statement; panics unless it succeeds.
    pub async fn sql(&self, warehouse: &str, statement: &str) -> Value {
        let reply = self
            .api(
                Method::POST,
                "/api/2.0/sql/statements",
                Some(json!({"statement": statement, "warehouse_id": warehouse,
                            "wait_timeout": "50s"})),
            )
            .await;
        assert_eq!(
            reply["status"]["state"], "SUCCEEDED",
            "{statement}: {reply}"
        );
        reply
    }

    /// `count` finished runs starting at `start` ms, `step` ms apart.
    pub async fn seed_runs(&self, count: u64, start: i64, step: i64) {
        self.admin(
            Method::POST,
            "/seed/job-runs",
            Some(json!({"count": count, "start_time": start, "step_ms": step})),
        )
        .await;
    }

    pub async fn reset_counters(&self) {
        self.admin(Method::POST, "/counters/reset", None).await;
    }

    /// Requests counted since the last reset (the admin API is not counted).
    pub async fn requests(&self) -> Value {
        self.admin(Method::GET, "/counters", None).await
    }

    /// One poll; panics on error.
    pub async fn poll(
        &self,
        spec: &SourceSpec,
        cursor: Option<&Cursor>,
        opts: &PollOptions,
    ) -> PollBatch {
        poll(&self.client, spec, cursor, opts)
            .await
            .unwrap_or_else(|e| panic!("poll {spec:?}: {e}"))
    }

    /// Polls until a batch says there is no more; returns every event and the last cursor.
    pub async fn drain(
        &self,
        spec: &SourceSpec,
        mut cursor: Option<Cursor>,
        opts: &PollOptions,
    ) -> (Vec<Event>, Cursor) {
        let mut events = Vec::new();
        for _ in 0..10_000 {
            let batch = self.poll(spec, cursor.as_ref(), opts).await;
            events.extend(batch.events);
            cursor = Some(batch.cursor);
            if !batch.more {
                return (events, cursor.unwrap());
            }
        }
        panic!("the source never ran dry");
    }
}

/// The keys of `events`, in order.
pub fn keys(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.key.clone()).collect()
}

/// Asserts no two events share an id.
pub fn assert_unique(events: &[Event]) {
    let mut ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate event ids");
}

/// Wall-clock now in epoch ms (the emulator stamps items with it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
