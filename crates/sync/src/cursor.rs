//! Where a source stands: the [`Cursor`] a poll returns and the next poll takes, and
//! [`StartFrom`] for the first poll.
//!
//! For a watermark source the cursor is a watermark `W` plus the keys already delivered whose
//! watermark is at or after `W - overlap` ([`Cursor::seen`]). The next poll reads everything at
//! or after `W - overlap` and drops what `seen` already holds at the same version, so
//!
//! - several items with the same watermark, split across polls or batches, are all delivered;
//! - an item written late with a watermark inside the window is delivered;
//! - nothing is delivered twice while it stays in the window.
//!
//! `seen` is pruned to the window on every poll, so it stays as small as what the window
//! holds. For a content-hash source the cursor holds one version per existing key
//! ([`Cursor::hashes`]), because nothing else tells a changed item from an unchanged one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the first poll of a source (no cursor yet) starts.
///
/// JSON: `"beginning"`, `"now"` or `{"time": 1700000000000}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// Deliver everything that exists (a backfill, in batches).
    #[default]
    Beginning,
    /// Deliver items whose watermark is at or after this time (epoch ms; a number for numeric
    /// SQL watermarks). Content-hash sources have no time and treat this as `Beginning`.
    Time(i64),
    /// Deliver only what changes after the first poll: the first poll records what exists
    /// and delivers nothing.
    Now,
}

/// A key already delivered, with the version and watermark it was delivered at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The version delivered (modification time or content hash).
    pub version: String,
    /// The item's watermark when delivered.
    pub watermark: i64,
}

/// The durable state of one source between polls. Store it with the events of the same batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The id of the source this cursor belongs to ([`crate::SourceSpec::source_id`] unless
    /// overridden in [`crate::PollOptions`]).
    pub source: String,
    /// Everything below `watermark - overlap` has been delivered. `None` until a watermark
    /// source has seen its first item (a backfill that found nothing yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
    /// The floor of a [`StartFrom::Time`] start: nothing below it is delivered, even inside
    /// the overlap window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Watermark sources: keys delivered inside the overlap window, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, Seen>,
    /// Content-hash sources: the version last delivered (or recorded) of every existing key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hashes: BTreeMap<String, String>,
    /// How many polls produced this cursor (for status displays).
    #[serde(default)]
    pub polls: u64,
}
