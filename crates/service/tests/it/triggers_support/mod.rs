//! Shared pieces of the triggers tests: a store on a temp dir with a linked account on an
//! in-process emulator, a small "new jobs" poller, and a local webhook receiver that records
//! every request and answers with a status the test sets, and the service's operator API over a
//! trigger engine.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use brickwire_api::SecretString;
use brickwire_client::Client;
use brickwire_client::credentials::SystemClock;
use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_service::api_key::bootstrap_operator_api_key;
use brickwire_service::crypto::MasterKey;
use brickwire_service::server::routes::api_router;
use brickwire_service::store::{Credential, LinkedAccount, NewLinkedAccount, Store};
use brickwire_service::triggers::{
    InvalidField, PollRequest, PollResult, Poller, SyncPoller, TriggerEngine,
};
use brickwire_service::{AccountClients, AccountClientsOptions, AppState, SqliteStore};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use url::Url;

pub const SECRET: &str = "whsec_test_0123456789abcdef";

/// The service's sync poller, counting its polls.
#[derive(Debug, Default)]
pub struct JobsPoller {
    pub inner: SyncPoller,
    pub polls: AtomicU64,
}

impl Poller for JobsPoller {
    fn validate(&self, source: &Value, start_from: &Value) -> Result<(), InvalidField> {
        self.inner.validate(source, start_from)
    }

    fn poll<'a>(
        &'a self,
        client: &'a Client,
        request: PollRequest<'a>,
    ) -> BoxFuture<'a, Result<PollResult, String>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.poll(client, request)
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
    pub store: SqliteStore,
    pub emulator: Emulator,
    pub account: LinkedAccount,
}

pub async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let store = SqliteStore::open(dir.path(), &key).await.unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "emulator".into(),
            end_user_ref: None,
            workspace_host: Url::parse(emulator.base_url()).unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new(emulator.token()),
            },
        })
        .await
        .unwrap();
    Env {
        dir,
        key,
        store,
        emulator,
        account,
    }
}

/// Creates a job on the emulator; returns its id.
pub async fn create_job(emulator: &Emulator, name: &str) -> i64 {
    let http = reqwest::Client::new();
    let resp: Value = http
        .post(format!("{}/api/2.2/jobs/create", emulator.base_url()))
        .bearer_auth(emulator.token())
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["job_id"].as_i64().expect("job_id")
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status answered; 0 while the receiver hangs (never answered).
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local webhook receiver.
#[derive(Clone)]
pub struct Receiver {
    pub url: Url,
    pub status: Arc<AtomicU16>,
    /// While set, requests are recorded and never answered.
    pub hang: Arc<AtomicBool>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    status: Arc<AtomicU16>,
    hang: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if s.hang.load(Ordering::SeqCst) {
        s.received.lock().unwrap().push(Received {
            headers,
            body,
            status: 0,
        });
        return std::future::pending().await;
    }
    let status = s.status.load(Ordering::SeqCst);
    s.received.lock().unwrap().push(Received {
        headers,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        let status = Arc::new(AtomicU16::new(status));
        let hang = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(ReceiverState {
                status: status.clone(),
                hang: hang.clone(),
                received: received.clone(),
            });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: Url::parse(&format!("http://{addr}/hook")).unwrap(),
            status,
            hang,
            received,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every event id received, in order (with repeats).
    pub fn event_ids(&self) -> Vec<String> {
        Self::ids_of(self.requests().iter())
    }

    /// Every event id the receiver acknowledged with a 2xx.
    pub fn acknowledged_ids(&self) -> Vec<String> {
        let requests = self.requests();
        Self::ids_of(requests.iter().filter(|r| (200..300).contains(&r.status)))
    }

    pub fn ids_of<'a>(requests: impl Iterator<Item = &'a Received>) -> Vec<String> {
        requests
            .flat_map(|r| {
                r.json()["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Waits (up to a generous deadline) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The service's operator API (`/api/v1`, behind the operator key) over a state holding
/// `engine`, on the environment's store, with the key to call it.
pub struct OperatorApi {
    pub router: axum::Router,
    /// The operator key (sent as `Authorization: Bearer <key>`).
    pub key: String,
}

pub async fn operator_api(env: &Env, engine: TriggerEngine) -> OperatorApi {
    let store: Arc<dyn Store> = Arc::new(env.store.clone());
    let bootstrap = bootstrap_operator_api_key(store.as_ref(), None, &SystemClock)
        .await
        .unwrap();
    let key = match bootstrap.generated {
        Some(key) => key.expose_secret().to_owned(),
        None => panic!("a fresh store generates an operator key"),
    };
    let state = AppState::new(
        store.clone(),
        bootstrap.keys,
        Url::parse("http://127.0.0.1:9/").unwrap(),
        AccountClients::new(store, AccountClientsOptions::default()),
        Duration::from_secs(2),
    )
    .with_triggers(engine);
    OperatorApi {
        router: api_router(state),
        key,
    }
}
