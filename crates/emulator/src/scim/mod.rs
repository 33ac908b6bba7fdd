//! SCIM users and groups (`/api/2.0/preview/scim/v2/*`): create, get, list with filters and
//! paging, PATCH, PUT, delete, `/Me`, and SCIM error bodies.
//!
//! `state` holds the logic with no HTTP, `filter` parses SCIM filter expressions, and `routes`
//! parses requests, calls the state, and serializes.

pub mod filter;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "scim";
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
