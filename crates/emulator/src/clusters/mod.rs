//! Clusters (`/api/2.0|2.1/clusters/*`): create, list, get, start, restart, terminate, permanent delete, edit, resize, with the cluster state machine.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod catalog;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "clusters";
    type State = State;
    type Settings = Settings;

    fn routes() -> axum::Router<crate::state::AppState> {
        routes::routes()
    }

    /// The state keeps its own copy of the settings, read without the settings lock.
    fn apply_settings(state: &mut State, settings: &Settings) {
        state.settings = settings.clone();
    }

    fn snapshot(state: &State) -> Option<serde_json::Result<serde_json::Value>> {
        Some(serde_json::to_value(state))
    }

    fn restore(saved: serde_json::Value) -> serde_json::Result<State> {
        serde_json::from_value(saved)
    }
}
