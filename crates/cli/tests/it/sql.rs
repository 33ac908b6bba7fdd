//! End-to-end tests of `brickwire sql` against the in-process emulator: every output format
//! over many small chunks (order, sums, NULLs), statement failures and exit codes, refreshing
//! an expired external link, and cancelling a running statement.

#[allow(dead_code)]
#[path = "../../src/sql_cmd.rs"]
mod sql_cmd;

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use brickwire_api::statements::{Disposition, ExecuteStatementRequest, Format, StatementState};
use brickwire_client::waiter::WaitOptions;
use brickwire_client::{Client, Config};
use brickwire_emulator::{Emulator, EmulatorOptions};
use indicatif::ProgressBar;
use serde_json::Value;
use sql_cmd::{OutputFormat, Query, SqlError};

/// Rows of the test result; with [`CHUNK_ROWS`] this makes 25 chunks.
const N: i64 = 2_500;
const CHUNK_ROWS: u64 = 100;

/// `s` is NULL for every id divisible by 3, so NULLs cross every chunk.
fn statement(n: i64) -> String {
    format!(
        "SELECT id, id * 2 AS d, CASE WHEN id % 3 = 0 THEN NULL ELSE CAST(id AS STRING) END AS s \
         FROM range({n}) ORDER BY id"
    )
}

async fn emulator(chunk_rows: u64) -> Emulator {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    emulator
        .state()
        .settings
        .write()
        .unwrap()
        .statements
        .chunk_row_count = chunk_rows;
    emulator
}

fn client(emulator: &Emulator) -> Client {
    Config {
        host: Some(emulator.base_url().to_owned()),
        token: Some(emulator.token().into()),
        ..Config::default()
    }
    .resolve_with(&|_| None, None)
    .unwrap()
    .client()
    .unwrap()
}

/// The id of a warehouse to run statements on (the admin API's seed creates one, once).
async fn warehouse(emulator: &Emulator) -> String {
    let seeded: Value = reqwest::Client::new()
        .post(format!("{}/_emulator/seed", emulator.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    seeded["warehouse_id"].as_str().unwrap().to_owned()
}

async fn query(emulator: &Emulator, sql: String, format: OutputFormat) -> Query {
    Query {
        statement: sql,
        warehouse_id: warehouse(emulator).await,
        format,
        concurrency: 8,
        timeout: Duration::from_secs(300),
    }
}

/// A `Write` whose bytes the test can read after the writer thread is done.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn run(
    emulator: &Emulator,
    sql: String,
    format: OutputFormat,
) -> (sql_cmd::Summary, Vec<u8>) {
    let out = Shared::default();
    let summary = sql_cmd::execute(
        &client(emulator),
        &query(emulator, sql, format).await,
        out.clone(),
        ProgressBar::hidden(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let bytes = out.0.lock().unwrap().clone();
    (summary, bytes)
}

fn expected_s(id: i64) -> Option<String> {
    (id % 3 != 0).then(|| id.to_string())
}

/// Checks decoded rows `(id, d, s)` are exactly 0..N in order with the NULL pattern.
fn check_rows(rows: &[(i64, i64, Option<String>)]) {
    assert_eq!(rows.len(), N as usize);
    for (i, (id, d, s)) in rows.iter().enumerate() {
        assert_eq!(*id, i as i64, "row {i} out of order");
        assert_eq!(*d, 2 * *id);
        assert_eq!(*s, expected_s(*id), "row {i}");
    }
    let sum: i64 = rows.iter().map(|r| r.1).sum();
    assert_eq!(sum, N * (N - 1));
    assert_eq!(rows.iter().filter(|r| r.2.is_none()).count(), 834);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_has_one_header_and_every_chunk_in_order() {
    let emulator = emulator(CHUNK_ROWS).await;
    let (summary, out) = run(&emulator, statement(N), OutputFormat::Csv).await;
    assert_eq!((summary.rows, summary.chunks), (N as u64, 25));
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,d,s"));
    let rows: Vec<_> = lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            let s = (!f[2].is_empty()).then(|| f[2].to_owned());
            (f[0].parse().unwrap(), f[1].parse().unwrap(), s)
        })
        .collect();
    check_rows(&rows);
    assert!(text.ends_with('\n'));
}

fn json_row(v: &Value) -> (i64, i64, Option<String>) {
    let o = v.as_object().unwrap();
    assert_eq!(o.len(), 3, "NULL keys are kept: {v}");
    (
        o["id"].as_i64().unwrap(),
        o["d"].as_i64().unwrap(),
        match &o["s"] {
            Value::Null => None,
            s => Some(s.as_str().unwrap().to_owned()),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_one_array_of_objects() {
    let emulator = emulator(CHUNK_ROWS).await;
    let (summary, out) = run(&emulator, statement(N), OutputFormat::Json).await;
    assert_eq!(summary.chunks, 25);
    let array: Vec<Value> = serde_json::from_slice(&out).unwrap();
    check_rows(&array.iter().map(json_row).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_is_one_object_per_line() {
    let emulator = emulator(CHUNK_ROWS).await;
    let (_, out) = run(&emulator, statement(N), OutputFormat::Ndjson).await;
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<_> = text
        .lines()
        .map(|l| json_row(&serde_json::from_str(l).unwrap()))
        .collect();
    check_rows(&rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_is_one_ipc_stream() {
    let emulator = emulator(CHUNK_ROWS).await;
    let (_, out) = run(&emulator, statement(N), OutputFormat::Arrow).await;
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(out), None).unwrap();
    let types: Vec<DataType> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        vec![DataType::Int64, DataType::Int64, DataType::Utf8]
    );
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let id = b.column(0).as_primitive::<Int64Type>();
        let d = b.column(1).as_primitive::<Int64Type>();
        let s = b.column(2).as_string::<i32>();
        for i in 0..b.num_rows() {
            let text = (!s.is_null(i)).then(|| s.value(i).to_owned());
            rows.push((id.value(i), d.value(i), text));
        }
    }
    check_rows(&rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_result_keeps_its_shape() {
    let emulator = emulator(CHUNK_ROWS).await;
    let (summary, out) = run(&emulator, statement(0), OutputFormat::Json).await;
    assert_eq!(summary.rows, 0);
    assert_eq!(out, b"[]\n");
    let (_, out) = run(&emulator, statement(0), OutputFormat::Csv).await;
    assert_eq!(out, b"id,d,s\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_carries_the_databricks_message_and_exits_1() {
    let emulator = emulator(CHUNK_ROWS).await;
    let err = sql_cmd::execute(
        &client(&emulator),
        &query(
            &emulator,
            "SELECT * FROM no_such_table".to_owned(),
            OutputFormat::Csv,
        )
        .await,
        Shared::default(),
        ProgressBar::hidden(),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    match &err {
        SqlError::Statement { state, message, .. } => {
            assert_eq!(state, "FAILED");
            assert!(message.contains("no_such_table"), "{message}");
        }
        other => panic!("expected a statement failure, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
}

fn binary(emulator: &Emulator, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brickwire"))
        .arg("sql")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("DATABRICKS_HOST", emulator.base_url())
        .env("DATABRICKS_TOKEN", emulator.token())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_1_and_2() {
    let emulator = emulator(CHUNK_ROWS).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.ndjson");
    let sql = statement(250);
    let w = warehouse(&emulator).await;
    let ok = binary(
        &emulator,
        &[
            &sql,
            "--warehouse",
            &w,
            "--format",
            "ndjson",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 250);

    let failed = binary(
        &emulator,
        &["SELECT * FROM no_such_table", "--warehouse", &w],
    );
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("no_such_table"),
        "{stderr}"
    );
    assert!(failed.stdout.is_empty());

    let no_warehouse = binary(&emulator, &["SELECT 1"]);
    assert_eq!(no_warehouse.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_warehouse.stderr).contains("--warehouse"));
    let bad_format = binary(
        &emulator,
        &["SELECT 1", "--warehouse", &w, "--format", "xml"],
    );
    assert_eq!(bad_format.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_replaced_by_a_fresh_one() {
    let emulator = emulator(CHUNK_ROWS).await;
    let client = client(&emulator);
    let statements = client.statements();
    let submitted = statements
        .execute(&ExecuteStatementRequest {
            statement: statement(N),
            warehouse_id: warehouse(&emulator).await,
            disposition: Some(Disposition::ExternalLinks),
            format: Some(Format::ArrowStream),
            ..ExecuteStatementRequest::default()
        })
        .await
        .unwrap();
    let id = submitted.statement_id.unwrap();
    let done = statements
        .wait_terminal(&id, &WaitOptions::with_timeout(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(done.state(), Some(&StatementState::Succeeded));

    // A link issued with a zero lifetime is already expired, and the storage refuses it.
    let set_lifetime = |secs: u64| {
        emulator
            .state()
            .settings
            .write()
            .unwrap()
            .statements
            .link_lifetime_secs = secs;
    };
    set_lifetime(0);
    let stale = statements
        .get_chunk(&id, 7)
        .await
        .unwrap()
        .external_links
        .remove(0);
    set_lifetime(900);
    let http = reqwest::Client::new();
    let mut refused = http.get(stale.external_link.clone().unwrap());
    for (k, v) in &stale.http_headers {
        refused = refused.header(k, v);
    }
    assert_eq!(refused.send().await.unwrap().status().as_u16(), 403);

    let chunk = sql_cmd::ChunkRequest {
        statement_id: &id,
        index: 7,
        format: OutputFormat::Arrow,
        expected_rows: None,
    };
    let prepared = sql_cmd::fetch_chunk(&client, &chunk, Some(stale), &sql_cmd::BufferPool::new())
        .await
        .unwrap();
    let sql_cmd::Payload::Batches(batches) = prepared.payload else {
        panic!("an Arrow chunk arrives as batches");
    };
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, (700..800).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_cancels_the_statement_on_the_server() {
    let emulator = emulator(CHUNK_ROWS).await;
    let client = client(&emulator);
    // Far too big to finish before the interrupt; cancelling aborts it.
    let err = sql_cmd::execute(
        &client,
        &query(
            &emulator,
            "SELECT sum(id) FROM range(1000000000000)".to_owned(),
            OutputFormat::Csv,
        )
        .await,
        Shared::default(),
        ProgressBar::hidden(),
        tokio::time::sleep(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 130);
    let SqlError::Interrupted {
        statement_id: Some(id),
    } = err
    else {
        panic!("expected an interruption with a statement id, got {err:?}");
    };
    let state = client.statements().get(&id).await.unwrap();
    assert_eq!(state.state(), Some(&StatementState::Canceled));
}
