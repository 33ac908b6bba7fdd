//! The demo's flow: on each finished job run (Incremental Sync through the service), insert a
//! row for the run into a table and count the table's rows. The flow is created through
//! `POST /api/v1/flows`; the service's engine polls the subscription and runs the flow once per
//! event; the demo waits for every run, prints each run with its steps, and reads the table.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{DemoResult, Linked, Operator, Summary, WAIT_SECONDS, statement, text};

/// The table the flow writes.
const TABLE: &str = "demo_flows.ops.finished_runs";

/// Creates the table and the flow, waits for one succeeded run per finished job run
/// (`expected_runs`, the events the sync tour pulled), then prints the runs and the table.
pub(super) async fn flow_tour(
    summary: &mut Summary,
    operator: &Operator,
    account_id: &str,
    expected_runs: usize,
) -> DemoResult<()> {
    let linked = Linked {
        operator,
        id: account_id.to_owned(),
    };
    let warehouse = summary
        .step("create the table the flow writes", async {
            let warehouses = linked.run("query-warehouses", json!({})).await?;
            let warehouse = text(&warehouses, "/warehouses/0/id")?;
            for sql in [
                "CREATE CATALOG IF NOT EXISTS demo_flows".to_owned(),
                "CREATE SCHEMA IF NOT EXISTS demo_flows.ops".to_owned(),
                format!(
                    "CREATE TABLE IF NOT EXISTS {TABLE} (run_id STRING, job_id STRING, result STRING)"
                ),
            ] {
                statement(&linked, json!({"warehouse_id": warehouse, "statement": sql})).await?;
            }
            Ok((warehouse, TABLE.to_owned()))
        })
        .await?;
    let flow_id = summary
        .step(
            "create a flow: a row per finished job run, then count",
            async {
                let created = operator
                    .call(
                        Method::POST,
                        "/api/v1/flows",
                        Some(definition(account_id, &warehouse)),
                    )
                    .await?;
                let id = text(&created, "/id")?;
                let outcome = format!(
                    "{id} version {}, sync trigger on job runs",
                    created["version"]
                );
                Ok((id, outcome))
            },
        )
        .await?;
    let runs = summary
        .step(
            "the service runs the flow once per finished job run",
            async {
                let deadline = Instant::now() + Duration::from_secs(WAIT_SECONDS);
                loop {
                    let page = operator
                        .call(
                            Method::GET,
                            &format!("/api/v1/flow-runs?flow_id={flow_id}&limit=100"),
                            None,
                        )
                        .await?;
                    let runs = page["runs"].as_array().cloned().unwrap_or_default();
                    let done = runs
                        .iter()
                        .filter(|r| r["status"] == json!("succeeded"))
                        .count();
                    if let Some(bad) = runs
                        .iter()
                        .find(|r| matches!(r["status"].as_str(), Some("failed" | "interrupted")))
                    {
                        return Err(format!(
                            "run {} {}: {}",
                            bad["id"], bad["status"], bad["error"]
                        )
                        .into());
                    }
                    if done >= expected_runs {
                        return Ok((runs, format!("{done} runs succeeded")));
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "{done} of {expected_runs} runs succeeded in {WAIT_SECONDS} s"
                        )
                        .into());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        )
        .await?;
    for run in runs.iter().rev() {
        let id = text(run, "/id")?;
        let detail = operator
            .call(Method::GET, &format!("/api/v1/flow-runs/{id}"), None)
            .await?;
        let steps: Vec<String> = detail["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{} {} ({} ms)",
                    s["path"].as_str().unwrap_or("?"),
                    s["status"].as_str().unwrap_or("?"),
                    s["duration_ms"]
                )
            })
            .collect();
        println!(
            "    {id} {} for job run {}: {}",
            detail["status"].as_str().unwrap_or("?"),
            detail["event"]["data"]["run_id"],
            steps.join(", ")
        );
    }
    summary
        .step("query the table the flow wrote", async {
            let result = statement(
                &linked,
                json!({
                    "warehouse_id": warehouse,
                    "statement": format!("SELECT run_id, result FROM {TABLE} ORDER BY run_id"),
                }),
            )
            .await?;
            let rows = result
                .pointer("/result/data_array")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if rows.len() != expected_runs {
                return Err(format!("{} rows for {expected_runs} runs", rows.len()).into());
            }
            let shown: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{}={}",
                        r[0].as_str().unwrap_or("?"),
                        r[1].as_str().unwrap_or("?")
                    )
                })
                .collect();
            Ok((
                (),
                format!("{} rows, one per job run: {}", rows.len(), shown.join(", ")),
            ))
        })
        .await
}

/// The demo flow's definition.
fn definition(account_id: &str, warehouse: &str) -> Value {
    json!({
        "name": "record finished job runs",
        "description": "One row per finished job run in demo_flows.ops.finished_runs",
        "account": account_id,
        "trigger": {
            "type": "sync",
            "source": {"type": "job_runs"},
            "start_from": "beginning",
            "poll_interval_seconds": 1,
        },
        "steps": [
            {
                "id": "insert",
                "action": "execute-statement",
                "input": {
                    "warehouse_id": warehouse,
                    "statement": format!("INSERT INTO {TABLE} VALUES (:run_id, :job_id, :result)"),
                    "parameters": [
                        {"name": "run_id", "value": "{% $string($event.data.run_id) %}"},
                        {"name": "job_id", "value": "{% $string($event.data.job_id) %}"},
                        {"name": "result", "value": "{% $event.data.state.result_state %}"},
                    ],
                },
            },
            {
                "id": "count",
                "action": "execute-statement",
                "input": {
                    "warehouse_id": warehouse,
                    "statement": format!("SELECT COUNT(*) AS rows FROM {TABLE}"),
                },
            },
        ],
    })
}
