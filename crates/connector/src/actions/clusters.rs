//! Clusters: all-purpose and job clusters (`/api/2.1/clusters`).

use brickwire_api::clusters::{
    ClusterSource, ClusterSpec, DataSecurityMode, ListClustersRequest, RuntimeEngine, SortByField,
    SortDirection, State as ClusterState,
};
use brickwire_client::services::clusters::request;

use super::prelude::*;

/// Autoscaling bounds.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AutoScale {
    /// The fewest workers the cluster scales down to.
    pub min_workers: i32,
    /// The most workers the cluster scales up to.
    pub max_workers: i32,
}

/// Input of Create Cluster. Fields not listed (cloud `*_attributes`, `init_scripts`,
/// `cluster_log_conf`, ...) are passed to Databricks as they are.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CreateClusterInput {
    /// The Databricks Runtime version, e.g. `15.4.x-scala2.12`.
    pub spark_version: String,
    /// Cluster name; need not be unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Node type of the workers (and of the driver unless `driver_node_type_id` is set),
    /// e.g. `i3.xlarge`. Needed unless an instance pool or policy supplies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type_id: Option<String>,
    /// Node type of the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    /// Fixed number of workers (use this or `autoscale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub num_workers: Option<i32>,
    /// Autoscaling bounds (use this or `num_workers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoScale>,
    /// Terminate after this many idle minutes (10 to 10000; 0 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub autotermination_minutes: Option<i32>,
    /// Spark configuration key-value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_conf: Option<BTreeMap<String, String>>,
    /// Environment variables of the Spark processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_env_vars: Option<BTreeMap<String, String>>,
    /// Tags on the cluster's cloud resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tags: Option<BTreeMap<String, String>>,
    /// Access mode, e.g. `SINGLE_USER` or `USER_ISOLATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<DataSecurityMode>,
    /// The user of a `SINGLE_USER` cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_name: Option<String>,
    /// `STANDARD` or `PHOTON`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_engine: Option<RuntimeEngine>,
    /// Cluster policy to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Instance pool of the workers (and driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_pool_id: Option<String>,
    /// Create a single-node cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_single_node: Option<bool>,
    #[serde(flatten)]
    pub wait: Wait,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input naming one cluster.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ClusterIdInput {
    /// The cluster id, e.g. `0123-456789-abcdefgh`.
    pub cluster_id: String,
}

/// Input of Start Cluster.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct StartClusterInput {
    /// The cluster id, e.g. `0123-456789-abcdefgh`.
    pub cluster_id: String,
    #[serde(flatten)]
    pub wait: Wait,
}

/// Input of Restart Cluster.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RestartClusterInput {
    /// The cluster id, e.g. `0123-456789-abcdefgh`.
    pub cluster_id: String,
    /// The user on whose behalf the cluster restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_user: Option<String>,
    #[serde(flatten)]
    pub wait: Wait,
}

/// Input of List Clusters.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ListClustersInput {
    #[serde(flatten)]
    pub paging: Paging,
}

/// Input of Query Clusters: the 2.1 filters and sort.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryClustersInput {
    /// Only clusters in these states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_states: Vec<ClusterState>,
    /// Only clusters created by these sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_sources: Vec<ClusterSource>,
    /// Only pinned (true) or unpinned (false) clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_pinned: Option<bool>,
    /// Only clusters under this policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Sort field: `CLUSTER_NAME` or `DEFAULT` (state, then pinned, then name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by_field: Option<SortByField>,
    /// Sort direction: `ASC` or `DESC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by_direction: Option<SortDirection>,
    #[serde(flatten)]
    pub paging: Paging,
}

fn list_request(input: &QueryClustersInput) -> Result<ListClustersRequest, RunError> {
    let mut filter = serde_json::Map::new();
    if !input.cluster_states.is_empty() {
        filter.insert("cluster_states".into(), json!(input.cluster_states));
    }
    if !input.cluster_sources.is_empty() {
        filter.insert("cluster_sources".into(), json!(input.cluster_sources));
    }
    if let Some(p) = input.is_pinned {
        filter.insert("is_pinned".into(), json!(p));
    }
    if let Some(p) = &input.policy_id {
        filter.insert("policy_id".into(), json!(p));
    }
    let mut sort = serde_json::Map::new();
    if let Some(f) = &input.sort_by_field {
        sort.insert("field".into(), json!(f));
    }
    if let Some(d) = &input.sort_by_direction {
        sort.insert("direction".into(), json!(d));
    }
    let mut req = serde_json::Map::new();
    if !filter.is_empty() {
        req.insert("filter_by".into(), Value::Object(filter));
    }
    if !sort.is_empty() {
        req.insert("sort_by".into(), Value::Object(sort));
    }
    Ok(to_model(Value::Object(req))?)
}

/// The Clusters actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Clusters;
    vec![
        Action::define(
            g,
            "Create Cluster",
            "Create a new cluster; with `wait: true`, wait until it is RUNNING and return its details.",
            false,
            json!({"cluster_name": "etl", "spark_version": "15.4.x-scala2.12",
                   "node_type_id": "i3.xlarge", "num_workers": 2, "autotermination_minutes": 60}),
            |client: Client, input: CreateClusterInput| async move {
                let spec: ClusterSpec = to_model(body_without(&input, WAIT_FIELDS))?;
                let created: Value = client.call(request::create(&spec)).await?;
                if !input.wait.wait {
                    return Ok(created);
                }
                let id = created["cluster_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let details = client
                    .clusters()
                    .wait_running(&id, &input.wait.options())
                    .await?;
                to_output(&details).map_err(Into::into)
            },
        ),
        Action::define(
            g,
            "List Clusters",
            "List all pinned and active clusters (and those terminated in the last 30 days).",
            true,
            json!({"limit": 20}),
            |client: Client, input: ListClustersInput| async move {
                list(&input.paging, "clusters", CursorStyle::Token, |n| {
                    client.clusters().list(&ListClustersRequest {
                        page_size: Some(n as i32),
                        ..Default::default()
                    })
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Get Cluster Info",
            "Get information about a specific cluster.",
            true,
            json!({"cluster_id": "0123-456789-abcdefgh"}),
            |client: Client, input: ClusterIdInput| async move {
                Ok(client.call(request::get(&input.cluster_id)).await?)
            },
        ).read_only(),
        Action::define(
            g,
            "Query Clusters",
            "Return pinned, active and recently terminated clusters, filtered by state, source, pin or policy, and sorted.",
            true,
            json!({"cluster_states": ["RUNNING", "PENDING"], "sort_by_field": "CLUSTER_NAME",
                   "sort_by_direction": "ASC"}),
            |client: Client, input: QueryClustersInput| async move {
                let base = list_request(&input)?;
                list(&input.paging, "clusters", CursorStyle::Token, |n| {
                    client.clusters().list(&ListClustersRequest {
                        page_size: Some(n as i32),
                        ..base.clone()
                    })
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Start Cluster",
            "Start a terminated cluster; with `wait: true`, wait until it is RUNNING.",
            true,
            json!({"cluster_id": "0123-456789-abcdefgh", "wait": true, "timeout_seconds": 1200}),
            |client: Client, input: StartClusterInput| async move {
                let started: Value = client.call(request::start(&input.cluster_id)).await?;
                if !input.wait.wait {
                    return Ok(started);
                }
                let details = client
                    .clusters()
                    .wait_running(&input.cluster_id, &input.wait.options())
                    .await?;
                to_output(&details).map_err(Into::into)
            },
        ),
        Action::define(
            g,
            "Restart Cluster",
            "Restart a running cluster; with `wait: true`, wait until it is RUNNING again.",
            false,
            json!({"cluster_id": "0123-456789-abcdefgh"}),
            |client: Client, input: RestartClusterInput| async move {
                let req = request::restart(&input.cluster_id, input.restart_user.as_deref());
                let restarted: Value = client.call(req).await?;
                if !input.wait.wait {
                    return Ok(restarted);
                }
                let details = client
                    .clusters()
                    .wait_running(&input.cluster_id, &input.wait.options())
                    .await?;
                to_output(&details).map_err(Into::into)
            },
        ).destructive(),
        Action::define(
            g,
            "Terminate Cluster",
            "Terminate a cluster; its configuration is kept for 30 days and it can be started again.",
            true,
            json!({"cluster_id": "0123-456789-abcdefgh"}),
            |client: Client, input: ClusterIdInput| async move {
                Ok(client.call(request::delete(&input.cluster_id)).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Delete Cluster",
            "Permanently terminates a cluster and removes it asynchronously.",
            true,
            json!({"cluster_id": "0123-456789-abcdefgh"}),
            |client: Client, input: ClusterIdInput| async move {
                Ok(client
                    .call(request::permanent_delete(&input.cluster_id))
                    .await?)
            },
        ).destructive(),
    ]
}
