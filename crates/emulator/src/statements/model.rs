//! Wire shapes of the Statement Execution API: the execute request as accepted and the
//! `StatementResponse` / `ResultData` pieces as answered (field names from the SDK's `sql.py`).
//!
//! The row data itself (`data_array`) is never held here: routes stream it into the JSON body
//! after these metadata fields are serialized.

use serde::{Deserialize, Serialize};

/// The Statement Execution enums are the api's. The emulator holds only known values in them:
/// routes refuse the rest with `INVALID_PARAMETER_VALUE` (`known`), so an `Other` arm is
/// unreachable.
pub use brickwire_api::statements::{Disposition, Format, OnWaitTimeout, StatementState};

/// The message of those unreachable `Other` arms.
pub(crate) const UNKNOWN_VALUE: &str = "the execute route refuses values it does not know";

/// One `parameters[]` entry of the execute request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParameterItem {
    /// Marker name.
    pub name: String,
    /// Value as text; absent or null is SQL NULL.
    #[serde(default)]
    pub value: Option<String>,
    /// SQL type; absent means STRING.
    #[serde(default, rename = "type")]
    pub type_name: Option<String>,
}

/// The execute request body as sent. The api's enums keep unknown values (`Other`), so
/// [`validate`](super::routes) can name the field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExecuteBody {
    /// The SQL text.
    pub statement: Option<String>,
    /// Warehouse to run on.
    pub warehouse_id: Option<String>,
    /// Default catalog.
    pub catalog: Option<String>,
    /// Default schema.
    pub schema: Option<String>,
    /// Named parameters.
    #[serde(default)]
    pub parameters: Vec<ParameterItem>,
    /// Maximum rows kept; more set `truncated`.
    pub row_limit: Option<i64>,
    /// Maximum result bytes kept; more set `truncated`.
    pub byte_limit: Option<i64>,
    /// `INLINE` or `EXTERNAL_LINKS`.
    pub disposition: Option<Disposition>,
    /// `JSON_ARRAY`, `ARROW_STREAM` or `CSV`.
    pub format: Option<Format>,
    /// `0s` or `5s`..`50s`.
    pub wait_timeout: Option<String>,
    /// `CONTINUE` or `CANCEL`.
    pub on_wait_timeout: Option<OnWaitTimeout>,
}

/// `status.error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceError {
    /// A `ServiceErrorCode` such as `BAD_REQUEST`.
    pub error_code: String,
    /// What went wrong.
    pub message: String,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementStatus {
    /// Lifecycle state.
    pub state: StatementState,
    /// Set when FAILED (and when CANCELED by a wait timeout is not an error, so absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ServiceError>,
    /// SQLSTATE of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_state: Option<String>,
}

/// `manifest.schema.columns[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// 0-based position.
    pub position: usize,
    /// `ColumnInfoTypeName`, e.g. `INT`.
    pub type_name: String,
    /// Full type, e.g. `decimal(10,2)`.
    pub type_text: String,
    /// Decimal precision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_precision: Option<u8>,
    /// Decimal scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_scale: Option<i8>,
}

/// `manifest.schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSchema {
    /// Number of columns.
    pub column_count: usize,
    /// The columns in order.
    pub columns: Vec<ColumnInfo>,
}

/// `manifest.chunks[]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// 0-based chunk index.
    pub chunk_index: usize,
    /// Index of the chunk's first row in the result.
    pub row_offset: u64,
    /// Rows in the chunk.
    pub row_count: u64,
    /// Encoded size (EXTERNAL_LINKS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<u64>,
}

/// `manifest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultManifest {
    /// Result format.
    pub format: Format,
    /// Result columns.
    pub schema: ResultSchema,
    /// Number of chunks.
    pub total_chunk_count: usize,
    /// Number of rows.
    pub total_row_count: u64,
    /// Encoded size of all chunks (EXTERNAL_LINKS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_byte_count: Option<u64>,
    /// Every chunk.
    pub chunks: Vec<ChunkInfo>,
    /// Whether `row_limit` or `byte_limit` dropped rows.
    pub truncated: bool,
}

/// `result.external_links[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalLink {
    /// Chunk index.
    pub chunk_index: usize,
    /// First row of the chunk.
    pub row_offset: u64,
    /// Rows in the chunk.
    pub row_count: u64,
    /// Size of the file behind the link.
    pub byte_count: u64,
    /// Absolute URL to fetch without `Authorization`.
    pub external_link: String,
    /// ISO 8601 time after which the link is refused.
    pub expiration: String,
    /// Headers the fetch must send.
    pub http_headers: std::collections::BTreeMap<String, String>,
    /// Next chunk, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_chunk_index: Option<usize>,
    /// Path of the next chunk's metadata, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_chunk_internal_link: Option<String>,
}

/// The metadata part of `ResultData`; the routes append `data_array` as a stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultDataMeta {
    /// Chunk index.
    pub chunk_index: usize,
    /// First row of the chunk.
    pub row_offset: u64,
    /// Rows in the chunk.
    pub row_count: u64,
    /// Encoded size (EXTERNAL_LINKS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<u64>,
    /// Links (EXTERNAL_LINKS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_links: Option<Vec<ExternalLink>>,
    /// Next chunk, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_chunk_index: Option<usize>,
    /// Path of the next chunk, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_chunk_internal_link: Option<String>,
}

/// The `StatementResponse` fields other than `result`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementHead {
    /// Statement id.
    pub statement_id: String,
    /// State and error.
    pub status: StatementStatus,
    /// Present when SUCCEEDED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ResultManifest>,
}

/// `/api/2.0/sql/statements/{id}/result/chunks/{n}`, the link to a chunk's metadata.
pub fn chunk_internal_link(statement_id: &str, chunk_index: usize) -> String {
    format!("/api/2.0/sql/statements/{statement_id}/result/chunks/{chunk_index}")
}
