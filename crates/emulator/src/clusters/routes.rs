//! HTTP routes of clusters: `/api/2.0/clusters/*` and `/api/2.1/clusters/*` share handlers.

use std::sync::MutexGuard;

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use brickwire_api::clusters::ClusterSource;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::state::{self as model, ClusterState, ListQuery, SortField};
use crate::error::{ApiError, json_object};
use crate::state::{AppState, Workspace, now_ms};

/// The routes of this service.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.0", "2.1"] {
        let p = |action: &str| format!("/api/{version}/clusters/{action}");
        router = router
            .route(&p("create"), post(create))
            .route(&p("get"), get(get_cluster))
            .route(&p("list"), get(list))
            .route(&p("start"), post(start))
            .route(&p("restart"), post(restart))
            .route(&p("delete"), post(terminate))
            .route(&p("permanent-delete"), post(permanent_delete))
            .route(&p("edit"), post(edit))
            .route(&p("update"), post(update))
            .route(&p("resize"), post(resize))
            .route(&p("pin"), post(pin))
            .route(&p("unpin"), post(unpin))
            .route(&p("events"), post(events))
            .route(&p("spark-versions"), get(spark_versions))
            .route(&p("list-node-types"), get(node_types));
    }
    router
}

type Reply = Result<Json<Value>, ApiError>;

/// Locks the clusters with the workspace's current delays in force.
fn clusters(ws: &Workspace) -> MutexGuard<'_, model::State> {
    let settings = ws.settings().clusters;
    let mut state = ws.clusters.lock().expect("clusters lock");
    state.settings = settings;
    state
}

fn query_pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid_parameter(format!("Invalid query string: {e}")))
}

fn cluster_id(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("cluster_id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(ApiError::missing_field("cluster_id")),
    }
}

fn empty() -> Reply {
    Ok(Json(json!({})))
}

async fn create(State(app): State<AppState>, body: Bytes) -> Reply {
    let body = json_object(&body)?;
    let id = clusters(&app).create(body, now_ms())?;
    Ok(Json(json!({ "cluster_id": id })))
}

async fn get_cluster(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Reply {
    let pairs = query_pairs(raw)?;
    let id = pairs
        .iter()
        .find(|(k, _)| k == "cluster_id")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing_field("cluster_id"))?;
    Ok(Json(clusters(&app).get(id, now_ms())?.details()))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    // The Python SDK sends nested booleans as `True`/`False`.
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_parameter(format!(
            "Invalid value for {key}: {value}"
        ))),
    }
}

/// Parses the flattened `list` query (`filter_by.cluster_states=RUNNING&...`).
fn list_query(pairs: Vec<(String, String)>) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery::default();
    for (key, value) in pairs {
        match key.as_str() {
            "filter_by.cluster_states" => {
                q.states.push(ClusterState::known(&value).ok_or_else(|| {
                    ApiError::invalid_parameter(format!("Invalid cluster state: {value}"))
                })?)
            }
            "filter_by.cluster_sources" => {
                if ClusterSource::known(&value).is_none() {
                    return Err(ApiError::invalid_parameter(format!(
                        "Invalid cluster source: {value}"
                    )));
                }
                q.sources.push(value);
            }
            "filter_by.is_pinned" => q.is_pinned = Some(parse_bool(&key, &value)?),
            "filter_by.policy_id" => q.policy_id = Some(value),
            "sort_by.field" => {
                q.sort_field = match value.as_str() {
                    "DEFAULT" => SortField::Default,
                    "CLUSTER_NAME" => SortField::ClusterName,
                    _ => {
                        return Err(ApiError::invalid_parameter(format!(
                            "Invalid sort_by.field: {value}"
                        )));
                    }
                }
            }
            "sort_by.direction" => {
                q.descending = match value.as_str() {
                    "ASC" => false,
                    "DESC" => true,
                    _ => {
                        return Err(ApiError::invalid_parameter(format!(
                            "Invalid sort_by.direction: {value}"
                        )));
                    }
                }
            }
            "page_size" => {
                q.page_size = Some(value.parse().map_err(|_| {
                    ApiError::invalid_parameter(format!("Invalid page_size: {value}"))
                })?)
            }
            "page_token" => q.page_token = Some(value),
            // Old clients send `can_use_client`; unknown parameters are ignored as Databricks does.
            _ => {}
        }
    }
    Ok(q)
}

async fn list(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Reply {
    let query = list_query(query_pairs(raw)?)?;
    let page = clusters(&app).list(&query, now_ms())?;
    Ok(Json(json!(page)))
}

async fn start(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).start(&id, now_ms())?;
    empty()
}

async fn restart(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).restart(&id, now_ms())?;
    empty()
}

async fn terminate(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).terminate(&id, now_ms())?;
    empty()
}

async fn permanent_delete(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).permanent_delete(&id)?;
    empty()
}

async fn edit(State(app): State<AppState>, body: Bytes) -> Reply {
    clusters(&app).edit(json_object(&body)?, now_ms())?;
    empty()
}

async fn update(State(app): State<AppState>, body: Bytes) -> Reply {
    clusters(&app).update(json_object(&body)?, now_ms())?;
    empty()
}

async fn resize(State(app): State<AppState>, body: Bytes) -> Reply {
    clusters(&app).resize(json_object(&body)?, now_ms())?;
    empty()
}

async fn pin(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).set_pinned(&id, true, now_ms())?;
    empty()
}

async fn unpin(State(app): State<AppState>, body: Bytes) -> Reply {
    let id = cluster_id(&json_object(&body)?)?;
    clusters(&app).set_pinned(&id, false, now_ms())?;
    empty()
}

async fn events(State(app): State<AppState>, body: Bytes) -> Reply {
    let body = json_object(&body)?;
    Ok(Json(clusters(&app).events(&body, now_ms())?))
}

async fn spark_versions() -> Json<Value> {
    Json(super::catalog::spark_versions())
}

async fn node_types() -> Json<Value> {
    Json(super::catalog::node_types())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q.to_owned())).unwrap()
    }

    #[test]
    fn list_query_reads_repeated_and_nested_keys() {
        let q = list_query(pairs(
            "filter_by.cluster_states=RUNNING&filter_by.cluster_states=PENDING\
             &filter_by.is_pinned=True&sort_by.field=CLUSTER_NAME&sort_by.direction=DESC&page_size=3",
        ))
        .unwrap();
        assert_eq!(q.states, vec![ClusterState::Running, ClusterState::Pending]);
        assert_eq!(q.is_pinned, Some(true));
        assert_eq!(q.sort_field, SortField::ClusterName);
        assert!(q.descending);
        assert_eq!(q.page_size, Some(3));
    }

    #[test]
    fn list_query_rejects_unknown_enum_values() {
        for bad in [
            "filter_by.cluster_states=UP",
            "filter_by.cluster_sources=CLI",
            "sort_by.field=SIZE",
            "sort_by.direction=UP",
            "page_size=x",
        ] {
            let e = list_query(pairs(bad)).unwrap_err();
            assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE", "{bad}");
        }
    }
}
