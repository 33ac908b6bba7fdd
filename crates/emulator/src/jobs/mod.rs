//! Jobs and runs (`/api/2.1|2.2/jobs/*`): create, list, get, update, reset, delete, run-now, runs submit/get/get-output/list/cancel/cancel-all/delete, with the run state machine.
//!
//! `state` holds jobs, the update rules and the run queue with no HTTP; `runs` is one run's
//! timeline as data; `routes` parses requests, calls the state, and serializes.

pub mod routes;
pub mod runs;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "jobs";
    type State = State;
    type Settings = Settings;

    fn routes() -> axum::Router<crate::state::AppState> {
        routes::routes()
    }

    fn snapshot(state: &State) -> Option<serde_json::Result<serde_json::Value>> {
        Some(serde_json::to_value(state))
    }

    fn restore(saved: serde_json::Value) -> serde_json::Result<State> {
        serde_json::from_value(saved)
    }
}
