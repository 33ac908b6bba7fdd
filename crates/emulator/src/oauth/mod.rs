//! OAuth: discovery documents, app connections (custom app integrations), the consent page, and the token endpoint (authorization code with PKCE, refresh with rotation, client credentials).
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes;
//! `drive` is the client side (register an app connection, answer the consent page) for tests
//! and the demo.

pub mod drive;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "oauth";
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
