//! HTTP routes of SQL warehouses (`/api/2.0/sql/warehouses`).

use std::sync::MutexGuard;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{self as model, Endpoint};
use crate::error::{ApiError, json_object};
use crate::state::{AppState, Workspace, now_ms};

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/warehouses", get(list).post(create))
        .route(
            "/api/2.0/sql/warehouses/{id}",
            get(get_warehouse).delete(delete),
        )
        .route("/api/2.0/sql/warehouses/{id}/edit", post(edit))
        .route("/api/2.0/sql/warehouses/{id}/start", post(start))
        .route("/api/2.0/sql/warehouses/{id}/stop", post(stop))
}

type Reply = Result<Json<Value>, ApiError>;

/// Locks the warehouses with the workspace's current delays in force.
fn warehouses(ws: &Workspace) -> MutexGuard<'_, model::State> {
    let settings = ws.settings().warehouses;
    let mut state = ws.warehouses.lock().expect("warehouses lock");
    state.settings = settings;
    state
}

async fn create(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = warehouses(&app).create(json_object(&body)?, now_ms())?;
    Ok(Json(json!({ "id": id })))
}

/// `list` query parameters; `run_as_user_id` is accepted and ignored.
#[derive(Deserialize)]
struct ListParams {
    page_size: Option<String>,
    page_token: Option<String>,
}

async fn list(State(app): State<AppState>, Query(params): Query<ListParams>) -> Reply {
    let page_size = match params.page_size.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<usize>()
                .map_err(|_| ApiError::invalid_parameter(format!("Invalid page_size: {s}")))?,
        ),
    };
    let endpoint = Endpoint::from_base_url(&app.base_url);
    let page =
        warehouses(&app).list(page_size, params.page_token.as_deref(), &endpoint, now_ms())?;
    Ok(Json(json!(page)))
}

async fn get_warehouse(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let endpoint = Endpoint::from_base_url(&app.base_url);
    Ok(Json(warehouses(&app).get(&id, now_ms())?.info(&endpoint)))
}

async fn edit(State(app): State<AppState>, Path(id): Path<String>, body: Bytes) -> Reply {
    warehouses(&app).edit(&id, json_object(&body)?, now_ms())?;
    Ok(Json(json!({})))
}

async fn start(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    warehouses(&app).start(&id, now_ms())?;
    Ok(Json(json!({})))
}

async fn stop(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    warehouses(&app).stop(&id, now_ms())?;
    Ok(Json(json!({})))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    warehouses(&app).delete(&id, now_ms())?;
    Ok(Json(json!({})))
}
