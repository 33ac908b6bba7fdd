//! Schemas: Unity Catalog schemas (`/api/2.1/unity-catalog/schemas`).

use brickwire_api::unity_catalog::{ListSchemasRequest, UpdateSchema};
use brickwire_client::services::unity_catalog::request;

use super::catalogs::PredictiveOptimization;
use super::prelude::*;

/// Input of Query Schemas.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QuerySchemasInput {
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// Also return schemas the caller can only browse (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Input of Create Schema.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateSchemaInput {
    /// Name of the schema, relative to the parent catalog.
    pub name: String,
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// User-provided free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Key-value properties attached to the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// Storage root URL for managed tables in the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
}

/// Input naming one schema.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct SchemaNameInput {
    /// Full name of the schema: `catalog.schema`.
    pub full_name: String,
    /// Also return the schema when the caller can only browse it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// Input of Update Schema: only the fields given change.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateSchemaInput {
    /// Full name of the schema: `catalog.schema`.
    pub full_name: String,
    /// New name for the schema (relative to the catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// User-provided free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Username (or group name) of the new owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Key-value properties; replaces all existing properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// `ENABLE`, `DISABLE` or `INHERIT` predictive optimization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_predictive_optimization: Option<PredictiveOptimization>,
}

/// Input of Delete Schema.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct DeleteSchemaInput {
    /// Full name of the schema: `catalog.schema`.
    pub full_name: String,
    /// Delete the schema even when it is not empty (default false).
    #[serde(default)]
    pub force: bool,
}

/// The Schemas actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Schemas;
    vec![
        Action::define(
            g,
            "Query Schemas",
            "Gets an array of schemas for a catalog in the metastore.",
            true,
            json!({"catalog_name": "main"}),
            |client: Client, input: QuerySchemasInput| async move {
                list(&input.paging, "schemas", CursorStyle::Token, |n| {
                    client.schemas().list(&ListSchemasRequest {
                        catalog_name: input.catalog_name.clone(),
                        max_results: Some(n as i32),
                        include_browse: input.include_browse,
                        ..Default::default()
                    })
                })
                .await
            },
        )
        .read_only(),
        Action::define(
            g,
            "Create Schema",
            "Creates a new schema for a catalog in the metastore.",
            false,
            json!({"catalog_name": "main", "name": "sales", "comment": "Sales data"}),
            |client: Client, input: CreateSchemaInput| async move {
                let body = to_model(body_without(&input, &[]))?;
                Ok(client.call(request::create_schema(&body)).await?)
            },
        ),
        Action::define(
            g,
            "Retrieve Schema",
            "Gets the specified schema within the metastore.",
            true,
            json!({"full_name": "main.sales"}),
            |client: Client, input: SchemaNameInput| async move {
                let req = request::get_schema(&input.full_name)
                    .query_opt("include_browse", input.include_browse);
                Ok(client.call(req).await?)
            },
        )
        .read_only(),
        Action::define(
            g,
            "Update Schema",
            "Updates a schema for a catalog; only the fields given change.",
            true,
            json!({"full_name": "main.sales", "comment": "Curated sales data"}),
            |client: Client, input: UpdateSchemaInput| async move {
                let body: UpdateSchema = to_model(body_without(&input, &["full_name"]))?;
                Ok(client
                    .call(request::update_schema(&input.full_name, &body))
                    .await?)
            },
        ),
        Action::define(
            g,
            "Delete Schema",
            "Deletes the specified schema from the parent catalog.",
            true,
            json!({"full_name": "main.sales"}),
            |client: Client, input: DeleteSchemaInput| async move {
                Ok(client
                    .call(request::delete_schema(&input.full_name, input.force))
                    .await?)
            },
        )
        .destructive(),
    ]
}
