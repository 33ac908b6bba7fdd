//! Reading keys and watermarks out of JSON items: dotted paths, epoch numbers, RFC 3339
//! strings, and content hashes.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::spec::hex;

/// The value at a dotted path (`meta.lastModified`).
pub(crate) fn at<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, part| v.get(part))
}

/// A key as a string: strings as they are, numbers in decimal.
pub(crate) fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A watermark: an integer, an integer in a string, or an RFC 3339 / SQL timestamp string
/// (as epoch ms).
pub(crate) fn watermark(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => parse_time_or_number(s),
        _ => None,
    }
}

/// Parses `123`, `2026-11-28T15:00:00Z`, `2026-11-28T15:00:00.123+01:00`,
/// `2026-11-28 15:00:00.123` (SQL, UTC) or `2026-11-28` to epoch ms (numbers as they are).
pub(crate) fn parse_time_or_number(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Epoch ms as the SQL timestamp literal the Statement Execution API accepts for a
/// `TIMESTAMP` parameter.
pub(crate) fn sql_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// 16 hex characters of SHA-256 over the JSON of `v` (keys in the order the server sent
/// them, which Databricks keeps stable for one resource).
pub(crate) fn content_hash(v: &Value) -> String {
    let json = serde_json::to_string(v).unwrap_or_default();
    hex(&Sha256::digest(json.as_bytes()))[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watermarks_parse_from_numbers_and_times() {
        assert_eq!(watermark(&json!(1700000000123_i64)), Some(1700000000123));
        assert_eq!(watermark(&json!("42")), Some(42));
        assert_eq!(
            watermark(&json!("2023-11-14T22:13:20.123Z")),
            Some(1700000000123)
        );
        assert_eq!(
            watermark(&json!("2023-11-14 22:13:20.123")),
            Some(1700000000123)
        );
        assert_eq!(watermark(&json!("2023-11-14")), Some(1699920000000));
        assert_eq!(watermark(&json!("soon")), None);
        assert_eq!(sql_timestamp(1700000000123), "2023-11-14 22:13:20.123");
    }

    #[test]
    fn dotted_paths_reach_nested_fields() {
        let item = json!({"meta": {"lastModified": "x"}});
        assert_eq!(at(&item, "meta.lastModified"), Some(&json!("x")));
        assert_eq!(at(&item, "meta.created"), None);
    }
}
