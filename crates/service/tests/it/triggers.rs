//! Triggers end to end against the in-process emulator and a local webhook receiver: steady
//! state (one event per change), signatures, retries with backoff then dead-letter and
//! redelivery, the pull API, pause/resume/reset, shared clients, and the store's durability
//! rules (events and cursor in one transaction, secrets encrypted at rest).

use crate::triggers_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use brickwire_api::SecretString;
use brickwire_client::http::{Clock, ManualClock};
use brickwire_service::triggers::*;
use brickwire_service::{AccountClients, AccountClientsOptions, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use triggers_support::*;

fn fast_options() -> EngineOptions {
    EngineOptions {
        tick: Duration::from_millis(20),
        poll_jitter: 0.0,
        retry_backoff: RetryBackoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            jitter: 0.0,
        },
        ..EngineOptions::default()
    }
}

fn engine_on(env: &Env, poller: Arc<JobsPoller>, clients: Arc<dyn ClientSource>) -> TriggerEngine {
    TriggerEngine::new(Arc::new(env.store.clone()), clients, poller, fast_options())
}

/// The service's account clients.
fn account_clients(env: &Env) -> AccountClients {
    AccountClients::new(
        Arc::new(env.store.clone()),
        AccountClientsOptions::default(),
    )
}

fn clients(env: &Env) -> Arc<dyn ClientSource> {
    Arc::new(account_clients(env))
}

/// A client source that keeps every client it hands out.
#[derive(Debug)]
struct Recording {
    inner: AccountClients,
    handed_out: std::sync::Mutex<Vec<brickwire_client::Client>>,
}

impl ClientSource for Recording {
    fn client(
        &self,
        account: &brickwire_service::store::LinkedAccountId,
    ) -> futures::future::BoxFuture<'_, Result<brickwire_client::Client, String>> {
        let account = account.clone();
        Box::pin(async move {
            let client = ClientSource::client(&self.inner, &account).await?;
            self.handed_out.lock().unwrap().push(client.clone());
            Ok(client)
        })
    }
}

fn new_subscription(env: &Env, webhook: Option<Webhook>, interval_ms: u64) -> NewSubscription {
    NewSubscription {
        linked_account_id: env.account.id.clone(),
        source: json!({"type": "jobs"}),
        start_from: json!("beginning"),
        poll_interval: Duration::from_millis(interval_ms),
        overlap: None,
        webhook,
        max_attempts: 3,
        paused: false,
    }
}

fn hook(receiver: &Receiver) -> Webhook {
    Webhook {
        url: receiver.url.clone(),
        secret: SecretString::new(SECRET),
    }
}

/// Calls the service's operator API with the operator key.
async fn call(
    api: &OperatorApi,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send(&api.router, Some(&api.key), method, uri, body).await
}

async fn send(
    app: &axum::Router,
    key: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = req
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_delivers_each_change_once_with_a_verifiable_signature() {
    let env = env().await;
    let receiver = Receiver::start(200).await;
    for i in 0..3 {
        create_job(&env.emulator, &format!("job-{i}")).await;
    }
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients(&env));
    let sub = env
        .store
        .insert_subscription(new_subscription(&env, Some(hook(&receiver)), 100))
        .await
        .unwrap();
    let handle = engine.start().await.unwrap();

    eventually("3 events delivered", || receiver.event_ids().len() >= 3).await;
    create_job(&env.emulator, "job-3").await;
    create_job(&env.emulator, "job-4").await;
    eventually("5 events delivered", || receiver.event_ids().len() >= 5).await;
    // Steady state: further polls find nothing new.
    for _ in 0..3 {
        let report = engine.poll_now(&sub.id).await.unwrap();
        assert_eq!(report.commit.inserted, 0);
    }
    let last_seq = env
        .store
        .events_after(sub.id.clone(), 0, 100)
        .await
        .unwrap()[4]
        .seq;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env
        .store
        .subscription(sub.id.clone())
        .await
        .unwrap()
        .delivered_seq
        < last_seq
    {
        assert!(tokio::time::Instant::now() < deadline, "delivery progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop();

    let mut ids = receiver.event_ids();
    assert_eq!(ids.len(), 5, "one event per change: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);

    let first = &receiver.requests()[0];
    let header = first.headers[SIGNATURE_HEADER].to_str().unwrap().to_owned();
    let secret = SecretString::new(SECRET);
    let now = std::time::SystemTime::now();
    let tolerance = Duration::from_secs(3600);
    assert_eq!(
        verify_signature(&secret, &header, &first.body, now, tolerance),
        Ok(())
    );
    let mut tampered = first.body.to_vec();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert_eq!(
        verify_signature(&secret, &header, &tampered, now, tolerance),
        Err(SignatureError::Mismatch)
    );
    let body = first.json();
    assert_eq!(body["subscription_id"], json!(sub.id.as_str()));
    assert!(body["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    assert!(body["events"][0]["sequence"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_back_off_then_dead_letter_and_redeliver_from_there() {
    let env = env().await;
    let receiver = Receiver::start(500).await;
    create_job(&env.emulator, "a").await;
    create_job(&env.emulator, "b").await;
    let clock = Arc::new(ManualClock::new());
    let engine = TriggerEngine::with_time(
        Arc::new(env.store.clone()),
        clients(&env),
        Arc::new(JobsPoller::default()),
        EngineOptions {
            retry_backoff: RetryBackoff {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(3600),
                jitter: 0.5,
            },
            ..EngineOptions::default()
        },
        clock.clone(),
        Arc::new(FixedRandom(0.5)),
    );
    let sub = env
        .store
        .insert_subscription(new_subscription(&env, Some(hook(&receiver)), 60_000))
        .await
        .unwrap();
    assert_eq!(engine.poll_now(&sub.id).await.unwrap().commit.inserted, 2);

    // Attempt 1 fails: retry after 10 s * (1 - 0.5 * 0.5) = 7.5 s.
    let next = engine.deliver_due(&sub.id).await.unwrap();
    assert_eq!(
        next,
        NextDelivery::Later(clock.system_time() + Duration::from_millis(7500))
    );
    // Not due yet: nothing is sent.
    clock.advance(Duration::from_millis(7499));
    assert!(matches!(
        engine.deliver_due(&sub.id).await.unwrap(),
        NextDelivery::Later(_)
    ));
    assert_eq!(receiver.requests().len(), 1);
    // Attempt 2 fails: 20 s * 0.75 = 15 s.
    clock.advance(Duration::from_millis(1));
    let next = engine.deliver_due(&sub.id).await.unwrap();
    assert_eq!(
        next,
        NextDelivery::Later(clock.system_time() + Duration::from_secs(15))
    );
    // Attempt 3 fails: max_attempts = 3, so it is dead-lettered.
    clock.advance(Duration::from_secs(15));
    assert_eq!(
        engine.deliver_due(&sub.id).await.unwrap(),
        NextDelivery::Idle
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let delivery_ids: Vec<Value> = requests
        .iter()
        .map(|r| r.json()["delivery_id"].clone())
        .collect();
    assert!(
        delivery_ids.iter().all(|d| d == &delivery_ids[0]),
        "retries resend the same batch"
    );

    let app = operator_api(&env, engine.clone()).await;
    let uri = format!("/api/v1/subscriptions/{}/dead-letters", sub.id);
    let (status, body) = call(&app, "GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK);
    let dead = body["dead_letters"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], json!(3));
    assert_eq!(dead[0]["state"], json!("dead_letter"));
    assert_eq!(dead[0]["last_status"], json!(500));
    let delivery_id = dead[0]["id"].as_str().unwrap().to_owned();
    // Progress moved past the dead letter, so new events are not blocked behind it.
    let s = env.store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(s.delivered_seq, dead[0]["last_sequence"].as_i64().unwrap());

    // The receiver is fixed; redeliver from the dead-letter list.
    receiver.status.store(200, Ordering::SeqCst);
    let (status, body) = call(
        &app,
        "POST",
        &format!(
            "/api/v1/subscriptions/{}/dead-letters/{delivery_id}/redeliver",
            sub.id
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], json!("pending"));
    assert_eq!(
        engine.deliver_due(&sub.id).await.unwrap(),
        NextDelivery::Idle
    );
    assert_eq!(receiver.requests().len(), 4);
    assert_eq!(
        receiver.requests()[3].json()["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let delivered = env
        .store
        .delivery(DeliveryId::new(delivery_id.clone()))
        .await
        .unwrap();
    assert_eq!(delivered.state, DeliveryState::Delivered);
    let (_, body) = call(&app, "GET", &uri, None).await;
    assert_eq!(body["dead_letters"], json!([]));
    // Only dead letters can be redelivered.
    let (status, body) = call(
        &app,
        "POST",
        &format!(
            "/api/v1/subscriptions/{}/dead-letters/{delivery_id}/redeliver",
            sub.id
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delivery_id")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_api_pages_with_after_and_validates_its_query() {
    let env = env().await;
    for i in 0..5 {
        create_job(&env.emulator, &format!("j{i}")).await;
    }
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients(&env));
    let app = operator_api(&env, engine.clone()).await;
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/subscriptions",
        Some(json!({
            "linked_account_id": env.account.id,
            "source": {"type": "jobs"},
            "start_from": "beginning",
            "poll_interval_ms": 60000,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["delivery"], json!({"type": "pull"}));
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, polled) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{id}/poll"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    assert_eq!(polled["new_events"], json!(5));

    let (_, page1) = call(
        &app,
        "GET",
        &format!("/api/v1/subscriptions/{id}/events?after=0&limit=2"),
        None,
    )
    .await;
    let events1 = page1["events"].as_array().unwrap();
    assert_eq!(events1.len(), 2);
    let after = page1["next_after"].as_i64().unwrap();
    assert_eq!(after, events1[1]["sequence"].as_i64().unwrap());
    let (_, page2) = call(
        &app,
        "GET",
        &format!("/api/v1/subscriptions/{id}/events?after={after}&limit=10"),
        None,
    )
    .await;
    let events2 = page2["events"].as_array().unwrap();
    assert_eq!(events2.len(), 3);
    assert!(
        events2
            .iter()
            .all(|e| e["sequence"].as_i64().unwrap() > after)
    );
    let (_, page3) = call(
        &app,
        "GET",
        &format!(
            "/api/v1/subscriptions/{id}/events?after={}",
            page2["next_after"]
        ),
        None,
    )
    .await;
    assert_eq!(page3["events"], json!([]));
    assert_eq!(page3["next_after"], page2["next_after"]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
    ] {
        let (status, body) = call(
            &app,
            "GET",
            &format!("/api/v1/subscriptions/{id}/events?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["code"], json!("INVALID_INPUT"));
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{body}"
        );
    }
    let (status, body) = call(
        &app,
        "GET",
        "/api/v1/subscriptions/sub_missing/events",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_patch_validate_fields_and_never_return_the_secret() {
    let env = env().await;
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients(&env));
    let app = operator_api(&env, engine).await;
    let base = json!({
        "linked_account_id": env.account.id,
        "source": {"type": "jobs"},
        "start_from": "now",
    });
    let cases = [
        (json!({"source": {"type": "nope"}}), "source"),
        (
            json!({"source": {"type": "tables", "catalog": "main"}}),
            "source.schema",
        ),
        (json!({"start_from": "yesterday"}), "start_from"),
        (json!({"poll_interval_ms": 5}), "poll_interval_ms"),
        (json!({"max_attempts": 0}), "max_attempts"),
        (
            json!({"webhook": {"url": "ftp://x", "secret": SECRET}}),
            "webhook.url",
        ),
        (
            json!({"webhook": {"url": "http://x/h", "secret": "short"}}),
            "webhook.secret",
        ),
        (
            json!({"linked_account_id": "la_missing"}),
            "linked_account_id",
        ),
        (json!({"poll_interval_ms": "fast"}), "poll_interval_ms"),
        (json!({"surprise": 1}), "surprise"),
    ];
    for (change, field) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, resp) = call(&app, "POST", "/api/v1/subscriptions", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(field) || message.contains(field),
            "{field}: {message}"
        );
    }
    let mut body = base.clone();
    body["webhook"] = json!({"url": "http://127.0.0.1:9/hook", "secret": SECRET});
    let (status, created) = call(&app, "POST", "/api/v1/subscriptions", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!created.to_string().contains(SECRET));
    let id = created["id"].as_str().unwrap();
    let (status, patched) = call(
        &app,
        "PATCH",
        &format!("/api/v1/subscriptions/{id}"),
        Some(json!({"poll_interval_ms": 2000, "webhook": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["poll_interval_ms"], json!(2000));
    assert_eq!(patched["delivery"], json!({"type": "pull"}));
    let (_, listed) = call(&app, "GET", "/api/v1/subscriptions", None).await;
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(SECRET));
    let (status, _) = call(&app, "DELETE", &format!("/api/v1/subscriptions/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, "GET", &format!("/api/v1/subscriptions/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A path segment that is not UTF-8 and an unknown query parameter get the error shape
    // naming what was wrong, as on every other route (not axum's plain text).
    let (status, resp) = call(&app, "GET", "/api/v1/subscriptions/%FF%FE", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["error"]["code"], "INVALID_INPUT", "{resp}");
    assert!(
        resp["error"]["message"].as_str().unwrap().contains("path"),
        "{resp}"
    );
    let (status, resp) = call(
        &app,
        "GET",
        "/api/v1/subscriptions/sub_x/events?colour=red",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["error"]["code"], "INVALID_INPUT", "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );

    // The secret is encrypted at rest: the raw database never holds it.
    env.store.checkpoint().await.unwrap();
    let raw = std::fs::read(env.store.path()).unwrap();
    assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cursor_reset() {
    let env = env().await;
    create_job(&env.emulator, "a").await;
    let poller = Arc::new(JobsPoller::default());
    let engine = engine_on(&env, poller.clone(), clients(&env));
    let app = operator_api(&env, engine.clone()).await;
    let sub = env
        .store
        .insert_subscription(new_subscription(&env, None, 100))
        .await
        .unwrap();
    let handle = engine.start().await.unwrap();
    eventually("first poll", || poller.polls.load(Ordering::SeqCst) >= 1).await;

    let (status, paused) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{}/pause", sub.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["paused"], json!(true));
    // A scheduled poll may have been in flight when the pause landed; after that, none run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_pause = poller.polls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        poller.polls.load(Ordering::SeqCst),
        at_pause,
        "no polls while paused"
    );
    // Poll-now still works on a paused subscription.
    create_job(&env.emulator, "b").await;
    let (_, polled) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{}/poll", sub.id),
        None,
    )
    .await;
    assert_eq!(polled["new_events"], json!(1));

    let (_, resumed) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{}/resume", sub.id),
        None,
    )
    .await;
    assert_eq!(resumed["paused"], json!(false));
    let before = poller.polls.load(Ordering::SeqCst);
    eventually("polls after resume", || {
        poller.polls.load(Ordering::SeqCst) >= before + 2
    })
    .await;
    handle.stop();
    // A scheduled poll in flight finishes on its own task after `stop`; one poll of our own
    // waits for it (one poll of a subscription at a time), so none commits after the reset.
    engine.poll_now(&sub.id).await.unwrap();

    let (_, cursor) = call(
        &app,
        "GET",
        &format!("/api/v1/subscriptions/{}/cursor", sub.id),
        None,
    )
    .await;
    assert!(cursor["cursor"]["polls"].as_u64().unwrap() >= 2, "{cursor}");
    let (status, reset) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{}/cursor/reset", sub.id),
        Some(json!({"start_from": "beginning"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    let (_, cursor) = call(
        &app,
        "GET",
        &format!("/api/v1/subscriptions/{}/cursor", sub.id),
        None,
    )
    .await;
    assert_eq!(cursor["cursor"], Value::Null);
    // After a reset the source yields both jobs again; stable ids keep them stored once.
    let report = engine.poll_now(&sub.id).await.unwrap();
    assert_eq!(report.commit.inserted, 0);
    assert_eq!(report.commit.duplicates, 2);
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/subscriptions/{}/cursor/reset", sub.id),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("start_from"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_of_one_linked_account_share_one_client() {
    let env = env().await;
    create_job(&env.emulator, "a").await;
    let clients = Arc::new(Recording {
        inner: account_clients(&env),
        handed_out: Default::default(),
    });
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients.clone());
    let mut ids = Vec::new();
    for _ in 0..5 {
        let s = env
            .store
            .insert_subscription(new_subscription(&env, None, 60_000))
            .await
            .unwrap();
        ids.push(s.id);
    }
    let polls = ids.iter().map(|id| engine.poll_now(id));
    for report in futures::future::join_all(polls).await {
        assert_eq!(report.unwrap().commit.inserted, 1);
    }
    let handed_out = clients.handed_out.lock().unwrap();
    assert_eq!(handed_out.len(), 5, "one client per poll");
    assert!(
        handed_out.iter().all(|c| c.is_clone_of(&handed_out[0])),
        "every poll used the account's one client"
    );
}

#[tokio::test]
async fn a_poll_commits_events_and_cursor_together_and_deduplicates() {
    let env = env().await;
    let store: &SqliteStore = &env.store;
    let sub = store
        .insert_subscription(new_subscription(&env, None, 1000))
        .await
        .unwrap();
    let ev = |id: &str| NewEvent {
        id: id.into(),
        body: json!({"id": id}),
    };
    let c = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("a"), ev("b"), ev("a")],
            json!({"w": 1}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (2, 1));
    let c = store
        .commit_poll(
            sub.id.clone(),
            vec![ev("b"), ev("c")],
            json!({"w": 2}),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.duplicates), (1, 1));
    let stored = store.events_after(sub.id.clone(), 0, 100).await.unwrap();
    let ids: Vec<&str> = stored.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        store.subscription(sub.id.clone()).await.unwrap().cursor,
        Some(json!({"w": 2}))
    );
    // A commit for a deleted subscription writes nothing (the cursor update and the inserts are
    // one transaction).
    store.delete_subscription(sub.id.clone()).await.unwrap();
    let err = store
        .commit_poll(sub.id.clone(), vec![ev("d")], json!({"w": 3}), None, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

/// A poller that holds each poll open for a while and records how many run at once.
#[derive(Debug, Default)]
struct SlowPoller {
    inner: JobsPoller,
    running: std::sync::atomic::AtomicUsize,
    max_running: std::sync::atomic::AtomicUsize,
}

impl Poller for SlowPoller {
    fn validate(&self, source: &Value, start_from: &Value) -> Result<(), InvalidField> {
        self.inner.validate(source, start_from)
    }

    fn poll<'a>(
        &'a self,
        client: &'a brickwire_client::Client,
        request: PollRequest<'a>,
    ) -> futures::future::BoxFuture<'a, Result<PollResult, String>> {
        Box::pin(async move {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            let result = self.inner.poll(client, request).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

/// A poller whose first poll is overtaken by a cursor reset (made through the store while the
/// poll is in flight, as the operator API would); it records where each poll started.
#[derive(Debug)]
struct ResetDuringFirstPoll {
    store: SqliteStore,
    id: std::sync::OnceLock<SubscriptionId>,
    started_from: std::sync::Mutex<Vec<(Option<Value>, Value)>>,
}

impl Poller for ResetDuringFirstPoll {
    fn validate(&self, _source: &Value, _start_from: &Value) -> Result<(), InvalidField> {
        Ok(())
    }

    fn poll<'a>(
        &'a self,
        _client: &'a brickwire_client::Client,
        request: PollRequest<'a>,
    ) -> futures::future::BoxFuture<'a, Result<PollResult, String>> {
        Box::pin(async move {
            let round = {
                let mut started = self.started_from.lock().unwrap();
                started.push((request.cursor.cloned(), request.start_from.clone()));
                started.len()
            };
            if round == 1 {
                let id = self.id.get().expect("the test sets the id first").clone();
                self.store
                    .reset_cursor(id, json!("now"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(PollResult {
                events: vec![NewEvent {
                    id: format!("round-{round}"),
                    body: json!({"round": round}),
                }],
                cursor: json!({"round": round}),
                more: false,
            })
        })
    }
}

#[tokio::test]
async fn a_cursor_reset_during_a_poll_is_not_overwritten_and_the_poll_starts_over_from_it() {
    let env = env().await;
    let poller = Arc::new(ResetDuringFirstPoll {
        store: env.store.clone(),
        id: Default::default(),
        started_from: Default::default(),
    });
    let engine = TriggerEngine::new(
        Arc::new(env.store.clone()),
        clients(&env),
        poller.clone(),
        fast_options(),
    );
    let sub = env
        .store
        .insert_subscription(new_subscription(&env, None, 60_000))
        .await
        .unwrap();
    poller.id.set(sub.id.clone()).unwrap();
    let report = engine.poll_now(&sub.id).await.unwrap();
    // The first round's commit was discarded; the second started from the reset point.
    assert_eq!(
        *poller.started_from.lock().unwrap(),
        vec![(None, json!("beginning")), (None, json!("now"))]
    );
    assert_eq!(report.cursor, json!({"round": 2}));
    assert_eq!(
        (report.commit.inserted, report.commit.discarded),
        (1, false)
    );
    let stored = env.store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(stored.start_from, json!("now"));
    assert_eq!(stored.cursor, Some(json!({"round": 2})));
    assert_eq!(stored.cursor_generation, 1);
    let events = env.store.events_after(sub.id.clone(), 0, 10).await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["round-2"], "the overtaken poll's events are dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_polls_run_at_once_than_the_limit() {
    let env = env().await;
    create_job(&env.emulator, "a").await;
    let poller = Arc::new(SlowPoller::default());
    let engine = TriggerEngine::new(
        Arc::new(env.store.clone()),
        clients(&env),
        poller.clone(),
        EngineOptions {
            max_concurrent_polls: 2,
            ..fast_options()
        },
    );
    for _ in 0..6 {
        env.store
            .insert_subscription(new_subscription(&env, None, 60_000))
            .await
            .unwrap();
    }
    let handle = engine.start().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env
        .store
        .list_subscriptions()
        .await
        .unwrap()
        .iter()
        .any(|s| s.cursor.is_none())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "every subscription polled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop();
    assert_eq!(poller.max_running.load(Ordering::SeqCst), 2);
    for s in env.store.list_subscriptions().await.unwrap() {
        // Each was polled once: the long interval keeps the second poll a minute away.
        assert_eq!(s.cursor.unwrap()["polls"], json!(1));
    }
}

#[tokio::test]
async fn deliveries_take_batches_in_order_and_progress_moves_past_dead_letters() {
    let env = env().await;
    let store: &SqliteStore = &env.store;
    let receiver_url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
    let sub = store
        .insert_subscription(new_subscription(
            &env,
            Some(Webhook {
                url: receiver_url,
                secret: SecretString::new(SECRET),
            }),
            1000,
        ))
        .await
        .unwrap();
    let events = (0..5)
        .map(|i| NewEvent {
            id: format!("e{i}"),
            body: json!({"id": format!("e{i}")}),
        })
        .collect();
    store
        .commit_poll(sub.id.clone(), events, json!({}), None, None)
        .await
        .unwrap();
    let now = std::time::SystemTime::now();
    let NextDelivery::Due(first, batch) =
        store.next_delivery(sub.id.clone(), now, 2).await.unwrap()
    else {
        panic!("a delivery is due");
    };
    assert_eq!(
        batch
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e0", "e1"]
    );
    // While the first batch is open, asking again returns the same one, not the next.
    let NextDelivery::Due(again, _) = store.next_delivery(sub.id.clone(), now, 2).await.unwrap()
    else {
        panic!("still due");
    };
    assert_eq!(again.id, first.id);
    // A retry later: nothing else is opened meanwhile (order is kept).
    let later = now + Duration::from_secs(60);
    store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::Retry {
                status: Some(503),
                error: "the receiver answered 503".into(),
                retry_at: later,
            },
            None,
        )
        .await
        .unwrap();
    let next = store.next_delivery(sub.id.clone(), now, 2).await.unwrap();
    assert!(
        matches!(next, NextDelivery::Later(at) if at.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() == later.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()),
        "{next:?}"
    );
    // Dead-lettered: progress moves past it and the next batch opens.
    store
        .record_delivery_attempt(
            first.id.clone(),
            AttemptOutcome::DeadLetter {
                status: Some(503),
                error: "gave up".into(),
            },
            None,
        )
        .await
        .unwrap();
    let NextDelivery::Due(second, batch) =
        store.next_delivery(sub.id.clone(), now, 2).await.unwrap()
    else {
        panic!("the next batch is due");
    };
    assert_eq!(
        batch
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e2", "e3"]
    );
    store
        .record_delivery_attempt(
            second.id.clone(),
            AttemptOutcome::Delivered { status: 200 },
            None,
        )
        .await
        .unwrap();
    let NextDelivery::Due(third, batch) =
        store.next_delivery(sub.id.clone(), now, 2).await.unwrap()
    else {
        panic!("the last batch is due");
    };
    assert_eq!(batch.len(), 1);
    store
        .record_delivery_attempt(
            third.id.clone(),
            AttemptOutcome::Delivered { status: 204 },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.next_delivery(sub.id.clone(), now, 2).await.unwrap(),
        NextDelivery::Idle
    );
    let s = store.subscription(sub.id.clone()).await.unwrap();
    assert_eq!(s.delivered_seq, third.last_seq);
    // Redelivering the old dead letter does not move progress back.
    store
        .redeliver(sub.id.clone(), first.id.clone(), now)
        .await
        .unwrap();
    let NextDelivery::Due(redo, batch) = store.next_delivery(sub.id.clone(), now, 2).await.unwrap()
    else {
        panic!("the redelivery is due");
    };
    assert_eq!(redo.id, first.id);
    assert_eq!(batch.len(), 2);
    store
        .record_delivery_attempt(redo.id, AttemptOutcome::Delivered { status: 200 }, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .subscription(sub.id.clone())
            .await
            .unwrap()
            .delivered_seq,
        third.last_seq
    );
    // Another subscription's delivery cannot be redelivered through this one.
    let other = store
        .insert_subscription(new_subscription(&env, None, 1000))
        .await
        .unwrap();
    let err = store.redeliver(other.id, first.id, now).await.unwrap_err();
    assert!(err.is_not_found());
}

/// A schema of the OpenAPI document, its `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("a component reference");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn request_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema =
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} takes a body");
    resolve(doc, schema)
}

#[tokio::test]
async fn every_triggers_endpoint_is_documented_served_and_behind_the_operator_key() {
    let env = env().await;
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients(&env));
    let app = operator_api(&env, engine).await;
    let (status, doc) = call(&app, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    for endpoint in api::ENDPOINTS {
        let method = endpoint.method.as_str();
        let path = endpoint.full_path();
        let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
        assert_eq!(
            operation["operationId"],
            json!(endpoint.operation_id),
            "{method} {path} is documented"
        );
        assert_eq!(operation["tags"], json!(["triggers"]), "{method} {path}");
        assert!(
            operation["responses"][endpoint.success.as_u16().to_string()].is_object(),
            "{method} {path}: {operation}"
        );
        let uri = path
            .replace("{id}", "sub_missing")
            .replace("{delivery_id}", "dlv_missing");
        // Unknown ids: each route answers with its own error, never the router's fallbacks.
        let (status, body) = call(&app, method, &uri, Some(json!({}))).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            status.is_success() || body["error"]["code"].is_string(),
            "{method} {path}: {status} {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("no such route"),
            "{method} {path} is documented but not served: {body}"
        );
        // Without the operator key: 401, whatever the route.
        let (status, body) = send(&app.router, None, method, &uri, Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(body["error"]["code"], json!("UNAUTHENTICATED"));
        let (status, _) = send(&app.router, Some("wrong-key"), method, &uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    // Nothing about subscriptions is documented beside the table.
    let tagged: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter(|operation| operation["tags"] == json!(["triggers"]))
        .count();
    let under_subscriptions: usize = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/api/v1/subscriptions"))
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    assert_eq!(tagged, api::ENDPOINTS.len());
    assert_eq!(under_subscriptions, api::ENDPOINTS.len());
    // A method not in the table is not routed.
    let (status, body) = call(&app, "PUT", "/api/v1/subscriptions", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], json!("INVALID_INPUT"));

    // The request schemas, derived from the request types, say what the handlers check.
    let create = request_schema(&doc, "/api/v1/subscriptions", "post");
    assert_eq!(create["additionalProperties"], json!(false), "{create}");
    let mut required: Vec<&str> = create["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["linked_account_id", "source", "start_from"]);
    let props = &create["properties"];
    assert_eq!(props["source"]["type"], json!("object"), "{props}");
    assert_eq!(props["poll_interval_ms"]["minimum"], json!(100));
    assert_eq!(props["poll_interval_ms"]["maximum"], json!(86_400_000));
    assert_eq!(props["poll_interval_ms"]["default"], json!(60_000));
    assert_eq!(props["overlap_ms"]["maximum"], json!(86_400_000));
    assert_eq!(props["max_attempts"]["minimum"], json!(1));
    assert_eq!(props["max_attempts"]["maximum"], json!(100));
    assert_eq!(props["max_attempts"]["default"], json!(8));
    assert_eq!(props["paused"]["default"], json!(false));
    for start_from in [
        &props["start_from"],
        &request_schema(&doc, "/api/v1/subscriptions/{id}/cursor/reset", "post")["properties"]["start_from"],
    ] {
        assert_eq!(
            start_from["oneOf"][0]["enum"],
            json!(["beginning", "now"]),
            "{start_from}"
        );
        assert_eq!(start_from["oneOf"][1]["required"], json!(["time"]));
    }
    let webhook = props["webhook"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["$ref"].is_string())
        .unwrap();
    let webhook = resolve(&doc, webhook);
    assert_eq!(webhook["properties"]["secret"]["writeOnly"], json!(true));
    assert_eq!(webhook["properties"]["secret"]["minLength"], json!(16));
    assert!(
        webhook["properties"]["secret"]["description"]
            .as_str()
            .unwrap()
            .contains("never returned")
    );
    let reset = request_schema(&doc, "/api/v1/subscriptions/{id}/cursor/reset", "post");
    assert_eq!(reset["required"], json!(["start_from"]));
    assert_eq!(reset["additionalProperties"], json!(false));
    let patch = request_schema(&doc, "/api/v1/subscriptions/{id}", "patch");
    assert_eq!(patch["additionalProperties"], json!(false));
    assert!(patch.get("required").is_none(), "{patch}");
    // In a patch, `null` clears the overlap and absent leaves it: no `null` default.
    assert!(
        patch["properties"]["overlap_ms"].get("default").is_none(),
        "{patch}"
    );
    assert_eq!(
        patch["properties"]["poll_interval_ms"]["minimum"],
        json!(100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_outside_the_engine_are_delivered_after_a_reload() {
    let env = env().await;
    let receiver = Receiver::start(200).await;
    let engine = engine_on(&env, Arc::new(JobsPoller::default()), clients(&env));
    let sub = env
        .store
        .insert_subscription(new_subscription(&env, Some(hook(&receiver)), 600_000))
        .await
        .unwrap();
    let handle = engine.start().await.unwrap();
    // The first poll finds nothing; the delivery worker goes idle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env
        .store
        .subscription(sub.id.clone())
        .await
        .unwrap()
        .cursor
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "first poll");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another process (e.g. the CLI on the same data directory) commits an event.
    let cursor = env
        .store
        .subscription(sub.id.clone())
        .await
        .unwrap()
        .cursor
        .unwrap();
    env.store
        .commit_poll(
            sub.id.clone(),
            vec![NewEvent {
                id: "outside:1:1".into(),
                body: json!({"id": "outside:1:1", "key": "1"}),
            }],
            cursor,
            None,
            None,
        )
        .await
        .unwrap();
    engine.reload().await.unwrap();
    eventually("the outside event delivered", || {
        receiver.event_ids() == ["outside:1:1"]
    })
    .await;
    handle.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_go_but_undelivered_ones_and_dead_letters_stay() {
    let env = env().await;
    create_job(&env.emulator, "a").await;
    create_job(&env.emulator, "b").await;
    let failing = Receiver::start(500).await;
    let engine = TriggerEngine::with_time(
        Arc::new(env.store.clone()),
        clients(&env),
        Arc::new(JobsPoller::default()),
        EngineOptions {
            retry_backoff: RetryBackoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
                jitter: 0.0,
            },
            ..EngineOptions::default()
        },
        Arc::new(ManualClock::new()),
        Arc::new(FixedRandom(0.5)),
    );
    let pull = env
        .store
        .insert_subscription(new_subscription(&env, None, 60_000))
        .await
        .unwrap();
    let waiting = env
        .store
        .insert_subscription(new_subscription(&env, Some(hook(&failing)), 60_000))
        .await
        .unwrap();
    let dead = env
        .store
        .insert_subscription(new_subscription(&env, Some(hook(&failing)), 60_000))
        .await
        .unwrap();
    for sub in [&pull, &waiting, &dead] {
        assert_eq!(engine.poll_now(&sub.id).await.unwrap().commit.inserted, 2);
    }
    // `dead`: three failed attempts, then a dead letter (delivery progress moves past it).
    for _ in 0..3 {
        engine.deliver_due(&dead.id).await.unwrap();
    }
    assert_eq!(
        env.store.dead_letters(dead.id.clone()).await.unwrap().len(),
        1
    );
    let count = |id: SubscriptionId| {
        let store = env.store.clone();
        async move { store.events_after(id, 0, 100).await.unwrap().len() }
    };

    // Nothing is older than a cutoff in the past.
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(env.store.prune(past).await.unwrap(), Pruned::default());

    // Once everything has expired: the pull subscription's events go; the undelivered webhook
    // events stay; the dead letter expires too, and then its events go with it.
    let future = std::time::SystemTime::now() + Duration::from_secs(3600);
    let pruned = env.store.prune(future).await.unwrap();
    assert_eq!(pruned.deliveries, 1, "the dead letter");
    assert_eq!(count(pull.id.clone()).await, 0);
    assert_eq!(count(waiting.id.clone()).await, 2, "not delivered yet");
    assert_eq!(count(dead.id.clone()).await, 0);
    assert_eq!(pruned.events, 4);
    // Sequence ids are never reused: a new event after pruning gets a higher one.
    create_job(&env.emulator, "c").await;
    engine.poll_now(&pull.id).await.unwrap();
    let after = env
        .store
        .events_after(pull.id.clone(), 0, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].seq > 6, "{}", after[0].seq);
}
