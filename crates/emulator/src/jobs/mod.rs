//! Jobs and runs (`/api/2.1|2.2/jobs/*`): create, list, get, update, reset, delete, run-now, runs submit/get/get-output/list/cancel/cancel-all/delete, with the run state machine.
//!
//! `state` holds jobs, the update rules and the run queue with no HTTP; `runs` is one run's
//! timeline as data; `routes` parses requests, calls the state, and serializes.

pub mod routes;
pub mod runs;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

crate::services::saved_service!("jobs");
