//! Volumes: Unity Catalog volumes (`/api/2.1/unity-catalog/volumes`).

use brickwire_api::unity_catalog::{ListVolumesRequest, UpdateVolume};
use brickwire_client::services::unity_catalog::request;

use super::prelude::*;

/// The type of a volume.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VolumeType {
    // storage managed by Unity Catalog
    Managed,
    // storage at `storage_location`
    External,
}

/// Input of Query Volumes.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryVolumesInput {
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// Name of the parent schema.
    pub schema_name: String,
    /// Also return volumes the caller can only browse (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Input of Create Volume.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateVolumeInput {
    /// Name of the parent catalog.
    pub catalog_name: String,
    /// Name of the parent schema.
    pub schema_name: String,
    /// Name of the volume.
    pub name: String,
    /// `MANAGED` or `EXTERNAL` (an external volume needs `storage_location`).
    pub volume_type: VolumeType,
    /// User-provided free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Cloud storage URL of an external volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
}

/// Input naming one volume.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct VolumeNameInput {
    /// Full name of the volume: `catalog.schema.volume`.
    pub full_name: String,
}

/// Input of Retrieve Volume.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RetrieveVolumeInput {
    /// Full name of the volume: `catalog.schema.volume`.
    pub full_name: String,
    /// Also return the volume when the caller can only browse it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_browse: Option<bool>,
}

/// Input of Update Volume: only `new_name`, `owner` and `comment` can change.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateVolumeInput {
    /// Full name of the volume: `catalog.schema.volume`.
    pub full_name: String,
    /// New name for the volume (relative to the schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Username (or group name) of the new owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// User-provided free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The Volumes actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Volumes;
    vec![
        Action::define(
            g,
            "Query Volumes",
            "Gets an array of volumes for a catalog and schema in the metastore.",
            true,
            json!({"catalog_name": "main", "schema_name": "sales"}),
            |client: Client, input: QueryVolumesInput| async move {
                list(&input.paging, "volumes", CursorStyle::Token, |n| {
                    client.volumes().list(&ListVolumesRequest {
                        catalog_name: input.catalog_name.clone(),
                        schema_name: input.schema_name.clone(),
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
            "Create Volume",
            "Creates a new volume.",
            false,
            json!({"catalog_name": "main", "schema_name": "sales", "name": "raw", "volume_type": "MANAGED"}),
            |client: Client, input: CreateVolumeInput| async move {
                let body = to_model(body_without(&input, &[]))?;
                Ok(client.call(request::create_volume(&body)).await?)
            },
        ),
        Action::define(
            g,
            "Retrieve Volume",
            "Gets a volume from the metastore for a specific catalog and schema.",
            true,
            json!({"full_name": "main.sales.raw"}),
            |client: Client, input: RetrieveVolumeInput| async move {
                let req = request::get_volume(&input.full_name)
                    .query_opt("include_browse", input.include_browse);
                Ok(client.call(req).await?)
            },
        )
        .read_only(),
        Action::define(
            g,
            "Update Volume",
            "Updates the specified volume (name, owner or comment).",
            true,
            json!({"full_name": "main.sales.raw", "comment": "Raw landing files"}),
            |client: Client, input: UpdateVolumeInput| async move {
                let body: UpdateVolume = to_model(body_without(&input, &["full_name"]))?;
                Ok(client
                    .call(request::update_volume(&input.full_name, &body))
                    .await?)
            },
        ),
        Action::define(
            g,
            "Delete Volume",
            "Deletes a volume from the specified parent catalog and schema.",
            true,
            json!({"full_name": "main.sales.raw"}),
            |client: Client, input: VolumeNameInput| async move {
                Ok(client
                    .call(request::delete_volume(&input.full_name))
                    .await?)
            },
        )
        .destructive(),
    ]
}
