//! Encodes result rows the way Databricks does: every JSON_ARRAY / CSV value as a string
//! (booleans `true`/`false`, ISO dates and timestamps, decimals as exact text, binary as base64,
//! arrays/maps/structs as compact JSON), and ARROW_STREAM as one Arrow IPC stream per chunk.
//!
//! [`ChunkBody`] is an iterator of body parts, one per piece of at most
//! [`super::result::PIECE_ROWS`] rows, so HTTP bodies are streamed rather than built whole.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use super::model::{Format, UNKNOWN_VALUE};

const OPTIONS: FormatOptions<'static> = FormatOptions::new()
    .with_display_error(true)
    .with_timestamp_format(Some("%Y-%m-%dT%H:%M:%S%.3f"))
    .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ"));

/// How one column turns into text.
enum Column<'a> {
    Display(ArrayFormatter<'a>),
    Binary(&'a dyn Array),
    Json(&'a dyn Array),
}

/// The text columns of one batch, with their logical nulls (a NULL-typed column has no
/// validity buffer, yet every value is null).
struct TextBatch<'a> {
    columns: Vec<Column<'a>>,
    nulls: Vec<Option<NullBuffer>>,
}

fn is_null(a: &dyn Array, row: usize) -> bool {
    a.logical_nulls().is_some_and(|n| n.is_null(row))
}

/// Arrays of a batch, with tz-aware timestamps cast to UTC so they print with a `Z`.
fn normalized_columns(batch: &RecordBatch) -> Result<Vec<ArrayRef>, ArrowError> {
    batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(unit, Some(tz)) if tz.as_ref() != "UTC" => {
                cast(c, &DataType::Timestamp(*unit, Some("UTC".into())))
            }
            _ => Ok(c.clone()),
        })
        .collect()
}

impl<'a> TextBatch<'a> {
    fn new(arrays: &'a [ArrayRef]) -> Result<Self, ArrowError> {
        let columns = arrays
            .iter()
            .map(|a| {
                Ok(match a.data_type() {
                    DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_) => Column::Binary(a.as_ref()),
                    t if is_nested(t) => Column::Json(a.as_ref()),
                    _ => Column::Display(ArrayFormatter::try_new(a.as_ref(), &OPTIONS)?),
                })
            })
            .collect::<Result<_, ArrowError>>()?;
        let nulls = arrays.iter().map(|a| a.logical_nulls()).collect();
        Ok(Self { columns, nulls })
    }

    /// Writes the text of cell (`row`, `col`) into `out`; returns false for SQL NULL.
    fn cell(&self, col: usize, row: usize, out: &mut String) -> Result<bool, ArrowError> {
        out.clear();
        if self.nulls[col].as_ref().is_some_and(|n| n.is_null(row)) {
            return Ok(false);
        }
        match &self.columns[col] {
            Column::Display(f) => {
                write!(out, "{}", f.value(row)).map_err(|e| ArrowError::ExternalError(e.into()))?;
            }
            Column::Binary(a) => {
                let bytes = binary_value(*a, row);
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            Column::Json(a) => {
                out.push_str(&json_value(*a, row)?.to_string());
            }
        }
        Ok(true)
    }
}

fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

fn binary_value(a: &dyn Array, row: usize) -> &[u8] {
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().value(row),
        DataType::LargeBinary => a.as_binary::<i64>().value(row),
        DataType::BinaryView => a.as_binary_view().value(row),
        _ => a.as_fixed_size_binary().value(row),
    }
}

/// The value at `row` as JSON, for elements of arrays, maps and structs.
fn json_value(a: &dyn Array, row: usize) -> Result<Value, ArrowError> {
    if is_null(a, row) {
        return Ok(Value::Null);
    }
    let elements = |values: ArrayRef| -> Result<Value, ArrowError> {
        (0..values.len())
            .map(|i| json_value(values.as_ref(), i))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    Ok(match a.data_type() {
        DataType::List(_) => elements(a.as_list::<i32>().value(row))?,
        DataType::LargeList(_) => elements(a.as_list::<i64>().value(row))?,
        DataType::FixedSizeList(..) => elements(a.as_fixed_size_list().value(row))?,
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut map = serde_json::Map::new();
            for (field, column) in fields.iter().zip(s.columns()) {
                map.insert(field.name().clone(), json_value(column.as_ref(), row)?);
            }
            Value::Object(map)
        }
        DataType::Map(..) => {
            let entries = a.as_map().value(row);
            let mut map = serde_json::Map::new();
            for i in 0..entries.len() {
                let key = match json_value(entries.column(0).as_ref(), i)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, json_value(entries.column(1).as_ref(), i)?);
            }
            Value::Object(map)
        }
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        t if t.is_numeric() => {
            let text = ArrayFormatter::try_new(a, &OPTIONS)?.value(row).to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(binary_value(a, row)))
        }
        _ => Value::String(ArrayFormatter::try_new(a, &OPTIONS)?.value(row).to_string()),
    })
}

/// Appends the rows of `batch` as JSON arrays of strings, each preceded by a comma unless it
/// is the very first row of the body.
fn json_rows(batch: &RecordBatch, first: &mut bool, out: &mut Vec<u8>) -> Result<(), ArrowError> {
    let arrays = normalized_columns(batch)?;
    let text = TextBatch::new(&arrays)?;
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        if !std::mem::take(first) {
            out.push(b',');
        }
        out.push(b'[');
        for col in 0..arrays.len() {
            if col > 0 {
                out.push(b',');
            }
            if text.cell(col, row, &mut cell)? {
                serde_json::to_writer(&mut *out, cell.as_str())
                    .map_err(|e| ArrowError::ExternalError(e.into()))?;
            } else {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b']');
    }
    Ok(())
}

fn csv_field(value: &str, out: &mut Vec<u8>) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

fn csv_rows(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ArrowError> {
    let arrays = normalized_columns(batch)?;
    let text = TextBatch::new(&arrays)?;
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        for col in 0..arrays.len() {
            if col > 0 {
                out.push(b',');
            }
            if text.cell(col, row, &mut cell)? {
                csv_field(&cell, out);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

/// The Arrow schema of ARROW_STREAM chunks: view types become their classic forms, which every
/// Arrow reader understands (Databricks sends plain strings and binaries).
pub fn ipc_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn ipc_batch(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// The CSV header line.
pub fn csv_header(schema: &Schema, out: &mut Vec<u8>) {
    for (i, f) in schema.fields().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(f.name(), out);
    }
    out.push(b'\n');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Rows,
    End,
    Done,
}

/// One chunk's bytes in a result format, produced piece by piece.
///
/// JSON_ARRAY gives `[[...],...]` (also what INLINE embeds as `data_array`), CSV gives lines
/// with a header only when `header` is set, ARROW_STREAM gives a complete IPC stream.
pub struct ChunkBody {
    format: Format,
    schema: SchemaRef,
    pieces: std::vec::IntoIter<RecordBatch>,
    header: bool,
    stage: Stage,
    first_row: bool,
    ipc: Option<StreamWriter<Vec<u8>>>,
}

impl ChunkBody {
    /// Encodes `pieces` (rows of one chunk, in order) of a result with `schema`.
    pub fn new(format: Format, schema: SchemaRef, pieces: Vec<RecordBatch>, header: bool) -> Self {
        Self {
            format,
            schema,
            pieces: pieces.into_iter(),
            header,
            stage: Stage::Start,
            first_row: true,
            ipc: None,
        }
    }

    /// The total encoded size, encoding into nothing.
    pub fn count_bytes(self) -> Result<u64, ArrowError> {
        self.map(|part| part.map(|b| b.len() as u64)).sum()
    }

    fn take_ipc(&mut self) -> Bytes {
        self.ipc
            .as_mut()
            .map(|w| Bytes::from(std::mem::take(w.get_mut())))
            .unwrap_or_default()
    }

    fn step(&mut self) -> Result<Option<Bytes>, ArrowError> {
        let mut out = Vec::new();
        match self.stage {
            Stage::Start => {
                self.stage = Stage::Rows;
                match self.format {
                    Format::JsonArray => out.push(b'['),
                    Format::Csv if self.header => csv_header(&self.schema, &mut out),
                    Format::Csv => {}
                    Format::ArrowStream => {
                        self.schema = ipc_schema(&self.schema);
                        self.ipc = Some(StreamWriter::try_new(Vec::new(), &self.schema)?);
                        return Ok(Some(self.take_ipc()));
                    }
                    Format::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
                }
            }
            Stage::Rows => match self.pieces.next() {
                None => self.stage = Stage::End,
                Some(batch) => match self.format {
                    Format::JsonArray => json_rows(&batch, &mut self.first_row, &mut out)?,
                    Format::Csv => csv_rows(&batch, &mut out)?,
                    Format::ArrowStream => {
                        let batch = ipc_batch(&self.schema, &batch)?;
                        let writer = self.ipc.as_mut().expect("IPC writer started");
                        writer.write(&batch)?;
                        return Ok(Some(self.take_ipc()));
                    }
                    Format::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
                },
            },
            Stage::End => {
                self.stage = Stage::Done;
                match self.format {
                    Format::JsonArray => out.push(b']'),
                    Format::Csv => {}
                    Format::ArrowStream => {
                        if let Some(w) = self.ipc.as_mut() {
                            w.finish()?;
                        }
                        return Ok(Some(self.take_ipc()));
                    }
                    Format::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
                }
            }
            Stage::Done => return Ok(None),
        }
        Ok(Some(Bytes::from(out)))
    }
}

impl Iterator for ChunkBody {
    type Item = Result<Bytes, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step() {
                Ok(Some(b)) if b.is_empty() => continue,
                Ok(Some(b)) => return Some(Ok(b)),
                Ok(None) => return None,
                Err(e) => {
                    self.stage = Stage::Done;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
        ListArray, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::Int32Type;

    use super::*;

    fn body(format: Format, batch: RecordBatch, header: bool) -> String {
        let parts: Vec<Bytes> = ChunkBody::new(format, batch.schema(), vec![batch], header)
            .collect::<Result<_, _>>()
            .unwrap();
        String::from_utf8(parts.concat()).unwrap()
    }

    fn sample() -> RecordBatch {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ]);
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
            ),
            ("i", Arc::new(Int32Array::from(vec![Some(7), None]))),
            ("f", Arc::new(Float64Array::from(vec![1.5, 2.0]))),
            (
                "d",
                Arc::new(
                    Decimal128Array::from(vec![12345, -5])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            ("dt", Arc::new(Date32Array::from(vec![18262, 0]))),
            (
                "ts",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_577_836_800_123_000, 0])
                        .with_timezone("+01:00"),
                ),
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![&b"hi"[..], &b""[..]])),
            ),
            ("l", Arc::new(list)),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn json_array_values_are_strings_and_null_stays_null() {
        assert_eq!(
            body(Format::JsonArray, sample(), false),
            r#"[["true","7","1.5","123.45","2020-01-01","2020-01-01T00:00:00.123Z","a,\"b\"","aGk=","[1,null]"],["false",null,"2.0","-0.05","1970-01-01","1970-01-01T00:00:00.000Z",null,"",null]]"#
        );
    }

    #[test]
    fn csv_quotes_writes_null_and_header_only_when_asked() {
        let with = body(Format::Csv, sample(), true);
        let mut lines = with.lines();
        assert_eq!(lines.next(), Some("b,i,f,d,dt,ts,s,bin,l"));
        assert_eq!(
            lines.next(),
            Some(
                r#"true,7,1.5,123.45,2020-01-01,2020-01-01T00:00:00.123Z,"a,""b""",aGk=,"[1,null]""#
            )
        );
        let without = body(Format::Csv, sample(), false);
        assert!(without.starts_with("true,7,"));
        assert_eq!(without.lines().count(), 2);
        assert!(without.contains("\nfalse,null,2.0,-0.05,1970-01-01,"));
    }

    #[test]
    fn arrow_stream_round_trips() {
        let parts: Vec<Bytes> = ChunkBody::new(
            Format::ArrowStream,
            sample().schema(),
            vec![sample(), sample()],
            false,
        )
        .collect::<Result<_, _>>()
        .unwrap();
        let bytes = parts.concat();
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
        assert_eq!(batches[0].column(1).as_primitive::<Int32Type>().value(0), 7);
    }

    #[test]
    fn count_bytes_matches_the_body() {
        let text = body(Format::JsonArray, sample(), false);
        let n = ChunkBody::new(Format::JsonArray, sample().schema(), vec![sample()], false)
            .count_bytes()
            .unwrap();
        assert_eq!(n, text.len() as u64);
    }
}
