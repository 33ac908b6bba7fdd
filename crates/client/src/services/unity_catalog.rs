//! Unity Catalog (`/api/2.1/unity-catalog`): catalogs, schemas, tables (list, get, exists,
//! summaries, delete) and volumes.
//!
//! Catalog, schema and table lists send `max_results=0` when the caller gives none: omitting it
//! asks for the legacy unpaginated answer. Pages may be empty while a token remains; the
//! [`Paginator`] keeps going until the token is gone.

use brickwire_api::Empty;
use brickwire_api::unity_catalog::{
    CatalogInfo, CreateCatalog, CreateSchema, CreateVolume, ListCatalogsRequest,
    ListCatalogsResponse, ListSchemasRequest, ListSchemasResponse, ListTableSummariesRequest,
    ListTableSummariesResponse, ListTablesRequest, ListTablesResponse, ListVolumesRequest,
    ListVolumesResponse, SchemaInfo, TableExistsResponse, TableInfo, TableSummary, UpdateCatalog,
    UpdateSchema, UpdateVolume, VolumeInfo,
};

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Page, Paginator};
use crate::services::{apply_page_token, get_with, paginate, path_segment, to_json};

/// The path prefix of Unity Catalog.
pub const BASE: &str = "/api/2.1/unity-catalog";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    fn at(kind: &str, name: &str) -> String {
        format!("{BASE}/{kind}/{}", path_segment(name))
    }

    /// `GET /catalogs` (`max_results` defaults to 0).
    pub fn list_catalogs(params: &ListCatalogsRequest) -> ApiRequest {
        let mut p = params.clone();
        p.max_results.get_or_insert(0);
        get_with(format!("{BASE}/catalogs"), &p)
    }

    /// `POST /catalogs`.
    pub fn create_catalog(body: &CreateCatalog) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/catalogs")).json(to_json(body))
    }

    /// `GET /catalogs/{name}`.
    pub fn get_catalog(name: &str) -> ApiRequest {
        ApiRequest::get(at("catalogs", name))
    }

    /// `PATCH /catalogs/{name}`.
    pub fn update_catalog(name: &str, body: &UpdateCatalog) -> ApiRequest {
        ApiRequest::patch(at("catalogs", name)).json(to_json(body))
    }

    /// `DELETE /catalogs/{name}?force=`.
    pub fn delete_catalog(name: &str, force: bool) -> ApiRequest {
        ApiRequest::delete(at("catalogs", name)).query_opt("force", force.then_some(true))
    }

    /// `GET /schemas?catalog_name=` (`max_results` defaults to 0).
    pub fn list_schemas(params: &ListSchemasRequest) -> ApiRequest {
        let mut p = params.clone();
        p.max_results.get_or_insert(0);
        get_with(format!("{BASE}/schemas"), &p)
    }

    /// `POST /schemas`.
    pub fn create_schema(body: &CreateSchema) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/schemas")).json(to_json(body))
    }

    /// `GET /schemas/{catalog.schema}`.
    pub fn get_schema(full_name: &str) -> ApiRequest {
        ApiRequest::get(at("schemas", full_name))
    }

    /// `PATCH /schemas/{catalog.schema}`.
    pub fn update_schema(full_name: &str, body: &UpdateSchema) -> ApiRequest {
        ApiRequest::patch(at("schemas", full_name)).json(to_json(body))
    }

    /// `DELETE /schemas/{catalog.schema}?force=`.
    pub fn delete_schema(full_name: &str, force: bool) -> ApiRequest {
        ApiRequest::delete(at("schemas", full_name)).query_opt("force", force.then_some(true))
    }

    /// `GET /tables?catalog_name=&schema_name=` (`max_results` defaults to 0).
    pub fn list_tables(params: &ListTablesRequest) -> ApiRequest {
        let mut p = params.clone();
        p.max_results.get_or_insert(0);
        get_with(format!("{BASE}/tables"), &p)
    }

    /// `GET /tables/{catalog.schema.table}`.
    pub fn get_table(full_name: &str) -> ApiRequest {
        ApiRequest::get(at("tables", full_name))
    }

    /// `GET /tables/{catalog.schema.table}/exists`.
    pub fn table_exists(full_name: &str) -> ApiRequest {
        ApiRequest::get(format!("{}/exists", at("tables", full_name)))
    }

    /// `GET /table-summaries?catalog_name=`.
    pub fn list_table_summaries(params: &ListTableSummariesRequest) -> ApiRequest {
        get_with(format!("{BASE}/table-summaries"), params)
    }

    /// `DELETE /tables/{catalog.schema.table}`.
    pub fn delete_table(full_name: &str) -> ApiRequest {
        ApiRequest::delete(at("tables", full_name))
    }

    /// `GET /volumes?catalog_name=&schema_name=`.
    pub fn list_volumes(params: &ListVolumesRequest) -> ApiRequest {
        get_with(format!("{BASE}/volumes"), params)
    }

    /// `POST /volumes`.
    pub fn create_volume(body: &CreateVolume) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/volumes")).json(to_json(body))
    }

    /// `GET /volumes/{catalog.schema.volume}`.
    pub fn get_volume(full_name: &str) -> ApiRequest {
        ApiRequest::get(at("volumes", full_name))
    }

    /// `PATCH /volumes/{catalog.schema.volume}`.
    pub fn update_volume(full_name: &str, body: &UpdateVolume) -> ApiRequest {
        ApiRequest::patch(at("volumes", full_name)).json(to_json(body))
    }

    /// `DELETE /volumes/{catalog.schema.volume}`.
    pub fn delete_volume(full_name: &str) -> ApiRequest {
        ApiRequest::delete(at("volumes", full_name))
    }
}

/// Unity Catalog catalogs: `client.catalogs()`.
#[derive(Debug, Clone)]
pub struct Catalogs {
    client: Client,
}

impl Catalogs {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists catalogs.
    pub fn list(&self, params: &ListCatalogsRequest) -> Paginator<CatalogInfo> {
        paginate(
            &self.client,
            request::list_catalogs(params),
            apply_page_token,
            |r: ListCatalogsResponse, _| Page::from_token(r.catalogs, r.next_page_token),
        )
    }

    /// Creates a catalog.
    pub async fn create(&self, body: &CreateCatalog) -> Result<CatalogInfo> {
        self.client.call(request::create_catalog(body)).await
    }

    /// Gets a catalog.
    pub async fn get(&self, name: &str) -> Result<CatalogInfo> {
        self.client.call(request::get_catalog(name)).await
    }

    /// Updates a catalog.
    pub async fn update(&self, name: &str, body: &UpdateCatalog) -> Result<CatalogInfo> {
        self.client.call(request::update_catalog(name, body)).await
    }

    /// Deletes a catalog; `force` deletes it even when not empty.
    pub async fn delete(&self, name: &str, force: bool) -> Result<()> {
        self.client
            .call::<Empty>(request::delete_catalog(name, force))
            .await
            .map(drop)
    }
}

/// Unity Catalog schemas: `client.schemas()`.
#[derive(Debug, Clone)]
pub struct Schemas {
    client: Client,
}

impl Schemas {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists the schemas of a catalog.
    pub fn list(&self, params: &ListSchemasRequest) -> Paginator<SchemaInfo> {
        paginate(
            &self.client,
            request::list_schemas(params),
            apply_page_token,
            |r: ListSchemasResponse, _| Page::from_token(r.schemas, r.next_page_token),
        )
    }

    /// Creates a schema.
    pub async fn create(&self, body: &CreateSchema) -> Result<SchemaInfo> {
        self.client.call(request::create_schema(body)).await
    }

    /// Gets a schema by `catalog.schema`.
    pub async fn get(&self, full_name: &str) -> Result<SchemaInfo> {
        self.client.call(request::get_schema(full_name)).await
    }

    /// Updates a schema.
    pub async fn update(&self, full_name: &str, body: &UpdateSchema) -> Result<SchemaInfo> {
        self.client
            .call(request::update_schema(full_name, body))
            .await
    }

    /// Deletes a schema; `force` deletes it even when not empty.
    pub async fn delete(&self, full_name: &str, force: bool) -> Result<()> {
        self.client
            .call::<Empty>(request::delete_schema(full_name, force))
            .await
            .map(drop)
    }
}

/// Unity Catalog tables: `client.tables()`.
#[derive(Debug, Clone)]
pub struct Tables {
    client: Client,
}

impl Tables {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists the tables of a schema.
    pub fn list(&self, params: &ListTablesRequest) -> Paginator<TableInfo> {
        paginate(
            &self.client,
            request::list_tables(params),
            apply_page_token,
            |r: ListTablesResponse, _| Page::from_token(r.tables, r.next_page_token),
        )
    }

    /// Gets a table by `catalog.schema.table`.
    pub async fn get(&self, full_name: &str) -> Result<TableInfo> {
        self.client.call(request::get_table(full_name)).await
    }

    /// Whether a table exists (the dedicated endpoint; still needs USE/BROWSE rights).
    pub async fn exists(&self, full_name: &str) -> Result<bool> {
        let r: TableExistsResponse = self.client.call(request::table_exists(full_name)).await?;
        Ok(r.table_exists)
    }

    /// Lists table summaries of a catalog, filtered by LIKE patterns.
    pub fn list_summaries(&self, params: &ListTableSummariesRequest) -> Paginator<TableSummary> {
        paginate(
            &self.client,
            request::list_table_summaries(params),
            apply_page_token,
            |r: ListTableSummariesResponse, _| Page::from_token(r.tables, r.next_page_token),
        )
    }

    /// Deletes a table.
    pub async fn delete(&self, full_name: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::delete_table(full_name))
            .await
            .map(drop)
    }
}

/// Unity Catalog volumes: `client.volumes()`.
#[derive(Debug, Clone)]
pub struct Volumes {
    client: Client,
}

impl Volumes {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists the volumes of a schema.
    pub fn list(&self, params: &ListVolumesRequest) -> Paginator<VolumeInfo> {
        paginate(
            &self.client,
            request::list_volumes(params),
            apply_page_token,
            |r: ListVolumesResponse, _| Page::from_token(r.volumes, r.next_page_token),
        )
    }

    /// Creates a volume.
    pub async fn create(&self, body: &CreateVolume) -> Result<VolumeInfo> {
        self.client.call(request::create_volume(body)).await
    }

    /// Gets a volume by `catalog.schema.volume` (Databricks' `read`).
    pub async fn get(&self, full_name: &str) -> Result<VolumeInfo> {
        self.client.call(request::get_volume(full_name)).await
    }

    /// Updates a volume.
    pub async fn update(&self, full_name: &str, body: &UpdateVolume) -> Result<VolumeInfo> {
        self.client
            .call(request::update_volume(full_name, body))
            .await
    }

    /// Deletes a volume.
    pub async fn delete(&self, full_name: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::delete_volume(full_name))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::unity_catalog::VolumeType;
    use http::Method;
    use serde_json::json;

    fn q(r: &ApiRequest) -> Vec<(&str, &str)> {
        r.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn lists_default_max_results_to_zero() {
        let c = request::list_catalogs(&ListCatalogsRequest::default());
        assert_eq!(c.path, "/api/2.1/unity-catalog/catalogs");
        assert_eq!(q(&c), vec![("max_results", "0")]);
        let s = request::list_schemas(&ListSchemasRequest {
            catalog_name: "main".into(),
            include_browse: Some(true),
            ..ListSchemasRequest::default()
        });
        assert_eq!(
            q(&s),
            vec![
                ("catalog_name", "main"),
                ("max_results", "0"),
                ("include_browse", "true")
            ]
        );
        let t = request::list_tables(&ListTablesRequest {
            catalog_name: "main".into(),
            schema_name: "s".into(),
            max_results: Some(10),
            omit_columns: Some(true),
            ..ListTablesRequest::default()
        });
        assert_eq!(
            q(&t),
            vec![
                ("catalog_name", "main"),
                ("schema_name", "s"),
                ("max_results", "10"),
                ("omit_columns", "true")
            ]
        );
        // summaries and volumes are paginated by default: nothing added
        let v = request::list_volumes(&ListVolumesRequest {
            catalog_name: "main".into(),
            schema_name: "s".into(),
            ..ListVolumesRequest::default()
        });
        assert_eq!(q(&v), vec![("catalog_name", "main"), ("schema_name", "s")]);
        let ts = request::list_table_summaries(&ListTableSummariesRequest {
            catalog_name: "main".into(),
            table_name_pattern: Some("ord%".into()),
            ..ListTableSummariesRequest::default()
        });
        assert_eq!(ts.path, "/api/2.1/unity-catalog/table-summaries");
        assert_eq!(
            q(&ts),
            vec![("catalog_name", "main"), ("table_name_pattern", "ord%")]
        );
    }

    #[test]
    fn object_paths() {
        let cases = [
            (
                request::get_catalog("main"),
                Method::GET,
                "/api/2.1/unity-catalog/catalogs/main",
            ),
            (
                request::get_schema("main.s"),
                Method::GET,
                "/api/2.1/unity-catalog/schemas/main.s",
            ),
            (
                request::get_table("main.s.t"),
                Method::GET,
                "/api/2.1/unity-catalog/tables/main.s.t",
            ),
            (
                request::table_exists("main.s.t"),
                Method::GET,
                "/api/2.1/unity-catalog/tables/main.s.t/exists",
            ),
            (
                request::delete_table("main.s.t"),
                Method::DELETE,
                "/api/2.1/unity-catalog/tables/main.s.t",
            ),
            (
                request::get_volume("main.s.v"),
                Method::GET,
                "/api/2.1/unity-catalog/volumes/main.s.v",
            ),
            (
                request::delete_volume("main.s.v"),
                Method::DELETE,
                "/api/2.1/unity-catalog/volumes/main.s.v",
            ),
        ];
        for (r, m, p) in cases {
            assert_eq!((&r.method, r.path.as_str()), (&m, p));
        }
        let d = request::delete_catalog("main", true);
        assert_eq!(
            (d.method.clone(), q(&d)),
            (Method::DELETE, vec![("force", "true")])
        );
        assert!(request::delete_schema("main.s", false).query.is_empty());
    }

    #[test]
    fn create_and_update_bodies() {
        let v = request::create_volume(&CreateVolume {
            catalog_name: "c".into(),
            schema_name: "s".into(),
            name: "v".into(),
            volume_type: VolumeType::Managed,
            comment: None,
            storage_location: None,
            extra: Default::default(),
        });
        assert_eq!(v.method, Method::POST);
        assert_eq!(
            v.body,
            Some(RequestBody::Json(
                json!({"catalog_name": "c", "schema_name": "s", "name": "v", "volume_type": "MANAGED"})
            ))
        );
        let u = request::update_catalog(
            "c",
            &UpdateCatalog {
                comment: Some("x".into()),
                ..UpdateCatalog::default()
            },
        );
        assert_eq!(
            (u.method, u.body),
            (
                Method::PATCH,
                Some(RequestBody::Json(json!({"comment": "x"})))
            )
        );
        let s = request::create_schema(&CreateSchema {
            name: "s".into(),
            catalog_name: "c".into(),
            ..CreateSchema::default()
        });
        assert_eq!(s.path, "/api/2.1/unity-catalog/schemas");
    }
}
