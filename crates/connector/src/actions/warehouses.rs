//! Warehouses: SQL warehouses (`/api/2.0/sql/warehouses`).

use brickwire_api::warehouses::{ListWarehousesRequest, WarehouseSpec};
use brickwire_client::services::warehouses::request;

use super::prelude::*;

/// Input of Create Warehouse.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateWarehouseInput {
    #[serde(flatten)]
    pub spec: WarehouseSpec,
    #[serde(flatten)]
    pub wait: Wait,
}

/// Input of Update Warehouse: the fields given replace the current ones.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateWarehouseInput {
    /// The warehouse id (the `id` of Query Warehouses' items).
    pub warehouse_id: String,
    #[serde(flatten)]
    pub spec: WarehouseSpec,
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

/// The body Databricks gets: `extra` is flattened next to `Wait` in Create Warehouse's input,
/// so serde hands it the wait inputs too; they are ours, not Databricks'.
fn body(spec: &WarehouseSpec) -> WarehouseSpec {
    let mut body = spec.clone();
    body.extra
        .retain(|name, _| !WAIT_FIELDS.contains(&name.as_str()));
    body
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
                let created: Value = client.call(request::create(&body(&input.spec))).await?;
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
                    .call(request::edit(&input.warehouse_id, &body(&input.spec)))
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
