//! SQL statement execution (`/api/2.0/sql/statements`) on the emulator's SQL engine, with
//! result chunks and external links.
//!
//! Start with [`state`] (lifecycle, results, link grants), then [`run`] (the task that executes
//! a statement through [`crate::sql::execute`]), [`result`] (limits and chunk plan), [`encode`]
//! (JSON_ARRAY / CSV / ARROW_STREAM) and [`routes`] (HTTP, streamed bodies, link serving).

pub mod encode;
pub mod model;
pub mod result;
pub mod routes;
pub mod run;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

/// The service as the emulator registers it (see [`crate::services`]).
pub struct Service;

impl crate::services::EmulatedService for Service {
    const NAME: &'static str = "statements";
    type State = State;
    type Settings = Settings;

    fn routes() -> axum::Router<crate::state::AppState> {
        routes::routes()
    }

    /// Statements are not kept across a restart: their results are short-lived in Databricks
    /// too, and a restart is as if they had been purged.
    fn snapshot(_state: &State) -> Option<serde_json::Result<serde_json::Value>> {
        None
    }

    fn restore(_saved: serde_json::Value) -> serde_json::Result<State> {
        Ok(State::default())
    }
}
