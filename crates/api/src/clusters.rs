//! Clusters (`/api/2.1/clusters/*`): the cluster spec sent on create and edit, the
//! [`ClusterDetails`] answered by get and list, the list filters, and the [`State`] machine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::Extra;

crate::string_enum! {
    /// The life-cycle state of a cluster.
    pub enum State {
        Pending = "PENDING",
        Running = "RUNNING",
        Restarting = "RESTARTING",
        Resizing = "RESIZING",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Error = "ERROR",
        Unknown = "UNKNOWN",
    }
}

impl State {
    /// Whether the cluster is on its way to `RUNNING` (or there already).
    pub fn is_starting_or_running(&self) -> bool {
        matches!(
            self,
            State::Pending | State::Running | State::Restarting | State::Resizing
        )
    }

    /// Whether no further transition happens without a request (`TERMINATED`, `ERROR`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, State::Terminated | State::Error)
    }
}

crate::string_enum! {
    /// Who created a cluster.
    pub enum ClusterSource {
        Api = "API",
        Ui = "UI",
        Job = "JOB",
        Models = "MODELS",
        Pipeline = "PIPELINE",
        PipelineMaintenance = "PIPELINE_MAINTENANCE",
        Sql = "SQL",
    }
}

crate::string_enum! {
    /// The field `clusters/list` sorts by.
    pub enum SortByField { ClusterName = "CLUSTER_NAME", Default = "DEFAULT" }
}

crate::string_enum! {
    /// A sort direction.
    pub enum SortDirection { Asc = "ASC", Desc = "DESC" }
}

crate::string_enum! {
    /// The access mode of a cluster.
    pub enum DataSecurityMode {
        DataSecurityModeAuto = "DATA_SECURITY_MODE_AUTO",
        DataSecurityModeStandard = "DATA_SECURITY_MODE_STANDARD",
        DataSecurityModeDedicated = "DATA_SECURITY_MODE_DEDICATED",
        None = "NONE",
        SingleUser = "SINGLE_USER",
        UserIsolation = "USER_ISOLATION",
    }
}

crate::string_enum! {
    /// The runtime engine of a cluster.
    pub enum RuntimeEngine { Standard = "STANDARD", Photon = "PHOTON", Null = "NULL" }
}

/// Autoscaling bounds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AutoScale {
    /// The minimum number of workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_workers: Option<i32>,
    /// The maximum number of workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<i32>,
}

/// Why a cluster terminated.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TerminationReason {
    /// The reason code, e.g. `USER_REQUEST`, `INACTIVITY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `SUCCESS`, `CLIENT_ERROR`, `SERVICE_FAULT` or `CLOUD_FAILURE`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Extra detail, keyed by parameter name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `clusters/create` and (with `cluster_id`) `clusters/edit`.
///
/// Only the common attributes are typed; cloud attributes, init scripts and anything else go in
/// [`extra`](Self::extra) and are sent as given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// The cluster to edit (`edit` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The Databricks Runtime version, e.g. `15.4.x-scala2.12` (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_version: Option<String>,
    /// The worker node type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type_id: Option<String>,
    /// The driver node type (defaults to `node_type_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    /// A fixed number of workers (exclusive with `autoscale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_workers: Option<i32>,
    /// Autoscaling bounds (exclusive with `num_workers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoScale>,
    /// Minutes of inactivity before termination (0 disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autotermination_minutes: Option<i32>,
    /// Spark configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_env_vars: BTreeMap<String, String>,
    /// Tags added to cloud resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, String>,
    /// The access mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<DataSecurityMode>,
    /// The user of a single-user cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_name: Option<String>,
    /// `STANDARD` or `PHOTON`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_engine: Option<RuntimeEngine>,
    /// The cluster policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The instance pool of the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_pool_id: Option<String>,
    /// The instance pool of the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_instance_pool_id: Option<String>,
    /// A single-node cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_single_node: Option<bool>,
    /// The cluster kind (e.g. `CLASSIC_PREVIEW`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Every other attribute, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cluster as `clusters/get` and `clusters/list` describe it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterDetails {
    /// The cluster id, e.g. `0123-456789-abcdefgh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// Why the cluster is in its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_message: Option<String>,
    /// Who created the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_source: Option<ClusterSource>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_user_name: Option<String>,
    /// The runtime version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_version: Option<String>,
    /// The worker node type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type_id: Option<String>,
    /// The driver node type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    /// The fixed number of workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_workers: Option<i32>,
    /// Autoscaling bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoScale>,
    /// Minutes of inactivity before termination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autotermination_minutes: Option<i32>,
    /// Spark configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    /// User tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, String>,
    /// Tags Databricks adds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_tags: BTreeMap<String, String>,
    /// The access mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<DataSecurityMode>,
    /// The user of a single-user cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_name: Option<String>,
    /// The runtime engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_engine: Option<RuntimeEngine>,
    /// The cluster policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Start time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Termination time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_time: Option<i64>,
    /// Last restart time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restarted_time: Option<i64>,
    /// Memory across all nodes, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_memory_mb: Option<i64>,
    /// Cores across all nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_cores: Option<f64>,
    /// Why the cluster terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<TerminationReason>,
    /// The spec the cluster was last created or edited with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `filter_by` of `clusters/list`; sent as `filter_by.<field>` query parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListClustersFilterBy {
    /// Only clusters in these states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_states: Vec<State>,
    /// Only clusters from these sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_sources: Vec<ClusterSource>,
    /// Only pinned (or unpinned) clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_pinned: Option<bool>,
    /// Only clusters of this policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
}

/// `sort_by` of `clusters/list`; sent as `sort_by.<field>` query parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListClustersSortBy {
    /// `ASC` or `DESC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<SortDirection>,
    /// `CLUSTER_NAME` or `DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<SortByField>,
}

/// The query of `clusters/list` (2.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListClustersRequest {
    /// Filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_by: Option<ListClustersFilterBy>,
    /// Sort order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<ListClustersSortBy>,
    /// The page size the server should use (it may use less).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One page of `clusters/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListClustersResponse {
    /// The clusters of this page (absent when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDetails>,
    /// The token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// The token of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `clusters/create`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateClusterResponse {
    /// The new cluster's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The body of `clusters/resize`: a new `num_workers` or new `autoscale` bounds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResizeCluster {
    /// The cluster.
    pub cluster_id: String,
    /// A fixed number of workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_workers: Option<i32>,
    /// Autoscaling bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoScale>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keep_unknown_fields_and_states() {
        let raw = serde_json::json!({
            "cluster_id": "0123-456789-abc",
            "state": "HIBERNATING",
            "spark_conf": {"a": "b"},
            "aws_attributes": {"availability": "SPOT"},
            "termination_reason": {"code": "USER_REQUEST", "type": "SUCCESS", "hint": 1}
        });
        let c: ClusterDetails = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(c.state, Some(State::Other("HIBERNATING".into())));
        assert_eq!(c.extra["aws_attributes"]["availability"], "SPOT");
        assert_eq!(serde_json::to_value(&c).unwrap(), raw);
    }

    #[test]
    fn terminal_states() {
        assert!(State::Terminated.is_terminal());
        assert!(State::Error.is_terminal());
        assert!(!State::Pending.is_terminal());
        assert!(State::Resizing.is_starting_or_running());
    }
}
