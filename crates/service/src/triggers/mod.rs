//! Incremental Sync triggers in the service: subscriptions of linked accounts to sync sources,
//! a durable cursor and event log per subscription, a scheduler, signed webhook delivery with
//! retries and a dead-letter list, and a pull API.
//!
//! Start at [`TriggerEngine`] (scheduling, polls, deliveries), then [`TriggerStore`] (what is
//! durable and when), [`api::ENDPOINTS`] (the REST routes) and [`signature`] (what webhook
//! receivers verify). Delivery is at least once: events and cursor commit together, and a
//! delivery's progress moves only after the receiver's 2xx, so a crash re-sends at most the batch
//! that was in flight. Receivers deduplicate on each event's stable `id` (or the `delivery_id`).

pub mod api;
mod clients;
pub mod engine;
pub mod model;
pub mod signature;
pub mod store;
pub mod sync_source;

pub use engine::{
    ClientSource, EngineError, EngineHandle, EngineOptions, FixedRandom, InvalidField, PollReport,
    PollRequest, PollResult, Poller, Random, RetryBackoff, ThreadRandom, TriggerEngine,
};
pub use model::*;
pub use signature::{SIGNATURE_HEADER, SignatureError, sign, verify_signature};
pub use store::{Pruned, TriggerStore};
pub use sync_source::SyncPoller;
