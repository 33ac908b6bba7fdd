//! The poll state machine: one [`poll`] turns (spec, cursor) into (events, next cursor).
//!
//! ```text
//!             ┌──────────── no cursor ────────────┐
//!             │ Beginning: window = everything     │
//!             │ Time(t):   window = [t, ∞)         │
//!             │ Now:       record the window, no   │
//!             │            events (a baseline)     │
//!             └────────────────┬───────────────────┘
//!                              ▼
//!   cursor(W, seen) ──► read [max(W - overlap, start), ∞) ──► drop (key, version) in seen
//!          ▲                                                        │
//!          │        W' = min(last delivered watermark, oldest       ▼
//!          └────────     run still in progress); seen' = seen ∪ delivered, pruned to
//!                        [W' - overlap, ∞)                          first `batch_size` by
//!                                                                   (watermark, key)
//! ```
//!
//! A batch stops after `batch_size` events in watermark order, and the cursor stops exactly at
//! the last event's watermark: the items after it (including those with the same watermark)
//! are still in the next window and not in `seen`, so the next poll continues where this one
//! stopped ([`PollBatch::more`] says whether to poll again at once).

use std::collections::{BTreeMap, HashSet};

use brickwire_client::Client;
use serde::{Deserialize, Serialize};

use crate::cursor::{Cursor, Seen, StartFrom};
use crate::error::SyncError;
use crate::event::Event;
use crate::sources::{self, Item};
use crate::spec::SourceSpec;

/// Overlap of time watermarks when [`PollOptions::overlap`] is `None`: five minutes.
pub const DEFAULT_OVERLAP_MS: i64 = 5 * 60 * 1000;
/// Events per batch when [`PollOptions::batch_size`] is left at its default.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// How to poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PollOptions {
    /// Where the first poll starts (used only without a cursor).
    pub start_from: StartFrom,
    /// How far before the watermark each poll re-reads, in the watermark's unit (ms for
    /// times). `None`: [`DEFAULT_OVERLAP_MS`] for times, 0 for numeric SQL watermarks. Items
    /// that appear later than this behind the newest delivered item are missed.
    pub overlap: Option<i64>,
    /// The most events one poll returns; a backfill comes in batches of this size.
    pub batch_size: usize,
    /// The source id to stamp on events and the cursor; `None`:
    /// [`SourceSpec::source_id`].
    pub source_id: Option<String>,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            start_from: StartFrom::Beginning,
            overlap: None,
            batch_size: DEFAULT_BATCH_SIZE,
            source_id: None,
        }
    }
}

impl PollOptions {
    /// The overlap in effect for `spec`.
    pub fn overlap_for(&self, spec: &SourceSpec) -> i64 {
        self.overlap.unwrap_or(if spec.watermark_is_time() {
            DEFAULT_OVERLAP_MS
        } else {
            0
        })
    }
}

/// What one poll found: the events, in order, and the cursor to store with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollBatch {
    /// New or changed items, oldest watermark first (by key for content-hash sources).
    pub events: Vec<Event>,
    /// The cursor after these events. Store it in the same commit as the events.
    pub cursor: Cursor,
    /// The batch stopped at [`PollOptions::batch_size`]: poll again without waiting.
    pub more: bool,
}

/// Polls `spec` once: what is new since `cursor` (or since [`PollOptions::start_from`]
/// without one).
///
/// Pure with respect to storage: it reads Databricks and returns; nothing is committed. A
/// caller that stores the events and [`PollBatch::cursor`] together, and delivers before it
/// stores the cursor, delivers every change at least once and repeats at most the last batch.
pub async fn poll(
    client: &Client,
    spec: &SourceSpec,
    cursor: Option<&Cursor>,
    opts: &PollOptions,
) -> Result<PollBatch, SyncError> {
    spec.validate()?;
    if opts.batch_size == 0 {
        return Err(SyncError::InvalidOptions {
            field: "batch_size".into(),
            expected: "at least 1".into(),
        });
    }
    if opts.overlap.is_some_and(|o| o < 0) {
        return Err(SyncError::InvalidOptions {
            field: "overlap".into(),
            expected: "zero or more".into(),
        });
    }
    let source = opts.source_id.clone().unwrap_or_else(|| spec.source_id());
    if let Some(c) = cursor
        && c.source != source
    {
        return Err(SyncError::CursorMismatch {
            expected: source,
            found: c.source.clone(),
        });
    }
    let mut batch = if spec.has_watermark() {
        poll_watermark(client, spec, cursor, opts, &source).await?
    } else {
        poll_hashes(client, spec, cursor, opts, &source).await?
    };
    batch.cursor.polls = cursor.map_or(0, |c| c.polls) + 1;
    tracing::debug!(
        source = %source,
        events = batch.events.len(),
        watermark = ?batch.cursor.watermark,
        seen = batch.cursor.seen.len(),
        more = batch.more,
        "sync poll"
    );
    Ok(batch)
}

fn event(source: &str, item: Item) -> Event {
    Event {
        id: Event::id_for(source, &item.key, &item.version),
        source: source.to_owned(),
        key: item.key,
        version: item.version,
        watermark: item.watermark,
        data: item.data,
    }
}

async fn poll_watermark(
    client: &Client,
    spec: &SourceSpec,
    cursor: Option<&Cursor>,
    opts: &PollOptions,
    source: &str,
) -> Result<PollBatch, SyncError> {
    let overlap = opts.overlap_for(spec);
    // `start` is a floor nothing below is delivered (a `Time` start); `watermark` the
    // cursor's position; `baseline` a first `Now` poll that records instead of delivering.
    let (watermark, start, baseline) = match cursor {
        Some(c) => (c.watermark, c.start, false),
        None => match opts.start_from {
            StartFrom::Beginning => (None, None, false),
            StartFrom::Time(t) => (Some(t), Some(t), false),
            StartFrom::Now => (sources::now_watermark(client, spec).await?, None, true),
        },
    };
    let lower = match (watermark.map(|w| w.saturating_sub(overlap)), start) {
        (Some(w), Some(s)) => Some(w.max(s)),
        (w, s) => w.or(s),
    };
    let mut seen = cursor.map(|c| c.seen.clone()).unwrap_or_default();
    // A baseline records the whole window (it is bounded by the overlap), so no limit.
    let limit = if baseline {
        usize::MAX
    } else {
        opts.batch_size.saturating_add(seen.len()).saturating_add(1)
    };
    let window = sources::fetch(client, spec, lower, limit).await?;

    let mut items: Vec<Item> = window
        .items
        .into_iter()
        .filter(|i| lower.is_none_or(|l| i.watermark.is_some_and(|w| w >= l)))
        .collect();
    items.sort_by(|a, b| (a.watermark, &a.key).cmp(&(b.watermark, &b.key)));
    let window_max = items.iter().filter_map(|i| i.watermark).max();
    let mut fresh_keys = HashSet::new();
    let fresh: Vec<Item> = items
        .into_iter()
        .filter(|i| seen.get(&i.key).is_none_or(|s| s.version != i.version))
        .filter(|i| fresh_keys.insert((i.key.clone(), i.version.clone())))
        .collect();

    let mut next = watermark;
    let mut events = Vec::new();
    let mut more = false;
    if baseline {
        for item in fresh {
            let wm = item.watermark.unwrap_or_default();
            next = Some(next.map_or(wm, |n| n.max(wm)));
            seen.insert(
                item.key,
                Seen {
                    version: item.version,
                    watermark: wm,
                },
            );
        }
    } else {
        more = fresh.len() > opts.batch_size || window.truncated;
        for item in fresh.into_iter().take(opts.batch_size) {
            let wm = item.watermark.unwrap_or_default();
            next = Some(next.map_or(wm, |n| n.max(wm)));
            seen.insert(
                item.key.clone(),
                Seen {
                    version: item.version.clone(),
                    watermark: wm,
                },
            );
            events.push(event(source, item));
        }
        // Everything in the window is now delivered (this batch or before): the watermark
        // may move past items already in `seen`, not only past this batch.
        if !more && let Some(max) = window_max {
            next = Some(next.map_or(max, |n| n.max(max)));
        }
    }
    if let (Some(n), Some(hold)) = (next, window.hold) {
        next = Some(n.min(hold));
    }
    if let Some(n) = next {
        let floor = n.saturating_sub(overlap);
        seen.retain(|_, s| s.watermark >= floor);
    }
    Ok(PollBatch {
        events,
        cursor: Cursor {
            source: source.to_owned(),
            watermark: next,
            start,
            seen,
            hashes: BTreeMap::new(),
            polls: 0,
        },
        more,
    })
}

async fn poll_hashes(
    client: &Client,
    spec: &SourceSpec,
    cursor: Option<&Cursor>,
    opts: &PollOptions,
    source: &str,
) -> Result<PollBatch, SyncError> {
    let baseline = cursor.is_none() && opts.start_from == StartFrom::Now;
    let mut hashes = cursor.map(|c| c.hashes.clone()).unwrap_or_default();
    let window = sources::fetch(client, spec, None, usize::MAX).await?;
    let present: HashSet<&str> = window.items.iter().map(|i| i.key.as_str()).collect();
    // Keys gone from the listing leave the cursor, so it holds one entry per existing item.
    hashes.retain(|k, _| present.contains(k.as_str()));
    let mut changed: BTreeMap<String, Item> = BTreeMap::new();
    for item in window.items {
        if hashes.get(&item.key) != Some(&item.version) {
            changed.insert(item.key.clone(), item);
        }
    }
    let mut events = Vec::new();
    let more = !baseline && changed.len() > opts.batch_size;
    let take = if baseline {
        usize::MAX
    } else {
        opts.batch_size
    };
    for (key, item) in changed.into_iter().take(take) {
        hashes.insert(key, item.version.clone());
        if !baseline {
            events.push(event(source, item));
        }
    }
    Ok(PollBatch {
        events,
        cursor: Cursor {
            source: source.to_owned(),
            watermark: None,
            start: None,
            seen: BTreeMap::new(),
            hashes,
            polls: 0,
        },
        more,
    })
}
