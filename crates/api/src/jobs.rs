//! Jobs (`/api/2.2/jobs/*`): job settings, jobs, runs, their list queries and the run state
//! machine ([`RunLifeCycleState`], [`RunResultState`]).
//!
//! Task definitions are typed only as far as the connector needs (key, dependencies, cluster);
//! the task kind (`notebook_task`, `sql_task`, ...) and everything else stay in `extra` verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::Extra;

crate::string_enum! {
    /// The life-cycle state of a run. Terminal: `TERMINATED`, `SKIPPED`, `INTERNAL_ERROR`.
    pub enum RunLifeCycleState {
        Queued = "QUEUED",
        Pending = "PENDING",
        Running = "RUNNING",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Skipped = "SKIPPED",
        InternalError = "INTERNAL_ERROR",
        Blocked = "BLOCKED",
        WaitingForRetry = "WAITING_FOR_RETRY",
    }
}

impl RunLifeCycleState {
    /// Whether the run will not change state any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunLifeCycleState::Terminated
                | RunLifeCycleState::Skipped
                | RunLifeCycleState::InternalError
        )
    }
}

crate::string_enum! {
    /// The outcome of a terminal run.
    pub enum RunResultState {
        Success = "SUCCESS",
        Failed = "FAILED",
        Timedout = "TIMEDOUT",
        Canceled = "CANCELED",
        MaximumConcurrentRunsReached = "MAXIMUM_CONCURRENT_RUNS_REACHED",
        Excluded = "EXCLUDED",
        SuccessWithFailures = "SUCCESS_WITH_FAILURES",
        UpstreamFailed = "UPSTREAM_FAILED",
        UpstreamCanceled = "UPSTREAM_CANCELED",
        Disabled = "DISABLED",
    }
}

impl RunResultState {
    /// Whether the run succeeded (`SUCCESS` or `SUCCESS_WITH_FAILURES`).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            RunResultState::Success | RunResultState::SuccessWithFailures
        )
    }
}

crate::string_enum! {
    /// The newer run status (`status.state`).
    pub enum RunStatusState {
        Queued = "QUEUED",
        Pending = "PENDING",
        Running = "RUNNING",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Blocked = "BLOCKED",
        Waiting = "WAITING",
    }
}

crate::string_enum! {
    /// What kind of run.
    pub enum RunType { JobRun = "JOB_RUN", WorkflowRun = "WORKFLOW_RUN", SubmitRun = "SUBMIT_RUN" }
}

crate::string_enum! {
    /// Whether a schedule or trigger is paused.
    pub enum PauseStatus { Paused = "PAUSED", Unpaused = "UNPAUSED" }
}

/// A task this one depends on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskDependency {
    /// The key of the task depended on.
    pub task_key: String,
    /// For a condition task: `"true"` or `"false"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// One task of a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Task {
    /// The task's unique key within the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_key: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tasks that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<TaskDependency>,
    /// Run on this all-purpose cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_cluster_id: Option<String>,
    /// Run on this shared job cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_cluster_key: Option<String>,
    /// Per-attempt timeout in seconds (0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Retries on failure (-1 = forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// The task kind (`notebook_task`, `sql_task`, ...), `new_cluster`, libraries, and the rest.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cron schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CronSchedule {
    /// A Quartz cron expression.
    pub quartz_cron_expression: String,
    /// A Java time zone id.
    pub timezone_id: String,
    /// Whether the schedule is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_status: Option<PauseStatus>,
}

/// A job-level parameter and its default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobParameterDefinition {
    /// The name.
    pub name: String,
    /// The default value.
    pub default: String,
}

/// Whether runs may queue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueSettings {
    /// Queueing on (the 2.2 default) or off.
    pub enabled: bool,
}

/// The settings of a job: the body of `jobs/create`, `new_settings` of update and reset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobSettings {
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// Shared job cluster definitions (`{job_cluster_key, new_cluster}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_clusters: Vec<Value>,
    /// A cron schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CronSchedule>,
    /// A file-arrival, table or periodic trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Value>,
    /// Job-level parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<JobParameterDefinition>,
    /// How many runs may be active at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<i32>,
    /// Timeout of each run in seconds (0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Queueing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSettings>,
    /// Email notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_notifications: Option<Value>,
    /// Who the job runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<Value>,
    /// Every other setting, sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A job as `jobs/get` and `jobs/list` describe it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Job {
    /// The job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    /// The settings (tasks may be paged in 2.2; see `has_more`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<JobSettings>,
    /// Creation time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    /// The creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_user_name: Option<String>,
    /// Who the job runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user_name: Option<String>,
    /// Whether more array elements (tasks, job clusters, ...) remain on later pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
    /// The token of the next page of array elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `jobs/create`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateJobResponse {
    /// The new job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The query of `jobs/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListJobsRequest {
    /// Page size, 1–100 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Only jobs with exactly this name (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Include task and cluster details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_tasks: Option<bool>,
    /// Deprecated offset paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One page of `jobs/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListJobsResponse {
    /// The jobs of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// Whether more jobs remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
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

/// The body of `jobs/update`: replace top-level settings (tasks and job clusters merge by
/// key) and remove fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateJob {
    /// The job.
    pub job_id: i64,
    /// Settings to replace or merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_settings: Option<JobSettings>,
    /// Top-level fields, or `tasks/<key>` / `job_clusters/<key>`, to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields_to_remove: Vec<String>,
}

/// The body of `jobs/reset`: overwrite all settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResetJob {
    /// The job.
    pub job_id: i64,
    /// The complete new settings.
    pub new_settings: JobSettings,
}

/// The body of `jobs/run-now`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunNow {
    /// The job to run.
    pub job_id: i64,
    /// Job-level parameter values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub job_parameters: BTreeMap<String, String>,
    /// A token (≤ 64 chars) that makes retries return the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_token: Option<String>,
    /// Run only these task keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    /// Queueing for this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSettings>,
    /// `PERFORMANCE_OPTIMIZED` or `STANDARD` (serverless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_target: Option<String>,
    /// Legacy per-task parameters (`notebook_params`, `python_params`, ...), sent verbatim.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `jobs/run-now`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunNowResponse {
    /// The new run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// The run's sequence number within the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_in_job: Option<i64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The classic run state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Where the run is in its life cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub life_cycle_state: Option<RunLifeCycleState>,
    /// The outcome, once terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_state: Option<RunResultState>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_message: Option<String>,
    /// Why the run is queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_reason: Option<String>,
    /// Whether a user cancelled the run or it timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_cancelled_or_timedout: Option<bool>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why a run ended (newer status model).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TerminationDetails {
    /// `SUCCESS`, `CANCELED`, `RUN_EXECUTION_ERROR`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `SUCCESS`, `CLIENT_ERROR`, `INTERNAL_ERROR` or `CLOUD_FAILURE`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The newer run status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunStatus {
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunStatusState>,
    /// Why the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_details: Option<TerminationDetails>,
    /// Fields this version does not model (`queue_details`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One task run within a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunTask {
    /// The task key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_key: Option<String>,
    /// The task run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// The classic state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// The newer status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A run as `jobs/runs/get` and `jobs/runs/list` describe it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Run {
    /// The run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    /// Sequence number within the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_in_job: Option<i64>,
    /// Retry attempt (0 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_number: Option<i32>,
    /// The run's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    /// The UI link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_page_url: Option<String>,
    /// What kind of run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_type: Option<RunType>,
    /// The classic state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// The newer status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Start time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// End time, epoch ms (0 while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Total duration, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_duration: Option<i64>,
    /// The task runs (paged at 100 in 2.2; see `has_more`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<RunTask>,
    /// What started the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Whether more array elements remain on later pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
    /// The token of the next page of array elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Run {
    /// The life-cycle state, if reported.
    pub fn life_cycle_state(&self) -> Option<&RunLifeCycleState> {
        self.state.as_ref()?.life_cycle_state.as_ref()
    }

    /// The result state, if reported.
    pub fn result_state(&self) -> Option<&RunResultState> {
        self.state.as_ref()?.result_state.as_ref()
    }

    /// The state message, or an empty string.
    pub fn state_message(&self) -> &str {
        self.state
            .as_ref()
            .and_then(|s| s.state_message.as_deref())
            .unwrap_or_default()
    }
}

/// The query of `jobs/runs/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListRunsRequest {
    /// Only runs of this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    /// Only active runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_only: Option<bool>,
    /// Only completed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_only: Option<bool>,
    /// Only runs of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_type: Option<RunType>,
    /// Only runs started at or after this epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_from: Option<i64>,
    /// Only runs started at or before this epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time_to: Option<i64>,
    /// Page size, 1–24 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Include task details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_tasks: Option<bool>,
    /// Deprecated offset paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Where to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One page of `jobs/runs/list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListRunsResponse {
    /// The runs of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
    /// Whether more runs remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_round_trips_with_unknown_fields() {
        let raw = serde_json::json!({
            "run_id": 7, "job_id": 3,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"},
            "status": {"state": "TERMINATED", "termination_details": {"code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR"}},
            "tasks": [{"task_key": "a", "notebook_output": {}}],
            "cluster_instance": {"cluster_id": "c"}
        });
        let run: Run = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(run.life_cycle_state(), Some(&RunLifeCycleState::Terminated));
        assert!(!run.result_state().unwrap().is_success());
        assert_eq!(run.state_message(), "boom");
        assert_eq!(serde_json::to_value(&run).unwrap(), raw);
    }

    #[test]
    fn settings_keep_task_kinds() {
        let raw = serde_json::json!({
            "name": "n",
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "depends_on": [{"task_key": "s"}]}],
            "format": "MULTI_TASK"
        });
        let s: JobSettings = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(s.tasks[0].depends_on[0].task_key, "s");
        assert_eq!(serde_json::to_value(&s).unwrap(), raw);
    }

    #[test]
    fn terminal_life_cycle_states() {
        assert!(RunLifeCycleState::Skipped.is_terminal());
        assert!(RunLifeCycleState::InternalError.is_terminal());
        assert!(!RunLifeCycleState::Blocked.is_terminal());
        assert!(!RunLifeCycleState::Other("NEW".into()).is_terminal());
    }
}
