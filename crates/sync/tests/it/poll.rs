//! `poll` against the in-process emulator: steady state without duplicates, ties and late
//! writes inside the overlap window, runs in progress holding the cursor, start points,
//! bounded batches, and every preset plus the custom source.

use crate::common;

use brickwire_sync::{
    Cursor, Pagination, PollOptions, SourceSpec, StartFrom, SyncError, WatermarkType, poll,
};
use common::{Env, assert_unique, keys, now_ms};
use reqwest::Method;
use serde_json::json;

fn opts(start_from: StartFrom) -> PollOptions {
    PollOptions {
        start_from,
        ..PollOptions::default()
    }
}

#[tokio::test]
async fn job_runs_appear_once_per_run_in_steady_state() {
    let env = Env::start().await;
    let spec = SourceSpec::JobRuns { job_id: None };
    env.seed_runs(5, 1_000_000, 1000).await;
    let o = opts(StartFrom::Beginning);

    let first = env.poll(&spec, None, &o).await;
    assert_eq!(first.events.len(), 5);
    assert!(!first.more);
    let starts: Vec<i64> = first.events.iter().map(|e| e.watermark.unwrap()).collect();
    assert_eq!(
        starts,
        [1_000_000, 1_001_000, 1_002_000, 1_003_000, 1_004_000]
    );
    assert_eq!(first.cursor.watermark, Some(1_004_000));

    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert!(second.events.is_empty(), "{:?}", keys(&second.events));

    env.seed_runs(3, 1_010_000, 1).await;
    let third = env.poll(&spec, Some(&second.cursor), &o).await;
    assert_eq!(third.events.len(), 3);
    let fourth = env.poll(&spec, Some(&third.cursor), &o).await;
    assert!(fourth.events.is_empty());

    // A late run inside the overlap window (default 5 min) behind the watermark, and a run
    // tied with the watermark, both written after the cursor passed them.
    let w = fourth.cursor.watermark.unwrap();
    env.seed_runs(1, w - 60_000, 0).await;
    env.seed_runs(1, w, 0).await;
    let late = env.poll(&spec, Some(&fourth.cursor), &o).await;
    let late_starts: Vec<i64> = late.events.iter().map(|e| e.watermark.unwrap()).collect();
    assert_eq!(late_starts, [w - 60_000, w]);
    assert_eq!(late.cursor.watermark, Some(w));
    assert!(
        env.poll(&spec, Some(&late.cursor), &o)
            .await
            .events
            .is_empty()
    );
    // Behind the window: missed, as documented.
    env.seed_runs(1, w - 600_000, 0).await;
    assert!(
        env.poll(&spec, Some(&late.cursor), &o)
            .await
            .events
            .is_empty()
    );

    let all: Vec<_> = [first.events, third.events, late.events].concat();
    assert_unique(&all);
    assert_eq!(fourth.cursor.polls, 4);
    // Ids are stable: the same run at the same version has the same id.
    let again = env.poll(&spec, None, &o).await;
    let same = again.events.iter().find(|e| e.key == all[0].key).unwrap();
    assert_eq!(same.id, all[0].id);
}

#[tokio::test]
async fn a_run_in_progress_holds_the_cursor_until_it_finishes() {
    let env = Env::start().await;
    env.emu.state().settings.write().unwrap().jobs.task_run_ms = 3_600_000;
    let submitted = env
        .api(
            Method::POST,
            "/api/2.2/jobs/runs/submit",
            Some(json!({"run_name": "long", "tasks": [{"task_key": "t",
                "spark_python_task": {"python_file": "/x.py"}}]})),
        )
        .await;
    let long_run = submitted["run_id"].to_string();
    let started = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Finished runs that started after the long one.
    env.seed_runs(3, started + 1, 1).await;

    let spec = SourceSpec::JobRuns { job_id: None };
    let o = PollOptions {
        start_from: StartFrom::Time(started - 60_000),
        overlap: Some(0),
        ..PollOptions::default()
    };
    let first = env.poll(&spec, None, &o).await;
    assert_eq!(first.events.len(), 3, "only finished runs are events");
    assert!(!keys(&first.events).contains(&long_run));
    let held = first.cursor.watermark.unwrap();
    assert!(
        held <= started,
        "the cursor ({held}) stays at or before the running run's start ({started})"
    );

    env.api(
        Method::POST,
        "/api/2.2/jobs/runs/cancel",
        Some(json!({"run_id": submitted["run_id"]})),
    )
    .await;
    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert_eq!(keys(&second.events), [long_run.as_str()]);
    assert_eq!(
        second.events[0].data["state"]["result_state"], "CANCELED",
        "{}",
        second.events[0].data
    );
    assert_eq!(second.cursor.watermark, Some(started + 3));
    let third = env.poll(&spec, Some(&second.cursor), &o).await;
    assert!(third.events.is_empty());
}

#[tokio::test]
async fn a_backfill_comes_in_bounded_batches_and_ties_split_across_batches_are_kept() {
    let env = Env::start().await;
    // 7 runs share each start time: batches of 5 cut through a tie.
    for t in [2_000_000, 2_000_010, 2_000_020] {
        env.seed_runs(7, t, 0).await;
    }
    let spec = SourceSpec::JobRuns { job_id: None };
    let o = PollOptions {
        batch_size: 5,
        overlap: Some(0),
        ..PollOptions::default()
    };
    let mut cursor = None;
    let mut events = Vec::new();
    let mut batches = 0;
    loop {
        let batch = env.poll(&spec, cursor.as_ref(), &o).await;
        assert!(batch.events.len() <= 5);
        events.extend(batch.events);
        cursor = Some(batch.cursor);
        batches += 1;
        if !batch.more {
            break;
        }
    }
    assert_eq!(events.len(), 21);
    assert_eq!(batches, 5, "4 full batches + one that finds the end");
    assert_unique(&events);
    let c = cursor.unwrap();
    assert_eq!(c.watermark, Some(2_000_020));
    assert_eq!(
        c.seen.len(),
        7,
        "only keys at the watermark are kept (overlap 0)"
    );
}

#[tokio::test]
async fn a_job_runs_backfill_reads_time_windows_instead_of_the_whole_listing_per_batch() {
    let env = Env::start().await;
    const RUNS: usize = 1_000;
    env.seed_runs(RUNS as u64, 1_000_000, 1000).await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let o = PollOptions {
        batch_size: 20,
        overlap: Some(0),
        ..PollOptions::default()
    };
    env.reset_counters().await;
    let (events, cursor) = env.drain(&spec, None, &o).await;
    assert_eq!(events.len(), RUNS);
    assert_unique(&events);
    let starts: Vec<i64> = events.iter().map(|e| e.watermark.unwrap()).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "oldest first, none repeated"
    );
    assert_eq!(cursor.watermark, Some(1_000_000 + 1000 * (RUNS as i64 - 1)));
    let requests = env.requests().await["total"].as_u64().unwrap();
    // Re-reading the whole listing for each of the 50 batches would cost about
    // 50 * (1000 / 2 / 24 + 1) = 1,090 requests; windows cost about 6 per batch.
    println!("job_runs backfill of {RUNS} in batches of 20: {requests} requests");
    assert!(requests < 400, "{requests} requests");
}

#[tokio::test]
async fn a_job_runs_backfill_through_a_burst_of_tied_runs_delivers_each_once() {
    let env = Env::start().await;
    env.seed_runs(50, 1_000_000, 1000).await;
    env.seed_runs(200, 1_020_500, 0).await;
    env.seed_runs(50, 1_100_000, 1000).await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let o = PollOptions {
        batch_size: 10,
        overlap: Some(0),
        ..PollOptions::default()
    };
    let (events, _) = env.drain(&spec, None, &o).await;
    assert_eq!(events.len(), 300);
    assert_unique(&events);
    let starts: Vec<i64> = events.iter().map(|e| e.watermark.unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "oldest first");
}

#[tokio::test]
async fn start_from_now_delivers_only_what_comes_after_and_time_skips_what_is_before() {
    let env = Env::start().await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let old = now_ms() - 3_600_000;
    env.seed_runs(4, old, 1000).await;

    let baseline = env.poll(&spec, None, &opts(StartFrom::Now)).await;
    assert!(baseline.events.is_empty());
    env.seed_runs(2, now_ms(), 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let next = env
        .poll(&spec, Some(&baseline.cursor), &opts(StartFrom::Now))
        .await;
    assert_eq!(next.events.len(), 2);

    let from = env
        .poll(&spec, None, &opts(StartFrom::Time(old + 2000)))
        .await;
    assert_eq!(from.events.len(), 4, "2 old runs at/after the time + 2 new");
    // The overlap window never reaches below the start time.
    let again = env
        .poll(&spec, Some(&from.cursor), &opts(StartFrom::Beginning))
        .await;
    assert!(again.events.is_empty());
}

fn sql_spec(warehouse: &str, table: &str, watermark_type: WatermarkType) -> SourceSpec {
    SourceSpec::Sql {
        warehouse_id: warehouse.into(),
        query: None,
        table: Some(table.into()),
        watermark_column: "ts".into(),
        key_column: "id".into(),
        watermark_type,
    }
}

#[tokio::test]
async fn sql_rows_with_tied_watermarks_and_late_writes_are_not_lost() {
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(
        &wh,
        "CREATE TABLE main.default.orders AS SELECT id, CAST(id / 3 AS BIGINT) AS ts, \
         CONCAT('order-', CAST(id AS STRING)) AS name FROM range(9)",
    )
    .await;
    let spec = sql_spec(&wh, "main.default.orders", WatermarkType::Number);
    let o = PollOptions {
        batch_size: 4,
        overlap: Some(2),
        ..PollOptions::default()
    };
    let (events, cursor) = env.drain(&spec, None, &o).await;
    assert_eq!(
        keys(&events),
        (0..9).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(events[4].data["name"], "order-4");
    assert_eq!(cursor.watermark, Some(2));

    // Ties at the watermark written after the cursor got there, and a late write one step
    // behind it (inside the overlap of 2).
    env.sql(
        &wh,
        "INSERT INTO main.default.orders VALUES (20, 2, 'tie'), (21, 2, 'tie'), (22, 1, 'late')",
    )
    .await;
    let after = env.poll(&spec, Some(&cursor), &o).await;
    assert_eq!(keys(&after.events), ["22", "20", "21"]);
    let steady = env.poll(&spec, Some(&after.cursor), &o).await;
    assert!(steady.events.is_empty(), "{:?}", keys(&steady.events));

    // Older than the overlap window: documented as missed.
    env.sql(
        &wh,
        "INSERT INTO main.default.orders VALUES (30, -5, 'too late')",
    )
    .await;
    let missed = env.poll(&spec, Some(&steady.cursor), &o).await;
    assert!(missed.events.is_empty());
}

#[tokio::test]
async fn sql_timestamp_watermarks_and_a_query_source() {
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(
        &wh,
        "CREATE TABLE main.default.logins AS SELECT id, \
         CAST(CAST(1700000000 + id * 60 AS BIGINT) AS TIMESTAMP) AS ts FROM range(5)",
    )
    .await;
    let spec = SourceSpec::Sql {
        warehouse_id: wh.clone(),
        query: Some("SELECT id, ts FROM main.default.logins WHERE id <> 3;".into()),
        table: None,
        watermark_column: "ts".into(),
        key_column: "id".into(),
        watermark_type: WatermarkType::Timestamp,
    };
    let start = 1_700_000_060_000;
    let first = env.poll(&spec, None, &opts(StartFrom::Time(start))).await;
    assert_eq!(keys(&first.events), ["1", "2", "4"]);
    assert_eq!(first.events[0].watermark, Some(start));
    assert_eq!(first.cursor.watermark, Some(1_700_000_240_000));
    let again = env
        .poll(&spec, Some(&first.cursor), &opts(StartFrom::Now))
        .await;
    assert!(again.events.is_empty());

    let table = sql_spec(&wh, "main.default.logins", WatermarkType::Timestamp);
    let baseline = env.poll(&table, None, &opts(StartFrom::Now)).await;
    assert!(baseline.events.is_empty());
    assert_eq!(baseline.cursor.watermark, Some(1_700_000_240_000));
    env.sql(
        &wh,
        "INSERT INTO main.default.logins VALUES (9, CAST(1700000900 AS TIMESTAMP))",
    )
    .await;
    let next = env
        .poll(&table, Some(&baseline.cursor), &opts(StartFrom::Now))
        .await;
    assert_eq!(keys(&next.events), ["9"]);
}

#[tokio::test]
async fn new_jobs_are_events_once() {
    let env = Env::start().await;
    let spec = SourceSpec::Jobs {};
    for name in ["a", "b"] {
        env.api(
            Method::POST,
            "/api/2.2/jobs/create",
            Some(json!({"name": name})),
        )
        .await;
    }
    let o = opts(StartFrom::Beginning);
    let first = env.poll(&spec, None, &o).await;
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.events[0].data["settings"]["name"], "a");
    let created = env
        .api(
            Method::POST,
            "/api/2.2/jobs/create",
            Some(json!({"name": "c"})),
        )
        .await;
    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert_eq!(keys(&second.events), [created["job_id"].to_string()]);
    assert!(
        env.poll(&spec, Some(&second.cursor), &o)
            .await
            .events
            .is_empty()
    );
}

#[tokio::test]
async fn cluster_state_changes_are_events_by_content_hash() {
    let env = Env::start().await;
    let spec = SourceSpec::Clusters {};
    let created = env
        .api(
            Method::POST,
            "/api/2.1/clusters/create",
            Some(
                json!({"cluster_name": "c", "spark_version": "15.4.x-scala2.12",
                        "node_type_id": "i3.xlarge", "num_workers": 1}),
            ),
        )
        .await;
    let id = created["cluster_id"].as_str().unwrap().to_owned();
    let o = opts(StartFrom::Beginning);
    let first = env.poll(&spec, None, &o).await;
    assert_eq!(keys(&first.events), [id.as_str()]);
    assert_eq!(first.events[0].watermark, None);
    assert_eq!(first.cursor.hashes.len(), 1);
    let same = env.poll(&spec, Some(&first.cursor), &o).await;
    assert!(same.events.is_empty(), "no state change, no event");

    env.api(
        Method::POST,
        "/api/2.1/clusters/delete",
        Some(json!({"cluster_id": id})),
    )
    .await;
    let changed = env.poll(&spec, Some(&same.cursor), &o).await;
    assert_eq!(keys(&changed.events), [id.as_str()]);
    assert_eq!(changed.events[0].data["state"], "TERMINATED");
    assert_ne!(changed.events[0].id, first.events[0].id);

    // Now: the first poll records what exists and delivers nothing.
    let baseline = env.poll(&spec, None, &opts(StartFrom::Now)).await;
    assert!(baseline.events.is_empty());
    assert_eq!(baseline.cursor.hashes.len(), 1);
}

#[tokio::test]
async fn new_and_changed_tables_of_a_schema() {
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(&wh, "CREATE SCHEMA main.sales").await;
    env.sql(&wh, "CREATE TABLE main.sales.a AS SELECT 1 AS x")
        .await;
    env.sql(&wh, "CREATE TABLE main.default.elsewhere AS SELECT 1 AS x")
        .await;
    let spec = SourceSpec::Tables {
        catalog: "main".into(),
        schema: "sales".into(),
    };
    let o = opts(StartFrom::Beginning);
    let first = env.poll(&spec, None, &o).await;
    assert_eq!(keys(&first.events), ["main.sales.a"]);
    assert!(
        env.poll(&spec, Some(&first.cursor), &o)
            .await
            .events
            .is_empty()
    );
    env.sql(&wh, "CREATE TABLE main.sales.b AS SELECT 2 AS x")
        .await;
    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert_eq!(keys(&second.events), ["main.sales.b"]);
}

#[tokio::test]
async fn new_and_changed_users_and_groups() {
    let env = Env::start().await;
    let users = SourceSpec::Users {};
    let groups = SourceSpec::Groups {};
    let o = opts(StartFrom::Now);
    let u0 = env.poll(&users, None, &o).await;
    let g0 = env.poll(&groups, None, &o).await;
    assert!(u0.events.is_empty() && g0.events.is_empty());

    let user = env
        .api(
            Method::POST,
            "/api/2.0/preview/scim/v2/Users",
            Some(json!({"userName": "ada@example.com", "displayName": "Ada"})),
        )
        .await;
    let group = env
        .api(
            Method::POST,
            "/api/2.0/preview/scim/v2/Groups",
            Some(json!({"displayName": "analysts"})),
        )
        .await;
    let u1 = env.poll(&users, Some(&u0.cursor), &o).await;
    assert_eq!(keys(&u1.events), [user["id"].as_str().unwrap()]);
    let g1 = env.poll(&groups, Some(&g0.cursor), &o).await;
    assert_eq!(keys(&g1.events), [group["id"].as_str().unwrap()]);
    assert!(
        env.poll(&users, Some(&u1.cursor), &o)
            .await
            .events
            .is_empty()
    );

    env.api(
        Method::PATCH,
        &format!(
            "/api/2.0/preview/scim/v2/Users/{}",
            user["id"].as_str().unwrap()
        ),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]}),
        ),
    )
    .await;
    let u2 = env.poll(&users, Some(&u1.cursor), &o).await;
    assert_eq!(u2.events.len(), 1);
    assert_eq!(u2.events[0].data["displayName"], "Ada L.");
}

#[tokio::test]
async fn workspace_objects_modified_under_a_path() {
    let env = Env::start().await;
    let import = |path: &str, text: &str| {
        json!({"path": path, "format": "SOURCE", "language": "PYTHON", "overwrite": true,
               "content": base64(text)})
    };
    env.api(
        Method::POST,
        "/api/2.0/workspace/mkdirs",
        Some(json!({"path": "/Shared/etl/sub"})),
    )
    .await;
    env.api(
        Method::POST,
        "/api/2.0/workspace/import",
        Some(import("/Shared/etl/a", "1")),
    )
    .await;
    env.api(
        Method::POST,
        "/api/2.0/workspace/import",
        Some(import("/Shared/etl/sub/b", "2")),
    )
    .await;
    env.api(
        Method::POST,
        "/api/2.0/workspace/import",
        Some(import("/Shared/other", "3")),
    )
    .await;
    let spec = SourceSpec::WorkspaceObjects {
        path: "/Shared/etl".into(),
        recursive: true,
    };
    let o = opts(StartFrom::Beginning);
    let first = env.poll(&spec, None, &o).await;
    let mut paths: Vec<&str> = first
        .events
        .iter()
        .map(|e| e.data["path"].as_str().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/Shared/etl/a", "/Shared/etl/sub/b"]);
    assert!(
        env.poll(&spec, Some(&first.cursor), &o)
            .await
            .events
            .is_empty()
    );

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    env.api(
        Method::POST,
        "/api/2.0/workspace/import",
        Some(import("/Shared/etl/sub/b", "22")),
    )
    .await;
    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].data["path"], "/Shared/etl/sub/b");

    let flat = SourceSpec::WorkspaceObjects {
        path: "/Shared/etl".into(),
        recursive: false,
    };
    let only_top = env.poll(&flat, None, &o).await;
    assert_eq!(only_top.events.len(), 1);
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn a_custom_source_pages_filters_on_the_server_and_dedups() {
    let env = Env::start().await;
    env.seed_runs(60, 3_000_000, 10).await;
    let spec = SourceSpec::Custom {
        path: "/api/2.2/jobs/runs/list".into(),
        list_field: "runs".into(),
        key_field: "run_id".into(),
        cursor_field: Some("start_time".into()),
        filter_param: Some("start_time_from".into()),
        query: [("limit".to_owned(), "10".to_owned())].into(),
        pagination: Pagination::HasMore,
    };
    let o = PollOptions {
        overlap: Some(100),
        ..PollOptions::default()
    };
    env.reset_counters().await;
    let first = env.poll(&spec, None, &o).await;
    assert_eq!(first.events.len(), 60);
    assert_eq!(env.requests().await["total"], 6, "60 runs in pages of 10");
    env.seed_runs(2, 3_000_590, 5).await;
    env.reset_counters().await;
    let second = env.poll(&spec, Some(&first.cursor), &o).await;
    assert_eq!(second.events.len(), 2, "{:?}", keys(&second.events));
    assert_eq!(
        env.requests().await["total"],
        2,
        "the server filter leaves 12 runs in the window: 2 pages"
    );

    // Without a cursor field: content hashes.
    let hashed = SourceSpec::Custom {
        path: "/api/2.0/preview/scim/v2/Groups".into(),
        list_field: "Resources".into(),
        key_field: "id".into(),
        cursor_field: None,
        filter_param: None,
        query: Default::default(),
        pagination: Pagination::Scim,
    };
    let h0 = env.poll(&hashed, None, &opts(StartFrom::Now)).await;
    assert!(h0.events.is_empty());
    env.api(
        Method::POST,
        "/api/2.0/preview/scim/v2/Groups",
        Some(json!({"displayName": "g"})),
    )
    .await;
    let h1 = env.poll(&hashed, Some(&h0.cursor), &o).await;
    assert_eq!(h1.events.len(), 1);
    assert_eq!(h1.events[0].data["displayName"], "g");
    assert!(
        env.poll(&hashed, Some(&h1.cursor), &o)
            .await
            .events
            .is_empty()
    );
}

#[tokio::test]
async fn a_cursor_survives_json_and_belongs_to_one_source() {
    let env = Env::start().await;
    env.seed_runs(2, 1_000, 1).await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let o = PollOptions::default();
    let batch = env.poll(&spec, None, &o).await;
    let stored = serde_json::to_string(&batch.cursor).unwrap();
    let cursor: Cursor = serde_json::from_str(&stored).unwrap();
    assert_eq!(cursor, batch.cursor);
    assert!(env.poll(&spec, Some(&cursor), &o).await.events.is_empty());

    let other = SourceSpec::JobRuns { job_id: Some(7) };
    let err = poll(&env.client, &other, Some(&cursor), &o)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::CursorMismatch { .. }), "{err}");

    let zero = PollOptions {
        batch_size: 0,
        ..PollOptions::default()
    };
    let err = poll(&env.client, &spec, None, &zero).await.unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
}

#[test]
fn specs_are_validated_with_the_field_and_what_was_expected() {
    let cases = [
        (json!({"type": "tables", "catalog": "main"}), "schema"),
        (json!({"type": "job_runs", "job_id": "five"}), "job_id"),
        (json!({"type": "job_runs", "job_id": -1}), "job_id"),
        (json!({"type": "nonsense"}), "type"),
        (json!({"type": "jobs", "color": "red"}), "color"),
        (
            json!({"type": "workspace_objects", "path": "Shared"}),
            "path",
        ),
        (
            json!({"type": "sql", "warehouse_id": "w", "query": "SELECT 1", "table": "a.b.c",
                   "watermark_column": "ts", "key_column": "id"}),
            "query",
        ),
        (
            json!({"type": "sql", "warehouse_id": "w", "table": "a..c",
                   "watermark_column": "ts", "key_column": "id"}),
            "table",
        ),
        (
            json!({"type": "sql", "warehouse_id": "w", "table": "a.b.c",
                   "watermark_column": "t`s", "key_column": "id"}),
            "watermark_column",
        ),
        (
            json!({"type": "custom", "path": "/api/2.0/x", "list_field": "items",
                   "key_field": "id", "filter_param": "since"}),
            "filter_param",
        ),
        (
            json!({"type": "custom", "path": "/other", "list_field": "items", "key_field": "id"}),
            "path",
        ),
    ];
    for (json, field) in cases {
        let err = SourceSpec::from_json(&json).unwrap_err();
        let SyncError::InvalidSpec {
            field: got,
            expected,
        } = &err
        else {
            panic!("{json}: {err}");
        };
        assert_eq!(got, field, "{json}: {err}");
        assert!(
            !expected.is_empty(),
            "{json}: field {got:?}, expected {expected:?}; wanted {field}"
        );
    }
    let ok =
        SourceSpec::from_json(&json!({"type": "workspace_objects", "path": "/Shared"})).unwrap();
    assert_eq!(
        ok,
        SourceSpec::WorkspaceObjects {
            path: "/Shared".into(),
            recursive: true
        }
    );
    // The source id is stable and depends on the whole spec.
    assert_eq!(ok.source_id(), ok.clone().source_id());
    assert_ne!(
        SourceSpec::JobRuns { job_id: Some(1) }.source_id(),
        SourceSpec::JobRuns { job_id: Some(2) }.source_id()
    );
}

#[tokio::test]
async fn a_now_baseline_records_the_whole_overlap_window_whatever_the_batch_size() {
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(
        &wh,
        "CREATE TABLE main.default.dense AS SELECT id, id AS ts FROM range(300)",
    )
    .await;
    let spec = sql_spec(&wh, "main.default.dense", WatermarkType::Number);
    let o = PollOptions {
        start_from: StartFrom::Now,
        overlap: Some(250),
        batch_size: 10,
        ..PollOptions::default()
    };
    let baseline = env.poll(&spec, None, &o).await;
    assert!(baseline.events.is_empty());
    assert_eq!(
        baseline.cursor.seen.len(),
        251,
        "ts 49..=299 are in the window"
    );
    let next = env.poll(&spec, Some(&baseline.cursor), &o).await;
    assert!(next.events.is_empty(), "{:?}", keys(&next.events));
    env.sql(&wh, "INSERT INTO main.default.dense VALUES (1000, 299)")
        .await;
    let tie = env.poll(&spec, Some(&next.cursor), &o).await;
    assert_eq!(keys(&tie.events), ["1000"]);
}
