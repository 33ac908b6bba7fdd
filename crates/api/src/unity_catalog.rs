//! Unity Catalog (`/api/2.1/unity-catalog`): catalogs, schemas, tables, table summaries and
//! volumes, with their create/update bodies and list queries.
//!
//! UC lists page with `max_results` + `page_token`. For catalogs, schemas and tables an omitted
//! `max_results` means the legacy unpaginated answer, so the client sends `0` (server page size)
//! when the caller gives none, as the SDK does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::Extra;

crate::string_enum! {
    /// The type of a table.
    pub enum TableType {
        Managed = "MANAGED",
        External = "EXTERNAL",
        View = "VIEW",
        MaterializedView = "MATERIALIZED_VIEW",
        StreamingTable = "STREAMING_TABLE",
        Foreign = "FOREIGN",
        MetricView = "METRIC_VIEW",
        ManagedShallowClone = "MANAGED_SHALLOW_CLONE",
        ExternalShallowClone = "EXTERNAL_SHALLOW_CLONE",
    }
}

crate::string_enum! {
    /// `MANAGED` or `EXTERNAL`.
    pub enum VolumeType { Managed = "MANAGED", External = "EXTERNAL" }
}

/// A catalog.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CatalogInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The full name (same as the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// `MANAGED_CATALOG`, `FOREIGN_CATALOG`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_type: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Managed storage root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// The metastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metastore_id: Option<String>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Last update, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Who updated last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of catalog create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateCatalog {
    /// The name.
    pub name: String,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Managed storage root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// Every other field (`connection_name`, `options`, `provider_name`, ...), sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of catalog update (the name is in the path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateCatalog {
    /// Rename to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Properties (replaces all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// Every other field (`isolation_mode`, `enable_predictive_optimization`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A schema.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SchemaInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_name: Option<String>,
    /// `catalog.schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Managed storage root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Last update, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Who updated last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of schema create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateSchema {
    /// The name.
    pub name: String,
    /// The parent catalog.
    pub catalog_name: String,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Managed storage root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// Every other field, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of schema update (the full name is in the path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateSchema {
    /// Rename to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Properties (replaces all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// Every other field (`enable_predictive_optimization`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The type name, e.g. `INT`, `STRING`, `DECIMAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// The full SQL type, e.g. `decimal(10,2)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_text: Option<String>,
    /// The type as Spark JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_json: Option<String>,
    /// Decimal precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_precision: Option<i32>,
    /// Decimal scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_scale: Option<i32>,
    /// 0-based position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    /// Whether NULL is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Partition position, for partition columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_index: Option<i32>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A table or view.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_name: Option<String>,
    /// The schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// `catalog.schema.table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_id: Option<String>,
    /// `MANAGED`, `EXTERNAL`, `VIEW`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<TableType>,
    /// `DELTA`, `PARQUET`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_format: Option<String>,
    /// The columns (omitted when `omit_columns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnInfo>,
    /// Storage location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    /// The SQL of a view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_definition: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Last update, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Who updated last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `tables/{full_name}/exists`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableExistsResponse {
    /// Whether the table exists.
    #[serde(default)]
    pub table_exists: bool,
}

/// One entry of `table-summaries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableSummary {
    /// `catalog.schema.table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The table type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<TableType>,
    /// Fields this version does not model (`securable_kind_manifest`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_name: Option<String>,
    /// The schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// `catalog.schema.volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// `MANAGED` or `EXTERNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<VolumeType>,
    /// Storage location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Last update, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Who updated last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of volume create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateVolume {
    /// The catalog.
    pub catalog_name: String,
    /// The schema.
    pub schema_name: String,
    /// The name.
    pub name: String,
    /// `MANAGED` or `EXTERNAL`.
    pub volume_type: VolumeType,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Storage location (required for `EXTERNAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
    /// Fields this version does not model, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of volume update (the full name is in the path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateVolume {
    /// Rename to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The body of table create: Databricks creates only external Delta tables through it
/// (`table_type` `EXTERNAL`, `data_source_format` `DELTA`); managed ones are made with SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTable {
    /// The name, relative to the schema.
    pub name: String,
    /// The catalog.
    pub catalog_name: String,
    /// The schema.
    pub schema_name: String,
    /// The table type (`EXTERNAL`).
    pub table_type: TableType,
    /// `DELTA`, `PARQUET`, ... (`DELTA`).
    pub data_source_format: String,
    /// Where the table's files are.
    pub storage_location: String,
    /// The columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnInfo>,
    /// Properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// The body of table update (the full name is in the path): only the owner can change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateTable {
    /// The owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The query of the catalog list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListCatalogsRequest {
    /// Page size; `0` lets the server choose. Sent as `0` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Include catalogs the caller can only browse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    /// Include catalogs not bound to this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_unbound: Option<bool>,
}

/// The query of the schema list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListSchemasRequest {
    /// The parent catalog (required).
    pub catalog_name: String,
    /// Page size; `0` lets the server choose. Sent as `0` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Include schemas the caller can only browse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// The query of the table list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListTablesRequest {
    /// The catalog (required).
    pub catalog_name: String,
    /// The schema (required).
    pub schema_name: String,
    /// Page size; `0` lets the server choose. Sent as `0` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Leave out columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_columns: Option<bool>,
    /// Leave out properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_properties: Option<bool>,
    /// Leave out owner and updater names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_username: Option<bool>,
    /// Include tables the caller can only browse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    /// Include manifest capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_manifest_capabilities: Option<bool>,
}

/// The query of `table-summaries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListTableSummariesRequest {
    /// The catalog (required).
    pub catalog_name: String,
    /// A SQL LIKE pattern over schema names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name_pattern: Option<String>,
    /// A SQL LIKE pattern over table names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_name_pattern: Option<String>,
    /// Page size (≤ 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Include manifest capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_manifest_capabilities: Option<bool>,
}

/// The query of the volume list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListVolumesRequest {
    /// The catalog (required).
    pub catalog_name: String,
    /// The schema (required).
    pub schema_name: String,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Include volumes the caller can only browse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// One page of the catalog list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListCatalogsResponse {
    /// The catalogs (may be empty while a token remains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalogs: Vec<CatalogInfo>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of the schema list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListSchemasResponse {
    /// The schemas (may be empty while a token remains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<SchemaInfo>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of the table list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListTablesResponse {
    /// The tables (may be empty while a token remains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableInfo>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of `table-summaries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListTableSummariesResponse {
    /// The summaries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableSummary>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of the volume list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListVolumesResponse {
    /// The volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeInfo>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_with_unknown_fields() {
        let raw = serde_json::json!({
            "name": "t", "catalog_name": "c", "schema_name": "s", "full_name": "c.s.t",
            "table_type": "MANAGED", "data_source_format": "DELTA",
            "columns": [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0, "nullable": true, "mask": {}}],
            "delta_runtime_properties_kvpairs": {"delta_runtime_properties": {}},
            "securable_kind_manifest": {"securable_kind": "TABLE_DELTA"}
        });
        let t: TableInfo = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(t.table_type, Some(TableType::Managed));
        assert_eq!(serde_json::to_value(&t).unwrap(), raw);
    }

    #[test]
    fn unknown_table_type_survives() {
        let s: TableSummary = serde_json::from_value(
            serde_json::json!({"full_name": "a.b.c", "table_type": "FUTURE"}),
        )
        .unwrap();
        assert_eq!(s.table_type, Some(TableType::Other("FUTURE".into())));
    }
}
