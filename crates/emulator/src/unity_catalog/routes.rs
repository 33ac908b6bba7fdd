//! HTTP routes of this service.

use axum::Router;

use crate::state::AppState;

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    Router::new()
}
