//! How action outputs become tool results that fit a model's context.
//!
//! A statement's result (Execute Statement, Retrieve Statement, Retrieve Statement Result
//! Chunk) is a Markdown table of its first [`Bounds::max_rows`] rows, with the state, the
//! columns, the total row count and how to see other rows. Any other output is its compact
//! JSON; past [`Bounds::max_output_bytes`] its largest list is cut to fit and a last line says
//! how many items are shown of how many. Nothing is ever silently dropped.

use std::fmt::Write;

use serde_json::Value;

/// How much of an output a tool result carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Rows of a statement result shown as a table.
    pub max_rows: usize,
    /// Bytes of any one tool result's text (about a quarter as many tokens).
    pub max_output_bytes: usize,
    /// Characters of one table cell.
    pub max_cell_chars: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_rows: 50,
            max_output_bytes: 32 * 1024,
            max_cell_chars: 200,
        }
    }
}

const STATEMENT_TOOLS: &[&str] = &["execute-statement", "retrieve-statement"];
const CHUNK_TOOL: &str = "retrieve-statement-result-chunk";

/// Adjusts a validated input before it runs: Execute Statement fetches no more chunks than
/// the table shows (`row_cap` defaults to [`Bounds::max_rows`] instead of 10,000).
pub fn prepare_input(action_id: &str, input: &mut Value, bounds: &Bounds) {
    if action_id == "execute-statement"
        && let Some(map) = input.as_object_mut()
    {
        map.entry("row_cap")
            .or_insert(Value::from(bounds.max_rows.max(1) as u64));
    }
}

/// The text of a successful tool result.
pub fn output(action_id: &str, output: &Value, bounds: &Bounds) -> String {
    let table = if STATEMENT_TOOLS.contains(&action_id) {
        statement(output, bounds)
    } else if action_id == CHUNK_TOOL {
        chunk(output, bounds)
    } else {
        None
    };
    table.unwrap_or_else(|| bounded_json(output, bounds.max_output_bytes))
}

/// A statement response with inline rows as a table; `None` when it has no inline rows (still
/// running, failed, external links), which is then shown as JSON.
fn statement(response: &Value, bounds: &Bounds) -> Option<String> {
    let result = response.get("result")?;
    let rows = result.get("data_array")?.as_array()?;
    let manifest = response.get("manifest");
    let columns: Vec<(String, String)> = manifest
        .and_then(|m| m.pointer("/schema/columns"))
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or("?").to_owned();
                    let ty = c["type_text"]
                        .as_str()
                        .or_else(|| c["type_name"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    (name, ty)
                })
                .collect()
        })
        .unwrap_or_default();
    let id = response["statement_id"].as_str().unwrap_or("?");
    let state = response
        .pointer("/status/state")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let total = manifest
        .and_then(|m| m["total_row_count"].as_u64())
        .unwrap_or(rows.len() as u64);
    let truncated = manifest.is_some_and(|m| m["truncated"].as_bool() == Some(true));
    let mut out = String::new();
    let _ = writeln!(out, "statement_id: {id}\nstate: {state}");
    if !columns.is_empty() {
        let list: Vec<String> = columns
            .iter()
            .map(|(n, t)| {
                if t.is_empty() {
                    n.clone()
                } else {
                    format!("{n} {t}")
                }
            })
            .collect();
        let _ = writeln!(out, "columns: {}", list.join(", "));
    }
    let _ = writeln!(
        out,
        "rows: {total}{}",
        if truncated {
            " (truncated by row_limit or byte_limit)"
        } else {
            ""
        }
    );
    let headers: Vec<String> = if columns.is_empty() {
        column_numbers(rows)
    } else {
        columns.into_iter().map(|(n, _)| n).collect()
    };
    let shown = table(&mut out, &headers, rows, bounds);
    if (shown as u64) < total {
        let _ = writeln!(
            out,
            "\nShowing the first {shown} of {total} rows. To see others, narrow or page the \
             query (WHERE, ORDER BY with LIMIT {} OFFSET {shown}, or an aggregate) rather than \
             fetching every row.",
            bounds.max_rows
        );
    }
    Some(out)
}

/// One result chunk (no manifest, so columns are numbered) as a table.
fn chunk(result: &Value, bounds: &Bounds) -> Option<String> {
    let rows = result.get("data_array")?.as_array()?;
    let index = result["chunk_index"].as_i64().unwrap_or(0);
    let offset = result["row_offset"].as_i64().unwrap_or(0);
    let count = result["row_count"].as_u64().unwrap_or(rows.len() as u64);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chunk_index: {index}\nrow_offset: {offset}\nrows in chunk: {count}"
    );
    if let Some(next) = result["next_chunk_index"].as_i64() {
        let _ = writeln!(out, "next_chunk_index: {next}");
    }
    let shown = table(&mut out, &column_numbers(rows), rows, bounds);
    if (shown as u64) < count {
        let _ = writeln!(
            out,
            "\nShowing the first {shown} of the chunk's {count} rows (column names are in the \
             manifest of retrieve-statement); page the query with LIMIT and OFFSET to see others."
        );
    }
    Some(out)
}

fn column_numbers(rows: &[Value]) -> Vec<String> {
    let width = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    (1..=width).map(|i| format!("column {i}")).collect()
}

/// Writes a Markdown table of at most `max_rows` rows that keeps `out` within the byte bound;
/// returns how many rows it wrote.
fn table(out: &mut String, headers: &[String], rows: &[Value], bounds: &Bounds) -> usize {
    let _ = writeln!(out);
    let header: Vec<String> = headers.iter().map(|h| cell(h, bounds)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len().max(1)));
    // room for the closing note
    let budget = bounds.max_output_bytes.saturating_sub(400);
    let mut shown = 0;
    for row in rows.iter().take(bounds.max_rows) {
        let cells: Vec<String> = match row.as_array() {
            Some(values) => values.iter().map(|v| value_cell(v, bounds)).collect(),
            None => vec![value_cell(row, bounds)],
        };
        let line = format!("| {} |\n", cells.join(" | "));
        if out.len() + line.len() > budget {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    shown
}

fn value_cell(value: &Value, bounds: &Bounds) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => cell(s, bounds),
        other => cell(&other.to_string(), bounds),
    }
}

/// A table cell: pipes escaped, line breaks as spaces, at most `max_cell_chars` characters.
fn cell(text: &str, bounds: &Bounds) -> String {
    let mut out = String::with_capacity(text.len().min(bounds.max_cell_chars + 8));
    for (i, c) in text.chars().enumerate() {
        if i == bounds.max_cell_chars {
            out.push('…');
            break;
        }
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Compact JSON within `max_bytes`: if too long, the largest list is cut to the items that
/// fit, and a last line says where and how many; failing that, the text is cut.
pub fn bounded_json(value: &Value, max_bytes: usize) -> String {
    let text = value.to_string();
    if text.len() <= max_bytes {
        return text;
    }
    let budget = max_bytes.saturating_sub(300);
    if let Some((path, len)) = largest_list(value, String::new(), 0) {
        // the most items that fit, by bisection (each probe serializes once)
        let fits = |keep: usize| {
            let cut = with_list_cut(value, &path, keep);
            let text = cut.to_string();
            (text.len() <= budget).then_some(text)
        };
        let (mut lo, mut hi) = (0usize, len);
        let mut best = fits(0);
        if best.is_some() {
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                match fits(mid) {
                    Some(text) => {
                        lo = mid;
                        best = Some(text);
                    }
                    None => hi = mid - 1,
                }
            }
        }
        if let Some(text) = best {
            let shown = path_display(&path);
            return format!(
                "{text}\n[output cut to fit {max_bytes} bytes: `{shown}` shows {lo} of {len} \
                 items; ask for fewer (page_size, a filter) or the next page]"
            );
        }
    }
    let mut end = budget.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[output cut at {end} of {} bytes; ask for less (a filter, a smaller page, a narrower path)]",
        &text[..end],
        text.len()
    )
}

/// The JSON pointer and length of the longest list (by items) within three levels.
fn largest_list(value: &Value, at: String, depth: usize) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    let mut consider = |candidate: Option<(String, usize)>| {
        if let Some((p, n)) = candidate
            && best.as_ref().is_none_or(|(_, m)| n > *m)
        {
            best = Some((p, n));
        }
    };
    match value {
        Value::Array(items) => {
            consider(Some((at.clone(), items.len())));
            if depth < 3
                && let Some(first) = items.first()
            {
                // lists inside the first item only, to stay cheap
                consider(largest_list(first, format!("{at}/0"), depth + 1));
            }
        }
        Value::Object(map) if depth < 3 => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                consider(largest_list(v, format!("{at}/{key}"), depth + 1));
            }
        }
        _ => {}
    }
    best
}

fn with_list_cut(value: &Value, pointer: &str, keep: usize) -> Value {
    let mut copy = value.clone();
    if let Some(Value::Array(items)) = copy.pointer_mut(pointer) {
        items.truncate(keep);
    }
    copy
}

fn path_display(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(the list)".to_owned();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statement_response(rows: usize) -> Value {
        let data: Vec<Value> = (0..rows)
            .map(|i| json!([i.to_string(), format!("name|{i}"), null]))
            .collect();
        json!({
            "statement_id": "01ef",
            "status": {"state": "SUCCEEDED"},
            "manifest": {
                "schema": {"columns": [
                    {"name": "id", "type_text": "BIGINT"},
                    {"name": "name", "type_text": "STRING"},
                    {"name": "note", "type_text": "STRING"}]},
                "total_row_count": rows,
                "truncated": false
            },
            "result": {"chunk_index": 0, "row_offset": 0, "row_count": rows, "data_array": data}
        })
    }

    #[test]
    fn statements_show_the_first_rows_and_the_count() {
        let bounds = Bounds::default();
        let text = output("execute-statement", &statement_response(1000), &bounds);
        assert!(text.contains("statement_id: 01ef"), "{text}");
        assert!(text.contains("columns: id BIGINT, name STRING, note STRING"));
        assert!(text.contains("rows: 1000"));
        assert!(text.contains("| id | name | note |"));
        assert!(text.contains("| 0 | name\\|0 | NULL |"));
        assert!(text.contains("| 49 |"));
        assert!(!text.contains("| 50 |"));
        assert!(text.contains("first 50 of 1000 rows"));
        assert!(text.len() < bounds.max_output_bytes);
        // a small result is shown whole, with no note
        let small = output("execute-statement", &statement_response(3), &bounds);
        assert!(small.contains("| 2 |") && !small.contains("Showing"));
    }

    #[test]
    fn wide_rows_stop_at_the_byte_bound() {
        let bounds = Bounds {
            max_rows: 1000,
            max_output_bytes: 4096,
            max_cell_chars: 100,
        };
        let mut response = statement_response(1000);
        for row in response["result"]["data_array"].as_array_mut().unwrap() {
            row[2] = Value::String("x".repeat(500));
        }
        let text = output("execute-statement", &response, &bounds);
        assert!(text.len() <= 4096, "{}", text.len());
        assert!(text.contains("Showing the first"));
        assert!(text.contains(&format!("{}…", "x".repeat(100))));
    }

    #[test]
    fn statements_without_rows_are_json() {
        let pending = json!({"statement_id": "s", "status": {"state": "PENDING"}});
        assert_eq!(
            output("execute-statement", &pending, &Bounds::default()),
            pending.to_string()
        );
    }

    #[test]
    fn long_lists_are_cut_saying_so() {
        let clusters: Vec<Value> = (0..2000)
            .map(|i| json!({"cluster_id": format!("c-{i}"), "state": "RUNNING"}))
            .collect();
        let value = json!({"clusters": clusters, "next_page_token": "t"});
        let text = bounded_json(&value, 8192);
        assert!(text.len() <= 8192);
        let (json_part, note) = text.split_once('\n').unwrap();
        let parsed: Value = serde_json::from_str(json_part).expect("still JSON");
        let kept = parsed["clusters"].as_array().unwrap().len();
        assert!(kept > 10 && kept < 2000);
        assert_eq!(parsed["next_page_token"], "t");
        assert!(
            note.contains(&format!("`clusters` shows {kept} of 2000")),
            "{note}"
        );
        // short output is untouched
        assert_eq!(bounded_json(&json!({"a": 1}), 100), "{\"a\":1}");
        // one huge string: cut text
        let big = json!({"content": "y".repeat(10_000)});
        let cut = bounded_json(&big, 1000);
        assert!(cut.len() < 1100 && cut.contains("output cut at"));
    }

    #[test]
    fn execute_statement_fetches_only_what_it_shows() {
        let bounds = Bounds::default();
        let mut input = json!({"statement": "SELECT 1", "warehouse_id": "w"});
        prepare_input("execute-statement", &mut input, &bounds);
        assert_eq!(input["row_cap"], 50);
        let mut given = json!({"statement": "SELECT 1", "warehouse_id": "w", "row_cap": 7});
        prepare_input("execute-statement", &mut given, &bounds);
        assert_eq!(given["row_cap"], 7);
    }
}
