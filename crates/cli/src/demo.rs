//! `brickwire demo`: the README's first command. Starts the Databricks emulator and the
//! brickwire service in this process on free ports, sets them up the way a product team and its
//! end users would, tours the workspace through the service's REST API on two linked accounts
//! (one linked by API key, one by OAuth), prints a summary and exits.
//!
//! Everything goes over HTTP, as it would against a real workspace: the app connection is
//! registered with the emulator's account API, the app settings and connect sessions through the
//! service's operator API, the API-key account through the connect page's form, the OAuth
//! account through the connect page, the emulator's consent page (Allow) and the service's
//! callback, and every tour step is `POST /api/v1/linked-accounts/{id}/actions/{action}`. Nothing
//! reaches into either server's state.
//!
//! Start at [`run`]; [`tour`] is the list of steps run on each account; [`Summary`] records each
//! step's outcome and time and turns a failure into an error that names the step.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brickwire_api::SecretString;
use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions};
use brickwire_emulator::{Emulator, EmulatorOptions};
use serde_json::{Value, json};

type DemoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long a tour step may wait for a warehouse, statement or job run.
const WAIT_SECONDS: u64 = 60;

/// Runs the whole demo and prints the summary; an error names the step that failed.
pub async fn run() -> DemoResult<()> {
    let mut summary = Summary::default();
    summary.section("Setup");
    let emulator = summary
        .step("start the Databricks emulator", async {
            let emulator = Emulator::start(EmulatorOptions::default()).await?;
            let url = emulator.base_url().to_owned();
            Ok((emulator, url))
        })
        .await?;
    let client = Client::with_credentials(
        emulator.base_url().parse()?,
        Arc::new(PatCredentials::new(&SecretString::new(emulator.token()))),
        ClientOptions::default(),
    )?;
    let accounts = [
        Account {
            label: "API key",
            slug: "api_key",
            actions: Direct(&client),
        },
        Account {
            label: "OAuth",
            slug: "oauth",
            actions: Direct(&client),
        },
    ];
    for account in &accounts {
        summary.section(&format!("{} account", account.label));
        tour(&mut summary, account).await?;
    }
    summary.print();
    emulator.stop().await;
    Ok(())
}

/// Runs one action of the catalog and returns its output.
trait Actions {
    /// Runs `action` with `input`; an action error is this call's error.
    fn run(&self, action: &str, input: Value) -> impl Future<Output = DemoResult<Value>>;
}

/// Actions run straight through the connector on one client.
struct Direct<'a>(&'a Client);

impl Actions for Direct<'_> {
    async fn run(&self, action: &str, input: Value) -> DemoResult<Value> {
        brickwire_connector::run_action(self.0, action, input)
            .await
            .map_err(|e| format!("{action}: {e}").into())
    }
}

/// One linked account the tour runs on.
struct Account<A> {
    /// How it was linked, for the summary.
    label: &'static str,
    /// Makes the names of what the tour creates unique per account.
    slug: &'static str,
    actions: A,
}

/// The tour: a warehouse, Unity Catalog objects made with SQL, a query, a notebook and a job
/// that runs it, the notebook exported back, and the warehouse stopped.
async fn tour<A: Actions>(summary: &mut Summary, account: &Account<A>) -> DemoResult<()> {
    let actions = &account.actions;
    let slug = account.slug;

    let warehouse_id = summary
        .step(
            "start a SQL warehouse (create, wait until RUNNING)",
            async {
                let warehouse = actions
                    .run(
                        "create-warehouse",
                        json!({
                            "name": format!("brickwire-demo-{slug}"),
                            "cluster_size": "2X-Small",
                            "auto_stop_mins": 10,
                            "wait": true,
                            "timeout_seconds": WAIT_SECONDS,
                        }),
                    )
                    .await?;
                let id = text(&warehouse, "/id")?;
                let outcome = format!("{id} is {}", text(&warehouse, "/state")?);
                Ok((id, outcome))
            },
        )
        .await?;

    let catalog = format!("demo_{slug}");
    let table = format!("{catalog}.sales.orders");
    summary
        .step("create a catalog, a schema and a table with SQL", async {
            for sql in [
                format!("CREATE CATALOG {catalog} COMMENT 'created by brickwire demo'"),
                format!("CREATE SCHEMA {catalog}.sales"),
                format!("CREATE TABLE {table} (id INT, customer STRING, amount DOUBLE)"),
                format!(
                    "INSERT INTO {table} VALUES (1, 'acme', 120.5), (2, 'globex', 80.0), (3, 'acme', 42.25)"
                ),
            ] {
                sql_rows(actions, &warehouse_id, &sql).await?;
            }
            let found = actions
                .run("retrieve-table", json!({"full_name": table}))
                .await?;
            let columns: Vec<String> = found["columns"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["name"].as_str().unwrap_or("?"),
                                c["type_name"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(((), format!("{table} ({})", columns.join(", "))))
        })
        .await?;

    summary
        .step("query it", async {
            let rows = sql_rows(
                actions,
                &warehouse_id,
                &format!(
                    "SELECT customer, sum(amount) AS total FROM {table} GROUP BY customer ORDER BY total DESC"
                ),
            )
            .await?;
            let rendered: Vec<String> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| v.as_str().unwrap_or("null"))
                        .collect::<Vec<_>>()
                        .join("=")
                })
                .collect();
            Ok(((), rendered.join(", ")))
        })
        .await?;

    let folder = format!("/Shared/brickwire-demo-{slug}");
    let notebook = format!("{folder}/hello");
    let source = "# Databricks notebook source\nprint('hello from brickwire')\n";
    summary
        .step("import a notebook", async {
            actions
                .run("create-directory", json!({"path": folder}))
                .await?;
            actions
                .run(
                    "import-workspace",
                    json!({
                        "path": notebook,
                        "format": "SOURCE",
                        "language": "PYTHON",
                        "content": base64_encode(source.as_bytes()),
                    }),
                )
                .await?;
            Ok(((), format!("{notebook} ({} bytes)", source.len())))
        })
        .await?;

    summary
        .step("create a job that runs it, run it and wait", async {
            let job = actions
                .run(
                    "create-job",
                    json!({
                        "name": format!("brickwire demo job ({})", account.label),
                        "tasks": [{"task_key": "hello", "notebook_task": {"notebook_path": notebook}}],
                    }),
                )
                .await?;
            let job_id = job["job_id"]
                .as_i64()
                .ok_or("create-job returned no job_id")?;
            let run = actions
                .run(
                    "run-job",
                    json!({"job_id": job_id, "wait": true, "timeout_seconds": WAIT_SECONDS}),
                )
                .await?;
            let outcome = format!(
                "job {job_id} run {}: {} / {}",
                run["run_id"],
                text(&run, "/state/life_cycle_state")?,
                text(&run, "/state/result_state")?,
            );
            Ok(((), outcome))
        })
        .await?;

    summary
        .step("export the notebook", async {
            let exported = actions
                .run(
                    "export-workspace",
                    json!({"path": notebook, "format": "SOURCE"}),
                )
                .await?;
            let content = base64_decode(&text(&exported, "/content")?)?;
            let first_line = String::from_utf8_lossy(&content)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            Ok((
                (),
                format!("{} bytes, first line {first_line:?}", content.len()),
            ))
        })
        .await?;

    summary
        .step("stop the warehouse and wait until STOPPED", async {
            let warehouse = actions
                .run(
                    "stop-warehouse",
                    json!({"warehouse_id": warehouse_id, "wait": true, "timeout_seconds": WAIT_SECONDS}),
                )
                .await?;
            Ok(((), format!("{warehouse_id} is {}", text(&warehouse, "/state")?)))
        })
        .await
}

/// Runs one statement to completion through Execute Statement and returns its rows; a failed
/// statement is an error with Databricks' message.
async fn sql_rows<A: Actions>(
    actions: &A,
    warehouse_id: &str,
    statement: &str,
) -> DemoResult<Vec<Vec<Value>>> {
    let response = actions
        .run(
            "execute-statement",
            json!({
                "statement": statement,
                "warehouse_id": warehouse_id,
                "wait_timeout": "30s",
                "timeout_seconds": WAIT_SECONDS,
            }),
        )
        .await?;
    let state = text(&response, "/status/state")?;
    if state != "SUCCEEDED" {
        let message = response
            .pointer("/status/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("`{statement}` ended {state}: {message}").into());
    }
    let rows = response
        .pointer("/result/data_array")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    Ok(rows)
}

/// The string at a JSON pointer of an action's output, or an error naming the pointer.
fn text(value: &Value, pointer: &str) -> DemoResult<String> {
    match value.pointer(pointer) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("the answer has no {pointer}").into()),
        Some(other) => Ok(other.to_string()),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> DemoResult<Vec<u8>> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}

/// The steps run so far, grouped in sections (setup, then one per account).
#[derive(Default)]
struct Summary {
    sections: Vec<(String, Vec<Step>)>,
}

/// One line of the summary: what was done, what came back, and how long it took.
struct Step {
    title: String,
    outcome: String,
    elapsed: Duration,
}

impl Summary {
    /// Starts a new section; the following steps belong to it.
    fn section(&mut self, name: &str) {
        println!("\n{name}");
        self.sections.push((name.to_owned(), Vec::new()));
    }

    /// Runs one step: `work` returns a value for the next steps and the outcome to show. A
    /// failure is printed and returned as an error that names the section and the step.
    async fn step<T>(
        &mut self,
        title: &str,
        work: impl Future<Output = DemoResult<(T, String)>>,
    ) -> DemoResult<T> {
        let started = Instant::now();
        let section = self
            .sections
            .last()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        match work.await {
            Ok((value, outcome)) => {
                println!("  ✓ {title}: {outcome}");
                if self.sections.is_empty() {
                    self.sections.push((String::new(), Vec::new()));
                }
                if let Some((_, steps)) = self.sections.last_mut() {
                    steps.push(Step {
                        title: title.to_owned(),
                        outcome,
                        elapsed: started.elapsed(),
                    });
                }
                Ok(value)
            }
            Err(e) => {
                println!("  ✗ {title}: {e}");
                Err(format!("step \"{title}\" ({section}) failed: {e}").into())
            }
        }
    }

    /// The summary table, one block per section.
    fn render(&self) -> String {
        let mut out = String::from("Summary\n");
        for (name, steps) in &self.sections {
            out.push_str(&format!("  {name}\n"));
            for s in steps {
                out.push_str(&format!(
                    "    ✓ {:<54} {:>6} ms  {}\n",
                    s.title,
                    s.elapsed.as_millis(),
                    s.outcome
                ));
            }
        }
        out
    }

    fn print(&self) {
        println!("\n{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_step_names_itself_and_its_section() {
        let mut summary = Summary::default();
        summary.section("OAuth account");
        let ok: u32 = summary
            .step("first", async { Ok((7, "fine".to_owned())) })
            .await
            .unwrap();
        assert_eq!(ok, 7);
        let err = summary
            .step("query it", async {
                Err::<((), String), _>("warehouse is gone".into())
            })
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "step \"query it\" (OAuth account) failed: warehouse is gone"
        );
        let rendered = summary.render();
        assert!(rendered.contains("OAuth account"));
        assert!(rendered.contains("✓ first"));
        assert!(!rendered.contains("query it"), "{rendered}");
    }

    #[test]
    fn text_reads_strings_and_numbers_and_names_what_is_missing() {
        let value = json!({"a": {"b": "x", "n": 3}});
        assert_eq!(text(&value, "/a/b").unwrap(), "x");
        assert_eq!(text(&value, "/a/n").unwrap(), "3");
        assert_eq!(
            text(&value, "/a/c").unwrap_err().to_string(),
            "the answer has no /a/c"
        );
    }
}
