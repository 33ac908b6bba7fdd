//! One job run as data: when it was created, when it left the queue, how long its phases last,
//! which task fails, and whether it was cancelled. Its state at any instant is computed from
//! these numbers ([`Run::life_cycle`], [`Run::to_json`]), so nothing runs in the background.
//!
//! Timeline once a run begins at `B`: the run is `PENDING` for `pending_ms`, then each task at
//! dependency depth `d` runs from `B + pending_ms + d * task_ms` for `task_ms`. Task outcomes
//! are decided when the run begins (a notebook task whose notebook is missing fails; its
//! downstream tasks are skipped with `UPSTREAM_FAILED`). A cancel at `C` ends every unfinished
//! task and the run at `C`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How a task run ends, decided when the run begins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// `SUCCESS`.
    Success,
    /// `FAILED`, with the termination code and the message Databricks would show.
    Failed {
        /// `status.termination_details.code`, e.g. `RESOURCE_NOT_FOUND`.
        code: String,
        /// Human-readable reason.
        message: String,
    },
    /// Skipped because a task it depends on failed.
    UpstreamFailed,
}

/// One task of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRun {
    /// The task run's own id.
    pub run_id: i64,
    /// `task_key`.
    pub task_key: String,
    /// The task's settings at the time of the run (echoed in `RunTask`).
    pub spec: Map<String, Value>,
    /// Keys of the tasks (within this run) it waits for.
    pub depends_on: Vec<String>,
    /// 0 for tasks without dependencies, else 1 + the deepest dependency.
    pub depth: i64,
    /// Decided when the run begins.
    pub outcome: Option<Outcome>,
}

/// Why a run never started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SkipReason {
    /// `max_concurrent_runs` active runs and queueing disabled.
    MaxConcurrentRuns(i64),
}

/// One run of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// `run_id` (also `number_in_job`).
    pub run_id: i64,
    /// The job it belongs to (0 for a one-time `runs/submit` run).
    pub job_id: i64,
    /// `JOB_RUN` or `SUBMIT_RUN`.
    #[serde(default = "job_run")]
    pub run_type: String,
    /// `run_name`: the job's name at run time.
    pub run_name: String,
    /// Who started it.
    pub creator_user_name: String,
    /// `run_page_url`.
    pub run_page_url: String,
    /// When `run-now` was called (`start_time`).
    pub created_ms: i64,
    /// The job's `max_concurrent_runs` at run time.
    pub max_concurrent_runs: i64,
    /// When the run left the queue (or started at once); `None` while `QUEUED`.
    pub begun_ms: Option<i64>,
    /// How long the run stays `PENDING` once begun.
    pub pending_ms: i64,
    /// How long each task runs.
    pub task_ms: i64,
    /// When a cancel took effect.
    pub canceled_ms: Option<i64>,
    /// The job's `timeout_seconds` in ms at run time, counted from when the run begins.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    /// Set when the run was skipped at creation.
    pub skipped: Option<SkipReason>,
    /// The tasks of this run.
    pub tasks: Vec<TaskRun>,
    /// `job_parameters` as resolved for this run (`[{name, default, value}]`).
    pub job_parameters: Vec<Value>,
    /// Legacy parameters (`notebook_params`, `python_params`, ...) as sent to `run-now`.
    pub overriding_parameters: Map<String, Value>,
    /// The job's `job_clusters` at run time.
    pub job_clusters: Vec<Value>,
    /// Fields of the `run-now` request kept as sent (e.g. `performance_target`).
    pub extra: Map<String, Value>,
}

fn job_run() -> String {
    "JOB_RUN".to_owned()
}

/// Why a run stopped before its tasks finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// `runs/cancel` (or a job deletion).
    Canceled,
    /// The job's `timeout_seconds` passed.
    TimedOut,
}

/// Run- or task-level state at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `life_cycle_state`.
    pub life_cycle: &'static str,
    /// `result_state`, once terminal.
    pub result: Option<&'static str>,
    /// `state_message`.
    pub message: String,
    /// `status.termination_details` `(code, type)`, once terminal.
    pub termination: Option<(String, &'static str)>,
    /// When it ended (terminal only).
    pub end: Option<i64>,
}

impl Snapshot {
    fn active(life_cycle: &'static str, message: impl Into<String>) -> Self {
        Self {
            life_cycle,
            result: None,
            message: message.into(),
            termination: None,
            end: None,
        }
    }

    /// Whether the state is final (`TERMINATED`, `SKIPPED`, `INTERNAL_ERROR`).
    pub fn is_terminal(&self) -> bool {
        matches!(self.life_cycle, "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR")
    }

    fn to_json(&self) -> (Value, Value) {
        let mut state = json!({
            "life_cycle_state": self.life_cycle,
            "state_message": self.message,
            "user_cancelled_or_timedout": matches!(self.result, Some("CANCELED" | "TIMEDOUT")),
        });
        if let Some(result) = self.result {
            state["result_state"] = json!(result);
        }
        let v2 = match self.life_cycle {
            "SKIPPED" | "INTERNAL_ERROR" => "TERMINATED",
            other => other,
        };
        let mut status = json!({"state": v2});
        if let Some((code, kind)) = &self.termination {
            status["termination_details"] =
                json!({"code": code, "type": kind, "message": self.message});
        }
        if self.life_cycle == "QUEUED" {
            state["queue_reason"] = json!(self.message);
            status["queue_details"] =
                json!({"code": "MAX_CONCURRENT_RUNS_REACHED", "message": self.message});
        }
        (state, status)
    }
}

impl TaskRun {
    fn start(&self, run: &Run, begun: i64) -> i64 {
        begun + run.pending_ms + self.depth * run.task_ms
    }

    /// When the task reaches its final state, given the run began at `begun`.
    fn natural_end(&self, run: &Run, begun: i64) -> i64 {
        match self.outcome {
            Some(Outcome::UpstreamFailed) => self.start(run, begun),
            _ => self.start(run, begun) + run.task_ms,
        }
    }

    /// The notebook this task opens, if it is a workspace notebook task.
    pub fn workspace_notebook(&self) -> Option<&str> {
        let task = self.spec.get("notebook_task")?;
        if task.get("source").and_then(Value::as_str) == Some("GIT") {
            return None;
        }
        task.get("notebook_path").and_then(Value::as_str)
    }

    fn snapshot(&self, run: &Run, now: i64) -> (Snapshot, Option<i64>) {
        if run.skipped.is_some() {
            return (Snapshot::active("SKIPPED", ""), None);
        }
        let Some(begun) = run.begun_ms else {
            return match run.canceled_ms {
                Some(c) => (canceled(c), None),
                None => (Snapshot::active("QUEUED", ""), None),
            };
        };
        let start = self.start(run, begun);
        let end = self.natural_end(run, begun);
        if let Some((at, why)) = run.stop()
            && at < end
        {
            return (stopped(at, why), (at > start).then_some(start));
        }
        if now < start {
            return (Snapshot::active("PENDING", ""), None);
        }
        if now < end {
            return (Snapshot::active("RUNNING", ""), Some(start));
        }
        let snap = match &self.outcome {
            Some(Outcome::Failed { code, message }) => Snapshot {
                life_cycle: "TERMINATED",
                result: Some("FAILED"),
                message: message.clone(),
                termination: Some((code.clone(), "CLIENT_ERROR")),
                end: Some(end),
            },
            Some(Outcome::UpstreamFailed) => Snapshot {
                life_cycle: "SKIPPED",
                result: Some("UPSTREAM_FAILED"),
                message: "Upstream task(s) failed.".to_owned(),
                termination: Some(("SKIPPED".to_owned(), "SUCCESS")),
                end: Some(end),
            },
            _ => Snapshot {
                life_cycle: "TERMINATED",
                result: Some("SUCCESS"),
                message: String::new(),
                termination: Some(("SUCCESS".to_owned(), "SUCCESS")),
                end: Some(end),
            },
        };
        (snap, Some(start))
    }
}

fn canceled(at: i64) -> Snapshot {
    stopped(at, Stop::Canceled)
}

fn stopped(at: i64, why: Stop) -> Snapshot {
    let (result, message, code, kind) = match why {
        Stop::Canceled => ("CANCELED", "Run cancelled.", "USER_CANCELED", "SUCCESS"),
        // Databricks reports a platform-enforced stop such as the job timeout as CANCELED.
        Stop::TimedOut => ("TIMEDOUT", "Run timed out.", "CANCELED", "CLIENT_ERROR"),
    };
    Snapshot {
        life_cycle: "TERMINATED",
        result: Some(result),
        message: message.to_owned(),
        termination: Some((code.to_owned(), kind)),
        end: Some(at),
    }
}

impl Run {
    /// When the run would finish without a cancel; `None` while queued.
    fn natural_end(&self) -> Option<i64> {
        let begun = self.begun_ms?;
        Some(
            self.tasks
                .iter()
                .map(|t| t.natural_end(self, begun))
                .max()
                .unwrap_or(begun + self.pending_ms),
        )
    }

    /// A cancel or timeout that ends a begun run before its tasks finish: when, and which.
    pub fn stop(&self) -> Option<(i64, Stop)> {
        let natural = self.natural_end()?;
        let begun = self.begun_ms?;
        let cancel = self
            .canceled_ms
            .filter(|&c| c < natural)
            .map(|c| (c, Stop::Canceled));
        let timeout = self
            .timeout_ms
            .filter(|&t| t > 0)
            .map(|t| begun + t)
            .filter(|&t| t < natural)
            .map(|t| (t, Stop::TimedOut));
        match (cancel, timeout) {
            (Some(c), Some(t)) => Some(if c.0 <= t.0 { c } else { t }),
            (c, t) => c.or(t),
        }
    }

    /// When the run reaches (or reached) its final state, if that is known.
    pub fn end_ms(&self) -> Option<i64> {
        if self.skipped.is_some() {
            return Some(self.created_ms);
        }
        match (self.natural_end(), self.stop()) {
            (Some(_), Some((at, _))) => Some(at),
            (Some(end), None) => Some(end),
            (None, _) => self.canceled_ms,
        }
    }

    /// Whether the run occupies a concurrency slot at `t`.
    pub fn is_active_at(&self, t: i64) -> bool {
        match (self.begun_ms, self.end_ms()) {
            (Some(b), Some(e)) => b <= t && t < e,
            _ => false,
        }
    }

    /// Whether the run has not reached a final state at `now` (queued runs count).
    pub fn is_unfinished(&self, now: i64) -> bool {
        self.end_ms().is_none_or(|e| now < e)
    }

    /// Starts the run at `begun`, deciding every task's outcome; `notebook_exists` says which
    /// notebook tasks can open their notebook.
    pub fn begin(&mut self, begun: i64, notebook_exists: &dyn Fn(&str) -> bool) {
        self.begun_ms = Some(begun);
        let mut order: Vec<usize> = (0..self.tasks.len()).collect();
        order.sort_by_key(|&i| self.tasks[i].depth);
        for i in order {
            let upstream_failed = self.tasks[i].depends_on.iter().any(|dep| {
                self.tasks.iter().any(|t| {
                    &t.task_key == dep && !matches!(t.outcome, Some(Outcome::Success) | None)
                })
            });
            let task = &self.tasks[i];
            let outcome = if upstream_failed {
                Outcome::UpstreamFailed
            } else if let Some(path) = task.workspace_notebook()
                && !notebook_exists(path)
            {
                Outcome::Failed {
                    code: "RESOURCE_NOT_FOUND".to_owned(),
                    message: format!(
                        "Unable to access the notebook \"{path}\". Either it does not exist, or \
                         the identity used to run this job, {}, lacks the required permissions.",
                        self.creator_user_name
                    ),
                }
            } else {
                Outcome::Success
            };
            self.tasks[i].outcome = Some(outcome);
        }
    }

    /// Records a cancel at `now` unless the run already finished.
    pub fn cancel(&mut self, now: i64) {
        if self.canceled_ms.is_none() && self.is_unfinished(now) {
            self.canceled_ms = Some(now);
        }
    }

    /// The run's state at `now`.
    pub fn snapshot(&self, now: i64) -> Snapshot {
        if let Some(SkipReason::MaxConcurrentRuns(n)) = self.skipped {
            return Snapshot {
                life_cycle: "SKIPPED",
                result: Some("MAXIMUM_CONCURRENT_RUNS_REACHED"),
                message: format!(
                    "Skipping this run because the limit of {n} maximum concurrent runs has been \
                     reached."
                ),
                termination: Some(("MAX_CONCURRENT_RUNS_EXCEEDED".to_owned(), "CLIENT_ERROR")),
                end: Some(self.created_ms),
            };
        }
        let Some(begun) = self.begun_ms else {
            return match self.canceled_ms {
                Some(c) => canceled(c),
                None => Snapshot::active(
                    "QUEUED",
                    format!(
                        "Queued due to reaching maximum concurrent runs of {}.",
                        self.max_concurrent_runs
                    ),
                ),
            };
        };
        let end = self.end_ms().unwrap_or(begun);
        if now < end {
            let phase = if now < begun + self.pending_ms {
                "PENDING"
            } else {
                "RUNNING"
            };
            return Snapshot::active(phase, "");
        }
        if let Some((at, why)) = self.stop() {
            return stopped(at, why);
        }
        let failed = self.tasks.iter().find_map(|t| match &t.outcome {
            Some(Outcome::Failed { message, .. }) => Some((t, message)),
            _ => None,
        });
        match failed {
            Some((task, message)) => {
                let skipped = self
                    .tasks
                    .iter()
                    .any(|t| t.outcome == Some(Outcome::UpstreamFailed));
                let mut text = format!("Task {} failed with message: {message}", task.task_key);
                if skipped {
                    text.push_str(" This caused all downstream tasks to get skipped.");
                }
                Snapshot {
                    life_cycle: "TERMINATED",
                    result: Some("FAILED"),
                    message: text,
                    termination: Some(("RUN_EXECUTION_ERROR".to_owned(), "CLIENT_ERROR")),
                    end: Some(end),
                }
            }
            None => Snapshot {
                life_cycle: "TERMINATED",
                result: Some("SUCCESS"),
                message: String::new(),
                termination: Some(("SUCCESS".to_owned(), "SUCCESS")),
                end: Some(end),
            },
        }
    }

    /// The `Run` document at `now`; tasks are included when `with_tasks`.
    pub fn to_json(&self, now: i64, with_tasks: bool) -> Value {
        let snap = self.snapshot(now);
        let (state, status) = snap.to_json();
        let end = snap.end.unwrap_or(0);
        let mut run = json!({
            "job_id": self.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "original_attempt_run_id": self.run_id,
            "attempt_number": 0,
            "creator_user_name": self.creator_user_name,
            "run_name": self.run_name,
            "run_page_url": self.run_page_url,
            "run_type": self.run_type,
            "trigger": "ONE_TIME",
            "format": "MULTI_TASK",
            "start_time": self.created_ms,
            "end_time": end,
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
            "state": state,
            "status": status,
        });
        if snap.is_terminal() {
            run["run_duration"] = json!(end - self.created_ms);
        }
        if self.job_id == 0
            && let Value::Object(m) = &mut run
        {
            m.remove("job_id");
        }
        if let Some(begun) = self.begun_ms {
            run["queue_duration"] = json!(begun - self.created_ms);
        }
        if with_tasks {
            let tasks: Vec<Value> = self.tasks.iter().map(|t| self.task_json(t, now)).collect();
            run["tasks"] = json!(tasks);
        }
        if !self.job_parameters.is_empty() {
            run["job_parameters"] = json!(self.job_parameters);
        }
        if !self.overriding_parameters.is_empty() {
            run["overriding_parameters"] = json!(self.overriding_parameters);
        }
        if !self.job_clusters.is_empty() {
            run["job_clusters"] = json!(self.job_clusters);
        }
        if let Value::Object(map) = &mut run {
            for (k, v) in &self.extra {
                map.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        run
    }

    /// The `runs/get-output` document of one task run: its metadata (the task as a `Run`) and,
    /// once it finished, a notebook output or the error it failed with.
    pub fn task_output_json(&self, task: &TaskRun, now: i64) -> Value {
        let mut metadata = self.task_json(task, now);
        if let Value::Object(m) = &mut metadata {
            for (k, v) in [
                ("number_in_job", json!(task.run_id)),
                ("run_name", json!(self.run_name)),
                ("creator_user_name", json!(self.creator_user_name)),
                ("run_type", json!(self.run_type)),
                ("job_run_id", json!(self.run_id)),
            ] {
                m.insert(k.to_owned(), v);
            }
        }
        if self.job_id != 0
            && let Value::Object(m) = &mut metadata
        {
            m.insert("job_id".to_owned(), json!(self.job_id));
        }
        let mut out = json!({"metadata": metadata});
        let (snap, _) = task.snapshot(self, now);
        match (&task.outcome, snap.is_terminal()) {
            (Some(Outcome::Failed { message, .. }), true) => {
                out["error"] = json!(message);
                out["error_trace"] = json!("");
            }
            (Some(Outcome::Success), true)
                if snap.result == Some("SUCCESS") && task.spec.contains_key("notebook_task") =>
            {
                out["notebook_output"] = json!({"truncated": false});
            }
            _ => {}
        }
        out
    }

    fn task_json(&self, task: &TaskRun, now: i64) -> Value {
        let (snap, started) = task.snapshot(self, now);
        let (state, status) = snap.to_json();
        let mut out = task.spec.clone();
        let start = started.unwrap_or(0);
        let end = snap.end.unwrap_or(0);
        let fields = json!({
            "run_id": task.run_id,
            "task_key": task.task_key,
            "attempt_number": 0,
            "run_page_url": format!("{}/task/{}", self.run_page_url, task.run_id),
            "start_time": start,
            "end_time": end,
            "setup_duration": 0,
            "execution_duration": if snap.is_terminal() && started.is_some() { end - start } else { 0 },
            "cleanup_duration": 0,
            "state": state,
            "status": status,
        });
        if let Value::Object(fields) = fields {
            out.extend(fields);
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(key: &str, deps: &[&str], depth: i64, notebook: Option<&str>) -> TaskRun {
        let mut spec = Map::new();
        spec.insert("task_key".into(), json!(key));
        if let Some(path) = notebook {
            spec.insert("notebook_task".into(), json!({"notebook_path": path}));
        }
        TaskRun {
            run_id: 0,
            task_key: key.into(),
            spec,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            depth,
            outcome: None,
        }
    }

    fn run(tasks: Vec<TaskRun>) -> Run {
        Run {
            run_id: 1,
            job_id: 1,
            run_type: job_run(),
            run_name: "r".into(),
            creator_user_name: "u".into(),
            run_page_url: "http://x/#job/1/run/1".into(),
            created_ms: 1000,
            max_concurrent_runs: 1,
            begun_ms: None,
            pending_ms: 100,
            task_ms: 200,
            canceled_ms: None,
            timeout_ms: None,
            skipped: None,
            tasks,
            job_parameters: vec![],
            overriding_parameters: Map::new(),
            job_clusters: vec![],
            extra: Map::new(),
        }
    }

    #[test]
    fn phases_follow_the_clock() {
        let mut r = run(vec![
            task("a", &[], 0, Some("/nb")),
            task("b", &["a"], 1, None),
        ]);
        assert_eq!(r.snapshot(1000).life_cycle, "QUEUED");
        r.begin(1000, &|_| true);
        assert_eq!(r.snapshot(1050).life_cycle, "PENDING");
        assert_eq!(r.snapshot(1100).life_cycle, "RUNNING");
        let doc = r.to_json(1350, true);
        assert_eq!(doc["tasks"][0]["state"]["result_state"], "SUCCESS");
        assert_eq!(doc["tasks"][1]["state"]["life_cycle_state"], "RUNNING");
        let done = r.snapshot(1500);
        assert_eq!(
            (done.life_cycle, done.result),
            ("TERMINATED", Some("SUCCESS"))
        );
        assert_eq!(done.end, Some(1500));
    }

    #[test]
    fn missing_notebook_fails_and_skips_downstream() {
        let mut r = run(vec![
            task("a", &[], 0, Some("/gone")),
            task("b", &["a"], 1, None),
        ]);
        r.begin(1000, &|_| false);
        let snap = r.snapshot(10_000);
        assert_eq!(snap.result, Some("FAILED"));
        assert!(
            snap.message
                .starts_with("Task a failed with message: Unable to access the notebook \"/gone\"")
        );
        assert!(snap.message.ends_with("downstream tasks to get skipped."));
        let doc = r.to_json(10_000, true);
        assert_eq!(doc["tasks"][1]["state"]["result_state"], "UPSTREAM_FAILED");
        assert_eq!(
            doc["status"]["termination_details"]["code"],
            "RUN_EXECUTION_ERROR"
        );
    }

    #[test]
    fn job_timeout_stops_the_run() {
        let mut r = run(vec![task("a", &[], 0, None), task("b", &["a"], 1, None)]);
        r.timeout_ms = Some(250);
        r.begin(1000, &|_| true);
        assert_eq!(r.snapshot(1249).life_cycle, "RUNNING");
        let snap = r.snapshot(1250);
        assert_eq!(
            (snap.life_cycle, snap.result),
            ("TERMINATED", Some("TIMEDOUT"))
        );
        let doc = r.to_json(1250, true);
        assert_eq!(doc["state"]["user_cancelled_or_timedout"], true);
        assert_eq!(doc["tasks"][1]["state"]["result_state"], "TIMEDOUT");
        // A timeout longer than the run changes nothing.
        let mut r = run(vec![task("a", &[], 0, None)]);
        r.timeout_ms = Some(10_000);
        r.begin(1000, &|_| true);
        assert_eq!(r.snapshot(1300).result, Some("SUCCESS"));
    }

    #[test]
    fn cancel_ends_the_run_at_once() {
        let mut r = run(vec![task("a", &[], 0, None)]);
        r.begin(1000, &|_| true);
        r.cancel(1150);
        let snap = r.snapshot(1150);
        assert_eq!(
            (snap.life_cycle, snap.result),
            ("TERMINATED", Some("CANCELED"))
        );
        assert_eq!(r.end_ms(), Some(1150));
        // A cancel after the end changes nothing.
        let mut done = run(vec![task("a", &[], 0, None)]);
        done.begin(1000, &|_| true);
        done.cancel(5000);
        assert_eq!(done.snapshot(5000).result, Some("SUCCESS"));
    }
}
