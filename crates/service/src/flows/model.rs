//! The entities of flows as the store keeps them: flows (with every version of their
//! definition), runs, and the step attempts of each run (`brickwire_flows::StepRecord`).

use std::fmt;
use std::time::SystemTime;

use brickwire_flows::{StepError, StepRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::id_type;
use crate::triggers::SubscriptionId;

id_type!(
    /// The identifier of a flow, e.g. `flow_3f9a...`.
    FlowId,
    "flow_"
);
id_type!(
    /// The identifier of a flow run, e.g. `run_3f9a...`.
    FlowRunId,
    "run_"
);

/// A stored flow at its current version.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Its identifier.
    pub id: FlowId,
    /// The definition's `name`.
    pub name: String,
    /// Whether its trigger starts runs (manual runs are refused while disabled too).
    pub enabled: bool,
    /// The current version (1 at creation, +1 per update).
    pub version: i64,
    /// The current definition (JSON of `brickwire_flows::FlowDefinition`), as validated.
    pub definition: Value,
    /// The trigger's type: `manual`, `schedule`, `webhook` or `sync`.
    pub trigger_type: String,
    /// The trigger subscription that feeds a `sync` flow.
    pub subscription_id: Option<SubscriptionId>,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it was last changed.
    pub updated_at: SystemTime,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker executes it (or did, when the process died: recovered at start).
    Running,
    /// Every step completed.
    Succeeded,
    /// A step failed and nothing handled it.
    Failed,
    /// Cancelled by a person.
    Cancelled,
    /// A step that is not safe to repeat was in flight when the process died: resume or cancel.
    Interrupted,
}

impl RunStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether the run is over (nothing will execute it again unless replayed or resumed).
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// A stored run (its steps: [`super::FlowStore::run_steps`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRun {
    /// Its identifier.
    pub id: FlowRunId,
    /// The flow.
    pub flow_id: FlowId,
    /// The flow version it executes.
    pub flow_version: i64,
    /// Where it stands.
    pub status: RunStatus,
    /// What started it: `manual`, `schedule`, `webhook`, `sync` or `replay`.
    pub trigger: String,
    /// The trigger's event (`$event`).
    pub event: Value,
    /// The run this one replays (from its failed step).
    pub replay_of: Option<FlowRunId>,
    /// The output of the last step, once succeeded.
    pub output: Option<Value>,
    /// Why it failed or was interrupted.
    pub error: Option<StepError>,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// When it was queued.
    pub created_at: SystemTime,
    /// When a worker first took it.
    pub started_at: Option<SystemTime>,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
}

/// A process's hold on the runs it executes (see [`crate::store::Lease`]).
pub type RunLease = crate::store::Lease;

/// What [`super::FlowStore::enqueue_run`] needs.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The flow (its current version is recorded, unless `flow_version` is given).
    pub flow_id: FlowId,
    /// The version to run (a replay runs its original's).
    pub flow_version: Option<i64>,
    /// `manual`, `schedule`, `webhook`, `sync` or `replay`.
    pub trigger: String,
    /// The event.
    pub event: Value,
    /// Enqueue at most one run per `(flow, dedupe_key)`: a sync event id, a schedule tick.
    pub dedupe_key: Option<String>,
    /// The run this one replays.
    pub replay_of: Option<FlowRunId>,
    /// Step records the run starts with (a replay's succeeded steps), written in the same
    /// transaction.
    pub seed_steps: Vec<StepRecord>,
}

/// What [`super::FlowStore::enqueue_run`] did.
// Built once per enqueue and matched at once: boxing would only add noise at every caller.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// A new queued run.
    Created(FlowRun),
    /// A run with the same dedupe key exists already.
    Duplicate(FlowRunId),
}

/// Filters of [`super::FlowStore::list_runs`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs of this flow.
    pub flow_id: Option<FlowId>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs created at or after this time.
    pub created_after: Option<SystemTime>,
    /// Only runs created before this time.
    pub created_before: Option<SystemTime>,
    /// Page size (1 to 500; default 50).
    pub limit: Option<u32>,
    /// Continue after this run (the last of the previous page).
    pub after: Option<FlowRunId>,
}

/// How a run ended, for [`super::FlowStore::finish_run`].
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// Succeeded with the output.
    Succeeded(Value),
    /// Failed with the error.
    Failed(StepError),
    /// Interrupted at a step that is not safe to repeat.
    Interrupted(StepError),
    /// Cancelled.
    Cancelled,
}
