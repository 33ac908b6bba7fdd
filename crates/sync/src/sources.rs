//! One fetch per source: turn a [`SourceSpec`] and a lower bound into items, using the
//! server-side filter Databricks offers where there is one.
//!
//! | Source | Request | Server filter | Cost of one poll |
//! |---|---|---|---|
//! | `job_runs` | `GET /api/2.2/jobs/runs/list?completed_only=true` + `active_only=true` | `start_time_from` (+ `start_time_to` in a backfill) | pages of new runs + pages of active runs |
//! | `jobs` | `GET /api/2.2/jobs/list` | none | all jobs / 100 |
//! | `clusters` | `GET /api/2.1/clusters/list` | none | all clusters / 100 |
//! | `tables` | `GET /api/2.1/unity-catalog/tables` | none | all tables of the schema / page |
//! | `users`, `groups` | `GET /api/2.0/preview/scim/v2/{Users,Groups}` | none | all / 100 |
//! | `workspace_objects` | `GET /api/2.0/workspace/list` per directory | `notebooks_modified_after` | one per directory |
//! | `sql` | `POST /api/2.0/sql/statements` | `WHERE wm >= :from ... LIMIT n` | one statement (+ chunks of new rows) |
//! | `custom` | `GET path` | `filter_param` if given | pages of the answer |

use std::collections::VecDeque;

use brickwire_api::statements::{
    Disposition, ExecuteStatementRequest, Format, OnWaitTimeout, StatementParameter, StatementState,
};
use brickwire_client::pagination::{Cursor as PageCursor, Page, Paginator};
use brickwire_client::waiter::WaitOptions;
use brickwire_client::{ApiRequest, Client};
use serde_json::{Map, Value, json};

use crate::error::SyncError;
use crate::spec::{Pagination, SourceSpec, WatermarkType};
use crate::value::{at, content_hash, key_string, parse_time_or_number, sql_timestamp, watermark};

/// One item of a source, as the poll state machine sees it.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub key: String,
    /// `None` for content-hash sources.
    pub watermark: Option<i64>,
    pub version: String,
    pub data: Value,
}

/// What one fetch found at or after a lower bound.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub items: Vec<Item>,
    /// The watermark may not pass this (the start of the oldest run still in progress).
    pub hold: Option<i64>,
    /// The server stopped at the requested limit: more items may follow.
    pub truncated: bool,
}

const RUNS_PAGE: usize = 24;
const PAGE: usize = 100;

/// Items at or after `lower` (everything when `None`). `limit` bounds what sources with a
/// server-side limit (SQL) return; other sources return the whole window.
pub(crate) async fn fetch(
    client: &Client,
    spec: &SourceSpec,
    lower: Option<i64>,
    limit: usize,
) -> Result<Window, SyncError> {
    match spec {
        SourceSpec::JobRuns { job_id } => job_runs(client, *job_id, lower, limit).await,
        SourceSpec::Jobs {} => {
            let jobs = list(
                client,
                "/api/2.2/jobs/list",
                vec![("limit".into(), PAGE.to_string())],
                "jobs",
                Pagination::HasMore,
            )
            .await?;
            items_with_watermark(jobs, "/api/2.2/jobs/list", "job_id", &["created_time"])
        }
        SourceSpec::Clusters {} => {
            let clusters = list(
                client,
                "/api/2.1/clusters/list",
                vec![("page_size".into(), PAGE.to_string())],
                "clusters",
                Pagination::Token,
            )
            .await?;
            let items = clusters
                .into_iter()
                .map(|c| {
                    let key = required_key(&c, "cluster_id", "/api/2.1/clusters/list")?;
                    let state = json!({ "state": c.get("state") });
                    Ok(Item {
                        key,
                        watermark: None,
                        version: content_hash(&state),
                        data: c,
                    })
                })
                .collect::<Result<_, SyncError>>()?;
            Ok(Window {
                items,
                ..Window::default()
            })
        }
        SourceSpec::Tables { catalog, schema } => {
            let tables = list(
                client,
                "/api/2.1/unity-catalog/tables",
                vec![
                    ("catalog_name".into(), catalog.clone()),
                    ("schema_name".into(), schema.clone()),
                    ("max_results".into(), PAGE.to_string()),
                ],
                "tables",
                Pagination::Token,
            )
            .await?;
            items_with_watermark(
                tables,
                "/api/2.1/unity-catalog/tables",
                "full_name",
                &["updated_at", "created_at"],
            )
        }
        SourceSpec::Users {} => scim(client, "Users").await,
        SourceSpec::Groups {} => scim(client, "Groups").await,
        SourceSpec::WorkspaceObjects { path, recursive } => {
            workspace_objects(client, path, *recursive, lower).await
        }
        SourceSpec::Sql {
            warehouse_id,
            query,
            table,
            watermark_column,
            key_column,
            watermark_type,
        } => {
            let sql = Sql {
                warehouse_id,
                base: base_query(query.as_deref(), table.as_deref()),
                watermark_column,
                key_column,
                watermark_type: *watermark_type,
            };
            sql.rows(client, lower, limit).await
        }
        SourceSpec::Custom {
            path,
            list_field,
            key_field,
            cursor_field,
            filter_param,
            query,
            pagination,
        } => {
            let mut params: Vec<(String, String)> =
                query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if let (Some(param), Some(lower)) = (filter_param, lower) {
                params.push((param.clone(), lower.to_string()));
            }
            let found = list(client, path, params, list_field, *pagination).await?;
            let items = found
                .into_iter()
                .map(|item| {
                    let key = required_key(&item, key_field, path)?;
                    let (wm, version) = match cursor_field {
                        Some(field) => {
                            let wm = at(&item, field).and_then(watermark).ok_or_else(|| {
                                SyncError::Item {
                                    source_path: path.clone(),
                                    message: format!(
                                        "item {key} has no number or RFC 3339 time in `{field}`"
                                    ),
                                }
                            })?;
                            (Some(wm), wm.to_string())
                        }
                        None => (None, content_hash(&item)),
                    };
                    Ok(Item {
                        key,
                        watermark: wm,
                        version,
                        data: item,
                    })
                })
                .collect::<Result<_, SyncError>>()?;
            Ok(Window {
                items,
                ..Window::default()
            })
        }
    }
}

/// The watermark of "now" for a [`crate::StartFrom::Now`] baseline: the client's clock for
/// time watermarks, the column's current maximum for SQL sources.
pub(crate) async fn now_watermark(
    client: &Client,
    spec: &SourceSpec,
) -> Result<Option<i64>, SyncError> {
    if let SourceSpec::Sql {
        warehouse_id,
        query,
        table,
        watermark_column,
        key_column,
        watermark_type,
    } = spec
    {
        let sql = Sql {
            warehouse_id,
            base: base_query(query.as_deref(), table.as_deref()),
            watermark_column,
            key_column,
            watermark_type: *watermark_type,
        };
        return sql.max(client).await;
    }
    Ok(Some(now_watermark_ms(client)))
}

fn required_key(item: &Value, field: &str, source_path: &str) -> Result<String, SyncError> {
    at(item, field)
        .and_then(key_string)
        .ok_or_else(|| SyncError::Item {
            source_path: source_path.to_owned(),
            message: format!("an item has no `{field}`"),
        })
}

/// Items whose watermark is the first of `fields` present; version = the watermark.
fn items_with_watermark(
    found: Vec<Value>,
    source_path: &str,
    key_field: &str,
    fields: &[&str],
) -> Result<Window, SyncError> {
    let items = found
        .into_iter()
        .map(|item| {
            let key = required_key(&item, key_field, source_path)?;
            let wm = fields
                .iter()
                .find_map(|f| at(&item, f).and_then(watermark))
                .ok_or_else(|| SyncError::Item {
                    source_path: source_path.to_owned(),
                    message: format!("item {key} has none of {fields:?}"),
                })?;
            Ok(Item {
                key,
                watermark: Some(wm),
                version: wm.to_string(),
                data: item,
            })
        })
        .collect::<Result<_, SyncError>>()?;
    Ok(Window {
        items,
        ..Window::default()
    })
}

/// Every item of a list endpoint, across pages, through the client's [`Paginator`].
async fn list(
    client: &Client,
    path: &str,
    query: Vec<(String, String)>,
    list_field: &str,
    style: Pagination,
) -> Result<Vec<Value>, SyncError> {
    Ok(paginator(client, path, query, list_field, style)
        .collect()
        .await?)
}

/// The lazy pages of a list endpoint, for callers that stop early.
fn paginator(
    client: &Client,
    path: &str,
    query: Vec<(String, String)>,
    list_field: &str,
    style: Pagination,
) -> Paginator<Value> {
    let client = client.clone();
    let path = path.to_owned();
    let list_field = list_field.to_owned();
    Paginator::new(move |cursor: Option<PageCursor>| {
        let client = client.clone();
        let path = path.clone();
        let query = query.clone();
        let list_field = list_field.clone();
        async move {
            let mut request = ApiRequest::get(path.clone());
            for (k, v) in &query {
                request = request.query(k.clone(), v);
            }
            let start = cursor.as_ref().and_then(PageCursor::as_index).unwrap_or(1);
            match style {
                Pagination::None => {}
                Pagination::Token | Pagination::HasMore => {
                    if let Some(token) = cursor.as_ref().and_then(PageCursor::as_token) {
                        request = request.query("page_token", token);
                    }
                }
                Pagination::Scim => {
                    request = request.query("startIndex", start);
                    if !query.iter().any(|(k, _)| k == "count") {
                        request = request.query("count", PAGE);
                    }
                }
            }
            let body: Value = client.call(request).await?;
            let items = match at(&body, &list_field) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => {
                    return Err(brickwire_client::Error::Decode {
                        path: list_field.clone(),
                        message: "expected an array of items".into(),
                        body_excerpt: String::new(),
                    });
                }
            };
            let token = body
                .get("next_page_token")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok(match style {
                Pagination::None => Page::single(items),
                Pagination::Token => Page::from_token(items, token),
                Pagination::HasMore => {
                    Page::from_has_more(items, body.get("has_more").and_then(Value::as_bool), token)
                }
                Pagination::Scim => Page::from_scim(items, start),
            })
        }
    })
}

async fn job_runs(
    client: &Client,
    job_id: Option<i64>,
    lower: Option<i64>,
    limit: usize,
) -> Result<Window, SyncError> {
    let mut base = vec![("limit".to_owned(), RUNS_PAGE.to_string())];
    if let Some(job_id) = job_id {
        base.push(("job_id".into(), job_id.to_string()));
    }
    if let Some(lower) = lower {
        base.push(("start_time_from".into(), lower.max(0).to_string()));
    }
    let mut active = base.clone();
    active.push(("active_only".into(), "true".into()));
    let mut completed = base;
    completed.push(("completed_only".into(), "true".into()));
    let (runs, bounded) = completed_runs(client, completed, lower, limit).await?;
    let items = runs
        .into_iter()
        .map(|run| {
            let key = required_key(&run, "run_id", RUNS_PATH)?;
            let start =
                at(&run, "start_time")
                    .and_then(watermark)
                    .ok_or_else(|| SyncError::Item {
                        source_path: RUNS_PATH.into(),
                        message: format!("run {key} has no start_time"),
                    })?;
            let end = at(&run, "end_time")
                .and_then(watermark)
                .filter(|e| *e > 0)
                .unwrap_or(start);
            Ok(Item {
                key,
                watermark: Some(start),
                version: end.to_string(),
                data: run,
            })
        })
        .collect::<Result<_, SyncError>>()?;
    let hold = list(client, RUNS_PATH, active, "runs", Pagination::HasMore)
        .await?
        .iter()
        .filter_map(|run| at(run, "start_time").and_then(watermark))
        .min();
    Ok(Window {
        items,
        hold,
        truncated: bounded,
    })
}

const RUNS_PATH: &str = "/api/2.2/jobs/runs/list";
/// Finished runs from `lower` on. `runs/list` answers newest first, so the oldest `limit`
/// runs of a large window sit on its last pages.
///
/// Steady state reads the open window (a few new runs, at most four pages). When it holds
/// more (the rest of a backfill), the runs already read give a density, and the read moves
/// to a window `[lower, lower + span]` (`start_time_to`) sized for about twice `limit` runs;
/// a window with fewer than `limit` runs doubles, one with more than four times `limit`
/// halves (bisection), so each batch costs a few times its own size in pages instead of a
/// full listing. Without a lower bound (the first batch of a backfill) there is nowhere to
/// start a window, so that one batch reads the whole listing. Returns the runs and whether
/// the window was bounded (more may follow it).
async fn completed_runs(
    client: &Client,
    query: Vec<(String, String)>,
    lower: Option<i64>,
    limit: usize,
) -> Result<(Vec<Value>, bool), SyncError> {
    let open = paginator(
        client,
        RUNS_PATH,
        query.clone(),
        "runs",
        Pagination::HasMore,
    );
    let Some(lower) = lower else {
        return Ok((open.collect().await?, false));
    };
    let open_cap = limit.clamp(RUNS_PAGE, RUNS_PAGE * 4);
    let newest = open
        .clone()
        .max_items(open_cap.saturating_add(1))
        .collect()
        .await?;
    if newest.len() <= open_cap {
        return Ok((newest, false));
    }
    let window_cap = limit.saturating_mul(4).max(RUNS_PAGE * 4);
    let starts: Vec<i64> = newest
        .iter()
        .filter_map(|r| at(r, "start_time").and_then(watermark))
        .collect();
    let mut span = match (starts.first(), starts.last()) {
        (Some(&n), Some(&o)) if n > o => {
            let per_run = (n - o) as f64 / starts.len() as f64;
            (per_run * 2.0 * limit as f64).ceil() as i64
        }
        _ => 1,
    }
    .max(1);
    let now = now_watermark_ms(client);
    // Spans known to hold too few runs (`too_few`) and too many (`too_many`).
    let mut too_few = 0_i64;
    let mut too_many: Option<i64> = None;
    loop {
        let upper = lower.saturating_add(span);
        if upper >= now {
            return Ok((open.collect().await?, false));
        }
        let mut bounded = query.clone();
        bounded.push(("start_time_to".into(), upper.to_string()));
        let window = paginator(client, RUNS_PATH, bounded, "runs", Pagination::HasMore);
        if too_many == Some(span) {
            // Narrowed to one millisecond and still too many: ties; take them all.
            return Ok((window.collect().await?, true));
        }
        let runs = window
            .max_items(window_cap.saturating_add(1))
            .collect()
            .await?;
        if runs.len() > window_cap {
            too_many = Some(span);
        } else if runs.len() >= limit {
            return Ok((runs, true));
        } else if starts.first().is_some_and(|&newest| upper >= newest) {
            // The window reaches the newest run: it is the whole rest, not too few.
            return Ok((runs, false));
        } else {
            too_few = span;
        }
        span = match too_many {
            Some(m) if m - too_few <= 1 => m,
            Some(m) => too_few + (m - too_few) / 2,
            None => span.saturating_mul(2),
        };
    }
}

fn now_watermark_ms(client: &Client) -> i64 {
    client
        .clock()
        .system_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn scim(client: &Client, resource: &str) -> Result<Window, SyncError> {
    let path = format!("/api/2.0/preview/scim/v2/{resource}");
    let found = list(client, &path, Vec::new(), "Resources", Pagination::Scim).await?;
    let items = found
        .into_iter()
        .map(|item| {
            let key = required_key(&item, "id", &path)?;
            let version = at(&item, "meta.lastModified")
                .and_then(key_string)
                .unwrap_or_else(|| content_hash(&item));
            Ok(Item {
                key,
                watermark: None,
                version,
                data: item,
            })
        })
        .collect::<Result<_, SyncError>>()?;
    Ok(Window {
        items,
        ..Window::default()
    })
}

async fn workspace_objects(
    client: &Client,
    root: &str,
    recursive: bool,
    lower: Option<i64>,
) -> Result<Window, SyncError> {
    const PATH: &str = "/api/2.0/workspace/list";
    let mut items = Vec::new();
    let mut directories = VecDeque::from([root.to_owned()]);
    while let Some(directory) = directories.pop_front() {
        let mut query = vec![("path".to_owned(), directory)];
        // The server keeps notebooks modified strictly after the value; the window is
        // inclusive of `lower`.
        if let Some(lower) = lower {
            query.push(("notebooks_modified_after".into(), (lower - 1).to_string()));
        }
        for object in list(client, PATH, query, "objects", Pagination::None).await? {
            let kind = object.get("object_type").and_then(Value::as_str);
            if matches!(kind, Some("DIRECTORY") | Some("REPO")) {
                if recursive && let Some(path) = object.get("path").and_then(Value::as_str) {
                    directories.push_back(path.to_owned());
                }
                continue;
            }
            let Some(wm) = at(&object, "modified_at").and_then(watermark) else {
                continue;
            };
            let key = object
                .get("object_id")
                .and_then(key_string)
                .map_or_else(|| required_key(&object, "path", PATH), Ok)?;
            items.push(Item {
                key,
                watermark: Some(wm),
                version: wm.to_string(),
                data: object,
            });
        }
    }
    Ok(Window {
        items,
        ..Window::default()
    })
}

fn base_query(query: Option<&str>, table: Option<&str>) -> String {
    match (query, table) {
        (Some(q), _) => q.trim().trim_end_matches(';').trim().to_owned(),
        (None, Some(t)) => {
            let quoted: Vec<String> = t.split('.').map(|p| format!("`{p}`")).collect();
            format!("SELECT * FROM {}", quoted.join("."))
        }
        (None, None) => String::new(),
    }
}

/// A `sql` source ready to run.
struct Sql<'a> {
    warehouse_id: &'a str,
    base: String,
    watermark_column: &'a str,
    key_column: &'a str,
    watermark_type: WatermarkType,
}

impl Sql<'_> {
    fn parameter(&self, value: i64) -> StatementParameter {
        let (value, type_name) = match self.watermark_type {
            WatermarkType::Timestamp => (sql_timestamp(value), "TIMESTAMP"),
            WatermarkType::Number => (value.to_string(), "BIGINT"),
        };
        StatementParameter {
            name: "sync_from".into(),
            value: Some(value),
            type_name: Some(type_name.into()),
        }
    }

    async fn rows(
        &self,
        client: &Client,
        lower: Option<i64>,
        limit: usize,
    ) -> Result<Window, SyncError> {
        let wm = format!("_sync.`{}`", self.watermark_column);
        let key = format!("_sync.`{}`", self.key_column);
        let mut statement = format!(
            "SELECT * FROM ({}) AS _sync WHERE {wm} IS NOT NULL",
            self.base
        );
        let mut parameters = Vec::new();
        if let Some(lower) = lower {
            statement.push_str(&format!(" AND {wm} >= :sync_from"));
            parameters.push(self.parameter(lower));
        }
        statement.push_str(&format!(" ORDER BY {wm}, {key}"));
        if limit != usize::MAX {
            statement.push_str(&format!(" LIMIT {limit}"));
        }
        let (columns, rows) = self.execute(client, statement, parameters).await?;
        let truncated = limit != usize::MAX && rows.len() >= limit;
        let wm_index = column(&columns, self.watermark_column)?;
        let key_index = column(&columns, self.key_column)?;
        let items = rows
            .into_iter()
            .map(|row| {
                let key = row
                    .get(key_index)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| sql_item("a row has a NULL key".into()))?;
                let raw = row.get(wm_index).cloned().flatten().unwrap_or_default();
                let wm = parse_time_or_number(&raw)
                    .ok_or_else(|| sql_item(format!("row {key}: watermark `{raw}` unreadable")))?;
                let data: Map<String, Value> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.clone(), v.map_or(Value::Null, Value::String)))
                    .collect();
                Ok(Item {
                    key,
                    watermark: Some(wm),
                    version: wm.to_string(),
                    data: Value::Object(data),
                })
            })
            .collect::<Result<_, SyncError>>()?;
        Ok(Window {
            items,
            hold: None,
            truncated,
        })
    }

    async fn max(&self, client: &Client) -> Result<Option<i64>, SyncError> {
        let statement = format!(
            "SELECT MAX(_sync.`{}`) AS m FROM ({}) AS _sync",
            self.watermark_column, self.base
        );
        let (_, rows) = self.execute(client, statement, Vec::new()).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| parse_time_or_number(&v)))
    }

    async fn execute(
        &self,
        client: &Client,
        statement: String,
        parameters: Vec<StatementParameter>,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), SyncError> {
        let statements = client.statements();
        let request = ExecuteStatementRequest {
            statement,
            warehouse_id: self.warehouse_id.to_owned(),
            parameters,
            disposition: Some(Disposition::Inline),
            format: Some(Format::JsonArray),
            wait_timeout: Some("30s".into()),
            on_wait_timeout: Some(OnWaitTimeout::Continue),
            ..ExecuteStatementRequest::default()
        };
        let mut response = statements.execute(&request).await?;
        let pending = matches!(
            response.state(),
            Some(StatementState::Pending) | Some(StatementState::Running) | None
        );
        if pending && let Some(id) = response.statement_id.clone() {
            response = statements
                .wait_terminal(&id, &WaitOptions::default())
                .await?;
        }
        match response.state() {
            Some(StatementState::Succeeded) => {}
            other => {
                let message = response
                    .status
                    .as_ref()
                    .and_then(|s| s.error.as_ref())
                    .and_then(|e| e.message.clone())
                    .unwrap_or_default();
                return Err(SyncError::Statement {
                    state: other.map_or_else(|| "UNKNOWN".into(), |s| format!("{s:?}")),
                    message,
                });
            }
        }
        let columns = response
            .manifest
            .as_ref()
            .and_then(|m| m.schema.as_ref())
            .map(|s| {
                s.columns
                    .iter()
                    .map(|c| c.name.clone().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let rows = statements.rows(&response).collect().await?;
        Ok((columns, rows))
    }
}

fn column(columns: &[String], name: &str) -> Result<usize, SyncError> {
    columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .ok_or_else(|| sql_item(format!("the result has no column `{name}`")))
}

fn sql_item(message: String) -> SyncError {
    SyncError::Item {
        source_path: "sql".into(),
        message,
    }
}
