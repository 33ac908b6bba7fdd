//! Catalogs: Unity Catalog catalogs (`/api/2.1/unity-catalog/catalogs`).

use brickwire_api::unity_catalog::{ListCatalogsRequest, UpdateCatalog};
use brickwire_client::services::unity_catalog::request;

use super::prelude::*;

/// Isolation mode of a catalog.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IsolationMode {
    // every workspace attached to the metastore can reach the catalog
    Open,
    // only the workspaces bound to the catalog can reach it
    Isolated,
}

/// Whether predictive optimization is enabled, disabled or inherited from the parent.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PredictiveOptimization {
    Enable,
    Disable,
    Inherit,
}

/// Input of Query Catalogs.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryCatalogsInput {
    /// Also return catalogs the caller can only browse (BROWSE privilege) (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Input of Create Catalog. Fields not listed (e.g. `managed_encryption_settings`) are passed
/// to Databricks as they are.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateCatalogInput {
    /// Name of the catalog, unique in the metastore.
    pub name: String,
    /// User-provided free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Key-value properties attached to the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// Storage root URL for managed tables in the catalog (`s3://...`, `abfss://...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_root: Option<String>,
    /// For a foreign catalog: the name of the connection to the external data source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    /// For a foreign catalog: connection options, e.g. `{"database": "sales"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// For a Delta Sharing catalog: the name of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// For a Delta Sharing catalog: the name of the share under the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_name: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input naming one catalog.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CatalogNameInput {
    /// Name of the catalog.
    pub name: String,
    /// Also return the catalog when the caller can only browse it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// Input of Update Catalog: only the fields given change.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateCatalogInput {
    /// Name of the catalog to update.
    pub name: String,
    /// New name for the catalog.
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
    /// Connection options of a foreign catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// `OPEN` (every workspace of the metastore) or `ISOLATED` (bound workspaces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_mode: Option<IsolationMode>,
    /// `ENABLE`, `DISABLE` or `INHERIT` predictive optimization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_predictive_optimization: Option<PredictiveOptimization>,
}

/// Input of Delete Catalog.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct DeleteCatalogInput {
    /// Name of the catalog.
    pub name: String,
    /// Delete the catalog even when it is not empty (default false).
    #[serde(default)]
    pub force: bool,
}

/// The Catalogs actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Catalogs;
    vec![
        Action::define(
            g,
            "Query Catalogs",
            "Gets an array of catalogs in the metastore.",
            true,
            json!({"limit": 50}),
            |client: Client, input: QueryCatalogsInput| async move {
                list(&input.paging, "catalogs", CursorStyle::Token, |n| {
                    client.catalogs().list(&ListCatalogsRequest {
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
            "Create Catalog",
            "Creates a new catalog instance in the parent metastore.",
            false,
            json!({"name": "sales", "comment": "Sales data"}),
            |client: Client, input: CreateCatalogInput| async move {
                let body = to_model(body_without(&input, &[]))?;
                Ok(client.call(request::create_catalog(&body)).await?)
            },
        ),
        Action::define(
            g,
            "Retrieve Catalog",
            "Gets the specified catalog in a metastore.",
            true,
            json!({"name": "sales"}),
            |client: Client, input: CatalogNameInput| async move {
                let req = request::get_catalog(&input.name)
                    .query_opt("include_browse", input.include_browse);
                Ok(client.call(req).await?)
            },
        )
        .read_only(),
        Action::define(
            g,
            "Update Catalog",
            "Updates the catalog that matches the supplied name; only the fields given change.",
            true,
            json!({"name": "sales", "comment": "Sales data, curated"}),
            |client: Client, input: UpdateCatalogInput| async move {
                let body: UpdateCatalog = to_model(body_without(&input, &["name"]))?;
                Ok(client
                    .call(request::update_catalog(&input.name, &body))
                    .await?)
            },
        ),
        Action::define(
            g,
            "Delete Catalog",
            "Deletes the catalog that matches the supplied name.",
            true,
            json!({"name": "sales", "force": false}),
            |client: Client, input: DeleteCatalogInput| async move {
                Ok(client
                    .call(request::delete_catalog(&input.name, input.force))
                    .await?)
            },
        )
        .destructive(),
    ]
}
