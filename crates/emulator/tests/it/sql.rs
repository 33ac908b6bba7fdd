//! The SQL engine over Unity Catalog, called directly on the emulator's state.

use arrow::array::RecordBatch;
use arrow::util::display::array_value_to_string;
use brickwire_emulator::sql::{QueryParam, SqlError, execute};
use futures::TryStreamExt;
use serde_json::json;

use crate::Harness;

/// Runs `sql` in `main.default`; panics on failure.
pub async fn run(h: &Harness, sql: &str) -> Vec<RecordBatch> {
    run_in(h, None, None, sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
}

pub async fn run_in(
    h: &Harness,
    catalog: Option<&str>,
    schema: Option<&str>,
    sql: &str,
    params: &[QueryParam],
) -> Result<Vec<RecordBatch>, SqlError> {
    let stream = execute(h.emulator.state(), catalog, schema, sql, params).await?;
    // Errors while rows are produced (e.g. division by zero) come out of the stream.
    stream
        .try_collect()
        .await
        .map_err(|e| brickwire_emulator::sql::sql_error_from_datafusion(&e))
}

async fn fail(h: &Harness, sql: &str) -> SqlError {
    match run_in(h, None, None, sql, &[]).await {
        Ok(b) => panic!("{sql} succeeded: {} batches", b.len()),
        Err(e) => e,
    }
}

/// Every row as strings (`NULL` for null).
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "NULL".to_owned()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn columns(batches: &[RecordBatch]) -> Vec<String> {
    batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn param(name: &str, value: Option<&str>, type_name: Option<&str>) -> QueryParam {
    QueryParam {
        name: name.into(),
        value: value.map(Into::into),
        type_name: type_name.map(Into::into),
    }
}

#[tokio::test]
async fn create_insert_select_join_aggregate_order_drop() {
    let h = Harness::start().await;
    assert!(
        rows(
            &run(
                &h,
                "CREATE TABLE customers (id INT, name STRING) USING DELTA"
            )
            .await
        )
        .is_empty()
    );
    run(
        &h,
        "CREATE TABLE main.default.orders (id INT, customer_id INT, amount DOUBLE)",
    )
    .await;
    let inserted = run(
        &h,
        "INSERT INTO customers VALUES (1, 'ada'), (2, 'bob'), (3, 'cy')",
    )
    .await;
    assert_eq!(
        columns(&inserted),
        ["num_affected_rows", "num_inserted_rows"]
    );
    assert_eq!(rows(&inserted), [["3", "3"]]);
    run(
        &h,
        "INSERT INTO orders VALUES (10, 1, 5.5), (11, 1, 4.5), (12, 2, 7.0)",
    )
    .await;

    let joined = run(
        &h,
        "SELECT c.name, count(o.id) AS n, coalesce(sum(o.amount), 0) AS total \
         FROM customers c LEFT JOIN orders o ON o.customer_id = c.id \
         GROUP BY c.name ORDER BY total DESC, c.name LIMIT 2",
    )
    .await;
    assert_eq!(columns(&joined), ["name", "n", "total"]);
    assert_eq!(rows(&joined), [["ada", "2", "10.0"], ["bob", "1", "7.0"]]);

    // INSERT ... SELECT and CREATE TABLE AS SELECT.
    run(&h, "CREATE TABLE big_orders (id INT, amount DOUBLE)").await;
    let ins = run(
        &h,
        "INSERT INTO big_orders SELECT id, amount FROM orders WHERE amount > 5",
    )
    .await;
    assert_eq!(rows(&ins), [["2", "2"]]);
    run(
        &h,
        "CREATE TABLE order_ids AS SELECT id FROM orders ORDER BY id",
    )
    .await;
    assert_eq!(
        rows(&run(&h, "SELECT count(*) FROM order_ids").await),
        [["3"]]
    );

    // UPDATE and DELETE change the rows in place and report counts.
    let upd = run(
        &h,
        "UPDATE orders SET amount = amount * 2 WHERE customer_id = 1",
    )
    .await;
    assert_eq!(
        (columns(&upd), rows(&upd)),
        (
            vec!["num_affected_rows".to_owned()],
            vec![vec!["2".to_owned()]]
        )
    );
    let del = run(&h, "DELETE FROM orders WHERE id = 12").await;
    assert_eq!(rows(&del), [["1"]]);
    assert_eq!(
        rows(&run(&h, "SELECT sum(amount), count(*) FROM orders").await),
        [["20.0", "2"]]
    );

    run(&h, "DROP TABLE orders").await;
    let e = fail(&h, "SELECT * FROM orders").await;
    assert_eq!(e.error_code, "NOT_FOUND");
    run(&h, "DROP TABLE IF EXISTS orders").await;
    assert_eq!(fail(&h, "DROP TABLE orders").await.error_code, "NOT_FOUND");
}

#[tokio::test]
async fn typed_named_parameters() {
    let h = Harness::start().await;
    let params = [
        param("n", Some("41"), Some("INT")),
        param("d", Some("2024-02-29"), Some("DATE")),
        param("price", Some("10.25"), Some("DECIMAL(10,2)")),
        param("s", Some("hello"), None),
        param("missing", None, Some("BIGINT")),
        param("flag", Some("true"), Some("BOOLEAN")),
    ];
    let b = run_in(
        &h,
        None,
        None,
        "SELECT :n + 1 AS n, :d + INTERVAL 1 DAY AS d, :price * 2 AS p, :s || '!' AS s, \
         :missing IS NULL AS m, NOT :flag AS f",
        &params,
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&b),
        [["42", "2024-03-01", "20.50", "hello!", "true", "false"]]
    );
    let typed = run_in(
        &h,
        None,
        None,
        "SELECT :n AS n, :price AS p, :s AS s, :missing AS m",
        &params,
    )
    .await
    .unwrap();
    let types: Vec<&str> = typed[0]
        .schema()
        .fields()
        .iter()
        .map(|f| brickwire_emulator::sql::databricks_type(f.data_type()).0)
        .collect();
    assert_eq!(types, ["INT", "DECIMAL", "STRING", "LONG"]);

    run(&h, "CREATE TABLE t (id INT, label STRING)").await;
    run_in(
        &h,
        None,
        None,
        "INSERT INTO t VALUES (:n, :s), (2, :none)",
        &[
            param("n", Some("1"), Some("INT")),
            param("s", Some("a"), None),
            param("none", None, None),
        ],
    )
    .await
    .unwrap();
    let b = run_in(
        &h,
        None,
        None,
        "SELECT label FROM t WHERE id = :id",
        &[param("id", Some("1"), Some("INT"))],
    )
    .await
    .unwrap();
    assert_eq!(rows(&b), [["a"]]);
    assert_eq!(
        rows(&run(&h, "SELECT label FROM t WHERE id = 2").await),
        [["NULL"]]
    );

    let e = run_in(&h, None, None, "SELECT :nope", &[])
        .await
        .unwrap_err();
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("BAD_REQUEST", Some("42P02"))
    );
    assert!(e.message.contains("nope"));
    let e = run_in(
        &h,
        None,
        None,
        "SELECT :x",
        &[param("x", Some("1"), Some("NOT A TYPE"))],
    )
    .await
    .unwrap_err();
    assert_eq!(e.error_code, "BAD_REQUEST");
    let e = run_in(
        &h,
        None,
        None,
        "SELECT :x",
        &[param("x", Some("abc"), Some("INT"))],
    )
    .await;
    assert!(e.is_err(), "casting 'abc' to INT fails");
}

#[tokio::test]
async fn range_streams_a_million_rows_as_id() {
    let h = Harness::start().await;
    let mut stream = execute(
        h.emulator.state(),
        None,
        None,
        "SELECT * FROM range(1000000)",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(stream.schema().field(0).name(), "id");
    assert_eq!(
        stream.schema().field(0).data_type(),
        &arrow::datatypes::DataType::Int64
    );
    let (mut batches, mut count, mut sum) = (0usize, 0usize, 0i64);
    while let Some(batch) = stream.try_next().await.unwrap() {
        batches += 1;
        count += batch.num_rows();
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        sum += ids.iter().flatten().sum::<i64>();
    }
    assert_eq!((count, sum), (1_000_000, 499_999_500_000));
    assert!(batches > 1, "rows arrive in many batches, not one");

    let agg = run(&h, "SELECT count(*), sum(id), max(id) FROM range(1000000)").await;
    assert_eq!(rows(&agg), [["1000000", "499999500000", "999999"]]);
    assert_eq!(
        rows(&run(&h, "SELECT id FROM range(5, 10, 2)").await),
        [["5"], ["7"], ["9"]]
    );
    assert_eq!(
        rows(&run(&h, "SELECT count(*) FROM range(2, 6)").await),
        [["4"]]
    );
    assert_eq!(
        rows(&run(&h, "SELECT count(*) FROM range(0, 10, 1, 4)").await),
        [["10"]]
    );
}

#[tokio::test]
async fn sql_and_tables_api_are_one_world() {
    let h = Harness::start().await;
    let uc = "/api/2.1/unity-catalog";
    // API -> SQL: a catalog and schema made over REST are usable in SQL.
    h.post(&format!("{uc}/catalogs"), json!({"name": "lake"}))
        .await;
    h.post(
        &format!("{uc}/schemas"),
        json!({"name": "raw", "catalog_name": "lake"}),
    )
    .await;
    run(
        &h,
        "CREATE TABLE lake.raw.events (ts TIMESTAMP, kind STRING NOT NULL, n BIGINT)",
    )
    .await;
    run(
        &h,
        "INSERT INTO lake.raw.events VALUES (TIMESTAMP '2024-01-01 10:00:00', 'click', 1)",
    )
    .await;

    // SQL -> API: the table and its columns are in the Tables API.
    let (status, t) = h.get(&format!("{uc}/tables/lake.raw.events")).await;
    assert_eq!(status, 200, "{t}");
    let cols: Vec<(String, String, i64, bool)> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type_name"].as_str().unwrap().into(),
                c["type_text"].as_str().unwrap().into(),
                c["position"].as_i64().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("TIMESTAMP".into(), "timestamp".into(), 0, true),
            ("STRING".into(), "string".into(), 1, false),
            ("LONG".into(), "bigint".into(), 2, true)
        ]
    );

    // Unqualified names use the catalog and schema of the call.
    let b = run_in(
        &h,
        Some("lake"),
        Some("raw"),
        "SELECT kind, current_catalog(), current_schema() FROM events",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(rows(&b), [["click", "lake", "raw"]]);
    let b = run_in(
        &h,
        Some("lake"),
        None,
        "SELECT count(*) FROM raw.events",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&b),
        [["1"]],
        "two-part names resolve in the given catalog"
    );
    let e = run_in(&h, Some("lake"), None, "SELECT count(*) FROM events", &[])
        .await
        .unwrap_err();
    assert!(
        e.message.contains("lake.default.events"),
        "schema defaults to `default`: {}",
        e.message
    );
    let e = run_in(&h, Some("nope"), None, "SELECT 1", &[])
        .await
        .unwrap_err();
    assert_eq!(e.error_code, "NOT_FOUND");

    // API delete drops the data too: SQL no longer finds it, and a new table starts empty.
    let (status, _) = h.delete(&format!("{uc}/tables/lake.raw.events")).await;
    assert_eq!(status, 200);
    let e = fail(&h, "SELECT * FROM lake.raw.events").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("NOT_FOUND", Some("42P01"))
    );
    run(&h, "CREATE TABLE lake.raw.events (n BIGINT)").await;
    assert_eq!(
        rows(&run(&h, "SELECT count(*) FROM lake.raw.events").await),
        [["0"]]
    );

    // SQL DROP -> API 404.
    run(&h, "DROP TABLE lake.raw.events").await;
    let (status, _) = h.get(&format!("{uc}/tables/lake.raw.events")).await;
    assert_eq!(status, 404);

    // SQL catalog DDL shows in the API.
    run(&h, "CREATE CATALOG IF NOT EXISTS ops COMMENT 'operations'").await;
    run(&h, "CREATE CATALOG IF NOT EXISTS ops").await;
    run(&h, "CREATE SCHEMA IF NOT EXISTS ops.jobs").await;
    run(&h, "CREATE SCHEMA IF NOT EXISTS ops.jobs").await;
    let (_, c) = h.get(&format!("{uc}/catalogs/ops")).await;
    assert_eq!(c["comment"], "operations");
    let (status, _) = h.get(&format!("{uc}/schemas/ops.jobs")).await;
    assert_eq!(status, 200);
    assert_eq!(
        fail(&h, "CREATE CATALOG ops").await.error_code,
        "ALREADY_EXISTS"
    );
    assert_eq!(
        fail(&h, "CREATE SCHEMA ops.jobs").await.error_code,
        "ALREADY_EXISTS"
    );
    assert_eq!(
        fail(&h, "DROP CATALOG ops").await.sql_state.as_deref(),
        Some("2BP01")
    );
    run(&h, "DROP CATALOG ops CASCADE").await;
    run(&h, "DROP CATALOG IF EXISTS ops").await;
    let (status, _) = h.get(&format!("{uc}/catalogs/ops")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn show_and_describe() {
    let h = Harness::start().await;
    run(&h, "CREATE SCHEMA main.sales").await;
    run(
        &h,
        "CREATE TABLE main.sales.orders (id BIGINT, amount DECIMAL(10,2) COMMENT 'eur')",
    )
    .await;
    run(&h, "CREATE TABLE main.sales.refunds (id BIGINT)").await;

    let b = run(&h, "SHOW CATALOGS").await;
    assert_eq!(columns(&b), ["catalog"]);
    assert_eq!(rows(&b), [["main"], ["system"]]);
    assert_eq!(
        rows(&run(&h, "SHOW SCHEMAS IN main").await),
        [["default"], ["sales"]]
    );
    assert_eq!(
        rows(&run(&h, "SHOW SCHEMAS").await),
        [["default"], ["sales"]]
    );
    let b = run(&h, "SHOW TABLES IN main.sales").await;
    assert_eq!(columns(&b), ["database", "tableName", "isTemporary"]);
    assert_eq!(
        rows(&b),
        [["sales", "orders", "false"], ["sales", "refunds", "false"]]
    );
    assert_eq!(
        rows(&run(&h, "SHOW TABLES IN main.sales LIKE 'ref*'").await),
        [["sales", "refunds", "false"]]
    );
    let e = fail(&h, "SHOW TABLES IN main.nope").await;
    assert_eq!(e.error_code, "NOT_FOUND");

    let b = run(&h, "DESCRIBE TABLE main.sales.orders").await;
    assert_eq!(columns(&b), ["col_name", "data_type", "comment"]);
    assert_eq!(
        rows(&b),
        [["id", "bigint", "NULL"], ["amount", "decimal(10,2)", "eur"]]
    );
    let b = run_in(&h, Some("main"), Some("sales"), "DESCRIBE refunds", &[])
        .await
        .unwrap();
    assert_eq!(rows(&b), [["id", "bigint", "NULL"]]);
    assert_eq!(
        fail(&h, "DESCRIBE TABLE main.sales.nope")
            .await
            .sql_state
            .as_deref(),
        Some("42P01")
    );
}

#[tokio::test]
async fn clear_errors() {
    let h = Harness::start().await;
    let e = fail(&h, "SELEC 1").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("BAD_REQUEST", Some("42601"))
    );
    assert!(
        e.message.starts_with("[PARSE_SYNTAX_ERROR]"),
        "{}",
        e.message
    );

    let e = fail(&h, "SELECT * FROM main.default.missing").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("NOT_FOUND", Some("42P01"))
    );
    assert!(
        e.message.contains("`main.default.missing`"),
        "{}",
        e.message
    );
    let e = fail(&h, "SELECT * FROM missing JOIN range(3) r ON true").await;
    assert!(e.message.contains("main.default.missing"), "{}", e.message);

    run(&h, "CREATE TABLE t (a INT)").await;
    let e = fail(&h, "SELECT b FROM t").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("BAD_REQUEST", Some("42703"))
    );
    let e = fail(&h, "CREATE TABLE t (a INT)").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("ALREADY_EXISTS", Some("42P07"))
    );
    run(&h, "CREATE TABLE IF NOT EXISTS t (a INT)").await;
    run(&h, "CREATE OR REPLACE TABLE t (a INT, b STRING)").await;
    let stream = execute(h.emulator.state(), None, None, "SELECT * FROM t", &[])
        .await
        .unwrap();
    let names: Vec<String> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["a", "b"], "OR REPLACE swapped the columns");
    let e = fail(&h, "CREATE TABLE nope.t (a INT)").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("NOT_FOUND", Some("42704"))
    );
    let e = fail(&h, "CREATE TABLE c.s.t (a MAP<STRING, INT>)").await;
    assert_eq!(e.error_code, "BAD_REQUEST");
    let e = fail(&h, "SELECT 1/0").await;
    assert_eq!(
        (e.error_code.as_str(), e.sql_state.as_deref()),
        ("BAD_REQUEST", Some("22012"))
    );
    let e = fail(&h, "SELECT 1; SELECT 2").await;
    assert_eq!(e.error_code, "BAD_REQUEST");
    let e = fail(&h, "USE CATALOG main").await;
    assert_eq!(e.error_code, "BAD_REQUEST");
}

#[tokio::test]
async fn execute_runs_on_a_spawned_task() {
    // The Statement Execution API runs statements in the background: the future must be Send.
    let h = Harness::start().await;
    let state = h.emulator.state().clone();
    let task = tokio::spawn(async move {
        let stream = execute(
            &state,
            None,
            None,
            "SELECT sum(id) AS s FROM range(10)",
            &[],
        )
        .await?;
        let batches: Vec<RecordBatch> = stream
            .try_collect()
            .await
            .map_err(|e| brickwire_emulator::sql::sql_error_from_datafusion(&e))?;
        Ok::<_, SqlError>(batches)
    });
    let batches = task.await.unwrap().unwrap();
    assert_eq!(rows(&batches), [["45"]]);
}

#[tokio::test]
async fn databricks_spellings() {
    let h = Harness::start().await;
    let b = run(
        &h,
        "SELECT date_format(DATE '2024-03-05', 'yyyy/MM/dd') AS d, \
         date_format(TIMESTAMP '2024-03-05 14:07:09', 'HH:mm') AS t, \
         CAST('7' AS LONG) AS l, CAST('2024-01-01 00:00:00' AS TIMESTAMP_NTZ) AS ntz, \
         current_catalog() AS c, current_schema() AS s",
    )
    .await;
    assert_eq!(
        rows(&b),
        [[
            "2024/03/05",
            "14:07",
            "7",
            "2024-01-01T00:00:00",
            "main",
            "default"
        ]]
    );
    let schema = b[0].schema();
    let types: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| brickwire_emulator::sql::databricks_type(f.data_type()).0)
        .collect();
    assert_eq!(
        types,
        [
            "STRING",
            "STRING",
            "LONG",
            "TIMESTAMP_NTZ",
            "STRING",
            "STRING"
        ]
    );
}

#[tokio::test]
async fn lateral_column_aliases() {
    let h = Harness::start().await;
    run(&h, "CREATE TABLE t (a INT, b INT)").await;
    run(&h, "INSERT INTO t VALUES (1, 10), (2, 20)").await;
    let b = run(
        &h,
        "SELECT a + 1 AS x, x * 2 AS y, y + x AS z FROM t ORDER BY a",
    )
    .await;
    assert_eq!(rows(&b), [["2", "4", "6"], ["3", "6", "9"]]);
    // A real column wins over an alias of the same name.
    let b = run(&h, "SELECT a * 100 AS b, b AS raw_b FROM t ORDER BY a").await;
    assert_eq!(rows(&b), [["100", "10"], ["200", "20"]]);
    let b = run(&h, "SELECT sum(a) AS s, s * 10 AS s10 FROM t").await;
    assert_eq!(rows(&b), [["3", "30"]]);
    // DataFusion needs distinct column names, so a bare `x` keeps the expression's name.
    let b = run(&h, "SELECT a + 5 AS x, x FROM t ORDER BY a").await;
    assert_eq!(rows(&b), [["6", "6"], ["7", "7"]]);
    let b = run(&h, "SELECT id * 2 AS d, d + 1 AS e FROM range(2)").await;
    assert_eq!(rows(&b), [["0", "1"], ["2", "3"]]);
}
