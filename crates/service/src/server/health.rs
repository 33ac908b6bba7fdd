//! `GET /healthz` and `GET /readyz` for load balancers and orchestrators, without
//! authentication and without secrets in their answers.
//!
//! `/healthz` says the process serves HTTP. `/readyz` says it should get traffic: the database
//! answers and has every migration of this build (a replica started by a newer rollout waits
//! for its migrations; an older one is never ready on a newer schema, it refuses to start), and
//! the service is not shutting down (it answers 503 while it drains, so the balancer moves on
//! before the listener closes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::AppState;

/// The readiness inputs: the store to check and the draining flag shutdown sets.
#[derive(Clone, Default)]
pub(crate) struct Readiness {
    pub(crate) store: Option<crate::store::SharedStore>,
    pub(crate) draining: Arc<AtomicBool>,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.readiness();
    if readiness.draining.load(Ordering::SeqCst) {
        return not_ready("shutting down");
    }
    let checked = match &readiness.store {
        Some(store) => store
            .check_ready()
            .await
            .map(|()| store.backend())
            .map_err(|e| e.to_string()),
        // A router built over a bare `Store` (in-process tests): a read is the check.
        None => state
            .store()
            .app_settings()
            .await
            .map(|_| "store")
            .map_err(|e| e.to_string()),
    };
    match checked {
        Ok(backend) => Json(json!({"status": "ready", "database": backend})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            not_ready(&reason)
        }
    }
}

fn not_ready(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not_ready", "reason": reason})),
    )
        .into_response()
}
