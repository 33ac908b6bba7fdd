//! `brickwire demo`: the README's main job. Starts the embedded emulator on a free port and tours
//! the workspace through the brickwire client, the way an integration would use it, then prints a
//! summary and exits.
//!
//! Every step goes over HTTP through the same client a real workspace would get; nothing here
//! reaches into the emulator's state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brickwire_api::SecretString;
use brickwire_api::statements::{ExecuteStatementRequest, StatementState};
use brickwire_api::unity_catalog::{CreateCatalog, CreateSchema};
use brickwire_client::credentials::PatCredentials;
use brickwire_client::waiter::WaitOptions;
use brickwire_client::{Client, ClientOptions};
use brickwire_emulator::{Emulator, EmulatorOptions};
use futures::TryStreamExt;
use serde_json::json;

type DemoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One line of the summary: what was done and what came back.
struct Step {
    title: &'static str,
    outcome: String,
    elapsed: Duration,
}

/// Runs the tour and prints the summary; an error names the step that failed.
pub async fn run() -> DemoResult<()> {
    let emulator = Emulator::start(EmulatorOptions::default()).await?;
    println!(
        "brickwire demo: Databricks emulator at {}",
        emulator.base_url()
    );
    let client = Client::with_credentials(
        emulator.base_url().parse()?,
        Arc::new(PatCredentials::new(&SecretString::new(emulator.token()))),
        ClientOptions::default(),
    )?;
    let wait = WaitOptions {
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        jitter: Duration::from_millis(50),
        timeout: Duration::from_secs(60),
        ..WaitOptions::default()
    };

    let mut steps = Vec::new();
    let mut step = |title: &'static str, started: Instant, outcome: String| {
        println!("  ✓ {title}: {outcome}");
        steps.push(Step {
            title,
            outcome,
            elapsed: started.elapsed(),
        });
    };

    // A SQL warehouse to run statements on.
    let t = Instant::now();
    let warehouse_id = client
        .warehouses()
        .create(&serde_json::from_value(json!({
            "name": "brickwire-demo",
            "cluster_size": "2X-Small",
            "auto_stop_mins": 10,
        }))?)
        .await?
        .id
        .ok_or("create warehouse returned no id")?;
    let warehouse = client
        .warehouses()
        .wait_running(&warehouse_id, &wait)
        .await?;
    step(
        "create warehouse and wait until RUNNING",
        t,
        format!("{warehouse_id} is {}", display(&warehouse.state)),
    );

    // Unity Catalog through the REST API ...
    let t = Instant::now();
    client
        .catalogs()
        .create(&CreateCatalog {
            name: "demo".into(),
            comment: Some("created by brickwire demo".into()),
            ..Default::default()
        })
        .await?;
    client
        .schemas()
        .create(&CreateSchema {
            name: "sales".into(),
            catalog_name: "demo".into(),
            ..Default::default()
        })
        .await?;
    step("create catalog and schema", t, "demo.sales".into());

    // ... and SQL on the same catalog.
    let t = Instant::now();
    for sql in [
        "CREATE TABLE demo.sales.orders (id INT, customer STRING, amount DOUBLE)",
        "INSERT INTO demo.sales.orders VALUES (1, 'acme', 120.5), (2, 'globex', 80.0), (3, 'acme', 42.25)",
    ] {
        execute(&client, &warehouse_id, sql, &wait).await?;
    }
    let table = client.tables().get("demo.sales.orders").await?;
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.name.as_deref().unwrap_or("?"),
                c.type_name.as_deref().unwrap_or("?")
            )
        })
        .collect();
    step(
        "create and fill a table with SQL; the Tables API sees it",
        t,
        format!("demo.sales.orders ({})", columns.join(", ")),
    );

    let t = Instant::now();
    let response = execute(
        &client,
        &warehouse_id,
        "SELECT customer, sum(amount) AS total FROM demo.sales.orders GROUP BY customer ORDER BY total DESC",
        &wait,
    )
    .await?;
    let rows: Vec<Vec<Option<String>>> = client.statements().rows(&response).collect().await?;
    let rendered: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.as_deref().unwrap_or("null"))
                .collect::<Vec<_>>()
                .join("=")
        })
        .collect();
    step("query it", t, rendered.join(", "));

    let t = Instant::now();
    let response = execute(
        &client,
        &warehouse_id,
        "SELECT id, id * 2 AS double_id FROM range(250000)",
        &wait,
    )
    .await?;
    let chunks = response
        .manifest
        .as_ref()
        .and_then(|m| m.total_chunk_count)
        .unwrap_or_default();
    let row_count = client
        .statements()
        .rows(&response)
        .items()
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    step(
        "fetch a large result chunk by chunk",
        t,
        format!("{row_count} rows in {chunks} chunks"),
    );

    // A notebook in the workspace, and a job that runs it.
    let t = Instant::now();
    let notebook = "/Shared/brickwire-demo/hello";
    client.workspace().mkdirs("/Shared/brickwire-demo").await?;
    client
        .workspace()
        .import(&serde_json::from_value(json!({
            "path": notebook,
            "format": "SOURCE",
            "language": "PYTHON",
            "content": base64_encode("# Databricks notebook source\nprint('hello from brickwire')\n"),
        }))?)
        .await?;
    let exported = client.workspace().export_raw(notebook, None).await?;
    step(
        "import a notebook and export it again",
        t,
        format!(
            "{notebook}: {} bytes, first line {:?}",
            exported.len(),
            String::from_utf8_lossy(&exported)
                .lines()
                .next()
                .unwrap_or_default()
        ),
    );

    let t = Instant::now();
    let job_id = client
        .jobs()
        .create(&serde_json::from_value(json!({
            "name": "brickwire demo job",
            "tasks": [{"task_key": "hello", "notebook_task": {"notebook_path": notebook}}],
        }))?)
        .await?
        .job_id
        .ok_or("create job returned no job_id")?;
    let run_id = client
        .jobs()
        .run_now(&serde_json::from_value(json!({"job_id": job_id}))?)
        .await?
        .run_id
        .ok_or("run-now returned no run_id")?;
    let run = client.jobs().wait_run(run_id, &wait).await?;
    let state = run.state.unwrap_or_default();
    step(
        "create a job, run it and wait",
        t,
        format!(
            "job {job_id} run {run_id}: {} / {}",
            display(&state.life_cycle_state),
            display(&state.result_state)
        ),
    );

    let t = Instant::now();
    client.warehouses().stop(&warehouse_id).await?;
    let warehouse = client
        .warehouses()
        .wait_stopped(&warehouse_id, &wait)
        .await?;
    step(
        "stop the warehouse",
        t,
        format!("{warehouse_id} is {}", display(&warehouse.state)),
    );

    println!("\nSummary");
    for s in &steps {
        println!(
            "  {:<58} {:>6} ms  {}",
            s.title,
            s.elapsed.as_millis(),
            s.outcome
        );
    }
    println!(
        "\nLinked accounts (API key and OAuth) and the HTTP service join this demo with `brickwire serve`."
    );
    emulator.stop().await;
    Ok(())
}

/// Runs one statement to completion; a failed statement is an error with Databricks' message.
async fn execute(
    client: &Client,
    warehouse_id: &str,
    sql: &str,
    wait: &WaitOptions,
) -> DemoResult<brickwire_api::statements::StatementResponse> {
    let response = client
        .statements()
        .execute(&ExecuteStatementRequest {
            statement: sql.into(),
            warehouse_id: warehouse_id.into(),
            wait_timeout: Some("30s".into()),
            ..Default::default()
        })
        .await?;
    let response = match response.state() {
        Some(StatementState::Succeeded) => response,
        _ => {
            let id = response.statement_id.clone().unwrap_or_default();
            client.statements().wait_succeeded(&id, wait).await?
        }
    };
    Ok(response)
}

fn display<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "?".into())
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
