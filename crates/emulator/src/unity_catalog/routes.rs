//! HTTP routes of Unity Catalog under `/api/2.1/unity-catalog`: parse, call [`State`], serialize.
//!
//! Responses add the derived fields (`full_name`, `metastore_id`) to the stored objects.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value, json};

use brickwire_api::unity_catalog::{
    CreateCatalog, CreateSchema, CreateTable, CreateVolume, TableType, UpdateCatalog, UpdateTable,
    UpdateVolume, VolumeType,
};

use super::pagination::{PageRequest, like, paginate};
use super::state::{ContainerUpdate, NewCatalog, State, UcError, split_full_name};
use crate::error::{ApiError, required, wire_body};
use crate::state::AppState;

const BASE: &str = "/api/2.1/unity-catalog";

/// The routes of Unity Catalog.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/catalogs"),
            get(list_catalogs).post(create_catalog),
        )
        .route(
            &format!("{BASE}/catalogs/{{name}}"),
            get(get_catalog)
                .patch(update_catalog)
                .delete(delete_catalog),
        )
        .route(
            &format!("{BASE}/schemas"),
            get(list_schemas).post(create_schema),
        )
        .route(
            &format!("{BASE}/schemas/{{full_name}}"),
            get(get_schema).patch(update_schema).delete(delete_schema),
        )
        .route(
            &format!("{BASE}/tables"),
            get(list_tables).post(create_table),
        )
        .route(
            &format!("{BASE}/tables/{{full_name}}"),
            get(get_table).patch(update_table).delete(delete_table),
        )
        .route(
            &format!("{BASE}/tables/{{full_name}}/exists"),
            get(table_exists),
        )
        .route(
            &format!("{BASE}/table-summaries"),
            get(list_table_summaries),
        )
        .route(
            &format!("{BASE}/volumes"),
            get(list_volumes).post(create_volume),
        )
        .route(
            &format!("{BASE}/volumes/{{name}}"),
            get(get_volume).patch(update_volume).delete(delete_volume),
        )
}

type Params = Query<HashMap<String, String>>;
type Reply = Result<Json<Value>, ApiError>;

fn with_state<T>(
    ws: &AppState,
    f: impl FnOnce(&mut State) -> Result<T, UcError>,
) -> Result<T, ApiError> {
    let mut state = ws.unity_catalog.lock().expect("unity catalog lock");
    Ok(f(&mut state)?)
}

/// Properties as the state keeps them (string values, as Databricks' `map<string, string>`).
fn properties(map: std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn query_required<'a>(q: &'a HashMap<String, String>, field: &str) -> Result<&'a str, ApiError> {
    q.get(field)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing_field(field))
}

fn query_bool(q: &HashMap<String, String>, field: &str) -> Result<bool, ApiError> {
    match q.get(field).map(String::as_str) {
        None | Some("") | Some("false") | Some("False") => Ok(false),
        Some("true") | Some("True") => Ok(true),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "Invalid value for {field}: '{other}' is not a boolean"
        ))),
    }
}

fn page_request<'a>(
    q: &'a HashMap<String, String>,
    by_default: bool,
) -> Result<PageRequest<'a>, ApiError> {
    let max_results = match q.get("max_results") {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            ApiError::invalid_parameter(format!("Invalid value for max_results: '{v}'"))
        })?),
    };
    Ok(PageRequest {
        max_results,
        page_token: q.get("page_token").map(String::as_str),
        paginated_by_default: by_default,
    })
}

fn to_json<T: Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn decorate(mut m: Map<String, Value>, full_name: String, metastore_id: &str) -> Value {
    m.insert("full_name".into(), json!(full_name));
    m.insert("metastore_id".into(), json!(metastore_id));
    Value::Object(m)
}

fn list_reply(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ key: items });
    if let Some(t) = next {
        out["next_page_token"] = json!(t);
    }
    out
}

// ---- catalogs ----

async fn create_catalog(AxumState(ws): AxumState<AppState>, bytes: Bytes) -> Reply {
    let body: CreateCatalog = wire_body(&bytes)?;
    let new = NewCatalog {
        name: required("name", body.name)?,
        comment: body.comment,
        properties: properties(body.properties),
        storage_root: body.storage_root,
        extra: body.extra,
    };
    with_state(&ws, |s| {
        let info = s.create_catalog(new)?;
        Ok(Json(decorate(
            to_json(&info),
            info.name.clone(),
            &s.metastore_id,
        )))
    })
}

async fn list_catalogs(AxumState(ws): AxumState<AppState>, Query(q): Params) -> Reply {
    let settings = ws.settings().unity_catalog;
    let req = page_request(&q, false)?;
    with_state(&ws, |s| {
        let page = paginate(s.list_catalogs(), |c| c.name.clone(), req, &settings)?;
        let items = page
            .items
            .iter()
            .map(|c| decorate(to_json(c), c.name.clone(), &s.metastore_id))
            .collect();
        Ok(Json(list_reply("catalogs", items, page.next_page_token)))
    })
}

async fn get_catalog(AxumState(ws): AxumState<AppState>, Path(name): Path<String>) -> Reply {
    with_state(&ws, |s| {
        let info = s.get_catalog(&name)?;
        Ok(Json(decorate(
            to_json(&info),
            info.name.clone(),
            &s.metastore_id,
        )))
    })
}

/// The body of catalog and schema update (`UpdateCatalog` and `UpdateSchema` have the same
/// fields). `name` and `full_name` name the object in the path and are not kept.
fn container_update(bytes: &Bytes) -> Result<ContainerUpdate, ApiError> {
    let body: UpdateCatalog = wire_body(bytes)?;
    let mut extra = body.extra;
    extra.remove("name");
    extra.remove("full_name");
    Ok(ContainerUpdate {
        new_name: body.new_name.filter(|s| !s.is_empty()),
        comment: body.comment,
        owner: body.owner,
        properties: body.properties.map(properties),
        extra,
    })
}

async fn update_catalog(
    AxumState(ws): AxumState<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Reply {
    let update = container_update(&bytes)?;
    with_state(&ws, |s| {
        let info = s.update_catalog(&name, update)?;
        Ok(Json(decorate(
            to_json(&info),
            info.name.clone(),
            &s.metastore_id,
        )))
    })
}

async fn delete_catalog(
    AxumState(ws): AxumState<AppState>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Reply {
    let force = query_bool(&q, "force")?;
    with_state(&ws, |s| s.delete_catalog(&name, force))?;
    Ok(Json(json!({})))
}

// ---- schemas ----

fn schema_json(s: &State, info: &super::state::SchemaInfo) -> Value {
    decorate(
        to_json(info),
        format!("{}.{}", info.catalog_name, info.name),
        &s.metastore_id,
    )
}

async fn create_schema(AxumState(ws): AxumState<AppState>, bytes: Bytes) -> Reply {
    let body: CreateSchema = wire_body(&bytes)?;
    let name = required("name", body.name)?;
    let catalog = required("catalog_name", body.catalog_name)?;
    with_state(&ws, |s| {
        let info = s.create_schema(
            &catalog,
            &name,
            body.comment,
            properties(body.properties),
            body.storage_root,
            body.extra,
        )?;
        Ok(Json(schema_json(s, &info)))
    })
}

async fn list_schemas(AxumState(ws): AxumState<AppState>, Query(q): Params) -> Reply {
    let settings = ws.settings().unity_catalog;
    let catalog = query_required(&q, "catalog_name")?;
    let req = page_request(&q, false)?;
    with_state(&ws, |s| {
        let page = paginate(s.list_schemas(catalog)?, |x| x.name.clone(), req, &settings)?;
        let items = page.items.iter().map(|i| schema_json(s, i)).collect();
        Ok(Json(list_reply("schemas", items, page.next_page_token)))
    })
}

async fn get_schema(AxumState(ws): AxumState<AppState>, Path(full_name): Path<String>) -> Reply {
    let parts = split_full_name(&full_name, 2, "schema")?;
    with_state(&ws, |s| {
        Ok(Json(schema_json(s, &s.get_schema(&parts[0], &parts[1])?)))
    })
}

async fn update_schema(
    AxumState(ws): AxumState<AppState>,
    Path(full_name): Path<String>,
    bytes: Bytes,
) -> Reply {
    let parts = split_full_name(&full_name, 2, "schema")?;
    let update = container_update(&bytes)?;
    with_state(&ws, |s| {
        let info = s.update_schema(&parts[0], &parts[1], update)?;
        Ok(Json(schema_json(s, &info)))
    })
}

async fn delete_schema(
    AxumState(ws): AxumState<AppState>,
    Path(full_name): Path<String>,
    Query(q): Params,
) -> Reply {
    let parts = split_full_name(&full_name, 2, "schema")?;
    let force = query_bool(&q, "force")?;
    with_state(&ws, |s| s.delete_schema(&parts[0], &parts[1], force))?;
    Ok(Json(json!({})))
}

// ---- tables ----

#[derive(Default, Clone, Copy)]
struct TableView {
    omit_columns: bool,
    omit_properties: bool,
    omit_username: bool,
}

fn table_json(s: &State, info: &super::state::TableInfo, view: TableView) -> Value {
    let mut m = to_json(info);
    if view.omit_columns {
        m.remove("columns");
    }
    if view.omit_properties {
        m.remove("properties");
    }
    if view.omit_username {
        for k in ["owner", "created_by", "updated_by"] {
            m.remove(k);
        }
    }
    decorate(
        m,
        format!("{}.{}.{}", info.catalog_name, info.schema_name, info.name),
        &s.metastore_id,
    )
}

async fn list_tables(AxumState(ws): AxumState<AppState>, Query(q): Params) -> Reply {
    let settings = ws.settings().unity_catalog;
    let catalog = query_required(&q, "catalog_name")?;
    let schema = query_required(&q, "schema_name")?;
    let view = TableView {
        omit_columns: query_bool(&q, "omit_columns")?,
        omit_properties: query_bool(&q, "omit_properties")?,
        omit_username: query_bool(&q, "omit_username")?,
    };
    let req = page_request(&q, false)?;
    with_state(&ws, |s| {
        let page = paginate(
            s.list_tables(catalog, schema)?,
            |t| t.name.clone(),
            req,
            &settings,
        )?;
        let items = page.items.iter().map(|t| table_json(s, t, view)).collect();
        Ok(Json(list_reply("tables", items, page.next_page_token)))
    })
}

/// `POST /tables`: only external Delta tables, as Databricks allows; columns are parsed from
/// their `type_text` (or `type_name`) as Databricks SQL types.
async fn create_table(AxumState(ws): AxumState<AppState>, bytes: Bytes) -> Reply {
    let body: CreateTable = wire_body(&bytes)?;
    let name = required("name", body.name)?;
    let catalog = required("catalog_name", body.catalog_name)?;
    let schema = required("schema_name", body.schema_name)?;
    if body.table_type.as_str().is_empty() {
        return Err(ApiError::missing_field("table_type"));
    }
    let format = required("data_source_format", body.data_source_format)?;
    let storage_location = required("storage_location", body.storage_location)?;
    if body.table_type != TableType::External || format != "DELTA" {
        return Err(ApiError::invalid_parameter(format!(
            "Only EXTERNAL DELTA tables can be created through this API (got {} {format}); use SQL for managed tables",
            body.table_type.as_str()
        )));
    }
    let properties = properties(body.properties);
    let mut columns = body.columns;
    columns.sort_by_key(|c| c.position.unwrap_or(i32::MAX));
    let mut fields = Vec::new();
    let mut comments = std::collections::BTreeMap::new();
    for c in columns {
        let col_name = c
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::missing_field("columns.name"))?;
        let type_text = c.type_text.or(c.type_name).ok_or_else(|| {
            ApiError::missing_field(format_args!("columns.type_text of column {col_name}"))
        })?;
        let data_type = crate::sql::parse_type(&type_text).map_err(|e| {
            ApiError::invalid_parameter(format!(
                "Invalid type '{type_text}' of column {col_name}: {}",
                e.message
            ))
        })?;
        let nullable = c.nullable.unwrap_or(true);
        fields.push(arrow::datatypes::Field::new(&col_name, data_type, nullable));
        if let Some(comment) = c.comment {
            comments.insert(col_name, comment);
        }
    }
    let data = super::state::TableData::new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        Vec::new(),
    )
    .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    with_state(&ws, |s| {
        let info = s.create_external_table(
            &catalog,
            &schema,
            &name,
            storage_location,
            data,
            &comments,
            properties,
        )?;
        Ok(Json(table_json(s, &info, TableView::default())))
    })
}

async fn get_table(AxumState(ws): AxumState<AppState>, Path(full_name): Path<String>) -> Reply {
    let p = split_full_name(&full_name, 3, "table")?;
    with_state(&ws, |s| {
        let t = s.get_table(&p[0], &p[1], &p[2])?;
        Ok(Json(table_json(s, &t.info, TableView::default())))
    })
}

async fn table_exists(AxumState(ws): AxumState<AppState>, Path(full_name): Path<String>) -> Reply {
    let p = split_full_name(&full_name, 3, "table")?;
    let exists = with_state(&ws, |s| Ok(s.table_exists(&p[0], &p[1], &p[2])))?;
    Ok(Json(json!({ "table_exists": exists })))
}

async fn update_table(
    AxumState(ws): AxumState<AppState>,
    Path(full_name): Path<String>,
    bytes: Bytes,
) -> Reply {
    let p = split_full_name(&full_name, 3, "table")?;
    let body: UpdateTable = wire_body(&bytes)?;
    with_state(&ws, |s| {
        s.update_table_owner(&p[0], &p[1], &p[2], body.owner)
    })?;
    Ok(Json(json!({})))
}

async fn delete_table(AxumState(ws): AxumState<AppState>, Path(full_name): Path<String>) -> Reply {
    let p = split_full_name(&full_name, 3, "table")?;
    with_state(&ws, |s| s.delete_table(&p[0], &p[1], &p[2]))?;
    Ok(Json(json!({})))
}

async fn list_table_summaries(AxumState(ws): AxumState<AppState>, Query(q): Params) -> Reply {
    let settings = ws.settings().unity_catalog;
    let catalog = query_required(&q, "catalog_name")?;
    let schema_pattern = q
        .get("schema_name_pattern")
        .map(String::as_str)
        .unwrap_or("%");
    let table_pattern = q
        .get("table_name_pattern")
        .map(String::as_str)
        .unwrap_or("%");
    let mut req = page_request(&q, true)?;
    // The server caps a summaries page at 10,000 entries.
    req.max_results = req.max_results.map(|n| n.min(10_000));
    with_state(&ws, |s| {
        let mut summaries = Vec::new();
        for schema in s.list_schemas(catalog)? {
            if !like(schema_pattern, &schema.name) {
                continue;
            }
            for t in s.list_tables(catalog, &schema.name)? {
                if like(table_pattern, &t.name) {
                    summaries.push((
                        format!("{}.{}.{}", t.catalog_name, t.schema_name, t.name),
                        t.table_type,
                    ));
                }
            }
        }
        let page = paginate(summaries, |(f, _)| f.clone(), req, &settings)?;
        let items = page
            .items
            .into_iter()
            .map(
                |(full_name, table_type)| json!({"full_name": full_name, "table_type": table_type}),
            )
            .collect();
        Ok(Json(list_reply("tables", items, page.next_page_token)))
    })
}

// ---- volumes ----

fn volume_json(s: &State, info: &super::state::VolumeInfo) -> Value {
    decorate(
        to_json(info),
        format!("{}.{}.{}", info.catalog_name, info.schema_name, info.name),
        &s.metastore_id,
    )
}

async fn create_volume(AxumState(ws): AxumState<AppState>, bytes: Bytes) -> Reply {
    let body: CreateVolume = wire_body(&bytes)?;
    let catalog = required("catalog_name", body.catalog_name)?;
    let schema = required("schema_name", body.schema_name)?;
    let name = required("name", body.name)?;
    let volume_type = match body.volume_type {
        VolumeType::Other(t) if t.is_empty() => return Err(ApiError::missing_field("volume_type")),
        t => t,
    };
    with_state(&ws, |s| {
        let info = s.create_volume(
            &catalog,
            &schema,
            &name,
            volume_type,
            body.storage_location,
            body.comment,
            body.extra,
        )?;
        Ok(Json(volume_json(s, &info)))
    })
}

async fn list_volumes(AxumState(ws): AxumState<AppState>, Query(q): Params) -> Reply {
    let settings = ws.settings().unity_catalog;
    let catalog = query_required(&q, "catalog_name")?;
    let schema = query_required(&q, "schema_name")?;
    let req = page_request(&q, true)?;
    with_state(&ws, |s| {
        let page = paginate(
            s.list_volumes(catalog, schema)?,
            |v| v.name.clone(),
            req,
            &settings,
        )?;
        let items = page.items.iter().map(|v| volume_json(s, v)).collect();
        Ok(Json(list_reply("volumes", items, page.next_page_token)))
    })
}

async fn get_volume(AxumState(ws): AxumState<AppState>, Path(name): Path<String>) -> Reply {
    let p = split_full_name(&name, 3, "volume")?;
    with_state(&ws, |s| {
        Ok(Json(volume_json(s, &s.get_volume(&p[0], &p[1], &p[2])?)))
    })
}

async fn update_volume(
    AxumState(ws): AxumState<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Reply {
    let p = split_full_name(&name, 3, "volume")?;
    let body: UpdateVolume = wire_body(&bytes)?;
    let new_name = body.new_name.filter(|s| !s.is_empty());
    with_state(&ws, |s| {
        let info = s.update_volume(&p[0], &p[1], &p[2], new_name, body.owner, body.comment)?;
        Ok(Json(volume_json(s, &info)))
    })
}

async fn delete_volume(AxumState(ws): AxumState<AppState>, Path(name): Path<String>) -> Reply {
    let p = split_full_name(&name, 3, "volume")?;
    with_state(&ws, |s| s.delete_volume(&p[0], &p[1], &p[2]))?;
    Ok(Json(json!({})))
}
