//! The [`FlowStore`] contract on both backends with the same assertions: versions, dedupe of
//! runs, seed steps in the run's transaction, claiming around busy flows, recovery, cancel and
//! resume rules, step attempts in write order, list filters and paging, delete cascade, and the
//! webhook secret encrypted at rest (a raw scan of the SQLite files, or of every PostgreSQL
//! column).
//!
//! Each `async fn(Env)` listed in `both_backends!` runs as `sqlite::NAME` (a temporary data
//! directory) and `postgres::NAME` (a fresh database on `BRICKWIRE_TEST_DATABASE_URL`; skipped
//! without it, see `backends/mod.rs`).

use crate::backends;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::credentials::ManualClock;
use brickwire_flows::{StepError, StepKind, StepRecord, StepStatus};
use brickwire_service::crypto::MasterKey;
use brickwire_service::flows::*;
use brickwire_service::store::{
    DB_FILE, PgStore, PgStoreOptions, SharedStore, SqliteStore, SqliteStoreOptions,
};
use serde_json::{Value, json};

const T0: Duration = Duration::from_secs(1_800_000_000);

/// Where a backend keeps its data, for the checks that look behind the store.
enum Raw {
    Sqlite(tempfile::TempDir),
    Postgres(SecretString),
}

struct Env {
    raw: Raw,
    clock: Arc<ManualClock>,
    store: SharedStore,
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH + T0));
    let mut options = SqliteStoreOptions::in_data_dir(dir.path());
    options.clock = clock.clone();
    let store = SqliteStore::open_with(options, &MasterKey::generate())
        .await
        .unwrap();
    Env {
        raw: Raw::Sqlite(dir),
        clock,
        store: Arc::new(store),
    }
}

/// `None` when PostgreSQL is not configured (the test is skipped).
async fn postgres_env() -> Option<Env> {
    let url = backends::fresh_postgres_url().await?;
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH + T0));
    let mut options = PgStoreOptions::new(url.clone());
    options.clock = clock.clone();
    let store = PgStore::connect(options, &MasterKey::generate())
        .await
        .unwrap();
    Some(Env {
        raw: Raw::Postgres(url),
        clock,
        store: Arc::new(store),
    })
}

impl Env {
    /// One integer from `sql` (the same text on both backends), straight from the database.
    async fn count(&self, sql: &str) -> i64 {
        match &self.raw {
            Raw::Sqlite(dir) => rusqlite::Connection::open(dir.path().join(DB_FILE))
                .unwrap()
                .query_row(sql, [], |row| row.get(0))
                .unwrap(),
            Raw::Postgres(url) => backends::pg_client(url)
                .await
                .query_one(sql, &[])
                .await
                .unwrap()
                .get(0),
        }
    }

    /// Every stored byte a plaintext scan looks through: the database files (with the WAL) or
    /// every PostgreSQL cell.
    async fn raw_bytes(&self) -> Vec<Vec<u8>> {
        match &self.raw {
            Raw::Sqlite(dir) => std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().contains(DB_FILE))
                .map(|p| std::fs::read(p).unwrap())
                .collect(),
            Raw::Postgres(url) => backends::postgres_cells(url)
                .await
                .into_iter()
                .map(|(_, bytes)| bytes)
                .collect(),
        }
    }
}

fn definition(name: &str) -> Value {
    json!({
        "name": name,
        "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": "list-clusters", "input": {}}],
    })
}

fn new_run(flow: &FlowId, dedupe: Option<&str>) -> NewRun {
    NewRun {
        flow_id: flow.clone(),
        flow_version: None,
        trigger: "manual".into(),
        event: json!({"n": 1}),
        dedupe_key: dedupe.map(str::to_owned),
        replay_of: None,
        seed_steps: Vec::new(),
    }
}

fn record(path: &str, attempt: u32, status: StepStatus) -> StepRecord {
    StepRecord {
        path: path.into(),
        step_id: path.rsplit('.').next().unwrap().into(),
        kind: StepKind::Action,
        attempt,
        status,
        action: Some("list-clusters".into()),
        account: None,
        input: Some(json!({"x": 1})),
        output: (status == StepStatus::Succeeded).then(|| json!({"ok": path})),
        error: (status == StepStatus::Failed)
            .then(|| StepError::new("UNAVAILABLE", "503", true).at_step(path)),
        started_at: SystemTime::UNIX_EPOCH + T0,
        finished_at: None,
        resume_at: None,
    }
}

/// The lease the tests claim under: owner `test-owner`, for 30 s from `now`.
fn lease(now: SystemTime) -> RunLease {
    RunLease {
        owner: "test-owner".into(),
        expires_at: now + Duration::from_secs(30),
    }
}

async fn enqueue(store: &SharedStore, run: NewRun) -> FlowRun {
    match store.enqueue_run(run).await.unwrap() {
        Enqueued::Created(run) => run,
        Enqueued::Duplicate(id) => panic!("unexpected duplicate {id}"),
    }
}

async fn flows_keep_every_version_and_runs_record_theirs(env: Env) {
    let flow = env.store.insert_flow(definition("v1"), true).await.unwrap();
    assert_eq!(flow.version, 1);
    assert_eq!(flow.name, "v1");
    assert_eq!(flow.trigger_type, "manual");
    assert!(flow.id.as_str().starts_with("flow_"));
    let run1 = enqueue(&env.store, new_run(&flow.id, None)).await;

    let mut v2 = definition("v2");
    v2["trigger"] = json!({"type": "schedule", "cron": "0 * * * *"});
    let flow = env
        .store
        .update_flow(flow.id.clone(), v2.clone())
        .await
        .unwrap();
    assert_eq!((flow.version, flow.name.as_str()), (2, "v2"));
    assert_eq!(flow.trigger_type, "schedule");
    assert_eq!(flow.definition, v2);
    let run2 = enqueue(&env.store, new_run(&flow.id, None)).await;
    assert_eq!((run1.flow_version, run2.flow_version), (1, 2));
    assert_eq!(
        env.store.flow_version(flow.id.clone(), 1).await.unwrap(),
        definition("v1")
    );
    assert!(
        env.store
            .flow_version(flow.id.clone(), 3)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // A replay runs its original's version.
    let mut old = new_run(&flow.id, None);
    old.flow_version = Some(1);
    assert_eq!(enqueue(&env.store, old).await.flow_version, 1);
    let mut bad = new_run(&flow.id, None);
    bad.flow_version = Some(7);
    assert!(
        env.store
            .enqueue_run(bad)
            .await
            .unwrap_err()
            .is_invalid_input()
    );

    let flow = env
        .store
        .set_flow_enabled(flow.id.clone(), false)
        .await
        .unwrap();
    assert!(!flow.enabled);
    assert_eq!(env.store.list_flows().await.unwrap(), vec![flow]);
    let err = env
        .store
        .insert_flow(json!({"trigger": {"type": "manual"}, "steps": []}), true)
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

async fn a_dedupe_key_queues_one_run_per_flow(env: Env) {
    let a = env.store.insert_flow(definition("a"), true).await.unwrap();
    let b = env.store.insert_flow(definition("b"), true).await.unwrap();
    let first = enqueue(&env.store, new_run(&a.id, Some("schedule:t1"))).await;
    assert_eq!(
        env.store
            .enqueue_run(new_run(&a.id, Some("schedule:t1")))
            .await
            .unwrap(),
        Enqueued::Duplicate(first.id.clone())
    );
    // The same key on another flow, and runs without a key, are separate runs.
    enqueue(&env.store, new_run(&b.id, Some("schedule:t1"))).await;
    enqueue(&env.store, new_run(&a.id, None)).await;
    enqueue(&env.store, new_run(&a.id, None)).await;
    let runs = env
        .store
        .list_runs(RunFilter {
            flow_id: Some(a.id.clone()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 3);
}

async fn sync_events_queue_runs_and_advance_the_consumed_seq_together(env: Env) {
    let flow = env
        .store
        .insert_flow(definition("sync"), true)
        .await
        .unwrap();
    assert_eq!(
        env.store.flow_consumed_seq(flow.id.clone()).await.unwrap(),
        0
    );
    let events = |ids: &[(i64, &str)]| {
        ids.iter()
            .map(|(seq, id)| (*seq, id.to_string(), json!({"id": id})))
            .collect::<Vec<_>>()
    };
    let created = env
        .store
        .enqueue_sync_events(flow.id.clone(), events(&[(3, "e1"), (5, "e2")]))
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(
        env.store.flow_consumed_seq(flow.id.clone()).await.unwrap(),
        5
    );
    // Seen again (e.g. the consumer restarted before the seq moved): no second run.
    let created = env
        .store
        .enqueue_sync_events(flow.id.clone(), events(&[(5, "e2"), (9, "e3")]))
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let run = env.store.run(created[0].clone()).await.unwrap();
    assert_eq!(
        (run.trigger.as_str(), &run.event),
        ("sync", &json!({"id": "e3"}))
    );
    assert_eq!(
        env.store.flow_consumed_seq(flow.id.clone()).await.unwrap(),
        9
    );

    let flow = env
        .store
        .set_flow_subscription(flow.id.clone(), None, 2)
        .await
        .unwrap();
    assert_eq!(flow.subscription_id, None);
    assert_eq!(
        env.store.flow_consumed_seq(flow.id.clone()).await.unwrap(),
        2
    );
}

async fn seed_steps_are_written_with_the_run_and_attempts_keep_write_order(env: Env) {
    let flow = env.store.insert_flow(definition("f"), true).await.unwrap();
    let mut run = new_run(&flow.id, None);
    run.trigger = "replay".into();
    run.seed_steps = vec![
        record("a", 1, StepStatus::Succeeded),
        record("loop[0].b", 1, StepStatus::Succeeded),
    ];
    let run = enqueue(&env.store, run).await;
    assert_eq!(run.status, RunStatus::Queued);
    let steps = env.store.run_steps(run.id.clone()).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["a", "loop[0].b"]
    );
    assert_eq!(steps[0], record("a", 1, StepStatus::Succeeded));

    // A bad seed step rolls the whole run back.
    let mut bad = new_run(&flow.id, Some("k"));
    bad.seed_steps = vec![
        record("x", 1, StepStatus::Succeeded),
        record("", 1, StepStatus::Succeeded),
    ];
    assert!(
        env.store
            .enqueue_run(bad)
            .await
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(matches!(
        env.store
            .enqueue_run(new_run(&flow.id, Some("k")))
            .await
            .unwrap(),
        Enqueued::Created(_)
    ));

    // Replacing an attempt keeps its place; a new attempt goes last.
    let id = run.id.clone();
    env.store
        .write_step(id.clone(), record("c", 1, StepStatus::Running), None)
        .await
        .unwrap();
    env.store
        .write_step(id.clone(), record("d", 1, StepStatus::Running), None)
        .await
        .unwrap();
    let mut failed = record("c", 1, StepStatus::Failed);
    failed.finished_at = Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_millis(1500));
    failed.resume_at = Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(3));
    env.store
        .write_step(id.clone(), failed.clone(), None)
        .await
        .unwrap();
    env.store
        .write_step(id.clone(), record("c", 2, StepStatus::Succeeded), None)
        .await
        .unwrap();
    let steps = env.store.run_steps(id.clone()).await.unwrap();
    let keys: Vec<(String, u32, StepStatus)> = steps
        .iter()
        .map(|s| (s.path.clone(), s.attempt, s.status))
        .collect();
    assert_eq!(
        keys,
        [
            ("a".into(), 1, StepStatus::Succeeded),
            ("loop[0].b".into(), 1, StepStatus::Succeeded),
            ("c".into(), 1, StepStatus::Failed),
            ("d".into(), 1, StepStatus::Running),
            ("c".into(), 2, StepStatus::Succeeded),
        ]
    );
    assert_eq!(steps[2], failed);
    let missing = FlowRunId::new("run_missing");
    assert!(
        env.store
            .write_step(missing.clone(), record("a", 1, StepStatus::Running), None)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        env.store
            .run_steps(missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn claims_take_oldest_first_skip_busy_flows_and_recover_after_a_crash(env: Env) {
    let a = env.store.insert_flow(definition("a"), true).await.unwrap();
    let b = env.store.insert_flow(definition("b"), true).await.unwrap();
    let a1 = enqueue(&env.store, new_run(&a.id, None)).await;
    let a2 = enqueue(&env.store, new_run(&a.id, None)).await;
    let b1 = enqueue(&env.store, new_run(&b.id, None)).await;
    let now = SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(5);

    let claimed = env
        .store
        .claim_runs(1, vec![a.id.clone()], now, lease(now))
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|r| &r.id).collect::<Vec<_>>(), [&b1.id]);
    assert_eq!(claimed[0].status, RunStatus::Running);
    assert_eq!(claimed[0].started_at, Some(now));
    let claimed = env
        .store
        .claim_runs(10, vec![], now, lease(now))
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&a1.id, &a2.id]
    );
    assert!(
        env.store
            .claim_runs(10, vec![], now, lease(now))
            .await
            .unwrap()
            .is_empty()
    );

    // The process died: every running run goes back to the queue, started_at stays.
    assert_eq!(
        env.store
            .recover_running_runs(now + Duration::from_secs(60))
            .await
            .unwrap(),
        3
    );
    let later = now + Duration::from_secs(60);
    let again = env
        .store
        .claim_runs(10, vec![], later, lease(later))
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|r| r.started_at == Some(now)));

    let done = env
        .store
        .finish_run(
            a1.id.clone(),
            RunEnd::Succeeded(json!({"rows": 1})),
            later,
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"rows": 1})));
    assert_eq!(done.finished_at, Some(later));
    let err = env
        .store
        .finish_run(a1.id.clone(), RunEnd::Cancelled, later, None)
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    let error = StepError::new("NOT_FOUND", "no job 7", false).at_step("a");
    let failed = env
        .store
        .finish_run(a2.id.clone(), RunEnd::Failed(error.clone()), later, None)
        .await
        .unwrap();
    assert_eq!(
        (failed.status, failed.error),
        (RunStatus::Failed, Some(error))
    );
}

async fn cancel_applies_at_once_to_queued_and_interrupted_runs_and_asks_running_ones(env: Env) {
    let flow = env.store.insert_flow(definition("f"), true).await.unwrap();
    let now = SystemTime::UNIX_EPOCH + T0;
    let queued = enqueue(&env.store, new_run(&flow.id, None)).await;
    let cancelled = env
        .store
        .request_cancel(queued.id.clone(), now)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.finished_at, Some(now));
    assert!(
        env.store
            .request_cancel(queued.id.clone(), now)
            .await
            .unwrap_err()
            .is_invalid_input()
    );

    let running = enqueue(&env.store, new_run(&flow.id, None)).await;
    env.store
        .claim_runs(1, vec![], now, lease(now))
        .await
        .unwrap();
    let asked = env
        .store
        .request_cancel(running.id.clone(), now)
        .await
        .unwrap();
    assert_eq!(asked.status, RunStatus::Running);
    assert!(asked.cancel_requested);
    env.store
        .finish_run(running.id.clone(), RunEnd::Cancelled, now, None)
        .await
        .unwrap();

    let interrupted = enqueue(&env.store, new_run(&flow.id, None)).await;
    env.store
        .claim_runs(1, vec![], now, lease(now))
        .await
        .unwrap();
    let error = StepError::new("INTERRUPTED", "in flight", false).at_step("a");
    env.store
        .finish_run(
            interrupted.id.clone(),
            RunEnd::Interrupted(error),
            now,
            None,
        )
        .await
        .unwrap();
    let cancelled = env
        .store
        .request_cancel(interrupted.id.clone(), now)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(
        env.store
            .request_cancel(FlowRunId::new("run_nope"), now)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn resuming_an_interrupted_run_abandons_its_in_flight_attempts(env: Env) {
    let flow = env.store.insert_flow(definition("f"), true).await.unwrap();
    let now = SystemTime::UNIX_EPOCH + T0;
    let run = enqueue(&env.store, new_run(&flow.id, None)).await;
    assert!(
        env.store
            .resume_interrupted(run.id.clone())
            .await
            .unwrap_err()
            .is_invalid_input()
    );
    env.store
        .claim_runs(1, vec![], now, lease(now))
        .await
        .unwrap();
    for r in [
        record("a", 1, StepStatus::Succeeded),
        record("b", 1, StepStatus::Running),
    ] {
        env.store.write_step(run.id.clone(), r, None).await.unwrap();
    }
    let error = StepError::new("INTERRUPTED", "b was in flight", false).at_step("b");
    env.store
        .finish_run(run.id.clone(), RunEnd::Interrupted(error), now, None)
        .await
        .unwrap();
    let resumed = env.store.resume_interrupted(run.id.clone()).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Queued);
    assert_eq!((resumed.error, resumed.finished_at), (None, None));
    let statuses: Vec<StepStatus> = env
        .store
        .run_steps(run.id.clone())
        .await
        .unwrap()
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [StepStatus::Succeeded, StepStatus::Abandoned]);
}

async fn list_runs_filters_by_flow_status_and_time_and_pages_newest_first(env: Env) {
    let a = env.store.insert_flow(definition("a"), true).await.unwrap();
    let b = env.store.insert_flow(definition("b"), true).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let flow = if i % 2 == 0 { &a } else { &b };
        ids.push(enqueue(&env.store, new_run(&flow.id, None)).await.id);
        env.clock.advance(Duration::from_secs(10));
    }
    let list = |filter: RunFilter| {
        let store = env.store.clone();
        async move {
            store
                .list_runs(filter)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let all = list(RunFilter::default()).await;
    assert_eq!(all, ids.iter().rev().cloned().collect::<Vec<_>>());
    let page1 = list(RunFilter {
        limit: Some(4),
        ..RunFilter::default()
    })
    .await;
    let page2 = list(RunFilter {
        limit: Some(4),
        after: page1.last().cloned(),
        ..RunFilter::default()
    })
    .await;
    assert_eq!([page1, page2].concat(), all);
    let of_a = list(RunFilter {
        flow_id: Some(a.id.clone()),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(of_a, [ids[4].clone(), ids[2].clone(), ids[0].clone()]);

    env.store
        .claim_runs(
            2,
            vec![],
            SystemTime::UNIX_EPOCH + T0,
            lease(SystemTime::UNIX_EPOCH + T0),
        )
        .await
        .unwrap();
    let running = list(RunFilter {
        status: Some(RunStatus::Running),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(running, [ids[1].clone(), ids[0].clone()]);
    let window = list(RunFilter {
        created_after: Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(10)),
        created_before: Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(30)),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(window, [ids[2].clone(), ids[1].clone()]);
    let combined = list(RunFilter {
        flow_id: Some(b.id.clone()),
        status: Some(RunStatus::Queued),
        limit: Some(1),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(combined, [ids[5].clone()]);
    for limit in [0, 501] {
        let err = env
            .store
            .list_runs(RunFilter {
                limit: Some(limit),
                ..RunFilter::default()
            })
            .await
            .unwrap_err();
        assert!(err.is_invalid_input(), "{err}");
    }
}

async fn deleting_a_flow_deletes_its_versions_runs_and_steps(env: Env) {
    let gone = env
        .store
        .insert_flow(definition("gone"), true)
        .await
        .unwrap();
    let kept = env
        .store
        .insert_flow(definition("kept"), true)
        .await
        .unwrap();
    env.store
        .update_flow(gone.id.clone(), definition("gone2"))
        .await
        .unwrap();
    let run = enqueue(&env.store, new_run(&gone.id, Some("k"))).await;
    env.store
        .write_step(run.id.clone(), record("a", 1, StepStatus::Succeeded), None)
        .await
        .unwrap();
    let other = enqueue(&env.store, new_run(&kept.id, None)).await;
    env.store
        .write_step(
            other.id.clone(),
            record("a", 1, StepStatus::Succeeded),
            None,
        )
        .await
        .unwrap();

    env.store.delete_flow(gone.id.clone()).await.unwrap();
    assert!(
        env.store
            .flow(gone.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        env.store
            .run(run.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        env.store
            .delete_flow(gone.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    for (table, column, id) in [
        ("flow_versions", "flow_id", gone.id.as_str()),
        ("flow_runs", "flow_id", gone.id.as_str()),
        ("flow_step_attempts", "run_id", run.id.as_str()),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = '{id}'");
        assert_eq!(env.count(&sql).await, 0, "{table}");
    }
    assert_eq!(env.store.run_steps(other.id).await.unwrap().len(), 1);
}

use backends::contains;

async fn the_webhook_secret_is_random_per_flow_and_encrypted_at_rest(env: Env) {
    let a = env
        .store
        .insert_flow(definition("a-flow-name"), true)
        .await
        .unwrap();
    let b = env.store.insert_flow(definition("b"), true).await.unwrap();
    let secret = env.store.flow_webhook_secret(a.id.clone()).await.unwrap();
    assert!(secret.expose_secret().len() >= 32);
    assert_ne!(
        secret.expose_secret(),
        env.store
            .flow_webhook_secret(b.id.clone())
            .await
            .unwrap()
            .expose_secret()
    );
    // Stable across updates.
    env.store
        .update_flow(a.id.clone(), definition("a2"))
        .await
        .unwrap();
    assert_eq!(
        env.store
            .flow_webhook_secret(a.id.clone())
            .await
            .unwrap()
            .expose_secret(),
        secret.expose_secret()
    );
    assert!(
        env.store
            .flow_webhook_secret(FlowId::new("flow_nope"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    // SQLite is scanned before and after a checkpoint (the WAL, then the main file).
    for stage in ["as written", "after checkpoint"] {
        let stored = env.raw_bytes().await;
        assert!(
            stored.iter().any(|b| contains(b, b"a-flow-name")),
            "{stage}: the scan does not see the rows"
        );
        assert!(
            !stored
                .iter()
                .any(|b| contains(b, secret.expose_secret().as_bytes())),
            "{stage}: the webhook secret is in plaintext"
        );
        match env.store.as_sqlite() {
            Some(sqlite) => sqlite.checkpoint().await.unwrap(),
            None => break,
        }
    }
}

fn lease_of(owner: &str, expires_at: SystemTime) -> RunLease {
    RunLease {
        owner: owner.into(),
        expires_at,
    }
}

fn is_lease_lost<T: std::fmt::Debug>(result: brickwire_service::Result<T>) -> bool {
    matches!(result, Err(brickwire_service::Error::LeaseLost { .. }))
}

async fn an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_write(env: Env) {
    let flow = env
        .store
        .insert_flow(definition("leased"), true)
        .await
        .unwrap();
    let run = enqueue(&env.store, new_run(&flow.id, None)).await;
    let t = |s: u64| SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(s);
    let claim = |owner: &'static str, at: u64| {
        let store = env.store.clone();
        async move {
            store
                .claim_runs(10, vec![], t(at), lease_of(owner, t(at + 30)))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(claim("a", 0).await, std::slice::from_ref(&run.id));
    // Live lease: nobody else gets it, and its owner renews it.
    assert!(claim("b", 10).await.is_empty());
    assert_eq!(
        env.store
            .renew_run_leases(lease_of("a", t(50)))
            .await
            .unwrap(),
        std::slice::from_ref(&run.id)
    );
    assert!(claim("b", 40).await.is_empty());
    // The owner does not re-claim its own run, even once its lease is past.
    assert!(claim("a", 60).await.is_empty());
    // Expired: another owner takes it over, keeping when it first started.
    assert_eq!(claim("b", 61).await, std::slice::from_ref(&run.id));
    assert_eq!(
        env.store.run(run.id.clone()).await.unwrap().started_at,
        Some(t(0))
    );

    // The old owner's writes are refused and it renews nothing; unguarded reads still work.
    let step = record("a", 1, StepStatus::Succeeded);
    assert!(is_lease_lost(
        env.store
            .write_step(run.id.clone(), step.clone(), Some("a".into()))
            .await
    ));
    assert!(is_lease_lost(
        env.store
            .finish_run(
                run.id.clone(),
                RunEnd::Succeeded(json!(1)),
                t(62),
                Some("a".into())
            )
            .await
    ));
    assert!(
        env.store
            .renew_run_leases(lease_of("a", t(90)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        env.store
            .run_steps(run.id.clone())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        env.store.run(run.id.clone()).await.unwrap().status,
        RunStatus::Running
    );

    // The new owner writes and finishes; the ended run holds no lease.
    env.store
        .write_step(run.id.clone(), step, Some("b".into()))
        .await
        .unwrap();
    let done = env
        .store
        .finish_run(
            run.id.clone(),
            RunEnd::Succeeded(json!(1)),
            t(63),
            Some("b".into()),
        )
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert!(
        env.store
            .renew_run_leases(lease_of("b", t(90)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.store.run_steps(run.id.clone()).await.unwrap().len(), 1);
    assert!(
        env.store
            .write_step(
                FlowRunId::new("run_nope"),
                record("a", 1, StepStatus::Running),
                Some("b".into())
            )
            .await
            .unwrap_err()
            .is_not_found()
    );

    // A graceful shutdown hands the owner's running runs back at once.
    let second = enqueue(&env.store, new_run(&flow.id, None)).await;
    assert_eq!(claim("a", 100).await, std::slice::from_ref(&second.id));
    assert_eq!(env.store.release_run_leases("b".into()).await.unwrap(), 0);
    assert_eq!(env.store.release_run_leases("a".into()).await.unwrap(), 1);
    assert_eq!(
        env.store.run(second.id.clone()).await.unwrap().status,
        RunStatus::Queued
    );
    assert_eq!(claim("b", 101).await, std::slice::from_ref(&second.id));

    // Start-up recovery: the embedded store (one process) takes back every running run; a
    // shared database only those whose lease expired (the others run on live replicas).
    let recovered = env.store.recover_running_runs(t(102)).await.unwrap();
    match env.store.backend() {
        "sqlite" => assert_eq!(recovered, 1),
        _ => {
            assert_eq!(recovered, 0);
            assert_eq!(env.store.recover_running_runs(t(200)).await.unwrap(), 1);
        }
    }
    assert_eq!(
        env.store.run(second.id.clone()).await.unwrap().status,
        RunStatus::Queued
    );
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite_env().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(env) = super::postgres_env().await {
                        super::$name(env).await;
                    }
                }
            )*
        }
    };
}

both_backends!(
    an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_write,
    flows_keep_every_version_and_runs_record_theirs,
    a_dedupe_key_queues_one_run_per_flow,
    sync_events_queue_runs_and_advance_the_consumed_seq_together,
    seed_steps_are_written_with_the_run_and_attempts_keep_write_order,
    claims_take_oldest_first_skip_busy_flows_and_recover_after_a_crash,
    cancel_applies_at_once_to_queued_and_interrupted_runs_and_asks_running_ones,
    resuming_an_interrupted_run_abandons_its_in_flight_attempts,
    list_runs_filters_by_flow_status_and_time_and_pages_newest_first,
    deleting_a_flow_deletes_its_versions_runs_and_steps,
    the_webhook_secret_is_random_per_flow_and_encrypted_at_rest,
);
