//! HTTP routes of SCIM: `/api/2.0/preview/scim/v2/{Users,Groups}[/{id}]` and `/Me`.
//!
//! Bodies are read as JSON whatever the `Content-Type` (`application/json` or
//! `application/scim+json`); responses carry `application/scim+json`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{Kind, ListQuery, USER_SCHEMA};
use crate::auth::Principal;
use crate::error::{ApiError, ScimType};
use crate::state::AppState;

const PREFIX: &str = "/api/2.0/preview/scim/v2";

/// The routes of SCIM.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/Me"), get(me))
        .route(
            &format!("{PREFIX}/Users"),
            get(list_users).post(create_user),
        )
        .route(
            &format!("{PREFIX}/Users/{{id}}"),
            get(get_user)
                .patch(patch_user)
                .put(put_user)
                .delete(delete_user),
        )
        .route(
            &format!("{PREFIX}/Groups"),
            get(list_groups).post(create_group),
        )
        .route(
            &format!("{PREFIX}/Groups/{{id}}"),
            get(get_group)
                .patch(patch_group)
                .put(put_group)
                .delete(delete_group),
        )
}

fn scim_json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    response
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::scim(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            format!("Request body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::scim(
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidSyntax),
            "Request body must be a JSON object.",
        ));
    }
    Ok(value)
}

/// Query parameters of a list request, in SCIM's camelCase (also accepted in any case).
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    filter: Option<String>,
    #[serde(rename = "startIndex", alias = "startindex", alias = "start_index")]
    start_index: Option<String>,
    count: Option<String>,
    #[serde(rename = "sortBy", alias = "sortby", alias = "sort_by")]
    sort_by: Option<String>,
    #[serde(rename = "sortOrder", alias = "sortorder", alias = "sort_order")]
    sort_order: Option<String>,
    attributes: Option<String>,
    #[serde(
        rename = "excludedAttributes",
        alias = "excludedattributes",
        alias = "excluded_attributes"
    )]
    excluded_attributes: Option<String>,
}

fn parse_number(name: &str, value: Option<&str>) -> Result<Option<usize>, ApiError> {
    value
        .map(|v| {
            v.trim().parse::<usize>().map_err(|_| {
                ApiError::scim(
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidValue),
                    format!("{name} must be a non-negative integer, got '{v}'."),
                )
            })
        })
        .transpose()
}

fn list(state: &AppState, kind: Kind, params: ListParams) -> Result<Response, ApiError> {
    let default_count = state.settings().scim.default_count;
    let query = ListQuery {
        filter: params.filter,
        start_index: parse_number("startIndex", params.start_index.as_deref())?,
        count: parse_number("count", params.count.as_deref())?.or(default_count),
        sort_by: params.sort_by,
        sort_order: params.sort_order,
        attributes: params.attributes,
        excluded_attributes: params.excluded_attributes,
    };
    let body = state.scim.lock().expect("scim lock").list(kind, &query)?;
    Ok(scim_json(StatusCode::OK, body))
}

/// Projection parameters of a single-resource GET.
#[derive(Debug, Default, Deserialize)]
struct GetParams {
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes", alias = "excludedattributes")]
    excluded_attributes: Option<String>,
}

fn get_one(
    state: &AppState,
    kind: Kind,
    id: &str,
    params: GetParams,
) -> Result<Response, ApiError> {
    let scim = state.scim.lock().expect("scim lock");
    let mut body = scim.get(kind, id)?;
    if params.attributes.is_some() || params.excluded_attributes.is_some() {
        // Reuse the list projection on a one-element list.
        let query = ListQuery {
            filter: Some(format!("id eq \"{id}\"")),
            attributes: params.attributes,
            excluded_attributes: params.excluded_attributes,
            ..Default::default()
        };
        body = scim.list(kind, &query)?["Resources"][0].take();
    }
    Ok(scim_json(StatusCode::OK, body))
}

async fn me(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(params): Query<GetParams>,
) -> Result<Response, ApiError> {
    match principal.map(|Extension(p)| p) {
        Some(Principal::User { id }) => get_one(&state, Kind::User, &id, params),
        Some(Principal::ServicePrincipal {
            application_id,
            display_name,
        }) => Ok(scim_json(
            StatusCode::OK,
            json!({
                "id": application_id,
                "userName": application_id,
                "displayName": display_name,
                "active": true,
                "emails": [],
                "groups": [],
                "schemas": [USER_SCHEMA],
            }),
        )),
        None => Err(ApiError::unauthenticated("No caller identity.")),
    }
}

async fn list_users(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    list(&state, Kind::User, params)
}

async fn list_groups(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    list(&state, Kind::Group, params)
}

async fn create_user(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let user = state.scim.lock().expect("scim lock").create_user(&body)?;
    Ok(scim_json(StatusCode::CREATED, user))
}

async fn create_group(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let group = state.scim.lock().expect("scim lock").create_group(&body)?;
    Ok(scim_json(StatusCode::CREATED, group))
}

async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<GetParams>,
) -> Result<Response, ApiError> {
    get_one(&state, Kind::User, &id, params)
}

async fn get_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<GetParams>,
) -> Result<Response, ApiError> {
    get_one(&state, Kind::Group, &id, params)
}

fn patch(state: &AppState, kind: Kind, id: &str, body: &Bytes) -> Result<Response, ApiError> {
    let body = parse_body(body)?;
    let resource = state
        .scim
        .lock()
        .expect("scim lock")
        .patch(kind, id, &body)?;
    Ok(scim_json(StatusCode::OK, resource))
}

fn put(state: &AppState, kind: Kind, id: &str, body: &Bytes) -> Result<Response, ApiError> {
    let body = parse_body(body)?;
    let resource = state
        .scim
        .lock()
        .expect("scim lock")
        .replace(kind, id, &body)?;
    Ok(scim_json(StatusCode::OK, resource))
}

async fn patch_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    patch(&state, Kind::User, &id, &body)
}

async fn patch_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    patch(&state, Kind::Group, &id, &body)
}

async fn put_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put(&state, Kind::User, &id, &body)
}

async fn put_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put(&state, Kind::Group, &id, &body)
}

async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .scim
        .lock()
        .expect("scim lock")
        .delete(Kind::User, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .scim
        .lock()
        .expect("scim lock")
        .delete(Kind::Group, &id)?;
    Ok(StatusCode::NO_CONTENT)
}
