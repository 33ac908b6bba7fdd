//! What a poll delivers: one [`Event`] per new or changed item.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::hex;

/// One new or changed item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id: 32 hex characters of SHA-256 over (source, key, version). The same change
    /// seen twice (a repeated batch after a crash) has the same id, so consumers deduplicate
    /// on it.
    pub id: String,
    /// The source id.
    pub source: String,
    /// What identifies the item (`run_id`, `full_name`, the key column, ...), as a string.
    pub key: String,
    /// Which state of the item this is: its modification time (decimal epoch ms) or a
    /// content hash.
    pub version: String,
    /// The item's watermark (epoch ms, or the number of a numeric SQL watermark); `None` for
    /// content-hash sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
    /// The item as Databricks returned it; a SQL row is an object of column name to value,
    /// values as the Statement Execution API's `JSON_ARRAY` format gives them (strings or
    /// `null`).
    pub data: serde_json::Value,
}

impl Event {
    /// The id of the event for `key` at `version` of `source`.
    pub fn id_for(source: &str, key: &str, version: &str) -> String {
        let mut h = Sha256::new();
        for part in [source, key, version] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        hex(&h.finalize())[..32].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_depend_on_every_part() {
        let id = Event::id_for("jobs:abc", "42", "1700000000000");
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, Event::id_for("jobs:abc", "42", "1700000000000"));
        assert_ne!(id, Event::id_for("jobs:abd", "42", "1700000000000"));
        assert_ne!(id, Event::id_for("jobs:abc", "43", "1700000000000"));
        assert_ne!(id, Event::id_for("jobs:abc", "42", "1700000000001"));
        // Parts are length-prefixed, so moving a character between them changes the id.
        assert_ne!(Event::id_for("a", "bc", "d"), Event::id_for("ab", "c", "d"));
    }
}
