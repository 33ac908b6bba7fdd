//! Clusters (`/api/2.1/clusters/*`): create, get, list (filtered, sorted, paginated), start,
//! restart, terminate (`delete`), permanent delete, edit, resize, the running/terminated
//! waiters, and [`Clusters::ensure_running`].

use serde_json::json;

use brickwire_api::Empty;
use brickwire_api::clusters::{
    ClusterDetails, ClusterSpec, CreateClusterResponse, ListClustersRequest, ListClustersResponse,
    ResizeCluster, State,
};

use crate::client::{ApiRequest, Client};
use crate::error::{Error, Result};
use crate::pagination::{Page, Paginator};
use crate::services::{apply_page_token, get_with, paginate, to_json};
use crate::waiter::{self, WaitOptions};

/// The path prefix of the current Clusters API.
pub const BASE: &str = "/api/2.1/clusters";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    /// `POST /create` with the spec.
    pub fn create(spec: &ClusterSpec) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/create")).json(to_json(spec))
    }

    /// `GET /get?cluster_id=`.
    pub fn get(cluster_id: &str) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/get")).query("cluster_id", cluster_id)
    }

    /// `GET /list` with `filter_by.*`, `sort_by.*`, `page_size`, `page_token`.
    pub fn list(params: &ListClustersRequest) -> ApiRequest {
        get_with(format!("{BASE}/list"), params)
    }

    /// `POST /start`.
    pub fn start(cluster_id: &str) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/start")).json(json!({ "cluster_id": cluster_id }))
    }

    /// `POST /restart`, optionally naming the user on whose behalf it restarts.
    pub fn restart(cluster_id: &str, restart_user: Option<&str>) -> ApiRequest {
        let mut body = json!({ "cluster_id": cluster_id });
        if let Some(user) = restart_user {
            body["restart_user"] = json!(user);
        }
        ApiRequest::post(format!("{BASE}/restart")).json(body)
    }

    /// `POST /delete`: terminate (the configuration is kept for 30 days). Repeating it is
    /// harmless, so it may be retried.
    pub fn delete(cluster_id: &str) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/delete"))
            .json(json!({ "cluster_id": cluster_id }))
            .idempotent(true)
    }

    /// `POST /permanent-delete`.
    pub fn permanent_delete(cluster_id: &str) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/permanent-delete"))
            .json(json!({ "cluster_id": cluster_id }))
            .idempotent(true)
    }

    /// `POST /edit` with the full new spec (`cluster_id` set in the spec).
    pub fn edit(spec: &ClusterSpec) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/edit")).json(to_json(spec))
    }

    /// `POST /resize`.
    pub fn resize(resize: &ResizeCluster) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/resize")).json(to_json(resize))
    }
}

/// Whether [`Clusters::ensure_running`] should look again: a wait that hit a failure state
/// other than `ERROR`/`UNKNOWN` (e.g. terminated while starting), or a refused start.
fn retry_ensure(error: &Error) -> bool {
    match error {
        Error::OperationFailed { state, .. } => state != "ERROR" && state != "UNKNOWN",
        other => other.error_code() == Some("INVALID_STATE"),
    }
}

/// The Clusters API of one client: `client.clusters()`.
#[derive(Debug, Clone)]
pub struct Clusters {
    client: Client,
}

impl Clusters {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a cluster; it starts `PENDING`. See [`wait_running`](Self::wait_running).
    pub async fn create(&self, spec: &ClusterSpec) -> Result<CreateClusterResponse> {
        self.client.call(request::create(spec)).await
    }

    /// Describes a cluster.
    pub async fn get(&self, cluster_id: &str) -> Result<ClusterDetails> {
        self.client.call(request::get(cluster_id)).await
    }

    /// Lists clusters (pinned, active, and terminated in the last 30 days), page by page.
    pub fn list(&self, params: &ListClustersRequest) -> Paginator<ClusterDetails> {
        paginate(
            &self.client,
            request::list(params),
            apply_page_token,
            |r: ListClustersResponse, _| Page::from_token(r.clusters, r.next_page_token),
        )
    }

    /// Starts a terminated cluster.
    pub async fn start(&self, cluster_id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::start(cluster_id))
            .await
            .map(drop)
    }

    /// Restarts a running cluster.
    pub async fn restart(&self, cluster_id: &str, restart_user: Option<&str>) -> Result<()> {
        self.client
            .call::<Empty>(request::restart(cluster_id, restart_user))
            .await
            .map(drop)
    }

    /// Terminates a cluster (Databricks' `delete`).
    pub async fn delete(&self, cluster_id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::delete(cluster_id))
            .await
            .map(drop)
    }

    /// Terminates and removes a cluster for good.
    pub async fn permanent_delete(&self, cluster_id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::permanent_delete(cluster_id))
            .await
            .map(drop)
    }

    /// Replaces a cluster's spec (`spec.cluster_id` names the cluster).
    pub async fn edit(&self, spec: &ClusterSpec) -> Result<()> {
        self.client
            .call::<Empty>(request::edit(spec))
            .await
            .map(drop)
    }

    /// Resizes a running cluster.
    pub async fn resize(&self, resize: &ResizeCluster) -> Result<()> {
        self.client
            .call::<Empty>(request::resize(resize))
            .await
            .map(drop)
    }

    /// Waits until the cluster is `RUNNING`; fails on `ERROR` or `TERMINATED`.
    pub async fn wait_running(
        &self,
        cluster_id: &str,
        options: &WaitOptions,
    ) -> Result<ClusterDetails> {
        waiter::poll_until(
            &format!("cluster {cluster_id}"),
            options,
            || self.get(cluster_id),
            waiter::cluster_running,
        )
        .await
    }

    /// Makes sure a cluster is running, like the SDK's `ensure_cluster_is_running`:
    /// `TERMINATED` → start and wait; `TERMINATING` → wait for termination, then start and
    /// wait; `PENDING`/`RESIZING`/`RESTARTING` → wait; `ERROR`/`UNKNOWN` → fail. A wait that
    /// ends in a failure state, or a start refused with `INVALID_STATE` (the state moved
    /// meanwhile), is retried until the overall deadline.
    pub async fn ensure_running(
        &self,
        cluster_id: &str,
        options: &WaitOptions,
    ) -> Result<ClusterDetails> {
        let deadline = tokio::time::Instant::now() + options.timeout;
        let remaining = || WaitOptions {
            timeout: deadline.saturating_duration_since(tokio::time::Instant::now()),
            ..options.clone()
        };
        loop {
            let attempt = async {
                let info = self.get(cluster_id).await?;
                match info.state.clone().unwrap_or(State::Unknown) {
                    State::Running => Ok(info),
                    State::Terminated => {
                        self.start(cluster_id).await?;
                        self.wait_running(cluster_id, &remaining()).await
                    }
                    State::Terminating => {
                        self.wait_terminated(cluster_id, &remaining()).await?;
                        self.start(cluster_id).await?;
                        self.wait_running(cluster_id, &remaining()).await
                    }
                    State::Pending | State::Resizing | State::Restarting => {
                        self.wait_running(cluster_id, &remaining()).await
                    }
                    state => Err(Error::OperationFailed {
                        operation: format!("cluster {cluster_id}"),
                        state: state.to_string(),
                        message: info.state_message.clone().unwrap_or_default(),
                    }),
                }
            };
            match attempt.await {
                Ok(info) => return Ok(info),
                Err(e) if tokio::time::Instant::now() < deadline && retry_ensure(&e) => {
                    tracing::debug!(cluster_id, error = %e, "cluster not running yet; retrying");
                    // don't hammer the server if the state keeps flipping
                    tokio::time::sleep(options.min_delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the cluster is `TERMINATED`; fails on `ERROR`.
    pub async fn wait_terminated(
        &self,
        cluster_id: &str,
        options: &WaitOptions,
    ) -> Result<ClusterDetails> {
        waiter::poll_until(
            &format!("cluster {cluster_id}"),
            options,
            || self.get(cluster_id),
            waiter::cluster_terminated,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::clusters::{
        ClusterSource, ListClustersFilterBy, ListClustersSortBy, SortByField, SortDirection,
    };
    use http::Method;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_flattens_filter_and_sort() {
        let r = request::list(&ListClustersRequest {
            filter_by: Some(ListClustersFilterBy {
                cluster_states: vec![State::Running, State::Pending],
                cluster_sources: vec![ClusterSource::Ui],
                is_pinned: Some(false),
                policy_id: None,
            }),
            sort_by: Some(ListClustersSortBy {
                direction: Some(SortDirection::Desc),
                field: Some(SortByField::ClusterName),
            }),
            page_size: Some(50),
            page_token: Some("t".into()),
        });
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path, "/api/2.1/clusters/list");
        assert_eq!(
            r.query,
            pairs(&[
                ("filter_by.cluster_states", "RUNNING"),
                ("filter_by.cluster_states", "PENDING"),
                ("filter_by.cluster_sources", "UI"),
                ("filter_by.is_pinned", "false"),
                ("sort_by.direction", "DESC"),
                ("sort_by.field", "CLUSTER_NAME"),
                ("page_size", "50"),
                ("page_token", "t"),
            ])
        );
        assert!(r.body.is_none());
    }

    #[test]
    fn mutations_post_json_bodies() {
        let cases = [
            (
                request::start("c1"),
                "start",
                json!({"cluster_id": "c1"}),
                false,
            ),
            (
                request::restart("c1", Some("u")),
                "restart",
                json!({"cluster_id": "c1", "restart_user": "u"}),
                false,
            ),
            (
                request::delete("c1"),
                "delete",
                json!({"cluster_id": "c1"}),
                true,
            ),
            (
                request::permanent_delete("c1"),
                "permanent-delete",
                json!({"cluster_id": "c1"}),
                true,
            ),
            (
                request::resize(&ResizeCluster {
                    cluster_id: "c1".into(),
                    num_workers: Some(3),
                    autoscale: None,
                }),
                "resize",
                json!({"cluster_id": "c1", "num_workers": 3}),
                false,
            ),
        ];
        for (r, op, body, idempotent) in cases {
            assert_eq!(r.method, Method::POST, "{op}");
            assert_eq!(r.path, format!("/api/2.1/clusters/{op}"));
            assert_eq!(r.body, Some(RequestBody::Json(body)), "{op}");
            assert_eq!(r.idempotent, idempotent, "{op}");
        }
    }

    #[test]
    fn create_get_and_edit() {
        let mut spec = ClusterSpec {
            cluster_name: Some("n".into()),
            spark_version: Some("15.4.x-scala2.12".into()),
            num_workers: Some(1),
            ..ClusterSpec::default()
        };
        spec.extra
            .insert("aws_attributes".into(), json!({"availability": "SPOT"}));
        let r = request::create(&spec);
        assert_eq!(r.path, "/api/2.1/clusters/create");
        assert_eq!(
            r.body,
            Some(RequestBody::Json(json!({
                "cluster_name": "n", "spark_version": "15.4.x-scala2.12", "num_workers": 1,
                "aws_attributes": {"availability": "SPOT"}
            })))
        );
        spec.cluster_id = Some("c1".into());
        assert_eq!(request::edit(&spec).path, "/api/2.1/clusters/edit");
        let g = request::get("c1");
        assert_eq!(
            (g.method, g.path.as_str()),
            (Method::GET, "/api/2.1/clusters/get")
        );
        assert_eq!(g.query, pairs(&[("cluster_id", "c1")]));
    }
}
