//! Jobs: jobs and job runs (`/api/2.2/jobs`).

use brickwire_api::jobs::{JobSettings, ListJobsRequest, ResetJob, RunNow, UpdateJob};
use brickwire_client::services::jobs::request;

use super::prelude::*;
use crate::error::ActionError;

/// One task of a job: `task_key` plus one task type (`notebook_task`, `spark_python_task`,
/// `sql_task`, `run_job_task`, ...) and its compute (`existing_cluster_id`, `new_cluster`,
/// `job_cluster_key` or `environment_key`), as in the Jobs API.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct TaskInput {
    /// Unique key of the task within the job; `depends_on` refers to it.
    pub task_key: String,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// Job settings, as the Jobs API's `JobSettings`. Fields not listed (`trigger`, `run_as`,
/// `environments`, `git_source`, ...) are passed to Databricks as they are.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct JobSettingsInput {
    /// Job name; need not be unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tasks of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskInput>>,
    /// Shared job cluster specs (`job_cluster_key` + `new_cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_clusters: Option<Vec<Value>>,
    /// Cron schedule: `quartz_cron_expression`, `timezone_id`, `pause_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Value>,
    /// Job parameters: `[{"name": ..., "default": ...}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Value>>,
    /// Most concurrent runs of the job (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_concurrent_runs: Option<i32>,
    /// Timeout of each run, in seconds (0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub timeout_seconds: Option<i64>,
    /// Tags of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Queueing: `{"enabled": true}` queues runs instead of skipping them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Value>,
    /// Email notifications (`on_start`, `on_success`, `on_failure`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_notifications: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input naming one job.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct JobIdInput {
    /// The job id.
    pub job_id: i64,
}

/// Input of Query Jobs.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct QueryJobsInput {
    /// Only jobs with exactly this name (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Include task and cluster details in each job (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_tasks: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// How Update Job changes the settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    // POST /jobs/update: top-level fields replaced, tasks/job_clusters merged by key
    #[default]
    Update,
    // POST /jobs/reset: all settings replaced
    Reset,
}

/// Input of Update Job.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct UpdateJobInput {
    /// The job id.
    pub job_id: i64,
    /// `update` (default): each top-level field of `new_settings` replaces the current one,
    /// except `tasks` and `job_clusters`, which are merged by `task_key` / `job_cluster_key`;
    /// `fields_to_remove` removes fields. `reset`: `new_settings` replaces all settings.
    #[serde(default)]
    pub mode: UpdateMode,
    /// The new settings (required for `reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_settings: Option<JobSettingsInput>,
    /// `update` only: top-level fields to remove, or `tasks/<task_key>`,
    /// `job_clusters/<job_cluster_key>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields_to_remove: Vec<String>,
}

/// Input of Run Job.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RunJobInput {
    /// The job id.
    pub job_id: i64,
    /// Job-level parameters for this run, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_parameters: Option<BTreeMap<String, String>>,
    /// Up to 64 characters; a repeated token returns the run it started before instead of
    /// starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub idempotency_token: Option<String>,
    /// Run only these task keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Queueing of this run: `{"enabled": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Value>,
    #[serde(flatten)]
    pub wait: Wait,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Input naming one run.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RunIdInput {
    /// The run id (of a job run or a task run).
    pub run_id: i64,
}

/// Input of Cancel Run.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CancelRunInput {
    /// The run id (of a job run or a task run).
    pub run_id: i64,
    #[serde(flatten)]
    pub wait: Wait,
}

fn settings(input: &JobSettingsInput) -> Result<JobSettings, RunError> {
    Ok(to_model(body_without(input, &[]))?)
}

/// Waits until run `run_id` is terminated or skipped and returns it with every task: the
/// poll reads one page of the run (at most 100 tasks in the 2.2 API), so a run with more
/// is read again with all its pages merged.
async fn wait_whole_run(client: &Client, run_id: i64, wait: &Wait) -> Result<Value, RunError> {
    let done = client.jobs().wait_run(run_id, &wait.options()).await?;
    let out = to_output(&done)?;
    if out.get("next_page_token").is_some_and(|t| !t.is_null()) {
        return Ok(to_output(&client.jobs().get_run(run_id).await?)?);
    }
    Ok(out)
}

/// The Jobs actions.
pub fn actions() -> Vec<Action> {
    let g = Group::Jobs;
    vec![
        Action::define(
            g,
            "Create Job",
            "Create a new job; returns its job_id.",
            false,
            json!({"name": "nightly", "tasks": [{"task_key": "main",
                   "notebook_task": {"notebook_path": "/Users/me@example.com/etl"},
                   "existing_cluster_id": "0123-456789-abcdefgh"}]}),
            |client: Client, input: JobSettingsInput| async move {
                Ok(client.call(request::create(&settings(&input)?)).await?)
            },
        ),
        Action::define(
            g,
            "Query Jobs",
            "Retrieves a list of jobs.",
            true,
            json!({"name": "nightly", "limit": 20}),
            |client: Client, input: QueryJobsInput| async move {
                list(&input.paging, "jobs", CursorStyle::Token, |n| {
                    client.jobs().list(&ListJobsRequest {
                        // the Jobs API takes at most 100 per page
                        limit: Some(n.min(100) as i32),
                        name: input.name.clone(),
                        expand_tasks: input.expand_tasks,
                        ..Default::default()
                    })
                })
                .await
            },
        ).read_only(),
        Action::define(
            g,
            "Show Job",
            "Retrieves the details for a single job, with every task (all pages of the 2.2 API merged).",
            true,
            json!({"job_id": 123}),
            |client: Client, input: JobIdInput| async move {
                let job = client.jobs().get(input.job_id).await?;
                Ok(to_output(&job)?)
            },
        ).read_only(),
        Action::define(
            g,
            "Update Job",
            "Add, update, or remove specific settings of an existing job (`mode: update`), or replace all its settings (`mode: reset`).",
            true,
            json!({"job_id": 123, "mode": "update", "new_settings": {"max_concurrent_runs": 2},
                   "fields_to_remove": ["tags"]}),
            |client: Client, input: UpdateJobInput| async move {
                let req = match input.mode {
                    UpdateMode::Update => request::update(&UpdateJob {
                        job_id: input.job_id,
                        new_settings: input.new_settings.as_ref().map(settings).transpose()?,
                        fields_to_remove: input.fields_to_remove.clone(),
                    }),
                    UpdateMode::Reset => {
                        if !input.fields_to_remove.is_empty() {
                            return Err(ActionError::invalid_input(
                                "fields_to_remove",
                                "only `mode: update` removes fields; `reset` replaces all settings",
                            )
                            .into());
                        }
                        let Some(new) = &input.new_settings else {
                            return Err(ActionError::invalid_input(
                                "new_settings",
                                "required with `mode: reset` (the settings that replace the current ones)",
                            )
                            .into());
                        };
                        request::reset(&ResetJob {
                            job_id: input.job_id,
                            new_settings: settings(new)?,
                        })
                    }
                };
                Ok(client.call(req).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Delete Job",
            "Delete a job.",
            true,
            json!({"job_id": 123}),
            |client: Client, input: JobIdInput| async move {
                Ok(client.call(request::delete(input.job_id)).await?)
            },
        ).destructive(),
        Action::define(
            g,
            "Run Job",
            "Run a job and return the run ID of the triggered run; with `wait: true`, wait until the run is TERMINATED or SKIPPED and return the run with its task states.",
            false,
            json!({"job_id": 123, "job_parameters": {"date": "2024-01-01"}, "wait": true,
                   "timeout_seconds": 3600}),
            |client: Client, input: RunJobInput| async move {
                let run: RunNow = to_model(body_without(&input, WAIT_FIELDS))?;
                let started: Value = client.call(request::run_now(&run)).await?;
                if !input.wait.wait {
                    return Ok(started);
                }
                let Some(run_id) = started["run_id"].as_i64() else {
                    return Ok(started);
                };
                wait_whole_run(&client, run_id, &input.wait).await
            },
        ),
        Action::define(
            g,
            "Get Job Run",
            "Retrieves the metadata of a run, with every task (all pages merged).",
            true,
            json!({"run_id": 456}),
            |client: Client, input: RunIdInput| async move {
                let run = client.jobs().get_run(input.run_id).await?;
                Ok(to_output(&run)?)
            },
        ).read_only(),
        Action::define(
            g,
            "Cancel Run",
            "Cancels a job run or a task run asynchronously; with `wait: true`, wait until it has terminated.",
            true,
            json!({"run_id": 456}),
            |client: Client, input: CancelRunInput| async move {
                let cancelled: Value = client.call(request::cancel_run(input.run_id)).await?;
                if !input.wait.wait {
                    return Ok(cancelled);
                }
                wait_whole_run(&client, input.run_id, &input.wait).await
            },
        ).destructive(),
    ]
}
