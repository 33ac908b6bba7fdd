//! SQL Statement Execution (`/api/2.0/sql/statements`): the execute body, the
//! [`StatementResponse`] with its [`ResultManifest`] and [`ResultData`] chunks, external links,
//! and the [`StatementState`] machine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::{Extra, KeyValue};

crate::string_enum! {
    /// The state of a statement. Terminal: `SUCCEEDED`, `FAILED`, `CANCELED`, `CLOSED`.
    pub enum StatementState {
        Pending = "PENDING",
        Running = "RUNNING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Canceled = "CANCELED",
        Closed = "CLOSED",
    }
}

impl StatementState {
    /// Whether the statement will not change state any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            StatementState::Succeeded
                | StatementState::Failed
                | StatementState::Canceled
                | StatementState::Closed
        )
    }
}

crate::string_enum! {
    /// Where results go: inline in the response or behind presigned links.
    pub enum Disposition { Inline = "INLINE", ExternalLinks = "EXTERNAL_LINKS" }
}

crate::string_enum! {
    /// Result format (`ARROW_STREAM` and `CSV` need `EXTERNAL_LINKS`).
    pub enum Format { JsonArray = "JSON_ARRAY", ArrowStream = "ARROW_STREAM", Csv = "CSV" }
}

crate::string_enum! {
    /// What happens when `wait_timeout` expires.
    pub enum OnWaitTimeout { Continue = "CONTINUE", Cancel = "CANCEL" }
}

/// A named parameter (`:name`) of a statement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatementParameter {
    /// The marker name without the colon.
    pub name: String,
    /// The value as a string; absent means NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A SQL type such as `INT` or `DECIMAL(10,2)`; absent means STRING.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// The body of `POST /api/2.0/sql/statements`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecuteStatementRequest {
    /// The SQL text.
    pub statement: String,
    /// The warehouse to run on.
    pub warehouse_id: String,
    /// Default catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Default schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Named parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<StatementParameter>,
    /// Row cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_limit: Option<i64>,
    /// Byte cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_limit: Option<i64>,
    /// `INLINE` (default) or `EXTERNAL_LINKS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// `JSON_ARRAY` (default), `ARROW_STREAM` or `CSV`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// `"0s"` (asynchronous) or `"5s"`–`"50s"` (default `"10s"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_timeout: Option<String>,
    /// `CONTINUE` (default) or `CANCEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_wait_timeout: Option<OnWaitTimeout>,
    /// Query tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_tags: Vec<KeyValue>,
    /// Every other field, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The error of a failed statement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceError {
    /// A `ServiceErrorCode` such as `BAD_REQUEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The status of a statement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatementStatus {
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StatementState>,
    /// The error, when `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ServiceError>,
    /// The SQLSTATE, when `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_state: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 0-based position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    /// The type name, e.g. `INT`, `DECIMAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// The full type, e.g. `DECIMAL(10,2)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_text: Option<String>,
    /// Decimal precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_precision: Option<i32>,
    /// Decimal scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_scale: Option<i32>,
    /// Fields this version does not model (`type_interval_type`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The result schema.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultSchema {
    /// Number of columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_count: Option<i32>,
    /// The columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnInfo>,
}

/// Where one chunk sits in the result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// The chunk index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_index: Option<i64>,
    /// The first row's offset in the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_offset: Option<i64>,
    /// Rows in the chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<i64>,
    /// Bytes in the chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<i64>,
}

/// The shape of a result: format, schema, chunk layout, totals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultManifest {
    /// The format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// The schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<ResultSchema>,
    /// Number of chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_chunk_count: Option<i64>,
    /// Number of rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_row_count: Option<i64>,
    /// Number of bytes (not for `INLINE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_byte_count: Option<i64>,
    /// The chunks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkInfo>,
    /// Whether a row or byte limit cut the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A presigned link to one chunk. Fetch it without `Authorization` but with every
/// `http_headers` entry; it expires within 15 minutes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExternalLink {
    /// The chunk index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_index: Option<i64>,
    /// The first row's offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_offset: Option<i64>,
    /// Rows in the chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<i64>,
    /// Bytes in the chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<i64>,
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_link: Option<String>,
    /// Expiry, an ISO-8601 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// Headers to send with the fetch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, String>,
    /// The next chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_chunk_index: Option<i64>,
    /// The path of the next chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_chunk_internal_link: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One chunk of a result (the `result` of a response, or a `result/chunks/{n}` answer).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultData {
    /// The chunk index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_index: Option<i64>,
    /// The first row's offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_offset: Option<i64>,
    /// Rows in the chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<i64>,
    /// Bytes in the chunk (`EXTERNAL_LINKS` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<i64>,
    /// Rows (`INLINE` + `JSON_ARRAY`); every non-null value is a string.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_array: Vec<Vec<Option<String>>>,
    /// Links (`EXTERNAL_LINKS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<ExternalLink>,
    /// The next chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_chunk_index: Option<i64>,
    /// The path of the next chunk, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_chunk_internal_link: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResultData {
    /// The next chunk index, from this chunk or (for external links) its last link.
    pub fn next_chunk(&self) -> Option<i64> {
        self.next_chunk_index.or_else(|| {
            self.external_links
                .last()
                .and_then(|link| link.next_chunk_index)
        })
    }
}

/// What execute and get answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatementResponse {
    /// The statement id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_id: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatementStatus>,
    /// The result shape (once `SUCCEEDED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ResultManifest>,
    /// The first chunk (once `SUCCEEDED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultData>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl StatementResponse {
    /// The state, if reported.
    pub fn state(&self) -> Option<&StatementState> {
        self.status.as_ref()?.state.as_ref()
    }

    /// The error message of a failed statement, or an empty string.
    pub fn error_message(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.error.as_ref())
            .and_then(|e| e.message.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_round_trips_with_nulls_and_unknown_fields() {
        let raw = serde_json::json!({
            "statement_id": "s1",
            "status": {"state": "SUCCEEDED"},
            "manifest": {"format": "JSON_ARRAY", "schema": {"column_count": 1, "columns": [{"name": "a", "position": 0, "type_name": "INT", "type_text": "INT"}]},
                         "total_chunk_count": 2, "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": 2}], "truncated": false, "is_volume_operation": false},
            "result": {"chunk_index": 0, "row_offset": 0, "row_count": 2, "data_array": [["1"], [null]], "next_chunk_index": 1,
                       "next_chunk_internal_link": "/api/2.0/sql/statements/s1/result/chunks/1"}
        });
        let r: StatementResponse = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(r.state(), Some(&StatementState::Succeeded));
        assert_eq!(r.result.as_ref().unwrap().data_array[1], vec![None]);
        assert_eq!(r.result.as_ref().unwrap().next_chunk(), Some(1));
        assert_eq!(serde_json::to_value(&r).unwrap(), raw);
    }

    #[test]
    fn next_chunk_comes_from_the_last_link() {
        let d: ResultData = serde_json::from_value(serde_json::json!({
            "external_links": [{"chunk_index": 3, "external_link": "https://x", "next_chunk_index": 4}]
        }))
        .unwrap();
        assert_eq!(d.next_chunk(), Some(4));
        assert!(StatementState::Closed.is_terminal());
        assert!(!StatementState::Running.is_terminal());
    }
}
