//! Workspace objects (`/api/2.0/workspace/*`): import, export, list, get-status, delete, mkdirs, over an in-memory tree of notebooks, files and directories.
//!
//! `state` holds the tree and its rules with no HTTP; `notebook` converts between the `SOURCE`
//! and Jupyter formats; `zip`
//! packs folders for directory import/export; `routes` parses requests, calls the state, and serializes.

pub mod notebook;
pub mod routes;
pub mod state;
pub mod zip;

pub use routes::routes;
pub use state::{EMULATOR_USER, Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "workspace_objects";
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
