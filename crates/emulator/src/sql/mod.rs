//! TEMPORARY stand-in, replaced by the real engine at merge
//!
//! The SQL engine interface the statements service codes against: [`execute`] runs one statement
//! and returns its result as a stream of Arrow batches, [`databricks_type`] names an Arrow type
//! the way Databricks does. This stand-in runs each statement in a fresh DataFusion
//! `SessionContext`, renames `range(n)`'s column to `id` and substitutes `:name` parameters as
//! literals; it knows nothing of Unity Catalog.

use arrow::datatypes::{DataType, IntervalUnit};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;

/// One named parameter of a statement (`:name` in the SQL text).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParam {
    /// The marker's name, without the colon.
    pub name: String,
    /// The value as text; `None` is SQL NULL.
    pub value: Option<String>,
    /// A SQL type such as `INT` or `DECIMAL(10,2)`; `None` means STRING.
    pub type_name: Option<String>,
}

/// Why a statement failed, as Databricks reports it in `status.error`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlError {
    /// A `ServiceErrorCode`, e.g. `BAD_REQUEST`.
    pub error_code: String,
    /// What went wrong.
    pub message: String,
    /// The ANSI SQLSTATE, when known.
    pub sql_state: Option<String>,
}

impl SqlError {
    fn from_datafusion(e: DataFusionError) -> Self {
        let (code, state) = match e.find_root() {
            DataFusionError::SQL(..) => ("BAD_REQUEST", Some("42601")),
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
                ("BAD_REQUEST", Some("42000"))
            }
            DataFusionError::NotImplemented(_) => ("BAD_REQUEST", Some("0A000")),
            _ => ("INTERNAL_ERROR", None),
        };
        Self {
            error_code: code.to_owned(),
            message: e.to_string(),
            sql_state: state.map(str::to_owned),
        }
    }
}

/// Runs `statement` and returns its result batches as a stream.
pub async fn execute(
    ws: &crate::state::Workspace,
    catalog: Option<&str>,
    schema: Option<&str>,
    statement: &str,
    params: &[QueryParam],
) -> Result<SendableRecordBatchStream, SqlError> {
    let _ = (ws, catalog, schema);
    let sql = rename_range(&substitute_params(statement, params)?);
    let ctx = SessionContext::new();
    let df = ctx.sql(&sql).await.map_err(SqlError::from_datafusion)?;
    df.execute_stream().await.map_err(SqlError::from_datafusion)
}

/// `(type_name, type_text)` of an Arrow type, e.g. `("INT", "int")`.
pub fn databricks_type(data_type: &DataType) -> (&'static str, String) {
    match data_type {
        DataType::Null => ("NULL", "void".into()),
        DataType::Boolean => ("BOOLEAN", "boolean".into()),
        DataType::Int8 | DataType::UInt8 => ("BYTE", "tinyint".into()),
        DataType::Int16 | DataType::UInt16 => ("SHORT", "smallint".into()),
        DataType::Int32 | DataType::UInt32 => ("INT", "int".into()),
        DataType::Int64 | DataType::UInt64 => ("LONG", "bigint".into()),
        DataType::Float16 | DataType::Float32 => ("FLOAT", "float".into()),
        DataType::Float64 => ("DOUBLE", "double".into()),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => ("DECIMAL", format!("decimal({p},{s})")),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("STRING", "string".into()),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => ("BINARY", "binary".into()),
        DataType::Date32 | DataType::Date64 => ("DATE", "date".into()),
        DataType::Timestamp(_, None) => ("TIMESTAMP", "timestamp_ntz".into()),
        DataType::Timestamp(_, Some(_)) => ("TIMESTAMP", "timestamp".into()),
        DataType::Interval(IntervalUnit::YearMonth) => {
            ("INTERVAL", "interval year to month".into())
        }
        DataType::Interval(_) | DataType::Duration(_) => {
            ("INTERVAL", "interval day to second".into())
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => (
            "ARRAY",
            format!("array<{}>", databricks_type(f.data_type()).1),
        ),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), databricks_type(f.data_type()).1))
                .collect();
            ("STRUCT", format!("struct<{}>", inner.join(",")))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => (
                "MAP",
                format!(
                    "map<{},{}>",
                    databricks_type(kv[0].data_type()).1,
                    databricks_type(kv[1].data_type()).1
                ),
            ),
            _ => ("MAP", "map".into()),
        },
        DataType::Dictionary(_, value) => databricks_type(value),
        _ => ("USER_DEFINED_TYPE", data_type.to_string().to_lowercase()),
    }
}

/// Replaces each `:name` marker outside quotes with the parameter's value as a SQL literal.
fn substitute_params(sql: &str, params: &[QueryParam]) -> Result<String, SqlError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            quote = Some(c);
            out.push(c);
            i += 1;
            continue;
        }
        let is_marker = c == ':'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || *n == '_')
            && (i == 0 || chars[i - 1] != ':');
        if !is_marker {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
            end += 1;
        }
        let name: String = chars[start..end].iter().collect();
        let param = params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| SqlError {
                error_code: "BAD_REQUEST".into(),
                message: format!("[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {name}."),
                sql_state: Some("42P02".into()),
            })?;
        let literal = match &param.value {
            None => "NULL".to_owned(),
            Some(v) => format!("'{}'", v.replace('\'', "''")),
        };
        match &param.type_name {
            Some(t) if !t.eq_ignore_ascii_case("STRING") => {
                out.push_str(&format!("CAST({literal} AS {t})"))
            }
            _ => out.push_str(&literal),
        }
        i = end;
    }
    Ok(out)
}

/// Rewrites `range(...)` to a subquery whose column is named `id`, as in Databricks.
fn rename_range(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 32);
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("range(") {
        let at = pos + found;
        let boundary = at == 0 || {
            let p = bytes[at - 1];
            !(p.is_ascii_alphanumeric() || p == b'_')
        };
        let open = at + "range(".len();
        let close = boundary.then(|| matching_paren(bytes, open)).flatten();
        match close {
            Some(close) => {
                out.push_str(&sql[pos..at]);
                out.push_str("(SELECT value AS id FROM range(");
                out.push_str(&sql[open..close]);
                out.push_str("))");
                pos = close + 1;
            }
            None => {
                out.push_str(&sql[pos..open]);
                pos = open;
            }
        }
    }
    out.push_str(&sql[pos..]);
    out
}

fn matching_paren(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}
