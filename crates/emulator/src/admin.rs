//! The emulator's own admin API under `/_emulator` (no authentication): reset, settings,
//! request counters, tokens and demo data.
//!
//! | Method and path | What it does |
//! |---|---|
//! | `POST /_emulator/reset` | Every service back to an empty state; settings, tokens and counters kept |
//! | `GET /_emulator/settings` | The whole [`Settings`] document |
//! | `PATCH /_emulator/settings` | Deep-merges a partial document (a `null` restores a default) |
//! | `GET /_emulator/counters` | Requests by endpoint, statuses and injected faults |
//! | `POST /_emulator/counters/reset` | Counts back to zero |
//! | `POST /_emulator/tokens` | Adds a personal access token: `{"token"?, "lifetime_seconds"?}` |
//! | `DELETE /_emulator/tokens/{token}` | Revokes a token |
//! | `POST /_emulator/seed` | Demo data: a running warehouse and a running cluster |
//! | `POST /_emulator/seed/job-runs` | Many finished one-time runs at chosen times: `{"count", "start_time", "step_ms"?, "duration_ms"?}` |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use rand::Rng as _;
use serde_json::{Map, Value, json};

use crate::counters::Counters;
use crate::error::{ApiError, ErrorCode, json_object};
use crate::faults::{FaultState, Injector};
use crate::settings::Settings;
use crate::state::{AppState, Workspace, now_ms};

/// What the admin API and the counting and fault middlewares share.
#[derive(Clone)]
pub struct AdminState {
    /// The workspace.
    pub app: AppState,
    /// Request counters.
    pub counters: Arc<Counters>,
    /// Fault injection.
    pub faults: Arc<Injector>,
    /// How many times each token was added or revoked, so an expiry timer only removes the
    /// token it was started for.
    token_generations: Arc<std::sync::Mutex<HashMap<String, u64>>>,
}

impl AdminState {
    /// Fresh counters and injector for `app`.
    pub fn new(app: AppState) -> Self {
        Self {
            app,
            counters: Arc::default(),
            faults: Arc::default(),
            token_generations: Arc::default(),
        }
    }

    fn next_token_generation(&self, token: &str) -> u64 {
        let mut generations = self
            .token_generations
            .lock()
            .expect("token generations lock");
        let generation = generations.entry(token.to_owned()).or_default();
        *generation += 1;
        *generation
    }

    /// The state of the fault middleware.
    pub fn fault_state(&self) -> FaultState {
        FaultState {
            app: self.app.clone(),
            injector: self.faults.clone(),
        }
    }
}

/// The admin routes, ready to merge into the emulator's router.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/_emulator/reset", post(reset))
        .route(
            "/_emulator/settings",
            get(get_settings).patch(patch_settings),
        )
        .route("/_emulator/counters", get(counters))
        .route("/_emulator/counters/reset", post(reset_counters))
        .route("/_emulator/tokens", post(add_token))
        .route(
            "/_emulator/tokens/{token}",
            axum::routing::delete(remove_token),
        )
        .route("/_emulator/seed", post(seed))
        .route("/_emulator/seed/job-runs", post(seed_job_runs))
        .with_state(state)
}

type Reply = Result<Json<Value>, ApiError>;

/// Replaces the settings and pushes each service's section to where it is read without the
/// settings lock (services that keep a copy).
pub fn apply_settings(ws: &Workspace, settings: Settings) {
    crate::services::apply_settings(ws, &settings);
    *ws.settings.write().expect("settings lock") = settings;
}

/// Puts every service back to its empty state, keeping settings and tokens.
pub fn reset_services(ws: &Workspace) {
    crate::services::reset(ws);
    apply_settings(ws, ws.settings());
}

async fn reset(State(admin): State<AdminState>) -> Reply {
    reset_services(&admin.app);
    Ok(Json(json!({})))
}

fn settings_json(settings: &Settings) -> Result<Value, ApiError> {
    serde_json::to_value(settings).map_err(|e| {
        tracing::error!(error = %e, "settings do not serialize");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "Settings could not be serialized",
        )
    })
}

async fn get_settings(State(admin): State<AdminState>) -> Reply {
    Ok(Json(settings_json(&admin.app.settings())?))
}

/// Merges `patch` into `target`: objects key by key, a `null` removes the key (so the
/// default comes back), anything else replaces.
pub fn merge_json(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_json(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The first key of `patch` that the settings do not have, as a dotted path.
fn unknown_key(patch: &Map<String, Value>, known: &Map<String, Value>, at: &str) -> Option<String> {
    for (key, value) in patch {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        if value.is_null() {
            continue;
        }
        match (known.get(key), value) {
            (None, _) => return Some(path),
            (Some(Value::Object(k)), Value::Object(p)) => {
                if let Some(found) = unknown_key(p, k, &path) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// Applies a partial settings document; returns the new settings.
pub fn patch_settings_json(
    ws: &Workspace,
    patch: &Map<String, Value>,
) -> Result<Settings, ApiError> {
    let mut merged = settings_json(&ws.settings())?;
    merge_json(&mut merged, &Value::Object(patch.clone()));
    let settings: Settings = serde_json::from_value(merged)
        .map_err(|e| ApiError::invalid_parameter(format!("Invalid settings: {e}")))?;
    if let Value::Object(known) = settings_json(&settings)?
        && let Some(key) = unknown_key(patch, &known, "")
    {
        return Err(ApiError::invalid_parameter(format!(
            "Unknown setting: {key}"
        )));
    }
    apply_settings(ws, settings.clone());
    Ok(settings)
}

async fn patch_settings(State(admin): State<AdminState>, body: Bytes) -> Reply {
    let patch = json_object(&body)?;
    let settings = patch_settings_json(&admin.app, &patch)?;
    if patch.contains_key("faults") {
        admin.faults.restart();
    }
    Ok(Json(settings_json(&settings)?))
}

async fn counters(State(admin): State<AdminState>) -> Reply {
    let mut snapshot = admin.counters.snapshot();
    snapshot.faults = admin.faults.counts();
    Ok(Json(json!(snapshot)))
}

async fn reset_counters(State(admin): State<AdminState>) -> Reply {
    admin.counters.reset();
    admin.faults.reset_counts();
    Ok(Json(json!({})))
}

fn new_token() -> String {
    let mut rng = rand::rng();
    let hex: String = (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!("dapi{hex}")
}

/// `POST /_emulator/tokens`: `{"token": "dapi..."?, "lifetime_seconds": 60?}`. Answers
/// `{"token", "expiry_time"?}` (epoch ms). An expiring token is removed when it expires.
async fn add_token(State(admin): State<AdminState>, body: Bytes) -> Reply {
    let body = json_object(&body)?;
    let token = match body.get("token") {
        None | Some(Value::Null) => new_token(),
        Some(Value::String(t)) if !t.is_empty() && !t.contains(char::is_whitespace) => t.clone(),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "token must be a non-empty string without spaces",
            ));
        }
    };
    let lifetime = match body.get("lifetime_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::invalid_parameter("lifetime_seconds must be a non-negative integer")
        })?),
    };
    let generation = admin.next_token_generation(&token);
    admin
        .app
        .tokens
        .write()
        .expect("tokens lock")
        .insert(token.clone());
    let mut reply = json!({ "token": token });
    if let Some(seconds) = lifetime {
        reply["expiry_time"] = json!(now_ms() + seconds as i64 * 1000);
        let admin = admin.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let current = admin
                .token_generations
                .lock()
                .expect("token generations lock");
            if current.get(&token) == Some(&generation) {
                admin
                    .app
                    .tokens
                    .write()
                    .expect("tokens lock")
                    .remove(&token);
            }
        });
    }
    Ok(Json(reply))
}

async fn remove_token(State(admin): State<AdminState>, Path(token): Path<String>) -> Reply {
    admin.next_token_generation(&token);
    let removed = admin
        .app
        .tokens
        .write()
        .expect("tokens lock")
        .remove(&token);
    if removed {
        Ok(Json(json!({})))
    } else {
        Err(ApiError::not_found("Token does not exist"))
    }
}

/// Name of the warehouse `POST /_emulator/seed` creates.
pub const SEED_WAREHOUSE_NAME: &str = "Starter Warehouse";
/// Name of the cluster `POST /_emulator/seed` creates.
pub const SEED_CLUSTER_NAME: &str = "Starter Cluster";

/// Creates the demo data (once: a second call returns the same ids) and answers
/// `{"warehouse_id", "cluster_id"}`.
pub fn seed_workspace(ws: &Workspace) -> Result<Value, ApiError> {
    let now = now_ms();
    let warehouse_id = {
        let mut warehouses = ws.warehouses.lock().expect("warehouses lock");
        match warehouses.find_by_name(SEED_WAREHOUSE_NAME) {
            Some(id) => id,
            None => warehouses.create_running(
                object(json!({
                    "name": SEED_WAREHOUSE_NAME,
                    "cluster_size": "2X-Small",
                    "auto_stop_mins": 0,
                    "warehouse_type": "PRO",
                    "enable_serverless_compute": true,
                })),
                now,
            )?,
        }
    };
    let cluster_id = {
        let mut clusters = ws.clusters.lock().expect("clusters lock");
        match clusters.find_by_name(SEED_CLUSTER_NAME) {
            Some(id) => id,
            None => {
                let creator = clusters.settings.creator_user_name.clone();
                clusters.create_running(
                    object(json!({
                        "cluster_name": SEED_CLUSTER_NAME,
                        "spark_version": "15.4.x-scala2.12",
                        "node_type_id": "i3.xlarge",
                        "num_workers": 1,
                        "autotermination_minutes": 0,
                        "data_security_mode": "USER_ISOLATION",
                    })),
                    "UI",
                    &creator,
                    now,
                )?
            }
        }
    };
    Ok(json!({ "warehouse_id": warehouse_id, "cluster_id": cluster_id }))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn seed(State(admin): State<AdminState>) -> Reply {
    Ok(Json(seed_workspace(&admin.app)?))
}

/// The most runs one `POST /_emulator/seed/job-runs` creates.
pub const MAX_SEED_RUNS: u64 = 1_000_000;

/// `POST /_emulator/seed/job-runs`: `{"count", "start_time" (epoch ms), "step_ms"? (default
/// 1), "duration_ms"? (default 0)}` creates `count` finished one-time runs whose
/// `start_time`s are `start_time + i * step_ms`. Answers `{"run_ids": [first, last]}`.
async fn seed_job_runs(State(admin): State<AdminState>, body: Bytes) -> Reply {
    let body = json_object(&body)?;
    let int = |name: &str, default: Option<i64>| -> Result<i64, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => {
                default.ok_or_else(|| ApiError::invalid_parameter(format!("{name} is required")))
            }
            Some(v) => v
                .as_i64()
                .ok_or_else(|| ApiError::invalid_parameter(format!("{name} must be an integer"))),
        }
    };
    let count = int("count", None)?;
    if count < 0 || count as u64 > MAX_SEED_RUNS {
        return Err(ApiError::invalid_parameter(format!(
            "count must be between 0 and {MAX_SEED_RUNS}"
        )));
    }
    let start = int("start_time", None)?;
    let step = int("step_ms", Some(1))?;
    let duration = int("duration_ms", Some(0))?;
    let ids = admin.app.jobs.lock().expect("jobs lock").seed_runs(
        count as usize,
        start,
        step,
        duration,
        &admin.app.base_url,
        crate::state::EMULATOR_USER,
    );
    let range: Vec<i64> = ids.first().into_iter().chain(ids.last()).copied().collect();
    Ok(Json(json!({ "run_ids": range })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_and_null_removes() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_json(
            &mut target,
            &json!({"a": {"b": 10, "c": null}, "e": {"f": 1}}),
        );
        assert_eq!(target, json!({"a": {"b": 10}, "d": 3, "e": {"f": 1}}));
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_rejects_unknown_keys() {
        let ws = Workspace::new("http://127.0.0.1:1", "t");
        let patch = object(json!({"clusters": {"start_delay_ms": 5}}));
        let settings = patch_settings_json(&ws, &patch).unwrap();
        assert_eq!(settings.clusters.start_delay_ms, 5);
        assert_eq!(settings.clusters.restart_delay_ms, 200);
        assert_eq!(ws.clusters.lock().unwrap().settings.start_delay_ms, 5);
        let typo = object(json!({"clusters": {"start_delay": 5}}));
        let e = patch_settings_json(&ws, &typo).unwrap_err();
        assert_eq!(e.message, "Unknown setting: clusters.start_delay");
        let wrong_type = object(json!({"clusters": {"start_delay_ms": "soon"}}));
        assert!(patch_settings_json(&ws, &wrong_type).is_err());
        let restore = object(json!({"clusters": {"start_delay_ms": null}}));
        let settings = patch_settings_json(&ws, &restore).unwrap();
        assert_eq!(settings.clusters.start_delay_ms, 200);
    }
}
