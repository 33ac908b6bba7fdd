//! [`FlowStore`]: the storage interface of flows, separate from [`crate::Store`] and
//! [`crate::triggers::TriggerStore`] so they evolve apart. [`crate::SqliteStore`] implements all
//! three (see `store/sqlite_flows.rs`).
//!
//! The durability rules live here: [`FlowStore::write_step`] commits a step attempt before the
//! executor goes on (so a crash never loses a completed step); [`FlowStore::enqueue_run`]
//! deduplicates by key (a sync event or schedule tick starts one run, however often it is seen);
//! [`FlowStore::enqueue_sync_events`] enqueues a sync flow's runs and advances what it consumed
//! in one transaction; [`FlowStore::claim_runs`] moves runs from queued to running atomically,
//! each under a [`RunLease`] of the claiming engine. Several processes on one database share
//! runs through leases: the owner renews them while it works ([`FlowStore::renew_run_leases`]),
//! a run whose lease expired (its process died) is claimed again by another, and the owner's
//! writes ([`FlowStore::write_step`], [`FlowStore::finish_run`] with its lease owner) are refused
//! with [`crate::Error::LeaseLost`] once it lost the lease.

use std::fmt;
use std::time::SystemTime;

use brickwire_api::SecretString;
use brickwire_flows::StepRecord;
use futures::future::BoxFuture;
use serde_json::Value;

use super::model::{
    Enqueued, Flow, FlowId, FlowRun, FlowRunId, NewRun, RunEnd, RunFilter, RunLease,
};
use crate::Result;
use crate::triggers::SubscriptionId;

/// Storage of flows, runs and step attempts.
///
/// Errors: missing rows are [`crate::Error::NotFound`]; bad input [`crate::Error::InvalidInput`]
/// naming the field; a state change that does not apply (cancel a finished run)
/// [`crate::Error::InvalidInput`] with field `status`.
pub trait FlowStore: Send + Sync + fmt::Debug {
    /// Stores a new flow at version 1 with a new random webhook secret (encrypted).
    fn insert_flow(&self, definition: Value, enabled: bool) -> BoxFuture<'_, Result<Flow>>;

    /// One flow at its current version.
    fn flow(&self, id: FlowId) -> BoxFuture<'_, Result<Flow>>;

    /// Every flow, oldest first.
    fn list_flows(&self) -> BoxFuture<'_, Result<Vec<Flow>>>;

    /// Stores `definition` as the next version and makes it current.
    fn update_flow(&self, id: FlowId, definition: Value) -> BoxFuture<'_, Result<Flow>>;

    /// The definition of one version of a flow.
    fn flow_version(&self, id: FlowId, version: i64) -> BoxFuture<'_, Result<Value>>;

    /// Enables or disables a flow.
    fn set_flow_enabled(&self, id: FlowId, enabled: bool) -> BoxFuture<'_, Result<Flow>>;

    /// Records the trigger subscription that feeds a sync flow (or none), and resets what it
    /// consumed to `consumed_seq`.
    fn set_flow_subscription(
        &self,
        id: FlowId,
        subscription: Option<SubscriptionId>,
        consumed_seq: i64,
    ) -> BoxFuture<'_, Result<Flow>>;

    /// The sequence id of the last sync event a sync flow enqueued a run for.
    fn flow_consumed_seq(&self, id: FlowId) -> BoxFuture<'_, Result<i64>>;

    /// Deletes a flow with its versions, runs and step attempts.
    fn delete_flow(&self, id: FlowId) -> BoxFuture<'_, Result<()>>;

    /// The decrypted secret of a flow's webhook URL and signature.
    fn flow_webhook_secret(&self, id: FlowId) -> BoxFuture<'_, Result<SecretString>>;

    /// Queues a run (with its seed steps) unless its dedupe key was seen for the flow.
    fn enqueue_run(&self, run: NewRun) -> BoxFuture<'_, Result<Enqueued>>;

    /// In one transaction: queues a run per `(seq, event_id, event)` (deduplicated by event id)
    /// and sets the flow's consumed sequence id to the highest `seq`.
    fn enqueue_sync_events(
        &self,
        id: FlowId,
        events: Vec<(i64, String, Value)>,
    ) -> BoxFuture<'_, Result<Vec<FlowRunId>>>;

    /// Atomically moves up to `limit` runs, oldest first, to running under `lease` (setting
    /// `started_at` on their first start): queued runs, and running runs of another owner whose
    /// lease expired before `now` (their process died; the executor resumes them from their
    /// steps). Skips flows listed in `busy_flows` (at their concurrency bound). Returns them.
    fn claim_runs(
        &self,
        limit: u32,
        busy_flows: Vec<FlowId>,
        now: SystemTime,
        lease: RunLease,
    ) -> BoxFuture<'_, Result<Vec<FlowRun>>>;

    /// At start-up: moves back to queued the `running` runs whose process is gone, so the
    /// executor resumes them from their steps. Returns how many. On the embedded store (one
    /// process per data directory) that is every running run; on a shared database, those
    /// without a lease or whose lease expired before `now` (the others are executing elsewhere).
    fn recover_running_runs(&self, now: SystemTime) -> BoxFuture<'_, Result<u64>>;

    /// Extends to `lease.expires_at` every running run `lease.owner` holds. Returns their ids:
    /// a run the owner executes that is missing was taken over by another process.
    fn renew_run_leases(&self, lease: RunLease) -> BoxFuture<'_, Result<Vec<FlowRunId>>>;

    /// Graceful shutdown: the running runs `owner` holds go back to queued at once, for another
    /// process to resume without waiting for the lease to expire. Returns how many.
    fn release_run_leases(&self, owner: String) -> BoxFuture<'_, Result<u64>>;

    /// Records how a run ended (and drops its lease). With `lease_owner`, only if that owner
    /// still holds the run ([`crate::Error::LeaseLost`] otherwise).
    fn finish_run(
        &self,
        id: FlowRunId,
        end: RunEnd,
        now: SystemTime,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<FlowRun>>;

    /// One run.
    fn run(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>>;

    /// Runs matching `filter`, newest first.
    fn list_runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<FlowRun>>>;

    /// Every step attempt of a run, in the order written.
    fn run_steps(&self, id: FlowRunId) -> BoxFuture<'_, Result<Vec<StepRecord>>>;

    /// Inserts or replaces one step attempt (by path and attempt); durable when it returns.
    /// With `lease_owner`, only if that owner still holds the run ([`crate::Error::LeaseLost`]
    /// otherwise), in the same transaction as the write.
    fn write_step(
        &self,
        id: FlowRunId,
        record: StepRecord,
        lease_owner: Option<String>,
    ) -> BoxFuture<'_, Result<()>>;

    /// Cancels a run: a queued or interrupted run becomes cancelled at once; a running one gets
    /// `cancel_requested` (its worker stops it). A finished run is refused.
    fn request_cancel(&self, id: FlowRunId, now: SystemTime) -> BoxFuture<'_, Result<FlowRun>>;

    /// Resumes an interrupted run: its in-flight attempts become `abandoned` and the run is
    /// queued again (the executor starts the step's next attempt). Other statuses are refused.
    fn resume_interrupted(&self, id: FlowRunId) -> BoxFuture<'_, Result<FlowRun>>;
}
