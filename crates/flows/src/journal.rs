//! The step journal of one run: [`StepRecord`] (one attempt of one step) and the
//! [`RunJournal`] trait the executor writes through. [`MemoryJournal`] keeps it in memory (the
//! CLI's local runs, tests); the service keeps it in its store.
//!
//! # The durability rule
//! The executor calls [`RunJournal::write`] with a `running` record before an attempt does
//! anything outside the process, and again with its final status after; `write` returns only
//! once the record is durable. On resume the executor reads [`RunJournal::records`] and, per
//! step path, uses the latest attempt: `succeeded` is reused (never run again), `running` was
//! in flight when the process died, `failed` with `resume_at` is a retry still due,
//! `abandoned` is an in-flight attempt a person chose to run again.
//!
//! # Paths
//! A step's path is its id, prefixed by the iterations it runs in: `insert`,
//! `each[3].insert`, `outer[0].inner[2].notify`. Ids are unique in a flow, so the path names
//! one execution of one step.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FlowError, StepError};

/// The kind of a step, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A catalog action.
    Action,
    /// A condition.
    If,
    /// A multi-way branch.
    Switch,
    /// A loop over a list.
    ForEach,
    /// A delay or a poll until a condition holds.
    Wait,
    /// Ends the run as failed.
    Fail,
}

impl StepKind {
    /// The stored name (`action`, `for_each`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Action => "action",
            StepKind::If => "if",
            StepKind::Switch => "switch",
            StepKind::ForEach => "for_each",
            StepKind::Wait => "wait",
            StepKind::Fail => "fail",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<StepKind> {
        [
            StepKind::Action,
            StepKind::If,
            StepKind::Switch,
            StepKind::ForEach,
            StepKind::Wait,
            StepKind::Fail,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Started and not finished (or in flight when the process died).
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error (`resume_at` set: another attempt is due then).
    Failed,
    /// Was in flight when the process died; a person chose to run the step again.
    Abandoned,
}

impl StepStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Abandoned => "abandoned",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<StepStatus> {
        match s {
            "running" => Some(StepStatus::Running),
            "succeeded" => Some(StepStatus::Succeeded),
            "failed" => Some(StepStatus::Failed),
            "abandoned" => Some(StepStatus::Abandoned),
            _ => None,
        }
    }
}

/// One attempt of one step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's path (see the module docs); with `attempt`, the record's key.
    pub path: String,
    /// The step's id.
    pub step_id: String,
    /// Its kind.
    pub kind: StepKind,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Where it stands.
    pub status: StepStatus,
    /// The action run (action steps, and a `wait`'s polled action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The account it ran on, as the definition names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The evaluated input (an action's input; a control step's evaluated condition or list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The output, once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// When the attempt started.
    pub started_at: SystemTime,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<SystemTime>,
    /// A running `wait`: when it ends at the latest. A failed attempt: when the next attempt
    /// is due (absent: no more attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<SystemTime>,
}

/// The journal of one run. Implementations must make each write durable before returning.
pub trait RunJournal: Send + Sync {
    /// Every record of the run, in the order written (all attempts).
    fn records(&self) -> BoxFuture<'_, Result<Vec<StepRecord>, FlowError>>;

    /// Inserts or replaces the record with this `(path, attempt)`.
    fn write(&self, record: StepRecord) -> BoxFuture<'_, Result<(), FlowError>>;
}

/// A journal in memory (a local run, tests). Clones share the records.
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    records: Arc<Mutex<Vec<StepRecord>>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// A journal holding `records` (e.g. the succeeded steps of a run to replay).
    pub fn with_records(records: Vec<StepRecord>) -> Self {
        Self {
            records: Arc::new(Mutex::new(records)),
        }
    }

    /// A copy of the records.
    pub fn snapshot(&self) -> Vec<StepRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl RunJournal for MemoryJournal {
    fn records(&self) -> BoxFuture<'_, Result<Vec<StepRecord>, FlowError>> {
        let records = self.snapshot();
        Box::pin(async move { Ok(records) })
    }

    fn write(&self, record: StepRecord) -> BoxFuture<'_, Result<(), FlowError>> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records
            .iter_mut()
            .find(|r| r.path == record.path && r.attempt == record.attempt)
        {
            Some(existing) => *existing = record,
            None => records.push(record),
        }
        Box::pin(async { Ok(()) })
    }
}
