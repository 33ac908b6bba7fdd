//! SQL warehouses (`/api/2.0/sql/warehouses`): the create/edit body, the [`Warehouse`]
//! (Databricks' `EndpointInfo`) and its [`State`] machine.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Extra, KeyValue};

crate::string_enum! {
    /// The state of a warehouse.
    pub enum State {
        Starting = "STARTING",
        Running = "RUNNING",
        Stopping = "STOPPING",
        Stopped = "STOPPED",
        Deleting = "DELETING",
        Deleted = "DELETED",
    }
}

impl State {
    /// Whether the warehouse is gone or going (`DELETING`, `DELETED`).
    pub fn is_deleted(&self) -> bool {
        matches!(self, State::Deleting | State::Deleted)
    }
}

crate::string_enum! {
    /// The size of each cluster of a warehouse.
    pub enum ClusterSize {
        XxSmall = "2X-Small",
        XSmall = "X-Small",
        Small = "Small",
        Medium = "Medium",
        Large = "Large",
        XLarge = "X-Large",
        XxLarge = "2X-Large",
        XxxLarge = "3X-Large",
        X4Large = "4X-Large",
        X5Large = "5X-Large",
    }
}

crate::string_enum! {
    /// `PRO` or `CLASSIC`.
    pub enum WarehouseType { Pro = "PRO", Classic = "CLASSIC", TypeUnspecified = "TYPE_UNSPECIFIED" }
}

crate::string_enum! {
    /// Spot instance policy.
    pub enum SpotInstancePolicy {
        CostOptimized = "COST_OPTIMIZED",
        ReliabilityOptimized = "RELIABILITY_OPTIMIZED",
        PolicyUnspecified = "POLICY_UNSPECIFIED",
    }
}

/// Custom tags of a warehouse.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct WarehouseTags {
    /// The tags: `[{"key": ..., "value": ...}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_tags: Vec<KeyValue>,
}

/// The body of `warehouses` create and `warehouses/{id}/edit`. Fields not listed are sent as
/// they are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct WarehouseSpec {
    /// Name of the warehouse, unique in the workspace (fewer than 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size of each cluster: `2X-Small` to `5X-Large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<ClusterSize>,
    /// Stop after this many idle minutes (0 = never; at least 10 unless serverless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 0)))]
    pub auto_stop_mins: Option<i32>,
    /// Fewest clusters kept running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1)))]
    pub min_num_clusters: Option<i32>,
    /// Most clusters for autoscaling (at most 40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1)))]
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
    pub tags: Option<WarehouseTags>,
    /// Every other field, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Health of a warehouse.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WarehouseHealth {
    /// `HEALTHY`, `DEGRADED` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model (`failure_reason`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A warehouse as get and list describe it (Databricks' `EndpointInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Warehouse {
    /// The 16-hex id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<ClusterSize>,
    /// Idle minutes before auto-stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_stop_mins: Option<i32>,
    /// Minimum cluster count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_num_clusters: Option<i32>,
    /// Maximum cluster count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_clusters: Option<i32>,
    /// Current cluster count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_clusters: Option<i32>,
    /// Open sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_active_sessions: Option<i64>,
    /// Photon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_photon: Option<bool>,
    /// Serverless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_serverless_compute: Option<bool>,
    /// `PRO` or `CLASSIC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_type: Option<WarehouseType>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_name: Option<String>,
    /// JDBC URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jdbc_url: Option<String>,
    /// ODBC parameters (`hostname`, `path`, `port`, `protocol`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odbc_params: Option<Value>,
    /// Health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<WarehouseHealth>,
    /// Custom tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<WarehouseTags>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Warehouse {
    /// The health message or summary, if any; used as the state message of waiters.
    pub fn state_message(&self) -> &str {
        self.health
            .as_ref()
            .and_then(|h| h.message.as_deref().or(h.summary.as_deref()))
            .unwrap_or_default()
    }
}

/// The query of the warehouse list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListWarehousesRequest {
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One page of the warehouse list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListWarehousesResponse {
    /// The warehouses of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warehouses: Vec<Warehouse>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateWarehouseResponse {
    /// The new warehouse's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_round_trips() {
        let raw = serde_json::json!({
            "id": "abcdef0123456789", "state": "RUNNING",
            "health": {"status": "DEGRADED", "summary": "slow", "failure_reason": {"code": "X"}},
            "tags": {"custom_tags": [{"key": "k", "value": "v"}]},
            "spot_instance_policy": "COST_OPTIMIZED"
        });
        let w: Warehouse = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(w.state, Some(State::Running));
        assert_eq!(w.state_message(), "slow");
        assert_eq!(serde_json::to_value(&w).unwrap(), raw);
    }
}
