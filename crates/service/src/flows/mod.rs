//! Flows in the service: stored, versioned flow definitions; durable runs queued and executed
//! by [`engine::FlowEngine`] with bounded concurrency per flow and in total; the triggers that
//! start them (manual, schedule, inbound webhook, Incremental Sync events); the REST routes
//! ([`api`]) and the run-history pages ([`ui`]).
//!
//! Start at [`model`] (what is stored), [`store::FlowStore`] (the durability rules), then
//! [`engine`]. The step-level execution (and its resume rules) is `brickwire_flows::Executor`;
//! this module gives it a journal in the store and linked accounts to run actions on.

pub mod api;
pub mod engine;
pub mod model;
pub mod runner;
pub mod store;
pub mod ui;

pub use engine::{FlowEngine, FlowEngineHandle, FlowEngineOptions, FlowEngineTask, replay_run};
pub use model::*;
pub use runner::AccountRunner;
pub use store::FlowStore;
