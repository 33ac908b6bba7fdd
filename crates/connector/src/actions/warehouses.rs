//! Warehouses: SQL warehouses (`/api/2.0/sql/warehouses`).

use brickwire_api::warehouses::{ListWarehousesRequest, WarehouseSpec};
use brickwire_client::services::warehouses::request;

use super::prelude::*;

/// The size of each cluster of a warehouse.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub enum ClusterSize {
    #[serde(rename = "2X-Small")]
    XXSmall,
    #[serde(rename = "X-Small")]
    XSmall,
    Small,
    Medium,
    Large,
    #[serde(rename = "X-Large")]
    XLarge,
    #[serde(rename = "2X-Large")]
    XXLarge,
    #[serde(rename = "3X-Large")]
    XXXLarge,
    #[serde(rename = "4X-Large")]
    XXXXLarge,
    #[serde(rename = "5X-Large")]
    XXXXXLarge,
}

/// `PRO` or `CLASSIC`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WarehouseType {
    Pro,
    Classic,
}

/// Spot instance policy of a warehouse.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpotInstancePolicy {
    CostOptimized,
    ReliabilityOptimized,
}

/// The create/edit fields of a warehouse. Fields not listed are passed as they are.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WarehouseFields {
    /// Name of the warehouse, unique in the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size of each cluster: `2X-Small` to `5X-Large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<ClusterSize>,
    /// Stop after this many idle minutes (0 = never; at least 10 unless serverless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub auto_stop_mins: Option<i32>,
    /// Fewest clusters kept running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_num_clusters: Option<i32>,
    /// Most clusters for autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_num_clusters: Option<i32>,
    /// Use Photon (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_photon: Option<bool>,
    /// Serverless compute (needs `warehouse_type: PRO`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_serverless_compute: Option<bool>,
    /// `PRO` or `CLASSIC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_type: Option<WarehouseType>,
    /// `COST_OPTIMIZED` or `RELIABILITY_OPTIMIZED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_instance_policy: Option<SpotInstancePolicy>,
    /// Release channel: `{"name": "CHANNEL_NAME_CURRENT"}` or `CHANNEL_NAME_PREVIEW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Value>,
    /// Tags: `{"custom_tags": [{"key": ..., "value": ...}]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input of Create Warehouse.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateWarehouseInput {
    #[serde(flatten)]
    pub fields: WarehouseFields,
    #[serde(flatten)]
    pub wait: Wait,
}

/// Input of Update Warehouse: the fields given replace the current ones.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateWarehouseInput {
    /// The warehouse id (the `id` of Query Warehouses' items).
    pub warehouse_id: String,
    #[serde(flatten)]
    pub fields: WarehouseFields,
}

/// Input naming one warehouse.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WarehouseIdInput {
    /// The warehouse id (the `id` of Query Warehouses' items).
    pub warehouse_id: String,
}

/// Input of Start/Stop Warehouse.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WarehouseWaitInput {
    /// The warehouse id (the `id` of Query Warehouses' items).
    pub warehouse_id: String,
    #[serde(flatten)]
    pub wait: Wait,
}

/// Input of Query Warehouses.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryWarehousesInput {
    #[serde(flatten)]
    pub paging: Paging,
}

fn spec(fields: &WarehouseFields) -> Result<WarehouseSpec, RunError> {
    // `extra` is flattened next to `Wait` in Create Warehouse's input, so serde hands it the
    // wait inputs too; they are ours, not Databricks'.
    Ok(to_model(body_without(fields, WAIT_FIELDS))?)
}

/// The Warehouses actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Warehouses;
    vec![
        Action::define(
            g,
            "Query Warehouses",
            "Lists all SQL warehouses that a user has manager permissions on.",
            true,
            json!({}),
            |client: Client, input: QueryWarehousesInput| async move {
                list(&input.paging, "warehouses", CursorStyle::Token, |n| {
                    client.warehouses().list(&ListWarehousesRequest {
                        page_size: Some(n as i32),
                        ..Default::default()
                    })
                })
                .await
            },
        )
        .read_only(),
        Action::define(
            g,
            "Create Warehouse",
            "Creates a new SQL warehouse; with `wait: true`, wait until it is RUNNING and return it.",
            false,
            json!({"name": "analytics", "cluster_size": "Small", "auto_stop_mins": 20,
                   "max_num_clusters": 1}),
            |client: Client, input: CreateWarehouseInput| async move {
                let created: Value = client.call(request::create(&spec(&input.fields)?)).await?;
                if !input.wait.wait {
                    return Ok(created);
                }
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                let warehouse = client
                    .warehouses()
                    .wait_running(&id, &input.wait.options())
                    .await?;
                Ok(to_output(&warehouse)?)
            },
        ),
        Action::define(
            g,
            "Retrieve Warehouse",
            "Gets the information for a single SQL warehouse.",
            true,
            json!({"warehouse_id": "abcdef0123456789"}),
            |client: Client, input: WarehouseIdInput| async move {
                Ok(client.call(request::get(&input.warehouse_id)).await?)
            },
        )
        .read_only(),
        Action::define(
            g,
            "Update Warehouse",
            "Updates the configuration for a SQL warehouse (the fields given replace the current ones).",
            true,
            json!({"warehouse_id": "abcdef0123456789", "auto_stop_mins": 30}),
            |client: Client, input: UpdateWarehouseInput| async move {
                Ok(client
                    .call(request::edit(&input.warehouse_id, &spec(&input.fields)?))
                    .await?)
            },
        ),
        Action::define(
            g,
            "Start Warehouse",
            "Starts a SQL warehouse; with `wait: true`, wait until it is RUNNING.",
            true,
            json!({"warehouse_id": "abcdef0123456789", "wait": true}),
            |client: Client, input: WarehouseWaitInput| async move {
                let started: Value = client.call(request::start(&input.warehouse_id)).await?;
                if !input.wait.wait {
                    return Ok(started);
                }
                let w = client
                    .warehouses()
                    .wait_running(&input.warehouse_id, &input.wait.options())
                    .await?;
                Ok(to_output(&w)?)
            },
        ),
        Action::define(
            g,
            "Stop Warehouse",
            "Stops a SQL warehouse; with `wait: true`, wait until it is STOPPED.",
            true,
            json!({"warehouse_id": "abcdef0123456789"}),
            |client: Client, input: WarehouseWaitInput| async move {
                let stopped: Value = client.call(request::stop(&input.warehouse_id)).await?;
                if !input.wait.wait {
                    return Ok(stopped);
                }
                let w = client
                    .warehouses()
                    .wait_stopped(&input.warehouse_id, &input.wait.options())
                    .await?;
                Ok(to_output(&w)?)
            },
        ),
        Action::define(
            g,
            "Delete Warehouse",
            "Deletes a SQL warehouse.",
            true,
            json!({"warehouse_id": "abcdef0123456789"}),
            |client: Client, input: WarehouseIdInput| async move {
                Ok(client.call(request::delete(&input.warehouse_id)).await?)
            },
        )
        .destructive(),
    ]
}
