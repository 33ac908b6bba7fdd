//! SQL: statement execution (`/api/2.0/sql/statements`).
//!
//! Execute Statement waits by default: it sends the statement with the server-side wait
//! (`wait_timeout`, at most 50 s), keeps polling past it until the statement is terminal or
//! `timeout_seconds` passed, then fetches every further chunk into `result` until `row_cap`
//! rows. The output is Databricks' statement response; when the cap stopped the fetch,
//! `result.next_chunk_index` says where Retrieve Statement Result Chunk can continue. A SQL
//! failure is Databricks' own answer (`status.state: FAILED` with `status.error`), not an
//! action error.

use brickwire_api::statements::{
    Disposition, ExecuteStatementRequest, Format, OnWaitTimeout, StatementResponse,
};
use brickwire_client::services::statements::request;
use brickwire_client::waiter::WaitOptions;

use super::prelude::*;
use crate::error::{ActionError, ErrorCode};

/// A named parameter marker (`:name`) of a statement.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct StatementParameter {
    /// The marker name, without the colon.
    pub name: String,
    /// The value as a string; omitted means NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// SQL type of the value, e.g. `INT`, `DATE`, `DECIMAL(10,2)` (default STRING).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_row_cap() -> u64 {
    10_000
}

fn default_timeout() -> u64 {
    crate::wait::DEFAULT_TIMEOUT_SECONDS
}

/// Input of Execute Statement.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ExecuteStatementInput {
    /// The SQL statement (at most 16 MiB).
    pub statement: String,
    /// The id of the SQL warehouse that runs it.
    pub warehouse_id: String,
    /// Default catalog of the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Default schema of the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Values of the named parameter markers (`:name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<StatementParameter>>,
    /// Most rows the statement returns (applied by Databricks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub row_limit: Option<i64>,
    /// Most bytes of result (applied by Databricks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub byte_limit: Option<i64>,
    /// `INLINE` (default) or `EXTERNAL_LINKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// `JSON_ARRAY` (default); `ARROW_STREAM` and `CSV` only with `EXTERNAL_LINKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Server-side wait: `0s` (return at once) or `5s` to `50s` (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(0|[5-9]|[1-4][0-9]|50)s$"))]
    pub wait_timeout: Option<String>,
    /// When the server-side wait expires: `CONTINUE` (default) or `CANCEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_wait_timeout: Option<OnWaitTimeout>,
    /// Keep polling past the server-side wait until the statement is terminal, then fetch
    /// every chunk up to `row_cap` rows (default true). With false, the answer of the first
    /// request is returned: use its `statement_id` with Retrieve Statement.
    #[serde(default = "default_true")]
    pub wait: bool,
    /// How long to wait at most, in seconds, when `wait` is true (default 1200).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: u64,
    /// Stop fetching further chunks once this many rows are in `result` (default 10000).
    #[serde(default = "default_row_cap")]
    #[schemars(range(min = 1, max = 1000000))]
    pub row_cap: u64,
}

/// Input naming one statement.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct StatementIdInput {
    /// The statement id returned by Execute Statement.
    pub statement_id: String,
}

/// Input of Retrieve Statement Result Chunk.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ChunkInput {
    /// The statement id returned by Execute Statement.
    pub statement_id: String,
    /// The chunk index (0-based; see the manifest's `chunks` or `next_chunk_index`).
    #[schemars(range(min = 0))]
    pub chunk_index: i64,
}

/// Appends chunks after the response's first one until `row_cap` rows or the last chunk.
async fn fetch_chunks(
    client: &Client,
    response: &mut StatementResponse,
    row_cap: u64,
) -> Result<(), RunError> {
    let Some(id) = response.statement_id.clone() else {
        return Ok(());
    };
    let Some(result) = response.result.as_mut() else {
        return Ok(());
    };
    let rows = |r: &brickwire_api::statements::ResultData| {
        r.row_count.unwrap_or(r.data_array.len() as i64).max(0) as u64
    };
    let mut total = rows(result);
    while let Some(next) = result.next_chunk() {
        if total >= row_cap {
            break;
        }
        let chunk = client.statements().get_chunk(&id, next).await?;
        total += rows(&chunk);
        result.data_array.extend(chunk.data_array);
        result.external_links.extend(chunk.external_links);
        result.next_chunk_index = chunk.next_chunk_index;
        result.next_chunk_internal_link = chunk.next_chunk_internal_link;
        if chunk.next_chunk_index.is_none() {
            // external links carry the pointer to the next chunk on the link itself
            result.next_chunk_index = result
                .external_links
                .last()
                .and_then(|l| l.next_chunk_index);
        }
    }
    result.row_count = Some(total as i64);
    Ok(())
}

/// The SQL actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Sql;
    vec![
        Action::define(
            g,
            "Execute Statement",
            "Execute a SQL statement and, by default, wait for it and fetch its result chunks up to `row_cap` rows.",
            false,
            json!({"statement": "SELECT * FROM main.sales.orders WHERE day = :day",
                   "warehouse_id": "abcdef0123456789",
                   "parameters": [{"name": "day", "value": "2024-01-01", "type": "DATE"}],
                   "row_cap": 1000}),
            |client: Client, input: ExecuteStatementInput| async move {
                let body: ExecuteStatementRequest = to_model(body_without(
                    &input,
                    &["wait", "timeout_seconds", "row_cap"],
                ))?;
                let mut response: StatementResponse = client.call(request::execute(&body)).await?;
                if !input.wait {
                    return Ok(to_output(&response)?);
                }
                let terminal = response.state().is_some_and(|s| s.is_terminal());
                if !terminal {
                    let id = response.statement_id.clone().unwrap_or_default();
                    let options = WaitOptions::with_timeout(std::time::Duration::from_secs(
                        input.timeout_seconds,
                    ));
                    response = match client.statements().wait_terminal(&id, &options).await {
                        Ok(r) => r,
                        Err(e) if e.kind() == brickwire_client::ErrorKind::Timeout => {
                            return Err(ActionError::new(
                                ErrorCode::Timeout,
                                format!(
                                    "statement {id} is still running after {} s; retrieve it later with retrieve-statement",
                                    input.timeout_seconds
                                ),
                            )
                            .into());
                        }
                        Err(e) => return Err(e.into()),
                    };
                }
                fetch_chunks(&client, &mut response, input.row_cap).await?;
                Ok(to_output(&response)?)
            },
        ).destructive(),
        Action::define(
            g,
            "Retrieve Statement",
            "Poll for the status and results (manifest and first chunk) of a SQL statement.",
            true,
            json!({"statement_id": "01ef-0123-4567"}),
            |client: Client, input: StatementIdInput| async move {
                Ok(client.call(request::get(&input.statement_id)).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Retrieve Statement Result Chunk",
            "Fetch one chunk of results of a completed SQL statement.",
            true,
            json!({"statement_id": "01ef-0123-4567", "chunk_index": 1}),
            |client: Client, input: ChunkInput| async move {
                Ok(client
                    .call(request::get_chunk(&input.statement_id, input.chunk_index))
                    .await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Cancel Statement Execution",
            "Request that an executing SQL statement be canceled (asynchronous: poll Retrieve Statement for the final state).",
            true,
            json!({"statement_id": "01ef-0123-4567"}),
            |client: Client, input: StatementIdInput| async move {
                Ok(client.call(request::cancel(&input.statement_id)).await?)
            },
        ).destructive(),
    ]
}
