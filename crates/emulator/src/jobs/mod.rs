//! Jobs and runs (`/api/2.1|2.2/jobs/*`): create, list, get, update, reset, delete, run-now, runs get/list/cancel, with the run state machine.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
