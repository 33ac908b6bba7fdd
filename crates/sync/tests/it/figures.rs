//! Figures for docs/benchmarks.md, from the emulator's request counters (deterministic, so
//! asserted) and, in the ignored benchmark, wall-clock throughput (printed, never asserted).
//!
//! ```text
//! cargo test -p brickwire-sync --test it figures::                # counts
//! cargo test -p brickwire-sync --profile bench-fast --test it figures:: -- --ignored --nocapture
//! ```

use crate::common;

use std::time::{Duration, Instant};

use brickwire_sync::{PollOptions, SourceSpec, StartFrom, WatermarkType};
use common::{Env, now_ms};
use serde_json::Value;

const NEW: u64 = 10;

fn now_opts() -> PollOptions {
    PollOptions {
        start_from: StartFrom::Now,
        ..PollOptions::default()
    }
}

/// Requests of one `job_runs` poll that finds `NEW` runs among `existing` older ones.
async fn job_runs_poll_requests(existing: u64) -> (u64, Value) {
    let env = Env::start().await;
    env.seed_runs(existing, now_ms() - 7_200_000, 1).await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let baseline = env.poll(&spec, None, &now_opts()).await;
    assert!(baseline.events.is_empty());
    env.seed_runs(NEW, now_ms(), 0).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    env.reset_counters().await;
    let batch = env.poll(&spec, Some(&baseline.cursor), &now_opts()).await;
    assert_eq!(batch.events.len() as u64, NEW);
    let counters = env.requests().await;
    (
        counters["total"].as_u64().unwrap(),
        counters["endpoints"].clone(),
    )
}

/// Requests of one `sql` poll that finds `NEW` rows among `existing` older ones.
async fn sql_poll_requests(existing: u64) -> (u64, Value) {
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(
        &wh,
        &format!("CREATE TABLE main.default.events AS SELECT id, id AS ts FROM range({existing})"),
    )
    .await;
    let spec = SourceSpec::Sql {
        warehouse_id: wh.clone(),
        query: None,
        table: Some("main.default.events".into()),
        watermark_column: "ts".into(),
        key_column: "id".into(),
        watermark_type: WatermarkType::Number,
    };
    let baseline = env.poll(&spec, None, &now_opts()).await;
    assert!(baseline.events.is_empty());
    let values: Vec<String> = (0..NEW)
        .map(|i| format!("({0}, {0})", existing + i))
        .collect();
    env.sql(
        &wh,
        &format!(
            "INSERT INTO main.default.events VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    env.reset_counters().await;
    let batch = env.poll(&spec, Some(&baseline.cursor), &now_opts()).await;
    assert_eq!(batch.events.len() as u64, NEW);
    let counters = env.requests().await;
    (
        counters["total"].as_u64().unwrap(),
        counters["endpoints"].clone(),
    )
}

#[tokio::test]
async fn a_filtered_poll_costs_the_same_among_1k_and_100k_existing_items() {
    let (small, small_endpoints) = job_runs_poll_requests(1_000).await;
    let (large, large_endpoints) = job_runs_poll_requests(100_000).await;
    println!("job_runs: {NEW} new among 1,000: {small} requests {small_endpoints}");
    println!("job_runs: {NEW} new among 100,000: {large} requests {large_endpoints}");
    assert_eq!(small, large);
    assert_eq!(small, 2, "one page of finished runs, one of active runs");

    let (small, small_endpoints) = sql_poll_requests(1_000).await;
    let (large, large_endpoints) = sql_poll_requests(100_000).await;
    println!("sql: {NEW} new among 1,000: {small} requests {small_endpoints}");
    println!("sql: {NEW} new among 100,000: {large} requests {large_endpoints}");
    assert_eq!(small, large);
    assert_eq!(small, 1, "one statement, answered inline");
}

#[tokio::test]
#[ignore = "benchmark: prints events per second for a 100,000-item backfill"]
async fn backfill_of_100k_items() {
    const N: u64 = 100_000;
    let env = Env::start().await;
    let wh = env.warehouse().await;
    env.sql(
        &wh,
        &format!(
            "CREATE TABLE main.default.backfill AS SELECT id, id AS ts, \
             CONCAT('item-', CAST(id AS STRING)) AS name FROM range({N})"
        ),
    )
    .await;
    let spec = SourceSpec::Sql {
        warehouse_id: wh,
        query: None,
        table: Some("main.default.backfill".into()),
        watermark_column: "ts".into(),
        key_column: "id".into(),
        watermark_type: WatermarkType::Number,
    };
    for batch_size in [1_000, 10_000] {
        let opts = PollOptions {
            batch_size,
            ..PollOptions::default()
        };
        env.reset_counters().await;
        let started = Instant::now();
        let (events, cursor) = env.drain(&spec, None, &opts).await;
        let elapsed = started.elapsed();
        assert_eq!(events.len() as u64, N);
        assert_eq!(cursor.watermark, Some(N as i64 - 1));
        let requests = env.requests().await["total"].as_u64().unwrap();
        println!(
            "sql backfill, batch {batch_size}: {N} events in {:.2} s = {:.0} events/s, {requests} requests",
            elapsed.as_secs_f64(),
            N as f64 / elapsed.as_secs_f64()
        );
    }

    // Job runs, one a second, in batches of 1,000 (default overlap). 10,000 rather than
    // 100,000: the emulator scans every run on each `runs/list` (150 ms a page at 100,000 in a
    // debug build), which would measure the emulator, not the sync.
    const RUNS: u64 = 10_000;
    env.seed_runs(RUNS, 1_000_000, 1000).await;
    let spec = SourceSpec::JobRuns { job_id: None };
    let opts = PollOptions {
        batch_size: 1_000,
        ..PollOptions::default()
    };
    env.reset_counters().await;
    let started = Instant::now();
    let (events, _) = env.drain(&spec, None, &opts).await;
    let elapsed = started.elapsed();
    assert_eq!(events.len() as u64, RUNS);
    let requests = env.requests().await["total"].as_u64().unwrap();
    println!(
        "job_runs backfill, batch 1000: {RUNS} events in {:.2} s = {:.0} events/s, {requests} requests",
        elapsed.as_secs_f64(),
        RUNS as f64 / elapsed.as_secs_f64()
    );
}
