//! The Statement Execution API over HTTP: execution modes, states, parameters, value
//! stringification, chunking, external links in every format, limits and cancellation.

use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use brickwire_emulator::statements::Settings;
use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const LONG_QUERY: &str = "SELECT count(*) FROM range(10000000000)";
/// Generous bound for things that should happen "soon" (never a timing assertion).
const DEADLINE: Duration = Duration::from_secs(60);

struct Harness {
    emu: Emulator,
    http: reqwest::Client,
    warehouse_id: String,
}

impl Harness {
    /// An emulator with one SQL warehouse (starting; statements wait for it to run).
    async fn start() -> Self {
        let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
        let mut h = Self {
            emu,
            http: reqwest::Client::new(),
            warehouse_id: String::new(),
        };
        let (status, created) = h
            .post(
                "/api/2.0/sql/warehouses",
                json!({"name": "statements", "cluster_size": "2X-Small"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        h.warehouse_id = created["id"].as_str().unwrap().to_owned();
        h
    }

    fn settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.emu.state().settings.write().unwrap().statements);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(self.emu.token())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(self.emu.token())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    /// Executes and expects HTTP 200.
    async fn execute(&self, body: Value) -> Value {
        let mut body = body;
        body["warehouse_id"] = json!(self.warehouse_id);
        let (status, v) = self.post("/api/2.0/sql/statements", body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    async fn query(&self, sql: &str) -> Value {
        self.execute(json!({"statement": sql, "wait_timeout": "30s"}))
            .await
    }

    async fn statement(&self, id: &str) -> Value {
        let (status, v) = self.get(&format!("/api/2.0/sql/statements/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// Polls until the statement leaves PENDING/RUNNING.
    async fn until_terminal(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.statement(id).await;
            let state = v["status"]["state"].as_str().unwrap().to_owned();
            if state != "PENDING" && state != "RUNNING" {
                return v;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "statement {id} stuck in {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fetch_link(&self, link: &Value) -> reqwest::Response {
        let mut req = self.http.get(link["external_link"].as_str().unwrap());
        for (k, v) in link["http_headers"].as_object().unwrap() {
            req = req.header(k, v.as_str().unwrap());
        }
        req.send().await.unwrap()
    }
}

fn state(v: &Value) -> &str {
    v["status"]["state"].as_str().unwrap()
}

fn id(v: &Value) -> String {
    v["statement_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_select_returns_manifest_and_rows() {
    let h = Harness::start().await;
    let v = h.query("SELECT 1 AS a, 'x' AS b").await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    let m = &v["manifest"];
    assert_eq!(m["format"], "JSON_ARRAY");
    assert_eq!(m["schema"]["column_count"], 2);
    assert_eq!(m["schema"]["columns"][0]["name"], "a");
    assert_eq!(m["schema"]["columns"][1]["type_name"], "STRING");
    assert_eq!(m["schema"]["columns"][1]["position"], 1);
    assert_eq!(m["total_row_count"], 1);
    assert_eq!(m["total_chunk_count"], 1);
    assert_eq!(m["truncated"], false);
    assert_eq!(v["result"]["data_array"], json!([["1", "x"]]));
    assert!(v["result"].get("next_chunk_index").is_none());
    assert!(v["result"].get("next_chunk_internal_link").is_none());
    // Kept after completion: a later GET shows the same manifest and first chunk.
    let again = h.statement(&id(&v)).await;
    assert_eq!(again["manifest"], v["manifest"]);
    assert_eq!(again["result"]["data_array"], json!([["1", "x"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_wait_is_pending_then_polls_to_success() {
    let h = Harness::start().await;
    let v = h
        .execute(json!({"statement": "SELECT 42 AS x", "wait_timeout": "0s"}))
        .await;
    assert_eq!(state(&v), "PENDING");
    assert!(v.get("manifest").is_none() && v.get("result").is_none());
    let done = h.until_terminal(&id(&v)).await;
    assert_eq!(state(&done), "SUCCEEDED");
    assert_eq!(done["result"]["data_array"], json!([["42"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_timeout_with_cancel_cancels_a_slow_statement() {
    let h = Harness::start().await;
    let v = h
        .execute(
            json!({"statement": LONG_QUERY, "wait_timeout": "5s", "on_wait_timeout": "CANCEL"}),
        )
        .await;
    assert_eq!(state(&v), "CANCELED", "{v}");
    assert!(v.get("result").is_none());
    assert_eq!(state(&h.statement(&id(&v)).await), "CANCELED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_query() {
    let h = Harness::start().await;
    let v = h
        .execute(json!({"statement": LONG_QUERY, "wait_timeout": "5s"}))
        .await;
    assert_eq!(state(&v), "RUNNING", "{v}");
    let sid = id(&v);
    let (status, _) = h
        .post(&format!("/api/2.0/sql/statements/{sid}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state(&h.until_terminal(&sid).await), "CANCELED");
    // The executing task really ends (it would run for minutes otherwise).
    let start = Instant::now();
    while h.emu.state().statements.lock().unwrap().is_executing(&sid) {
        assert!(
            start.elapsed() < DEADLINE,
            "query task still running after cancel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Cancelling a finished statement is accepted and changes nothing.
    let (status, _) = h
        .post(&format!("/api/2.0/sql/statements/{sid}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state(&h.statement(&sid).await), "CANCELED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sql_fails_with_http_200() {
    let h = Harness::start().await;
    let v = h.query("SELEC nonsense FROM").await;
    assert_eq!(state(&v), "FAILED", "{v}");
    assert!(
        !v["status"]["error"]["error_code"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(!v["status"]["error"]["message"].as_str().unwrap().is_empty());
    assert!(v.get("manifest").is_none());
    let missing = h.query("SELECT * FROM no_such_table").await;
    assert_eq!(state(&missing), "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_are_http_400_naming_the_field() {
    let h = Harness::start().await;
    let cases = [
        (
            json!({"statement": "SELECT 1", "wait_timeout": "3s"}),
            "wait_timeout",
        ),
        (
            json!({"statement": "SELECT 1", "wait_timeout": "51s"}),
            "wait_timeout",
        ),
        (json!({"statement": "SELECT 1", "format": "CSV"}), "CSV"),
        (
            json!({"statement": "SELECT 1", "format": "ARROW_STREAM", "disposition": "INLINE"}),
            "ARROW_STREAM",
        ),
        (
            json!({"statement": "SELECT 1", "disposition": "SIDEWAYS"}),
            "disposition: 'SIDEWAYS' is not a valid value; expected one of INLINE, EXTERNAL_LINKS.",
        ),
        (
            json!({"statement": "SELECT 1", "format": "PARQUET", "disposition": "EXTERNAL_LINKS"}),
            "format: 'PARQUET' is not a valid value; expected one of JSON_ARRAY, ARROW_STREAM, CSV.",
        ),
        (
            json!({"statement": "SELECT 1", "on_wait_timeout": "WAIT"}),
            "on_wait_timeout",
        ),
        (
            json!({"statement": "SELECT 1", "row_limit": -1}),
            "row_limit",
        ),
        (json!({"warehouse_id": "w"}), "statement"),
    ];
    for (body, field) in cases {
        let mut body = body;
        if body.get("warehouse_id").is_none() {
            body["warehouse_id"] = json!("w");
        }
        let (status, v) = h.post("/api/2.0/sql/statements", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
    }
    let (status, _) = h
        .post("/api/2.0/sql/statements", json!({"statement": "SELECT 1"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get("/api/2.0/sql/statements/does-not-exist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_parameters_are_bound() {
    let h = Harness::start().await;
    let v = h
        .execute(json!({
            "statement": "SELECT :name AS name, :n + 1 AS n, :missing AS missing, :d AS d",
            "wait_timeout": "30s",
            "parameters": [
                {"name": "name", "value": "O'Brien"},
                {"name": "n", "value": "41", "type": "INT"},
                {"name": "missing"},
                {"name": "d", "value": "2020-01-02", "type": "DATE"}
            ]
        }))
        .await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    assert_eq!(
        v["result"]["data_array"],
        json!([["O'Brien", "42", null, "2020-01-02"]])
    );
    assert_eq!(v["manifest"]["schema"]["columns"][3]["type_name"], "DATE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_values_are_strings_for_every_type() {
    let h = Harness::start().await;
    let v = h
        .query(
            "SELECT true AS b, false AS b2, CAST(7 AS TINYINT) AS t, CAST(300 AS SMALLINT) AS s, \
             CAST(70000 AS INT) AS i, CAST(9000000000 AS BIGINT) AS l, CAST(1.5 AS FLOAT) AS f, \
             CAST(2.25 AS DOUBLE) AS d, CAST('12.30' AS DECIMAL(10,2)) AS dec, \
             DATE '2020-01-02' AS dt, TIMESTAMP '2020-01-02 03:04:05.600' AS ts, \
             'text' AS str, NULL AS n, CAST(NULL AS INT) AS ni",
        )
        .await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    assert_eq!(
        v["result"]["data_array"],
        json!([[
            "true",
            "false",
            "7",
            "300",
            "70000",
            "9000000000",
            "1.5",
            "2.25",
            "12.30",
            "2020-01-02",
            "2020-01-02T03:04:05.600",
            "text",
            null,
            null
        ]])
    );
    let columns = v["manifest"]["schema"]["columns"].as_array().unwrap();
    let type_names: Vec<&str> = columns
        .iter()
        .map(|c| c["type_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &type_names[..10],
        [
            "BOOLEAN", "BOOLEAN", "BYTE", "SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "DECIMAL",
            "DATE"
        ]
    );
    assert_eq!(columns[8]["type_text"], "decimal(10,2)");
    assert_eq!(columns[8]["type_precision"], 10);
    assert_eq!(columns[8]["type_scale"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_inline_result_is_chunked_by_the_row_setting() {
    let h = Harness::start().await;
    h.settings(|s| s.chunk_row_count = 65_536);
    let v = h.query("SELECT * FROM range(1000000)").await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    let m = &v["manifest"];
    assert_eq!(m["total_row_count"], 1_000_000);
    assert_eq!(m["total_chunk_count"], 16);
    let chunks = m["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 16);

    let sid = id(&v);
    let mut data = v["result"].clone();
    let (mut expected_offset, mut sum, mut rows, mut fetched) = (0u64, 0u64, 0u64, 0);
    let mut seen = vec![false; 1_000_000];
    loop {
        let index = data["chunk_index"].as_u64().unwrap();
        assert_eq!(index, fetched);
        assert_eq!(data["row_offset"].as_u64().unwrap(), expected_offset);
        assert_eq!(chunks[index as usize]["row_offset"], data["row_offset"]);
        let array = data["data_array"].as_array().unwrap();
        assert_eq!(array.len() as u64, data["row_count"].as_u64().unwrap());
        assert!(array.len() <= 65_536);
        for row in array {
            let id: u64 = row[0].as_str().unwrap().parse().unwrap();
            // Row order is the engine's; what matters is that every id arrives exactly once.
            assert!(
                !std::mem::replace(&mut seen[id as usize], true),
                "id {id} twice"
            );
            sum += id;
            rows += 1;
        }
        expected_offset += array.len() as u64;
        fetched += 1;
        let Some(link) = data.get("next_chunk_internal_link") else {
            assert!(data.get("next_chunk_index").is_none());
            break;
        };
        assert_eq!(
            link.as_str().unwrap(),
            format!("/api/2.0/sql/statements/{sid}/result/chunks/{fetched}")
        );
        let (status, next) = h.get(link.as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        data = next;
    }
    assert_eq!(fetched, 16);
    assert_eq!(rows, 1_000_000);
    assert_eq!(sum, 999_999 * 1_000_000 / 2);
    // Chunks can be fetched by index in any order, and out of range is a 400.
    let (_, last) = h
        .get(&format!("/api/2.0/sql/statements/{sid}/result/chunks/15"))
        .await;
    assert_eq!(last["row_offset"], 15 * 65_536);
    let (status, _) = h
        .get(&format!("/api/2.0/sql/statements/{sid}/result/chunks/16"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Runs `range(10000)` with EXTERNAL_LINKS in `format`, 3000-row chunks, and returns the
/// bodies of every chunk's link in order.
async fn external_chunks(h: &Harness, format: &str) -> Vec<bytes::Bytes> {
    h.settings(|s| s.chunk_row_count = 3000);
    let v = h
        .execute(json!({
            "statement": "SELECT id, concat('v', CAST(id AS STRING)) AS s, \
                          CASE WHEN id % 2 = 0 THEN NULL ELSE id END AS maybe FROM range(10000) \
                          ORDER BY id",
            "wait_timeout": "30s",
            "disposition": "EXTERNAL_LINKS",
            "format": format
        }))
        .await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    let m = &v["manifest"];
    assert_eq!(m["format"], format);
    assert_eq!(m["total_chunk_count"], 4);
    let sid = id(&v);
    let mut bodies = Vec::new();
    let mut data = v["result"].clone();
    assert!(data.get("data_array").is_none());
    let mut total = 0;
    for index in 0..4u64 {
        if index > 0 {
            let (status, next) = h
                .get(&format!(
                    "/api/2.0/sql/statements/{sid}/result/chunks/{index}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK);
            data = next;
        }
        let link = &data["external_links"][0];
        assert_eq!(link["chunk_index"], index);
        assert_eq!(link["row_offset"], index * 3000);
        assert!(link["expiration"].as_str().unwrap().ends_with('Z'));
        assert_eq!(link.get("next_chunk_index").is_some(), index < 3);
        let response = h.fetch_link(link).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len() as u64, link["byte_count"].as_u64().unwrap());
        assert_eq!(
            m["chunks"][index as usize]["byte_count"],
            link["byte_count"]
        );
        total += body.len() as u64;
        bodies.push(body);
    }
    assert_eq!(m["total_byte_count"], total);
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_serve_json_array() {
    let h = Harness::start().await;
    let mut rows = Vec::new();
    for body in external_chunks(&h, "JSON_ARRAY").await {
        assert!(!body.contains(&b' '), "JSON chunks are compact");
        let chunk: Vec<Vec<Value>> = serde_json::from_slice(&body).unwrap();
        rows.extend(chunk);
    }
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[7], [json!("7"), json!("v7"), json!("7")]);
    assert_eq!(rows[8], [json!("8"), json!("v8"), Value::Null]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_serve_csv_with_one_header() {
    let h = Harness::start().await;
    let bodies = external_chunks(&h, "CSV").await;
    let mut lines = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let text = std::str::from_utf8(body).unwrap();
        assert_eq!(text.starts_with("id,s,maybe\n"), i == 0, "chunk {i}");
        lines.extend(text.lines().map(str::to_owned));
    }
    assert_eq!(lines.len(), 10_001);
    assert_eq!(lines[1], "0,v0,null");
    assert_eq!(lines[10_000], "9999,v9999,9999");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_serve_arrow_streams() {
    let h = Harness::start().await;
    let (mut rows, mut sum, mut nulls) = (0usize, 0i64, 0usize);
    for body in external_chunks(&h, "ARROW_STREAM").await {
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None)
                .unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        for b in batches {
            assert_eq!(b.schema().field(0).name(), "id");
            rows += b.num_rows();
            sum += b
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>();
            nulls += b.column(2).null_count();
        }
    }
    assert_eq!(rows, 10_000);
    assert_eq!(sum, 9_999 * 10_000 / 2);
    assert_eq!(nulls, 5_000);
}

/// Runs a small EXTERNAL_LINKS CSV query; returns the statement id and its first link.
async fn one_link(h: &Harness) -> (String, Value) {
    let v = h
        .execute(
            json!({"statement": "SELECT * FROM range(10)", "wait_timeout": "30s",
                        "disposition": "EXTERNAL_LINKS", "format": "CSV"}),
        )
        .await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    (id(&v), v["result"]["external_links"][0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_refuse_authorization_and_need_their_header() {
    let h = Harness::start().await;
    let (_, link) = one_link(&h).await;
    let url = link["external_link"].as_str().unwrap();
    assert!(url.starts_with(h.emu.base_url()));
    let (name, value) = link["http_headers"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();

    let with_auth = h
        .http
        .get(url)
        .header(name, value.as_str().unwrap())
        .bearer_auth(h.emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(with_auth.status(), StatusCode::FORBIDDEN);
    let without_header = h.http.get(url).send().await.unwrap();
    assert_eq!(without_header.status(), StatusCode::FORBIDDEN);
    let wrong_header = h.http.get(url).header(name, "nope").send().await.unwrap();
    assert_eq!(wrong_header.status(), StatusCode::FORBIDDEN);
    // Links can be fetched repeatedly while they live.
    for _ in 0..2 {
        let ok = h.fetch_link(&link).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.text().await.unwrap().starts_with("id\n0\n1\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_links_expire_and_a_new_fetch_of_the_chunk_renews_them() {
    let h = Harness::start().await;
    h.settings(|s| s.link_lifetime_secs = 0);
    let (statement_id, link) = one_link(&h).await;
    let expired = h.fetch_link(&link).await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    assert!(expired.text().await.unwrap().contains("expired"));

    h.settings(|s| s.link_lifetime_secs = 900);
    let (status, fresh) = h
        .get(&format!(
            "/api/2.0/sql/statements/{statement_id}/result/chunks/0"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let renewed = &fresh["external_links"][0];
    assert_ne!(renewed["external_link"], link["external_link"]);
    assert_eq!(h.fetch_link(renewed).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limit_truncates_and_says_so() {
    let h = Harness::start().await;
    let cut = h
        .execute(json!({"statement": "SELECT * FROM range(100)", "row_limit": 10, "wait_timeout": "30s"}))
        .await;
    assert_eq!(cut["manifest"]["truncated"], true);
    assert_eq!(cut["manifest"]["total_row_count"], 10);
    assert_eq!(cut["result"]["data_array"].as_array().unwrap().len(), 10);

    let whole = h
        .execute(json!({"statement": "SELECT * FROM range(100)", "row_limit": 100, "wait_timeout": "30s"}))
        .await;
    assert_eq!(whole["manifest"]["truncated"], false);
    assert_eq!(whole["manifest"]["total_row_count"], 100);

    let by_bytes = h
        .execute(
            json!({"statement": "SELECT * FROM range(1000)", "byte_limit": 800,
                        "disposition": "EXTERNAL_LINKS", "wait_timeout": "30s"}),
        )
        .await;
    assert_eq!(by_bytes["manifest"]["truncated"], true);
    assert_eq!(by_bytes["manifest"]["total_row_count"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_result_over_the_limit_fails_the_statement() {
    let h = Harness::start().await;
    h.settings(|s| s.inline_byte_limit = 4096);
    let v = h.query("SELECT * FROM range(100000)").await;
    assert_eq!(state(&v), "FAILED", "{v}");
    assert!(
        v["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INLINE")
    );
    // The same result is fine as external links.
    let ok = h
        .execute(
            json!({"statement": "SELECT * FROM range(100000)", "wait_timeout": "30s",
                        "disposition": "EXTERNAL_LINKS"}),
        )
        .await;
    assert_eq!(state(&ok), "SUCCEEDED", "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_results_close_the_statement() {
    let h = Harness::start().await;
    let v = h.query("SELECT 1").await;
    assert_eq!(state(&v), "SUCCEEDED");
    h.settings(|s| s.result_lifetime_secs = 0);
    let closed = h.statement(&id(&v)).await;
    assert_eq!(state(&closed), "CLOSED");
    assert!(closed.get("result").is_none() && closed.get("manifest").is_none());
    let (status, _) = h
        .get(&format!(
            "/api/2.0/sql/statements/{}/result/chunks/0",
            id(&v)
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_result_has_a_schema_and_no_chunks() {
    let h = Harness::start().await;
    let v = h.query("SELECT * FROM range(10) WHERE id > 100").await;
    assert_eq!(state(&v), "SUCCEEDED", "{v}");
    assert_eq!(v["manifest"]["total_row_count"], 0);
    assert_eq!(v["manifest"]["total_chunk_count"], 0);
    assert_eq!(v["manifest"]["schema"]["columns"][0]["name"], "id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_spilled_to_disk_serve_the_same_rows() {
    let h = Harness::start().await;
    h.settings(|s| s.spill_threshold_bytes = 0);
    let mut rows = Vec::new();
    for body in external_chunks(&h, "JSON_ARRAY").await {
        let chunk: Vec<Vec<Value>> = serde_json::from_slice(&body).unwrap();
        rows.extend(chunk);
    }
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[9_999], [json!("9999"), json!("v9999"), json!("9999")]);

    let v = h.query("SELECT * FROM range(10000)").await;
    let sid = id(&v);
    {
        let settings = h.emu.state().settings().statements;
        let mut statements = h.emu.state().statements.lock().unwrap();
        let now = brickwire_emulator::state::now_ms();
        let statement = statements.get(&sid, now, &settings).unwrap();
        assert!(statement.result.as_ref().unwrap().is_spilled());
    }
    let mut sum = 0u64;
    for index in 0..4 {
        let (status, chunk) = h
            .get(&format!(
                "/api/2.0/sql/statements/{sid}/result/chunks/{index}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        for row in chunk["data_array"].as_array().unwrap() {
            sum += row[0].as_str().unwrap().parse::<u64>().unwrap();
        }
    }
    assert_eq!(sum, 9_999 * 10_000 / 2);
}
