//! brickwire-flows: durable orchestrations of catalog actions.
//!
//! A flow is a [`definition::FlowDefinition`] (JSON or YAML): a trigger and a list of steps
//! (`action`, `if`, `switch`, `for_each`, `wait`, `fail`) whose inputs are JSON with
//! [`expr`] expressions (JSONata, written `"{% ... %}"`) over the trigger's event and earlier
//! steps' outputs. [`validate::validate`] checks a definition against the action catalog and
//! returns a [`validate::CompiledFlow`] or every problem with the path where it is.
//!
//! [`engine::Executor`] runs one flow run over a [`journal::RunJournal`]: every step attempt is
//! written before it runs and after it ends, so a run killed at any point resumes from its
//! journal without running a completed step again. Storage and credentials are seams: the
//! service gives a SQLite-backed journal and linked-account clients, the CLI an in-memory
//! journal and a profile's client ([`engine::ActionRunner`]).
//!
//! Start reading at [`definition`], then [`engine`].

// A StepError (code, message, Databricks' details) is returned whole on the failure path
// and stored as it is; boxing it would only move the allocation.
#![allow(clippy::result_large_err)]

pub mod definition;
pub mod engine;
pub mod error;
pub mod expr;
pub mod journal;
pub mod validate;

pub use definition::{FlowDefinition, Trigger};
pub use engine::{ActionRunner, Executor, ExecutorOptions, RunContext, RunOutcome};
pub use error::{FlowError, StepError, ValidationError};
pub use journal::{MemoryJournal, RunJournal, StepKind, StepRecord, StepStatus};
pub use validate::{CompiledFlow, validate};
