//! Types between Databricks SQL and Arrow: SQL type syntax to Arrow, Arrow to the Databricks
//! `type_name`/`type_text` of manifests and `TableInfo` columns, and Spark's JSON type form.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, ArrayElemTypeDef, ExactNumberInfo};
use serde_json::{Value, json};

use super::SqlError;

/// The zone Databricks `TIMESTAMP` values are normalised to (the emulator's session time zone).
pub const SESSION_TIME_ZONE: &str = "UTC";

/// Databricks type name and type text for an Arrow type, e.g. `("INT", "int")`,
/// `("DECIMAL", "decimal(10,2)")`, `("ARRAY", "array<string>")`.
pub fn databricks_type(data_type: &DataType) -> (&'static str, String) {
    use DataType::*;
    match data_type {
        Null => ("NULL", "void".into()),
        Boolean => ("BOOLEAN", "boolean".into()),
        Int8 => ("BYTE", "tinyint".into()),
        Int16 | UInt8 => ("SHORT", "smallint".into()),
        Int32 | UInt16 => ("INT", "int".into()),
        Int64 | UInt32 => ("LONG", "bigint".into()),
        UInt64 => ("DECIMAL", "decimal(20,0)".into()),
        Float16 | Float32 => ("FLOAT", "float".into()),
        Float64 => ("DOUBLE", "double".into()),
        Decimal32(p, s) | Decimal64(p, s) => ("DECIMAL", format!("decimal({p},{s})")),
        Decimal128(p, s) | Decimal256(p, s) => ("DECIMAL", format!("decimal({p},{s})")),
        Utf8 | LargeUtf8 | Utf8View => ("STRING", "string".into()),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => ("BINARY", "binary".into()),
        Date32 | Date64 => ("DATE", "date".into()),
        Timestamp(_, Some(_)) => ("TIMESTAMP", "timestamp".into()),
        Timestamp(_, None) => ("TIMESTAMP_NTZ", "timestamp_ntz".into()),
        Interval(_) | Duration(_) => ("INTERVAL", "interval".into()),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => (
            "ARRAY",
            format!("array<{}>", databricks_type(f.data_type()).1),
        ),
        Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), databricks_type(f.data_type()).1))
                .collect();
            ("STRUCT", format!("struct<{}>", inner.join(",")))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => (
                "MAP",
                format!(
                    "map<{},{}>",
                    databricks_type(kv[0].data_type()).1,
                    databricks_type(kv[1].data_type()).1
                ),
            ),
            _ => ("MAP", "map<string,string>".into()),
        },
        Dictionary(_, v) => databricks_type(v),
        RunEndEncoded(_, v) => databricks_type(v.data_type()),
        Time32(_) | Time64(_) | Union(_, _) => ("STRING", "string".into()),
    }
}

/// Spark's JSON form of a type, as `ColumnInfo.type_json` carries it.
pub fn spark_json_type(data_type: &DataType) -> Value {
    use DataType::*;
    match data_type {
        Int8 => json!("byte"),
        Int16 | UInt8 => json!("short"),
        Int32 | UInt16 => json!("integer"),
        Int64 | UInt32 => json!("long"),
        List(f) | LargeList(f) | FixedSizeList(f, _) => json!({
            "type": "array",
            "elementType": spark_json_type(f.data_type()),
            "containsNull": f.is_nullable(),
        }),
        Struct(fields) => json!({
            "type": "struct",
            "fields": fields.iter().map(|f| json!({
                "name": f.name(),
                "type": spark_json_type(f.data_type()),
                "nullable": f.is_nullable(),
                "metadata": {},
            })).collect::<Vec<_>>(),
        }),
        other => json!(databricks_type(other).1),
    }
}

fn decimal(info: &ExactNumberInfo) -> Result<DataType, SqlError> {
    let (p, s) = match info {
        ExactNumberInfo::None => (10, 0),
        ExactNumberInfo::Precision(p) => (*p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
    };
    if !(1..=38).contains(&p) || s < 0 || s as u64 > p {
        return Err(SqlError::bad_request(
            "INVALID_PARAMETER_VALUE",
            format!(
                "DECIMAL({p},{s}) is out of range: precision must be 1..38 and scale 0..precision"
            ),
            Some("22003"),
        ));
    }
    Ok(DataType::Decimal128(p as u8, s as i8))
}

/// The Arrow type a Databricks SQL type declares, e.g. `INT` -> `Int32`, `STRING` -> `Utf8`,
/// `TIMESTAMP` -> microseconds in UTC, `TIMESTAMP_NTZ` -> microseconds without zone.
pub fn arrow_type(sql_type: &ast::DataType) -> Result<DataType, SqlError> {
    use ast::DataType as S;
    Ok(match sql_type {
        S::Boolean | S::Bool => DataType::Boolean,
        S::TinyInt(_) => DataType::Int8,
        S::SmallInt(_) | S::Int2(_) => DataType::Int16,
        S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int32,
        S::BigInt(_) | S::Int8(_) | S::Int64 => DataType::Int64,
        S::Float(_) | S::Real | S::Float4 | S::Float32 => DataType::Float32,
        S::Double(_) | S::DoublePrecision | S::Float8 | S::Float64 => DataType::Float64,
        S::Decimal(i) | S::Numeric(i) | S::Dec(i) => decimal(i)?,
        S::String(_)
        | S::Text
        | S::Varchar(_)
        | S::Char(_)
        | S::Character(_)
        | S::CharVarying(_)
        | S::CharacterVarying(_)
        | S::Nvarchar(_) => DataType::Utf8,
        S::Binary(_) | S::Varbinary(_) | S::Bytea | S::Blob(_) => DataType::Binary,
        S::Date => DataType::Date32,
        S::Timestamp(_, _) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some(SESSION_TIME_ZONE.into()))
        }
        S::TimestampNtz(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        S::Array(ArrayElemTypeDef::AngleBracket(inner))
        | S::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | S::Array(ArrayElemTypeDef::Parenthesis(inner)) => {
            DataType::List(Arc::new(Field::new("element", arrow_type(inner)?, true)))
        }
        S::Struct(fields, _) => {
            let fields = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = f
                        .field_name
                        .as_ref()
                        .map(|n| n.value.clone())
                        .unwrap_or_else(|| format!("col{}", i + 1));
                    Ok(Field::new(name, arrow_type(&f.field_type)?, true))
                })
                .collect::<Result<Vec<_>, SqlError>>()?;
            DataType::Struct(fields.into())
        }
        S::Custom(name, args) if args.is_empty() => {
            match name.to_string().to_ascii_uppercase().as_str() {
                "LONG" => DataType::Int64,
                "SHORT" => DataType::Int16,
                "BYTE" => DataType::Int8,
                "VOID" => DataType::Null,
                other => return Err(unsupported_type(other)),
            }
        }
        other => return Err(unsupported_type(&other.to_string())),
    })
}

fn unsupported_type(name: &str) -> SqlError {
    SqlError::bad_request(
        "UNSUPPORTED_DATATYPE",
        format!("Unsupported data type \"{name}\"."),
        Some("0A000"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::DatabricksDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(t: &str) -> ast::DataType {
        Parser::new(&DatabricksDialect {})
            .try_with_sql(t)
            .unwrap()
            .parse_data_type()
            .unwrap()
    }

    #[test]
    fn round_trips_common_types() {
        for (sql, name, text) in [
            ("INT", "INT", "int"),
            ("BIGINT", "LONG", "bigint"),
            ("LONG", "LONG", "bigint"),
            ("SMALLINT", "SHORT", "smallint"),
            ("TINYINT", "BYTE", "tinyint"),
            ("STRING", "STRING", "string"),
            ("DOUBLE", "DOUBLE", "double"),
            ("FLOAT", "FLOAT", "float"),
            ("BOOLEAN", "BOOLEAN", "boolean"),
            ("DATE", "DATE", "date"),
            ("TIMESTAMP", "TIMESTAMP", "timestamp"),
            ("TIMESTAMP_NTZ", "TIMESTAMP_NTZ", "timestamp_ntz"),
            ("DECIMAL(10,2)", "DECIMAL", "decimal(10,2)"),
            ("ARRAY<INT>", "ARRAY", "array<int>"),
            ("BINARY", "BINARY", "binary"),
        ] {
            let arrow = arrow_type(&parse(sql)).unwrap();
            assert_eq!(databricks_type(&arrow), (name, text.to_owned()), "{sql}");
        }
    }

    #[test]
    fn rejects_bad_decimal() {
        assert!(arrow_type(&parse("DECIMAL(50,2)")).is_err());
    }
}
