//! The emulator's SQL engine: Databricks SQL over Unity Catalog, run by DataFusion.
//!
//! [`execute`] runs one statement against the workspace's metastore
//! ([`crate::unity_catalog::State`]): tables created here appear in the Tables API and tables
//! deleted there vanish here, because table rows live beside their metadata. Start reading at
//! [`execute`]; the parts are:
//! - `parse`: sqlparser's Databricks dialect, plus the Databricks statements DataFusion's parser
//!   rejects (`CREATE CATALOG`, `DESCRIBE TABLE`, `CREATE TABLE ... USING DELTA`, ...);
//! - `engine`: a DataFusion session mirroring the metastore, typed `:name` parameters, and the
//!   statements run against the metastore itself (DDL, `SHOW`, `DESCRIBE`);
//! - `range`, `dates`, `lateral`: Databricks behaviour DataFusion spells differently (`range`'s
//!   `id` column, Spark date patterns, `array`/`explode`, lateral column aliases);
//! - `types`: SQL types to Arrow and Arrow to Databricks `type_name`/`type_text`.

mod dates;
mod engine;
mod lateral;
mod parse;
mod range;
mod types;

use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;

use crate::error::ErrorCode;
use crate::unity_catalog::UcError;

pub use types::{arrow_type, databricks_type, spark_json_type};

/// The Arrow type of a Databricks SQL type written as text, e.g. `"decimal(10,2)"` or `"bigint"`.
pub fn parse_type(text: &str) -> Result<arrow::datatypes::DataType, SqlError> {
    let dialect = datafusion::sql::sqlparser::dialect::DatabricksDialect {};
    let mut p = datafusion::sql::sqlparser::parser::Parser::new(&dialect).try_with_sql(text)?;
    let t = p.parse_data_type()?;
    arrow_type(&t)
}

/// A named parameter for a `:name` marker, as the Statement Execution API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryParam {
    /// The marker's name without the colon.
    pub name: String,
    /// The value as text; `None` means SQL `NULL`.
    pub value: Option<String>,
    /// A SQL type such as `INT`, `DATE` or `DECIMAL(10,2)`; `None` means `STRING`.
    pub type_name: Option<String>,
}

/// Why a statement failed, in the Statement Execution API's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// A `ServiceErrorCode`: `BAD_REQUEST`, `NOT_FOUND`, `ALREADY_EXISTS`, `INTERNAL_ERROR`, ...
    pub error_code: ErrorCode,
    /// Databricks-style message starting with the error class, e.g.
    /// `[TABLE_OR_VIEW_NOT_FOUND] The table or view `main.default.x` cannot be found.`
    pub message: String,
    /// The SQLSTATE, e.g. `42P01`, when one applies.
    pub sql_state: Option<String>,
}

impl SqlError {
    fn new(
        error_code: ErrorCode,
        condition: &str,
        message: impl AsRef<str>,
        sql_state: Option<&str>,
    ) -> Self {
        Self {
            error_code,
            message: format!("[{condition}] {}", message.as_ref()),
            sql_state: sql_state.map(str::to_owned),
        }
    }

    /// A `BAD_REQUEST` error of the Databricks error class `condition`.
    pub fn bad_request(condition: &str, message: impl AsRef<str>, sql_state: Option<&str>) -> Self {
        Self::new(ErrorCode::BadRequest, condition, message, sql_state)
    }

    /// A `NOT_FOUND` error of the Databricks error class `condition`.
    pub fn not_found(condition: &str, message: impl AsRef<str>, sql_state: Option<&str>) -> Self {
        Self::new(ErrorCode::NotFound, condition, message, sql_state)
    }
}

impl From<UcError> for SqlError {
    fn from(e: UcError) -> Self {
        match e {
            UcError::CatalogNotFound(c) => Self::not_found(
                "NO_SUCH_CATALOG_EXCEPTION",
                format!("Catalog '{c}' was not found."),
                Some("42704"),
            ),
            UcError::SchemaNotFound(s) => Self::not_found(
                "SCHEMA_NOT_FOUND",
                format!("The schema `{s}` cannot be found."),
                Some("42704"),
            ),
            UcError::TableNotFound(t) => table_not_found(&t),
            UcError::VolumeNotFound(v) => Self::not_found(
                "VOLUME_NOT_FOUND",
                format!("The volume `{v}` cannot be found."),
                Some("42704"),
            ),
            UcError::AlreadyExists { kind, name } => {
                let (condition, state) = match kind {
                    "Catalog" => ("CATALOG_ALREADY_EXISTS", "42P04"),
                    "Schema" => ("SCHEMA_ALREADY_EXISTS", "42P06"),
                    _ => ("TABLE_OR_VIEW_ALREADY_EXISTS", "42P07"),
                };
                Self::new(
                    ErrorCode::AlreadyExists,
                    condition,
                    format!(
                        "Cannot create {} `{name}` because it already exists.",
                        kind.to_lowercase()
                    ),
                    Some(state),
                )
            }
            UcError::NotEmpty { kind, name, detail } => Self::bad_request(
                &format!("{}_NOT_EMPTY", kind.to_uppercase()),
                format!(
                    "Cannot drop {} `{name}` because it is not empty. {detail} Use CASCADE.",
                    kind.to_lowercase()
                ),
                Some("2BP01"),
            ),
            UcError::InvalidParameter(m) => {
                Self::bad_request("INVALID_PARAMETER_VALUE", m, Some("22023"))
            }
        }
    }
}

/// The error for a table reference that resolves to nothing.
fn table_not_found(name: &str) -> SqlError {
    SqlError::not_found(
        "TABLE_OR_VIEW_NOT_FOUND",
        format!(
            "The table or view `{name}` cannot be found. Verify the spelling and correctness of the \
             schema and catalog."
        ),
        Some("42P01"),
    )
}

/// Classifies a DataFusion error (from planning or from a result stream) as a statement error.
///
/// The Statement Execution API uses this for errors that surface while a stream is read.
pub fn sql_error_from_datafusion(e: &DataFusionError) -> SqlError {
    use arrow::error::ArrowError;
    use datafusion::common::SchemaError;
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            sql_error_from_datafusion(inner)
        }
        DataFusionError::Shared(inner) => sql_error_from_datafusion(inner),
        DataFusionError::SQL(p, _) => {
            SqlError::bad_request("PARSE_SYNTAX_ERROR", p.to_string(), Some("42601"))
        }
        DataFusionError::SchemaError(s, _)
            if matches!(s.as_ref(), SchemaError::FieldNotFound { .. }) =>
        {
            SqlError::bad_request("UNRESOLVED_COLUMN", e.message(), Some("42703"))
        }
        DataFusionError::SchemaError(..) | DataFusionError::Plan(_) => {
            SqlError::bad_request("ANALYSIS_ERROR", e.message(), Some("42000"))
        }
        DataFusionError::NotImplemented(_) => {
            SqlError::bad_request("UNSUPPORTED_FEATURE", e.message(), Some("0A000"))
        }
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::DivideByZero => {
                SqlError::bad_request("DIVIDE_BY_ZERO", "Division by zero.", Some("22012"))
            }
            ArrowError::CastError(m) | ArrowError::ParseError(m) => {
                SqlError::bad_request("CAST_INVALID_INPUT", m, Some("22018"))
            }
            ArrowError::ArithmeticOverflow(m) => {
                SqlError::bad_request("ARITHMETIC_OVERFLOW", m, Some("22003"))
            }
            other => SqlError::bad_request("EXECUTION_ERROR", other.to_string(), Some("22000")),
        },
        DataFusionError::Execution(_) => {
            SqlError::bad_request("EXECUTION_ERROR", e.message(), Some("22000"))
        }
        DataFusionError::ResourcesExhausted(_) => SqlError::new(
            ErrorCode::ResourceExhausted,
            "RESOURCE_EXHAUSTED",
            e.message(),
            Some("53000"),
        ),
        _ => SqlError::new(
            ErrorCode::InternalError,
            "INTERNAL_ERROR",
            e.message(),
            Some("XX000"),
        ),
    }
}

impl From<arrow::error::ArrowError> for SqlError {
    fn from(e: arrow::error::ArrowError) -> Self {
        sql_error_from_datafusion(&DataFusionError::ArrowError(Box::new(e), None))
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        sql_error_from_datafusion(&e)
    }
}

/// Runs one statement in the workspace's SQL world (Unity Catalog + data). DDL/DML return a
/// small result.
///
/// `catalog`/`schema` are the current catalog and schema for unqualified names (`main` and
/// `default` when `None`); when given they must exist. `params` bind `:name` markers. Queries
/// stream: rows are produced while the caller reads. `CREATE`/`DROP` return no columns,
/// `INSERT` returns `num_affected_rows` and `num_inserted_rows`.
///
/// ```no_run
/// # async fn demo(ws: &brickwire_emulator::Workspace) -> Result<(), brickwire_emulator::sql::SqlError> {
/// use brickwire_emulator::sql::{QueryParam, execute};
/// let p = QueryParam { name: "n".into(), value: Some("3".into()), type_name: Some("INT".into()) };
/// let stream = execute(ws, None, None, "SELECT id FROM range(10) WHERE id < :n", &[p]).await?;
/// # let _ = stream; Ok(()) }
/// ```
pub async fn execute(
    ws: &crate::state::Workspace,
    catalog: Option<&str>,
    schema: Option<&str>,
    statement: &str,
    params: &[QueryParam],
) -> Result<SendableRecordBatchStream, SqlError> {
    engine::execute(ws, catalog, schema, statement, params).await
}
