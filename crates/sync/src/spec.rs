//! What to watch: [`SourceSpec`], one variant per preset plus `custom`, and its validation.
//!
//! A spec is JSON tagged by `type`, e.g. `{"type": "job_runs", "job_id": 5}` or
//! `{"type": "sql", "warehouse_id": "abc", "table": "main.sales.orders",
//! "watermark_column": "updated_at", "key_column": "id"}`. [`SourceSpec::from_json`] parses
//! and validates in one step and names the field that is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SyncError;

/// What a sync source watches. Serialized with a `type` tag in snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SourceSpec {
    /// Job runs that finished (any result state), of one job or of all jobs. Watermark: the
    /// run's `start_time`, read with `completed_only=true&start_time_from=`; runs still in
    /// progress hold the watermark back so they are reported when they finish. Version: the
    /// run's `end_time`. A backfill reads `start_time_to` windows so each batch costs about
    /// its own size in pages (the first batch of a backfill from the beginning reads the
    /// whole listing once).
    JobRuns {
        /// Only runs of this job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<i64>,
    },
    /// New jobs. Watermark: `created_time`. `jobs/list` has no time filter, so every poll
    /// lists all jobs (one request per 100 jobs).
    Jobs {},
    /// Clusters whose state changed (`state`). No server filter and no change time: every poll
    /// lists all clusters and compares a hash of the state fields.
    Clusters {},
    /// New or changed tables of one schema. Watermark: `updated_at` (else `created_at`). The
    /// Unity Catalog list has no time filter, so every poll lists the schema's tables.
    Tables {
        /// Catalog name.
        catalog: String,
        /// Schema name.
        schema: String,
    },
    /// New or changed users (SCIM). Version: `meta.lastModified` when the workspace sends it,
    /// else a hash of the resource. No filter: every poll lists all users.
    Users {},
    /// New or changed groups (SCIM), like [`SourceSpec::Users`].
    Groups {},
    /// Workspace objects (notebooks, files, ...) modified under a path. Watermark:
    /// `modified_at`; notebooks are filtered by the server (`notebooks_modified_after`), other
    /// objects on the client. One `workspace/list` per directory visited.
    WorkspaceObjects {
        /// Absolute workspace path of the directory to watch.
        path: String,
        /// Descend into subdirectories (default true).
        #[serde(default = "yes")]
        recursive: bool,
    },
    /// Rows of a SQL query or table, run on a warehouse with the Statement Execution API as
    /// `... WHERE watermark_column >= :from ORDER BY watermark_column, key_column LIMIT n`.
    Sql {
        /// The SQL warehouse that runs the statement.
        warehouse_id: String,
        /// A `SELECT` whose rows are watched (exactly one of `query` and `table`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// A table whose rows are watched (exactly one of `query` and `table`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
        /// Column that grows when a row is written.
        watermark_column: String,
        /// Column that identifies a row.
        key_column: String,
        /// Whether the watermark is a timestamp or a number (default timestamp).
        #[serde(default)]
        watermark_type: WatermarkType,
    },
    /// Any list endpoint: `GET path` returning items in `list_field`.
    Custom {
        /// API path, e.g. `/api/2.1/clusters/list`.
        path: String,
        /// Field of the response holding the items, e.g. `clusters` (dots for nesting).
        list_field: String,
        /// Field identifying an item (dots for nesting), e.g. `cluster_id`.
        key_field: String,
        /// Field holding the item's watermark (epoch ms, or an RFC 3339 string). Without it
        /// the source compares content hashes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor_field: Option<String>,
        /// Query parameter that takes the lower bound (epoch ms) so the server filters, e.g.
        /// `start_time_from`. Needs `cursor_field`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter_param: Option<String>,
        /// Fixed query parameters.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        query: BTreeMap<String, String>,
        /// How the endpoint pages (default: not at all).
        #[serde(default)]
        pagination: Pagination,
    },
}

fn yes() -> bool {
    true
}

/// What kind of value a SQL watermark column holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatermarkType {
    /// A `TIMESTAMP` (or `DATE`); the cursor keeps epoch milliseconds.
    #[default]
    Timestamp,
    /// An integer (a sequence, a version, epoch ms); the cursor keeps it as is.
    Number,
}

/// How a custom list endpoint pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pagination {
    /// One response holds everything.
    #[default]
    None,
    /// `page_token` in, `next_page_token` out (clusters, Unity Catalog, warehouses).
    Token,
    /// `page_token` in, `has_more` + `next_page_token` out (jobs, runs).
    HasMore,
    /// SCIM `startIndex` / `count`, items in `Resources`.
    Scim,
}

impl SourceSpec {
    /// Parses a spec from JSON and validates it. Errors name the field (as a JSON path) and
    /// what was expected.
    ///
    /// ```
    /// # use brickwire_sync::SourceSpec;
    /// let spec = SourceSpec::from_json(&serde_json::json!({"type": "job_runs", "job_id": 5})).unwrap();
    /// assert_eq!(spec, SourceSpec::JobRuns { job_id: Some(5) });
    /// let err = SourceSpec::from_json(&serde_json::json!({"type": "tables", "catalog": "main"})).unwrap_err();
    /// assert!(err.to_string().contains("schema"), "{err}");
    /// ```
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SyncError> {
        let spec: SourceSpec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            SyncError::spec(blamed_field(value, &path, &message), message)
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// The `type` tag of this spec (`job_runs`, `sql`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::JobRuns { .. } => "job_runs",
            SourceSpec::Jobs {} => "jobs",
            SourceSpec::Clusters {} => "clusters",
            SourceSpec::Tables { .. } => "tables",
            SourceSpec::Users {} => "users",
            SourceSpec::Groups {} => "groups",
            SourceSpec::WorkspaceObjects { .. } => "workspace_objects",
            SourceSpec::Sql { .. } => "sql",
            SourceSpec::Custom { .. } => "custom",
        }
    }

    /// A stable id of this source: `<type>:<16 hex of SHA-256 of the spec's JSON>`. Two equal
    /// specs have the same id, so events of one source deduplicate across processes.
    pub fn source_id(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let digest = Sha256::digest(json.as_bytes());
        format!("{}:{}", self.kind(), &hex(&digest)[..16])
    }

    /// Whether items carry a watermark (else the source compares content hashes).
    pub fn has_watermark(&self) -> bool {
        match self {
            SourceSpec::Clusters {} | SourceSpec::Users {} | SourceSpec::Groups {} => false,
            SourceSpec::Custom { cursor_field, .. } => cursor_field.is_some(),
            _ => true,
        }
    }

    /// Whether the watermark is a time in epoch milliseconds (else a plain number).
    pub fn watermark_is_time(&self) -> bool {
        !matches!(
            self,
            SourceSpec::Sql {
                watermark_type: WatermarkType::Number,
                ..
            }
        )
    }

    /// Checks what serde cannot: non-empty names, exactly one of `query`/`table`, absolute
    /// paths, identifiers that can be quoted.
    pub fn validate(&self) -> Result<(), SyncError> {
        match self {
            SourceSpec::JobRuns { job_id } => {
                if job_id.is_some_and(|j| j <= 0) {
                    return Err(SyncError::spec("job_id", "a positive job id"));
                }
            }
            SourceSpec::Tables { catalog, schema } => {
                non_empty("catalog", catalog)?;
                non_empty("schema", schema)?;
            }
            SourceSpec::WorkspaceObjects { path, .. } => {
                if !path.starts_with('/') {
                    return Err(SyncError::spec(
                        "path",
                        "an absolute workspace path starting with `/`",
                    ));
                }
            }
            SourceSpec::Sql {
                warehouse_id,
                query,
                table,
                watermark_column,
                key_column,
                ..
            } => {
                non_empty("warehouse_id", warehouse_id)?;
                match (query, table) {
                    (Some(q), None) => non_empty("query", q)?,
                    (None, Some(t)) => {
                        non_empty("table", t)?;
                        if t.contains(['`', ';']) || t.split('.').any(str::is_empty) {
                            return Err(SyncError::spec(
                                "table",
                                "a table name like `catalog.schema.table` without backticks",
                            ));
                        }
                    }
                    _ => {
                        return Err(SyncError::spec(
                            "query",
                            "exactly one of `query` and `table`",
                        ));
                    }
                }
                identifier("watermark_column", watermark_column)?;
                identifier("key_column", key_column)?;
            }
            SourceSpec::Custom {
                path,
                list_field,
                key_field,
                cursor_field,
                filter_param,
                ..
            } => {
                if !path.starts_with("/api/") {
                    return Err(SyncError::spec("path", "an API path starting with `/api/`"));
                }
                if path.contains('?') {
                    return Err(SyncError::spec(
                        "path",
                        "a path without a query string (put parameters in `query`)",
                    ));
                }
                non_empty("list_field", list_field)?;
                non_empty("key_field", key_field)?;
                if let Some(c) = cursor_field {
                    non_empty("cursor_field", c)?;
                }
                if filter_param.is_some() && cursor_field.is_none() {
                    return Err(SyncError::spec(
                        "filter_param",
                        "no filter_param without a cursor_field",
                    ));
                }
            }
            SourceSpec::Jobs {} | SourceSpec::Clusters {} | SourceSpec::Users {} => {}
            SourceSpec::Groups {} => {}
        }
        Ok(())
    }
}

/// The field a serde error is about. The `type` tag makes serde buffer the object, so its
/// path is `.`; the field is then the one named in the message, or the one whose removal
/// changes the error.
fn blamed_field(value: &serde_json::Value, path: &str, message: &str) -> String {
    if path != "." {
        return path.to_owned();
    }
    let named = message.split('`').nth(1);
    if message.starts_with("unknown variant") || message.starts_with("missing field `type`") {
        return "type".into();
    }
    if let Some(name) = named
        && (message.starts_with("missing field") || message.starts_with("unknown field"))
    {
        return name.to_owned();
    }
    if let serde_json::Value::Object(fields) = value {
        for key in fields.keys().filter(|k| *k != "type") {
            let mut without = fields.clone();
            without.remove(key);
            match serde_json::from_value::<SourceSpec>(serde_json::Value::Object(without)) {
                Ok(_) => return key.clone(),
                Err(e) if e.to_string() != message => return key.clone(),
                Err(_) => {}
            }
        }
    }
    path.to_owned()
}

fn non_empty(field: &str, value: &str) -> Result<(), SyncError> {
    if value.trim().is_empty() {
        Err(SyncError::spec(field, "a non-empty string"))
    } else {
        Ok(())
    }
}

fn identifier(field: &str, value: &str) -> Result<(), SyncError> {
    non_empty(field, value)?;
    if value.contains('`') {
        Err(SyncError::spec(field, "a column name without backticks"))
    } else {
        Ok(())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
