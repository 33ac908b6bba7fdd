//! [`FlowEngine`]: executes queued runs with bounded concurrency (per flow, from the
//! definition's `concurrency`, and in total), recovers runs of a dead process at start, and runs
//! the triggers that queue runs (schedules, sync subscriptions). CONTRACT: the REST layer uses
//! only [`FlowEngineHandle`]'s methods below; the bodies are being filled in.

use std::sync::Arc;

use super::model::{FlowId, FlowRunId};

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct FlowEngineOptions {
    /// Runs executing at once in this process, over every flow (default 16).
    pub max_concurrent_runs: u32,
}

impl Default for FlowEngineOptions {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 16,
        }
    }
}

/// The engine; cheap to clone.
#[derive(Clone, Debug)]
pub struct FlowEngine {
    inner: Arc<()>,
}

/// What the REST layer asks of a running engine.
pub trait FlowEngineHandle: Send + Sync {
    /// New queued runs may exist: look now instead of at the next tick.
    fn wake(&self);
    /// A flow was created, changed, enabled, disabled or deleted: reload its trigger
    /// (schedule, sync subscription).
    fn flow_changed(&self, id: &FlowId);
    /// Stop the run if this process executes it (its cancel token fires).
    fn cancel_running(&self, id: &FlowRunId);
}
