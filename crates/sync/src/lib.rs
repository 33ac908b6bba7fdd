//! Incremental sync: find what changed in a Databricks workspace since the last poll.
//!
//! Start with [`poll()`]: give it a [`SourceSpec`] (what to watch), the [`Cursor`] of the
//! previous poll (or `None` with a [`StartFrom`] in [`PollOptions`] for the first poll), and it
//! returns a [`PollBatch`]: the new [`Event`]s and the cursor to store *together with them*.
//! `poll` reads Databricks and nothing else; the caller owns storage, so committing the batch
//! and its cursor in one step is what makes delivery at-least-once with at most the last batch
//! repeated.
//!
//! Two ways of seeing change:
//! - **Watermark sources** (job runs, jobs, tables, workspace objects, SQL rows, custom with a
//!   cursor field): each item has a time or number that grows when it changes. A poll re-reads
//!   everything at or after `watermark - overlap` (with Databricks' server-side filter where
//!   there is one: `start_time_from`, `notebooks_modified_after`, `WHERE wm >= :from`) and
//!   drops the keys it has already seen there, so equal watermarks and late writes are not
//!   lost. See [`cursor`].
//! - **Content-hash sources** (clusters, users, groups, custom without a cursor field): nothing
//!   on the item says when it changed and Databricks has no filter, so every poll lists
//!   everything and compares a hash per key. The cost is one full listing per poll and one hash
//!   per existing item in the cursor.
//!
//! Modules: [`spec`] (sources and their validation), [`cursor`] (cursor, start), [`event`],
//! [`poll`](mod@poll) (the state machine), `sources` (one fetch per source), `value` (reading
//! watermarks out of JSON).

#![warn(missing_docs)]

pub mod cursor;
pub mod error;
pub mod event;
pub mod poll;
mod sources;
pub mod spec;
mod value;

pub use cursor::{Cursor, Seen, StartFrom};
pub use error::SyncError;
pub use event::Event;
pub use poll::{PollBatch, PollOptions, poll};
pub use spec::{Pagination, SourceSpec, WatermarkType};
