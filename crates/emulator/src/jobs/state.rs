//! Jobs and their runs, with no HTTP: job settings kept as the JSON the client sent (unknown
//! fields included), the partial-update merge rules, paging, and the run queue.
//!
//! Time is always a parameter (`now`, epoch ms). [`State::advance`] moves queued runs into
//! execution when a slot frees up; every read and write calls it first, so state is brought up
//! to date lazily instead of by a background task. Run timelines live in [`super::runs`].

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::runs::{Run, SkipReason, TaskRun};
use crate::error::ApiError;

/// Settings of the jobs service, changeable through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long a run stays `PENDING` (cluster setup) before its first tasks run, in ms.
    pub run_pending_ms: i64,
    /// How long each task stays `RUNNING`, in ms.
    pub task_run_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            run_pending_ms: 100,
            task_run_ms: 300,
        }
    }
}

/// A saved job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// `job_id`.
    pub job_id: i64,
    /// `created_time`, epoch ms.
    pub created_time: i64,
    /// `creator_user_name`.
    pub creator_user_name: String,
    /// `settings`, as sent plus defaults.
    pub settings: Map<String, Value>,
}

impl Job {
    /// The `Job` document; without `with_tasks`, `tasks` and `job_clusters` are left out as
    /// `jobs/list` does unless `expand_tasks` is set.
    pub fn to_json(&self, with_tasks: bool) -> Value {
        let mut settings = self.settings.clone();
        if !with_tasks {
            settings.remove("tasks");
            settings.remove("job_clusters");
        }
        json!({
            "job_id": self.job_id,
            "creator_user_name": self.creator_user_name,
            "run_as_user_name": self.creator_user_name,
            "created_time": self.created_time,
            "settings": settings,
        })
    }

    fn name(&self) -> &str {
        self.settings
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn max_concurrent_runs(&self) -> i64 {
        self.settings
            .get("max_concurrent_runs")
            .and_then(Value::as_i64)
            .unwrap_or(1)
    }

    fn queue_enabled(&self) -> bool {
        self.settings
            .get("queue")
            .and_then(|q| q.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
}

/// The `run-now` request.
#[derive(Debug, Clone, Default)]
pub struct RunNow {
    /// `job_id`.
    pub job_id: i64,
    /// `job_parameters` (name -> value).
    pub job_parameters: Map<String, Value>,
    /// `idempotency_token`.
    pub idempotency_token: Option<String>,
    /// `only`: run just these task keys.
    pub only: Option<Vec<String>>,
    /// `queue.enabled` for this run.
    pub queue_enabled: Option<bool>,
    /// Legacy parameters kept as `overriding_parameters`.
    pub overriding_parameters: Map<String, Value>,
    /// Any other request fields, echoed on the run.
    pub extra: Map<String, Value>,
}

/// What starting a run needs besides the request: timing settings, where run pages live, who
/// starts it, the time, and which notebooks exist.
#[derive(Clone, Copy)]
pub struct RunContext<'a> {
    /// Run durations.
    pub settings: &'a Settings,
    /// The workspace URL, for `run_page_url`.
    pub base_url: &'a str,
    /// The user starting the run.
    pub creator: &'a str,
    /// Now, epoch ms.
    pub now: i64,
    /// Whether a notebook exists in the workspace.
    pub notebook_exists: &'a dyn Fn(&str) -> bool,
}

/// `runs/list` filters.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job_id: Option<i64>,
    /// Only `QUEUED`, `PENDING`, `RUNNING` or `TERMINATING` runs.
    pub active_only: bool,
    /// Only finished runs.
    pub completed_only: bool,
    /// `start_time >= start_time_from`.
    pub start_time_from: Option<i64>,
    /// `start_time <= start_time_to`.
    pub start_time_to: Option<i64>,
    /// `run_type`: `JOB_RUN` or `SUBMIT_RUN`.
    pub run_type: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page, if there is one.
    pub next_page_token: Option<String>,
}

/// Jobs, runs, and id counters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    jobs: BTreeMap<i64, Job>,
    runs: BTreeMap<i64, Run>,
    next_job: i64,
    next_run: i64,
    idempotency: HashMap<String, i64>,
}

/// `Job <id> does not exist.`, answered with 400 as Databricks does.
pub fn job_not_found(job_id: i64) -> ApiError {
    ApiError::invalid_parameter(format!("Job {job_id} does not exist."))
}

/// `Run <id> does not exist.`, answered with 400 as Databricks does.
pub fn run_not_found(run_id: i64) -> ApiError {
    ApiError::invalid_parameter(format!("Run {run_id} does not exist."))
}

fn encode_token(after: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{after}"))
}

fn decode_token(token: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("after:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::invalid_parameter(format!("Invalid page token: {token}")))
}

fn keyed<'a>(items: &'a [Value], key: &str) -> Vec<(Option<&'a str>, &'a Value)> {
    items
        .iter()
        .map(|v| (v.get(key).and_then(Value::as_str), v))
        .collect()
}

/// Checks task keys, dependencies and job cluster references; fills job-level defaults.
fn validate(settings: &mut Map<String, Value>) -> Result<(), ApiError> {
    let tasks = match settings.get("tasks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::invalid_parameter("`tasks` must be an array.")),
    };
    let clusters = match settings.get("job_clusters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "`job_clusters` must be an array.",
            ));
        }
    };
    let mut cluster_keys = HashSet::new();
    for (i, (key, _)) in keyed(&clusters, "job_cluster_key").into_iter().enumerate() {
        let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
            ApiError::missing_field(format_args!("job_clusters[{i}].job_cluster_key"))
        })?;
        if !cluster_keys.insert(key) {
            return Err(ApiError::invalid_parameter(format!(
                "Job cluster key {key} is used by more than one job cluster."
            )));
        }
    }
    let mut task_keys = HashSet::new();
    for (i, (key, _)) in keyed(&tasks, "task_key").into_iter().enumerate() {
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::missing_field(format_args!("tasks[{i}].task_key")))?;
        if !task_keys.insert(key) {
            return Err(ApiError::invalid_parameter(format!(
                "Task key {key} is used by more than one task."
            )));
        }
    }
    for task in &tasks {
        let key = task["task_key"].as_str().unwrap_or_default();
        for dep in dependencies(task) {
            if !task_keys.contains(dep.as_str()) {
                return Err(ApiError::invalid_parameter(format!(
                    "Task {key} depends on {dep}, which is not a task of this job."
                )));
            }
        }
        if let Some(cluster) = task.get("job_cluster_key").and_then(Value::as_str)
            && !cluster_keys.contains(cluster)
        {
            return Err(ApiError::invalid_parameter(format!(
                "Task {key} uses the job cluster {cluster}, which is not in job_clusters."
            )));
        }
    }
    depths(&tasks)?;
    for (field, default) in [
        ("name", json!("Untitled")),
        ("max_concurrent_runs", json!(1)),
        ("timeout_seconds", json!(0)),
        ("email_notifications", json!({})),
        ("webhook_notifications", json!({})),
        ("format", json!("MULTI_TASK")),
    ] {
        settings.entry(field).or_insert(default);
    }
    Ok(())
}

fn dependencies(task: &Value) -> Vec<String> {
    task.get("depends_on")
        .and_then(Value::as_array)
        .map(|deps| {
            deps.iter()
                .filter_map(|d| d.get("task_key").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Dependency depth of each task by key; an error names a task on a cycle.
fn depths(tasks: &[Value]) -> Result<HashMap<String, i64>, ApiError> {
    let deps: HashMap<String, Vec<String>> = tasks
        .iter()
        .filter_map(|t| Some((t.get("task_key")?.as_str()?.to_owned(), dependencies(t))))
        .collect();
    let mut depth: HashMap<String, i64> = HashMap::new();
    // Relax at most n times; still changing after that means a cycle.
    for _ in 0..=deps.len() {
        let mut changed = false;
        for (key, ds) in &deps {
            let d = ds
                .iter()
                .filter(|d| deps.contains_key(*d))
                .map(|d| depth.get(d).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            if depth.get(key) != Some(&d) {
                if d > deps.len() as i64 {
                    return Err(ApiError::invalid_parameter(format!(
                        "The tasks form a dependency cycle through {key}."
                    )));
                }
                depth.insert(key.clone(), d);
                changed = true;
            }
        }
        if !changed {
            return Ok(depth);
        }
    }
    let key = deps.keys().next().cloned().unwrap_or_default();
    Err(ApiError::invalid_parameter(format!(
        "The tasks form a dependency cycle through {key}."
    )))
}

/// Merges `new` into `old` by `key`: same key replaces, new keys are appended.
fn merge_by_key(old: &mut Vec<Value>, new: Vec<Value>, key: &str) {
    for item in new {
        let k = item.get(key).and_then(Value::as_str).map(str::to_owned);
        match old
            .iter_mut()
            .find(|o| k.is_some() && o.get(key).and_then(Value::as_str) == k.as_deref())
        {
            Some(slot) => *slot = item,
            None => old.push(item),
        }
    }
}

impl State {
    fn job(&self, job_id: i64) -> Result<&Job, ApiError> {
        self.jobs.get(&job_id).ok_or_else(|| job_not_found(job_id))
    }

    fn job_mut(&mut self, job_id: i64) -> Result<&mut Job, ApiError> {
        self.jobs
            .get_mut(&job_id)
            .ok_or_else(|| job_not_found(job_id))
    }

    /// `jobs/create`: stores the settings and returns the new `job_id`.
    pub fn create(
        &mut self,
        mut settings: Map<String, Value>,
        creator: &str,
        now: i64,
    ) -> Result<i64, ApiError> {
        // Permissions are applied at creation, not kept as a setting.
        settings.remove("access_control_list");
        validate(&mut settings)?;
        self.next_job += 1;
        let job_id = 100 + self.next_job;
        self.jobs.insert(
            job_id,
            Job {
                job_id,
                created_time: now,
                creator_user_name: creator.to_owned(),
                settings,
            },
        );
        Ok(job_id)
    }

    /// `jobs/get`.
    pub fn get(&self, job_id: i64) -> Result<&Job, ApiError> {
        self.job(job_id)
    }

    /// `jobs/list`, newest job first; `name` matches exactly, ignoring case.
    pub fn list(
        &self,
        limit: usize,
        page_token: Option<&str>,
        offset: usize,
        name: Option<&str>,
    ) -> Result<Page<&Job>, ApiError> {
        let after = page_token.map(decode_token).transpose()?;
        let matching: Vec<&Job> = self
            .jobs
            .values()
            .rev()
            .filter(|j| after.is_none_or(|a| j.job_id < a))
            .filter(|j| name.is_none_or(|n| j.name().to_lowercase() == n.to_lowercase()))
            .skip(offset)
            .collect();
        let more = matching.len() > limit;
        let items: Vec<&Job> = matching.into_iter().take(limit).collect();
        let next_page_token = if more {
            items.last().map(|j| encode_token(j.job_id))
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// `jobs/update`: `fields_to_remove` first (top-level names, `tasks/<key>`,
    /// `job_clusters/<key>`), then `new_settings` (top-level fields replaced, `tasks` and
    /// `job_clusters` merged by key).
    pub fn update(
        &mut self,
        job_id: i64,
        new_settings: Map<String, Value>,
        fields_to_remove: &[String],
    ) -> Result<(), ApiError> {
        let job = self.job(job_id)?;
        let mut settings = job.settings.clone();
        for field in fields_to_remove {
            let (array, key_field, key) = match field.split_once('/') {
                Some(("tasks", key)) => ("tasks", "task_key", key),
                Some(("job_clusters", key)) => ("job_clusters", "job_cluster_key", key),
                Some(_) => {
                    return Err(ApiError::invalid_parameter(format!(
                        "Cannot remove the nested field {field}; only tasks/<task_key> and \
                         job_clusters/<job_cluster_key> can be removed individually."
                    )));
                }
                None => {
                    settings.remove(field);
                    continue;
                }
            };
            if let Some(Value::Array(items)) = settings.get_mut(array) {
                items.retain(|v| v.get(key_field).and_then(Value::as_str) != Some(key));
            }
        }
        for (field, value) in new_settings {
            match (field.as_str(), value) {
                ("tasks", Value::Array(new)) => {
                    let old = settings.entry("tasks").or_insert_with(|| json!([]));
                    if let Value::Array(old) = old {
                        merge_by_key(old, new, "task_key");
                    }
                }
                ("job_clusters", Value::Array(new)) => {
                    let old = settings.entry("job_clusters").or_insert_with(|| json!([]));
                    if let Value::Array(old) = old {
                        merge_by_key(old, new, "job_cluster_key");
                    }
                }
                (_, value) => {
                    settings.insert(field, value);
                }
            }
        }
        validate(&mut settings)?;
        self.job_mut(job_id)?.settings = settings;
        Ok(())
    }

    /// `jobs/reset`: replaces every setting.
    pub fn reset(
        &mut self,
        job_id: i64,
        mut new_settings: Map<String, Value>,
    ) -> Result<(), ApiError> {
        self.job(job_id)?;
        validate(&mut new_settings)?;
        self.job_mut(job_id)?.settings = new_settings;
        Ok(())
    }

    /// `jobs/delete`: removes the job and cancels its unfinished runs.
    pub fn delete(&mut self, job_id: i64, now: i64) -> Result<(), ApiError> {
        self.jobs
            .remove(&job_id)
            .ok_or_else(|| job_not_found(job_id))?;
        for run in self.runs.values_mut().filter(|r| r.job_id == job_id) {
            run.cancel(now);
        }
        Ok(())
    }

    /// Starts queued runs whose job has a free slot, at the moment the slot freed up.
    pub fn advance(&mut self, now: i64, notebook_exists: &dyn Fn(&str) -> bool) {
        let queued: Vec<i64> = self
            .runs
            .values()
            .filter(|r| r.begun_ms.is_none() && r.canceled_ms.is_none() && r.skipped.is_none())
            .map(|r| r.run_id)
            .collect();
        for run_id in queued {
            let (job_id, created, max) = {
                let r = &self.runs[&run_id];
                (r.job_id, r.created_ms, r.max_concurrent_runs)
            };
            let mut candidates: Vec<i64> = self
                .runs
                .values()
                .filter(|r| r.job_id == job_id && r.begun_ms.is_some())
                .filter_map(Run::end_ms)
                .filter(|&e| e > created && e <= now)
                .collect();
            candidates.push(created);
            candidates.sort_unstable();
            let slot = candidates.into_iter().find(|&t| {
                let active = self
                    .runs
                    .values()
                    .filter(|r| r.job_id == job_id && r.is_active_at(t))
                    .count() as i64;
                active < max
            });
            if let Some(t) = slot
                && let Some(run) = self.runs.get_mut(&run_id)
            {
                run.begin(t, notebook_exists);
            }
        }
    }

    /// `jobs/run-now`: a new run (or the earlier one with the same `idempotency_token`).
    pub fn run_now(&mut self, req: RunNow, ctx: &RunContext<'_>) -> Result<i64, ApiError> {
        let RunContext {
            settings,
            base_url,
            creator,
            now,
            notebook_exists,
        } = *ctx;
        self.advance(now, notebook_exists);
        if let Some(token) = &req.idempotency_token {
            if token.len() > 64 {
                return Err(ApiError::invalid_parameter(
                    "The idempotency_token must be at most 64 characters.",
                ));
            }
            if let Some(run_id) = self.idempotency.get(token) {
                return Ok(*run_id);
            }
        }
        let job = self.job(req.job_id)?.clone();
        let all_tasks: Vec<Value> = job
            .settings
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tasks: Vec<Value> = match &req.only {
            None => all_tasks,
            Some(only) => {
                for key in only {
                    if !all_tasks
                        .iter()
                        .any(|t| t.get("task_key").and_then(Value::as_str) == Some(key))
                    {
                        return Err(ApiError::invalid_parameter(format!(
                            "Task {key} does not exist in job {}.",
                            req.job_id
                        )));
                    }
                }
                all_tasks
                    .into_iter()
                    .filter(|t| {
                        t.get("task_key")
                            .and_then(Value::as_str)
                            .is_some_and(|k| only.iter().any(|o| o == k))
                    })
                    .collect()
            }
        };
        let (run_id, task_runs) = self.allocate_run(tasks)?;
        let mut job_parameters: Vec<Value> = job
            .settings
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                let default = p.get("default").cloned().unwrap_or(json!(""));
                let value = req
                    .job_parameters
                    .get(name)
                    .cloned()
                    .unwrap_or(default.clone());
                json!({"name": name, "default": default, "value": value})
            })
            .collect();
        for (name, value) in &req.job_parameters {
            if !job_parameters.iter().any(|p| p["name"] == *name) {
                job_parameters.push(json!({"name": name, "value": value}));
            }
        }
        let mut run = Run {
            run_id,
            job_id: job.job_id,
            run_type: "JOB_RUN".to_owned(),
            run_name: job.name().to_owned(),
            creator_user_name: creator.to_owned(),
            run_page_url: format!("{base_url}/#job/{}/run/{run_id}", job.job_id),
            created_ms: now,
            max_concurrent_runs: job.max_concurrent_runs(),
            begun_ms: None,
            pending_ms: settings.run_pending_ms.max(0),
            task_ms: settings.task_run_ms.max(0),
            canceled_ms: None,
            timeout_ms: job
                .settings
                .get("timeout_seconds")
                .and_then(Value::as_i64)
                .filter(|&t| t > 0)
                .map(|t| t * 1000),
            skipped: None,
            tasks: task_runs,
            job_parameters,
            overriding_parameters: req.overriding_parameters,
            job_clusters: job
                .settings
                .get("job_clusters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            extra: req.extra,
        };
        let active = self
            .runs
            .values()
            .filter(|r| r.job_id == job.job_id && r.is_unfinished(now) && r.skipped.is_none())
            .count() as i64;
        if active < run.max_concurrent_runs {
            run.begin(now, notebook_exists);
        } else if !req.queue_enabled.unwrap_or_else(|| job.queue_enabled()) {
            run.skipped = Some(SkipReason::MaxConcurrentRuns(run.max_concurrent_runs));
        }
        self.runs.insert(run_id, run);
        if let Some(token) = req.idempotency_token {
            self.idempotency.insert(token, run_id);
        }
        Ok(run_id)
    }

    /// A new run id and the task runs (with their own ids and depths) for `tasks`.
    fn allocate_run(&mut self, tasks: Vec<Value>) -> Result<(i64, Vec<TaskRun>), ApiError> {
        let depth = depths(&tasks)?;
        let keys: HashSet<String> = depth.keys().cloned().collect();
        self.next_run += 1;
        let run_id = 1000 + self.next_run;
        let mut task_runs = Vec::new();
        for task in tasks {
            let Value::Object(spec) = task else { continue };
            let task_key = spec["task_key"].as_str().unwrap_or_default().to_owned();
            self.next_run += 1;
            task_runs.push(TaskRun {
                run_id: 1000 + self.next_run,
                depends_on: dependencies(&Value::Object(spec.clone()))
                    .into_iter()
                    .filter(|d| keys.contains(d))
                    .collect(),
                depth: depth.get(&task_key).copied().unwrap_or(0),
                task_key,
                spec,
                outcome: None,
            });
        }
        Ok((run_id, task_runs))
    }

    /// `runs/submit`: a one-time run of `spec` (`run_name`, `tasks`, `timeout_seconds`, ...)
    /// without a saved job. It starts at once: one-time runs have no concurrency limit.
    pub fn submit(
        &mut self,
        mut spec: Map<String, Value>,
        idempotency_token: Option<String>,
        ctx: &RunContext<'_>,
    ) -> Result<i64, ApiError> {
        let RunContext {
            settings,
            base_url,
            creator,
            now,
            notebook_exists,
        } = *ctx;
        self.advance(now, notebook_exists);
        if let Some(token) = &idempotency_token {
            if token.len() > 64 {
                return Err(ApiError::invalid_parameter(
                    "The idempotency_token must be at most 64 characters.",
                ));
            }
            if let Some(run_id) = self.idempotency.get(token) {
                return Ok(*run_id);
            }
        }
        validate(&mut spec)?;
        let tasks = spec
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if tasks.is_empty() {
            return Err(ApiError::invalid_parameter(
                "A one-time run needs at least one task.",
            ));
        }
        let (run_id, task_runs) = self.allocate_run(tasks)?;
        let mut run = Run {
            run_id,
            job_id: 0,
            run_type: "SUBMIT_RUN".to_owned(),
            run_name: spec
                .get("run_name")
                .and_then(Value::as_str)
                .unwrap_or("Untitled")
                .to_owned(),
            creator_user_name: creator.to_owned(),
            run_page_url: format!("{base_url}/#job/0/run/{run_id}"),
            created_ms: now,
            max_concurrent_runs: 0,
            begun_ms: None,
            pending_ms: settings.run_pending_ms.max(0),
            task_ms: settings.task_run_ms.max(0),
            canceled_ms: None,
            timeout_ms: spec
                .get("timeout_seconds")
                .and_then(Value::as_i64)
                .filter(|&t| t > 0)
                .map(|t| t * 1000),
            skipped: None,
            tasks: task_runs,
            job_parameters: Vec::new(),
            overriding_parameters: Map::new(),
            job_clusters: spec
                .get("job_clusters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            extra: Map::new(),
        };
        run.begin(now, notebook_exists);
        self.runs.insert(run_id, run);
        if let Some(token) = idempotency_token {
            self.idempotency.insert(token, run_id);
        }
        Ok(run_id)
    }

    /// Admin seeding: `count` finished one-time runs, the first created at `start_ms` and
    /// each next one `step_ms` later, each with one task that ran `duration_ms`. Built
    /// directly (no queue pass per run) so benchmarks can hold 100,000 runs. Returns the ids.
    pub fn seed_runs(
        &mut self,
        count: usize,
        start_ms: i64,
        step_ms: i64,
        duration_ms: i64,
        base_url: &str,
        creator: &str,
    ) -> Vec<i64> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let created = start_ms + step_ms * i as i64;
            let task =
                json!({"task_key": "seed", "spark_python_task": {"python_file": "/seed.py"}});
            let Ok((run_id, tasks)) = self.allocate_run(vec![task]) else {
                continue;
            };
            let mut run = Run {
                run_id,
                job_id: 0,
                run_type: "SUBMIT_RUN".to_owned(),
                run_name: format!("seed-{i}"),
                creator_user_name: creator.to_owned(),
                run_page_url: format!("{base_url}/#job/0/run/{run_id}"),
                created_ms: created,
                max_concurrent_runs: 0,
                begun_ms: None,
                pending_ms: 0,
                task_ms: duration_ms.max(0),
                canceled_ms: None,
                timeout_ms: None,
                skipped: None,
                tasks,
                job_parameters: Vec::new(),
                overriding_parameters: Map::new(),
                job_clusters: Vec::new(),
                extra: Map::new(),
            };
            run.begin(created, &|_| true);
            self.runs.insert(run_id, run);
            ids.push(run_id);
        }
        ids
    }

    /// `runs/get`.
    pub fn get_run(&self, run_id: i64) -> Result<&Run, ApiError> {
        self.runs.get(&run_id).ok_or_else(|| run_not_found(run_id))
    }

    /// The run and task that `runs/get-output` reports on: a task run id, or the id of a run
    /// with exactly one task.
    pub fn task_run(&self, run_id: i64) -> Result<(&Run, &TaskRun), ApiError> {
        if let Some(run) = self.runs.get(&run_id) {
            return match run.tasks.as_slice() {
                [only] => Ok((run, only)),
                _ => Err(ApiError::invalid_parameter(
                    "Retrieving the output of runs with multiple tasks is not supported. Please \
                     retrieve the output of each individual task run instead.",
                )),
            };
        }
        self.runs
            .values()
            .find_map(|run| {
                run.tasks
                    .iter()
                    .find(|t| t.run_id == run_id)
                    .map(|t| (run, t))
            })
            .ok_or_else(|| run_not_found(run_id))
    }

    /// `runs/list`, newest first.
    pub fn list_runs(
        &self,
        filter: &RunFilter,
        limit: usize,
        page_token: Option<&str>,
        offset: usize,
        now: i64,
    ) -> Result<Page<&Run>, ApiError> {
        if filter.active_only && filter.completed_only {
            return Err(ApiError::invalid_parameter(
                "active_only and completed_only cannot both be true.",
            ));
        }
        let after = page_token.map(decode_token).transpose()?;
        let mut runs: Vec<&Run> = self
            .runs
            .values()
            .filter(|r| filter.job_id.is_none_or(|j| r.job_id == j))
            .filter(|r| !filter.active_only || r.is_unfinished(now))
            .filter(|r| !filter.completed_only || !r.is_unfinished(now))
            .filter(|r| filter.start_time_from.is_none_or(|t| r.created_ms >= t))
            .filter(|r| filter.start_time_to.is_none_or(|t| r.created_ms <= t))
            .filter(|r| filter.run_type.as_deref().is_none_or(|t| t == r.run_type))
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse((r.created_ms, r.run_id)));
        if let Some(after) = after {
            let position = runs.iter().position(|r| r.run_id == after);
            runs = match position {
                Some(p) => runs.split_off(p + 1),
                None => runs.into_iter().filter(|r| r.run_id < after).collect(),
            };
        }
        let runs: Vec<&Run> = runs.into_iter().skip(offset).collect();
        let more = runs.len() > limit;
        let items: Vec<&Run> = runs.into_iter().take(limit).collect();
        let next_page_token = if more {
            items.last().map(|r| encode_token(r.run_id))
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// `runs/cancel`: ends the run now (a finished run is left alone).
    pub fn cancel_run(&mut self, run_id: i64, now: i64) -> Result<(), ApiError> {
        self.runs
            .get_mut(&run_id)
            .ok_or_else(|| run_not_found(run_id))?
            .cancel(now);
        Ok(())
    }

    /// `runs/cancel-all`: every unfinished run of `job_id`, or with `all_queued_runs` every
    /// queued run (of that job, or of the workspace without one).
    pub fn cancel_all(
        &mut self,
        job_id: Option<i64>,
        all_queued_runs: bool,
        now: i64,
    ) -> Result<(), ApiError> {
        match (job_id, all_queued_runs) {
            (None, false) => {
                return Err(ApiError::invalid_parameter(
                    "Either job_id or all_queued_runs must be set.",
                ));
            }
            (Some(j), _) => {
                self.job(j)?;
            }
            _ => {}
        }
        for run in self.runs.values_mut() {
            let job_matches = job_id.is_none_or(|j| run.job_id == j);
            let eligible = if all_queued_runs {
                run.begun_ms.is_none()
            } else {
                true
            };
            if job_matches && eligible {
                run.cancel(now);
            }
        }
        Ok(())
    }

    /// `runs/delete`: removes a finished run.
    pub fn delete_run(&mut self, run_id: i64, now: i64) -> Result<(), ApiError> {
        let run = self.get_run(run_id)?;
        if run.is_unfinished(now) {
            return Err(ApiError::invalid_parameter(format!(
                "Run {run_id} is still active; cancel it before deleting it."
            )));
        }
        self.runs.remove(&run_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn fast() -> Settings {
        Settings {
            run_pending_ms: 10,
            task_run_ms: 100,
        }
    }

    fn run_now(s: &mut State, job_id: i64, now: i64) -> i64 {
        let req = RunNow {
            job_id,
            ..RunNow::default()
        };
        let ctx = RunContext {
            settings: &fast(),
            base_url: "http://h",
            creator: "u",
            now,
            notebook_exists: &|_| true,
        };
        s.run_now(req, &ctx).unwrap()
    }

    #[test]
    fn queued_run_starts_when_the_first_one_ends() {
        let mut s = State::default();
        let job = s
            .create(
                settings(json!({"name": "j", "tasks": [{"task_key": "a"}]})),
                "u",
                0,
            )
            .unwrap();
        let first = run_now(&mut s, job, 1000);
        let second = run_now(&mut s, job, 1001);
        assert_eq!(
            s.get_run(second).unwrap().snapshot(1001).life_cycle,
            "QUEUED"
        );
        // The first run ends at 1000 + 10 + 100; the queue is advanced lazily, later.
        s.advance(5000, &|_| true);
        assert_eq!(s.get_run(first).unwrap().end_ms(), Some(1110));
        assert_eq!(s.get_run(second).unwrap().begun_ms, Some(1110));
        assert_eq!(
            s.get_run(second).unwrap().snapshot(5000).result,
            Some("SUCCESS")
        );
    }

    #[test]
    fn queue_disabled_skips_the_run() {
        let mut s = State::default();
        let job = s
            .create(settings(json!({"queue": {"enabled": false}})), "u", 0)
            .unwrap();
        run_now(&mut s, job, 1000);
        let second = run_now(&mut s, job, 1001);
        let snap = s.get_run(second).unwrap().snapshot(1001);
        assert_eq!(snap.life_cycle, "SKIPPED");
    }

    #[test]
    fn dependency_cycles_and_unknown_dependencies_are_rejected() {
        let mut s = State::default();
        let cycle = json!({"tasks": [
            {"task_key": "a", "depends_on": [{"task_key": "b"}]},
            {"task_key": "b", "depends_on": [{"task_key": "a"}]},
        ]});
        let err = s.create(settings(cycle), "u", 0).unwrap_err();
        assert!(err.message.contains("cycle"), "{}", err.message);
        let unknown = json!({"tasks": [{"task_key": "a", "depends_on": [{"task_key": "z"}]}]});
        let err = s.create(settings(unknown), "u", 0).unwrap_err();
        assert!(err.message.contains("depends on z"), "{}", err.message);
        let dup = json!({"tasks": [{"task_key": "a"}, {"task_key": "a"}]});
        assert!(s.create(settings(dup), "u", 0).is_err());
    }

    #[test]
    fn state_survives_a_json_snapshot() {
        let mut s = State::default();
        let job = s
            .create(
                settings(json!({"name": "j", "tasks": [{"task_key": "a"}]})),
                "u",
                0,
            )
            .unwrap();
        let run = run_now(&mut s, job, 1000);
        let copy: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(
            copy.get(job).unwrap().settings,
            s.get(job).unwrap().settings
        );
        assert_eq!(
            copy.get_run(run).unwrap().to_json(5000, true),
            s.get_run(run).unwrap().to_json(5000, true)
        );
    }

    #[test]
    fn list_pages_with_tokens() {
        let mut s = State::default();
        let ids: Vec<i64> = (0..5)
            .map(|i| {
                s.create(settings(json!({"name": format!("j{i}")})), "u", 0)
                    .unwrap()
            })
            .collect();
        let first = s.list(2, None, 0, None).unwrap();
        assert_eq!(
            first.items.iter().map(|j| j.job_id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let token = first.next_page_token.unwrap();
        let second = s.list(2, Some(&token), 0, None).unwrap();
        assert_eq!(second.items[0].job_id, ids[2]);
        let last = s
            .list(2, second.next_page_token.as_deref(), 0, None)
            .unwrap();
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.next_page_token, None);
        assert_eq!(s.list(20, None, 0, Some("J3")).unwrap().items.len(), 1);
    }
}
