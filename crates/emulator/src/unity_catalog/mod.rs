//! Unity Catalog (`/api/2.1/unity-catalog/*`): catalogs, schemas, tables, table summaries and
//! volumes. The SQL engine ([`crate::sql`]) works on the same metastore.
//!
//! `state` holds the metastore with no HTTP; `routes` parses requests, calls it, and serializes;
//! `pagination` is the token paging and `LIKE` matching every list shares.

pub mod pagination;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State, UcError};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "unity_catalog";
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
