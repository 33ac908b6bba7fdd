//! Jobs (`/api/2.2/jobs/*`): create, list, get, update, reset, delete, run now, and runs (get,
//! list, cancel), plus the run waiter.
//!
//! Jobs 2.2 pages the arrays inside one job or run at 100 elements. [`Jobs::get`] and
//! [`Jobs::get_run`] follow those pages and merge them, like the SDK; [`Jobs::get_page`] and
//! [`Jobs::get_run_page`] return one page as sent.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use brickwire_api::Empty;
use brickwire_api::jobs::{
    CreateJobResponse, Job, JobSettings, ListJobsRequest, ListJobsResponse, ListRunsRequest,
    ListRunsResponse, ResetJob, Run, RunNow, RunNowResponse, UpdateJob,
};

use crate::client::{ApiRequest, Client};
use crate::error::{Error, Result};
use crate::pagination::{Page, Paginator};
use crate::services::{apply_page_token, get_with, paginate, to_json};
use crate::waiter::{self, WaitOptions};

/// The path prefix of the current Jobs API.
pub const BASE: &str = "/api/2.2/jobs";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    /// `POST /create` with the settings as the body.
    pub fn create(settings: &JobSettings) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/create")).json(to_json(settings))
    }

    /// `GET /list` with `limit`, `page_token`, `name`, `expand_tasks`, `offset`.
    pub fn list(params: &ListJobsRequest) -> ApiRequest {
        get_with(format!("{BASE}/list"), params)
    }

    /// `GET /get?job_id=` (optionally at a page of the job's arrays).
    pub fn get(job_id: i64, page_token: Option<&str>) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/get"))
            .query("job_id", job_id)
            .query_opt("page_token", page_token)
    }

    /// `POST /update`: partial update.
    pub fn update(update: &UpdateJob) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/update")).json(to_json(update))
    }

    /// `POST /reset`: full overwrite; replaying it is harmless.
    pub fn reset(reset: &ResetJob) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/reset"))
            .json(to_json(reset))
            .idempotent(true)
    }

    /// `POST /delete`.
    pub fn delete(job_id: i64) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/delete")).json(json!({ "job_id": job_id }))
    }

    /// `POST /run-now`; idempotent only with an `idempotency_token`.
    pub fn run_now(run: &RunNow) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/run-now"))
            .json(to_json(run))
            .idempotent(run.idempotency_token.is_some())
    }

    /// `GET /runs/get?run_id=` (optionally at a page of the run's arrays).
    pub fn get_run(run_id: i64, page_token: Option<&str>) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/runs/get"))
            .query("run_id", run_id)
            .query_opt("page_token", page_token)
    }

    /// `GET /runs/list` with its filters.
    pub fn list_runs(params: &ListRunsRequest) -> ApiRequest {
        get_with(format!("{BASE}/runs/list"), params)
    }

    /// `POST /runs/cancel`; cancelling twice is harmless.
    pub fn cancel_run(run_id: i64) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/runs/cancel"))
            .json(json!({ "run_id": run_id }))
            .idempotent(true)
    }
}

/// Appends the arrays named by `keys` under `page[at]` to those under `acc[at]`.
fn extend_arrays(acc: &mut Value, page: &Value, at: &str, keys: &[&str]) {
    for key in keys {
        let Some(Value::Array(more)) = page.pointer(&format!("{at}/{key}")) else {
            continue;
        };
        if more.is_empty() {
            continue;
        }
        let Some(parent) = acc.pointer_mut(at).and_then(Value::as_object_mut) else {
            continue;
        };
        match parent
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(items) => items.extend(more.iter().cloned()),
            other => *other = Value::Array(more.clone()),
        }
    }
}

/// Fetches page after page of one job or run and merges them with `merge`.
async fn get_merged<T: DeserializeOwned>(
    client: &Client,
    what: &str,
    fetch: impl Fn(Option<&str>) -> ApiRequest,
    mut merge: impl FnMut(&mut Value, &Value),
) -> Result<T> {
    let mut acc: Value = client.call(fetch(None)).await?;
    let mut seen = HashSet::new();
    while let Some(token) = acc
        .get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    {
        if !seen.insert(token.clone()) {
            tracing::warn!(what, "the server repeated a page token; stopping");
            break;
        }
        let page: Value = client.call(fetch(Some(&token))).await?;
        merge(&mut acc, &page);
        acc["next_page_token"] = page.get("next_page_token").cloned().unwrap_or(Value::Null);
    }
    if let Some(map) = acc.as_object_mut() {
        map.remove("next_page_token");
        map.remove("has_more");
    }
    serde_json::from_value(acc).map_err(|e| Error::Decode {
        path: String::new(),
        message: format!("{what}: {e}"),
        body_excerpt: String::new(),
    })
}

/// The Jobs API of one client: `client.jobs()`.
#[derive(Debug, Clone)]
pub struct Jobs {
    client: Client,
}

impl Jobs {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a job.
    pub async fn create(&self, settings: &JobSettings) -> Result<CreateJobResponse> {
        self.client.call(request::create(settings)).await
    }

    /// Lists jobs (`has_more` + `next_page_token` paging). Arrays inside each job are not
    /// expanded beyond their first page; use [`get`](Self::get) for a whole job.
    pub fn list(&self, params: &ListJobsRequest) -> Paginator<Job> {
        paginate(
            &self.client,
            request::list(params),
            |r, c| {
                apply_page_token(r, c);
                // offset and page_token are exclusive
                r.query.retain(|(k, _)| k != "offset");
            },
            |r: ListJobsResponse, _| Page::from_has_more(r.jobs, r.has_more, r.next_page_token),
        )
    }

    /// Gets a job with all its tasks, job clusters, parameters and environments (merging the
    /// 2.2 array pages).
    pub async fn get(&self, job_id: i64) -> Result<Job> {
        get_merged(
            &self.client,
            &format!("job {job_id}"),
            |token| request::get(job_id, token),
            |acc, page| {
                extend_arrays(
                    acc,
                    page,
                    "/settings",
                    &["tasks", "job_clusters", "parameters", "environments"],
                )
            },
        )
        .await
    }

    /// Gets one page of a job as sent (`has_more` / `next_page_token` included).
    pub async fn get_page(&self, job_id: i64, page_token: Option<&str>) -> Result<Job> {
        self.client.call(request::get(job_id, page_token)).await
    }

    /// Applies a partial update.
    pub async fn update(&self, update: &UpdateJob) -> Result<()> {
        self.client
            .call::<Empty>(request::update(update))
            .await
            .map(drop)
    }

    /// Overwrites all settings.
    pub async fn reset(&self, reset: &ResetJob) -> Result<()> {
        self.client
            .call::<Empty>(request::reset(reset))
            .await
            .map(drop)
    }

    /// Deletes a job.
    pub async fn delete(&self, job_id: i64) -> Result<()> {
        self.client
            .call::<Empty>(request::delete(job_id))
            .await
            .map(drop)
    }

    /// Triggers a run. See [`wait_run`](Self::wait_run).
    pub async fn run_now(&self, run: &RunNow) -> Result<RunNowResponse> {
        self.client.call(request::run_now(run)).await
    }

    /// Gets a run with all its task runs, job clusters, parameters and repair history (or,
    /// for a for-each task run, all iterations), merging the 2.2 array pages.
    pub async fn get_run(&self, run_id: i64) -> Result<Run> {
        // A for-each task run pages its iterations instead of its tasks; the first page says.
        let mut paging_iterations: Option<bool> = None;
        get_merged(
            &self.client,
            &format!("run {run_id}"),
            |token| request::get_run(run_id, token),
            |acc, page| {
                let iterations = *paging_iterations.get_or_insert_with(|| {
                    acc.get("iterations")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                });
                let first = if iterations { "iterations" } else { "tasks" };
                extend_arrays(
                    acc,
                    page,
                    "",
                    &[first, "job_clusters", "job_parameters", "repair_history"],
                );
            },
        )
        .await
    }

    /// Gets one page of a run as sent.
    pub async fn get_run_page(&self, run_id: i64, page_token: Option<&str>) -> Result<Run> {
        self.client.call(request::get_run(run_id, page_token)).await
    }

    /// Lists runs, most recent first.
    pub fn list_runs(&self, params: &ListRunsRequest) -> Paginator<Run> {
        paginate(
            &self.client,
            request::list_runs(params),
            |r, c| {
                apply_page_token(r, c);
                r.query.retain(|(k, _)| k != "offset");
            },
            |r: ListRunsResponse, _| Page::from_has_more(r.runs, r.has_more, r.next_page_token),
        )
    }

    /// Asks a run to cancel (asynchronous; see [`wait_run`](Self::wait_run)).
    pub async fn cancel_run(&self, run_id: i64) -> Result<()> {
        self.client
            .call::<Empty>(request::cancel_run(run_id))
            .await
            .map(drop)
    }

    /// Waits until the run is `TERMINATED` or `SKIPPED` (check its `result_state`); fails on
    /// `INTERNAL_ERROR`. Polls single pages: the state does not need the merged arrays.
    pub async fn wait_run(&self, run_id: i64, options: &WaitOptions) -> Result<Run> {
        waiter::poll_until(
            &format!("run {run_id}"),
            options,
            || self.get_run_page(run_id, None),
            waiter::run_terminated_or_skipped,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::jobs::RunType;
    use http::Method;

    #[test]
    fn list_runs_encodes_filters() {
        let r = request::list_runs(&ListRunsRequest {
            job_id: Some(7),
            completed_only: Some(true),
            run_type: Some(RunType::JobRun),
            start_time_from: Some(1_700_000_000_000),
            limit: Some(24),
            ..ListRunsRequest::default()
        });
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::GET, "/api/2.2/jobs/runs/list")
        );
        let q: Vec<(&str, &str)> = r
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            q,
            vec![
                ("job_id", "7"),
                ("completed_only", "true"),
                ("run_type", "JOB_RUN"),
                ("start_time_from", "1700000000000"),
                ("limit", "24"),
            ]
        );
    }

    #[test]
    fn update_reset_and_run_now_bodies() {
        let u = request::update(&UpdateJob {
            job_id: 1,
            new_settings: Some(JobSettings {
                name: Some("n".into()),
                ..JobSettings::default()
            }),
            fields_to_remove: vec!["tasks/a".into()],
        });
        assert_eq!(u.path, "/api/2.2/jobs/update");
        assert_eq!(
            u.body,
            Some(RequestBody::Json(
                json!({"job_id": 1, "new_settings": {"name": "n"}, "fields_to_remove": ["tasks/a"]})
            ))
        );
        let r = request::reset(&ResetJob {
            job_id: 1,
            new_settings: JobSettings::default(),
        });
        assert_eq!(
            r.body,
            Some(RequestBody::Json(json!({"job_id": 1, "new_settings": {}})))
        );
        assert!(r.idempotent);

        let mut run = RunNow {
            job_id: 1,
            ..RunNow::default()
        };
        run.job_parameters.insert("p".into(), "v".into());
        let n = request::run_now(&run);
        assert_eq!(n.path, "/api/2.2/jobs/run-now");
        assert!(!n.idempotent);
        assert_eq!(
            n.body,
            Some(RequestBody::Json(
                json!({"job_id": 1, "job_parameters": {"p": "v"}})
            ))
        );
        run.idempotency_token = Some("t".into());
        assert!(request::run_now(&run).idempotent);
    }

    #[test]
    fn get_delete_cancel() {
        let g = request::get(5, Some("p2"));
        assert_eq!(g.path, "/api/2.2/jobs/get");
        assert_eq!(
            g.query,
            vec![
                ("job_id".into(), "5".into()),
                ("page_token".into(), "p2".into())
            ]
        );
        let d = request::delete(5);
        assert_eq!(
            (d.method, d.body),
            (Method::POST, Some(RequestBody::Json(json!({"job_id": 5}))))
        );
        let c = request::cancel_run(9);
        assert_eq!(c.path, "/api/2.2/jobs/runs/cancel");
        assert_eq!(c.body, Some(RequestBody::Json(json!({"run_id": 9}))));
        assert_eq!(
            request::get_run(9, None).query,
            vec![("run_id".into(), "9".into())]
        );
    }

    #[test]
    fn arrays_merge_under_their_parent() {
        let mut acc = json!({"settings": {"tasks": [{"task_key": "a"}]}, "next_page_token": "x"});
        let page = json!({"settings": {"tasks": [{"task_key": "b"}], "job_clusters": [{"job_cluster_key": "c"}]}});
        extend_arrays(&mut acc, &page, "/settings", &["tasks", "job_clusters"]);
        assert_eq!(acc["settings"]["tasks"].as_array().unwrap().len(), 2);
        assert_eq!(acc["settings"]["job_clusters"][0]["job_cluster_key"], "c");
    }
}
