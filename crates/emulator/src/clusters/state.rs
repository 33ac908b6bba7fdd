//! Clusters and their lifecycle, with no HTTP.
//!
//! A cluster keeps the spec it was created with (every field, known or not, so `get` echoes it)
//! plus the fields Databricks computes. Lifecycle transitions are data: a cluster in a transient
//! state (`PENDING`, `RESTARTING`, `RESIZING`, `TERMINATING`) holds a [`Transition`] saying
//! which state it reaches and when, and [`State`] applies due transitions lazily whenever a
//! cluster is read or changed. Every method takes the current time (`now`, epoch milliseconds)
//! so tests drive the clock; routes pass [`crate::state::now_ms`].

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorCode};

/// Settings of clusters, changeable through the admin API (`settings.clusters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long `PENDING` lasts before `RUNNING` (create and start), in milliseconds.
    pub start_delay_ms: u64,
    /// How long `RESTARTING` lasts before `RUNNING` (restart, edit or update of a running cluster).
    pub restart_delay_ms: u64,
    /// How long `RESIZING` lasts before `RUNNING`.
    pub resize_delay_ms: u64,
    /// How long `TERMINATING` lasts before `TERMINATED`.
    pub terminate_delay_ms: u64,
    /// The user reported as `creator_user_name` of clusters created through the API.
    pub creator_user_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            start_delay_ms: 200,
            restart_delay_ms: 200,
            resize_delay_ms: 200,
            terminate_delay_ms: 200,
            creator_user_name: crate::state::EMULATOR_USER.to_owned(),
        }
    }
}

/// A cluster's state: the api's enum. The emulator only ever sets the known values; `Other`
/// never reaches a cluster: routes parse with `ClusterState::known`.
pub use brickwire_api::clusters::State as ClusterState;

/// The name Databricks uses in messages, e.g. `Running`.
fn title(state: &ClusterState) -> String {
    let s = state.as_str();
    format!("{}{}", &s[..1], s[1..].to_ascii_lowercase())
}

/// A pending lifecycle step: the cluster reaches `target` at `at_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The state reached.
    pub target: ClusterState,
    /// When, in epoch milliseconds.
    pub at_ms: i64,
}

/// Why a cluster terminated (`termination_reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminationReason {
    /// E.g. `USER_REQUEST`.
    pub code: String,
    /// `SUCCESS`, `CLIENT_ERROR`, `SERVICE_FAULT` or `CLOUD_FAILURE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Extra context, e.g. `{"username": ...}`.
    pub parameters: BTreeMap<String, String>,
}

/// One entry of a cluster's event log (`POST /clusters/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// When, in epoch milliseconds.
    pub timestamp: i64,
    /// `CREATING`, `STARTING`, `RUNNING`, `RESTARTING`, `RESIZING`, `UPSIZE_COMPLETED`,
    /// `TERMINATING`, `EDITED`, `PINNED` or `UNPINNED`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `EventDetails`: `user`, `reason`, `current_num_workers`, `target_num_workers`, ...
    pub details: Map<String, Value>,
}

/// One cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `MMDD-HHMMSS-xxxxxxxx`.
    pub cluster_id: String,
    /// The fields of the last create/edit request, unknown ones included, minus computed ones.
    pub spec: Map<String, Value>,
    /// Current state.
    pub state: ClusterState,
    /// Human-readable detail of the state.
    pub state_message: String,
    /// The step in progress, if the state is transient.
    pub transition: Option<Transition>,
    /// `API`, `UI`, `JOB`, ...
    pub cluster_source: String,
    /// Who created it.
    pub creator_user_name: String,
    /// When it last entered `PENDING`.
    pub start_time: i64,
    /// When it last reached `TERMINATED`.
    pub terminated_time: Option<i64>,
    /// When it last (re)started.
    pub last_restarted_time: Option<i64>,
    /// Why it terminated.
    pub termination_reason: Option<TerminationReason>,
    /// Pinned clusters stay in lists.
    pub is_pinned: bool,
    /// Creation order, for the default sort.
    pub seq: u64,
    /// Last time it reached `RUNNING` or did work, for auto termination.
    #[serde(default)]
    pub last_activity_ms: i64,
    /// The event log, oldest first.
    #[serde(default)]
    pub events: Vec<ClusterEvent>,
}

/// Fields Databricks computes; a request cannot set them.
const COMPUTED_FIELDS: [&str; 17] = [
    "cluster_id",
    "state",
    "state_message",
    "start_time",
    "terminated_time",
    "last_restarted_time",
    "last_state_loss_time",
    "termination_reason",
    "cluster_source",
    "creator_user_name",
    "default_tags",
    "driver",
    "executors",
    "spec",
    "cluster_memory_mb",
    "cluster_cores",
    "spark_context_id",
];

impl Cluster {
    fn name(&self) -> &str {
        self.spec
            .get("cluster_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn num_workers(&self) -> u64 {
        if let Some(n) = self.spec.get("num_workers").and_then(Value::as_u64) {
            return n;
        }
        self.spec
            .get("autoscale")
            .and_then(|a| a.get("min_workers"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    fn record(&mut self, timestamp: i64, kind: &str, details: Value) {
        let details = match details {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.events.push(ClusterEvent {
            timestamp,
            kind: kind.to_owned(),
            details,
        });
    }

    fn begin(&mut self, state: ClusterState, message: &str, target: ClusterState, at_ms: i64) {
        self.state = state;
        self.state_message = message.to_owned();
        self.transition = Some(Transition { target, at_ms });
    }

    /// Applies the pending transition if it is due at `now`, then auto termination if the
    /// cluster has been idle for `autotermination_minutes`.
    fn advance(&mut self, now: i64) {
        if let Some(t) = self.transition.take_if(|t| now >= t.at_ms) {
            if t.target == ClusterState::Running {
                let kind = if self.state == ClusterState::Resizing {
                    "UPSIZE_COMPLETED"
                } else {
                    "RUNNING"
                };
                let workers = self.num_workers();
                self.record(t.at_ms, kind, json!({"current_num_workers": workers}));
            }
            self.state = t.target.clone();
            self.state_message.clear();
            match t.target {
                ClusterState::Running => {
                    self.last_restarted_time = Some(t.at_ms);
                    self.last_activity_ms = t.at_ms;
                }
                ClusterState::Terminated => self.terminated_time = Some(t.at_ms),
                _ => {}
            }
        }
        let idle_minutes = self
            .spec
            .get("autotermination_minutes")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let idle_since = self.last_activity_ms + idle_minutes * 60_000;
        if self.state == ClusterState::Running && idle_minutes > 0 && now >= idle_since {
            self.state = ClusterState::Terminated;
            self.terminated_time = Some(idle_since);
            self.state_message =
                format!("Inactive cluster terminated (inactive for {idle_minutes} minutes).");
            let reason = TerminationReason {
                code: "INACTIVITY".into(),
                kind: "SUCCESS".into(),
                parameters: BTreeMap::from([(
                    "inactivity_duration_min".into(),
                    idle_minutes.to_string(),
                )]),
            };
            self.record(idle_since, "TERMINATING", json!({ "reason": reason }));
            self.termination_reason = Some(reason);
        }
    }

    /// The `ClusterDetails` JSON Databricks returns from `get` and `list`.
    pub fn details(&self) -> Value {
        let mut out = Map::new();
        out.insert("cluster_id".into(), json!(self.cluster_id));
        for (k, v) in &self.spec {
            out.insert(k.clone(), v.clone());
        }
        out.insert("state".into(), json!(self.state.as_str()));
        out.insert("state_message".into(), json!(self.state_message));
        out.insert("cluster_source".into(), json!(self.cluster_source));
        out.insert("creator_user_name".into(), json!(self.creator_user_name));
        out.insert(
            "default_tags".into(),
            json!({
                "Vendor": "Databricks",
                "Creator": self.creator_user_name,
                "ClusterName": self.name(),
                "ClusterId": self.cluster_id,
            }),
        );
        out.insert("start_time".into(), json!(self.start_time));
        if let Some(t) = self.terminated_time {
            out.insert("terminated_time".into(), json!(t));
        }
        if let Some(t) = self.last_restarted_time {
            out.insert("last_restarted_time".into(), json!(t));
        }
        if let Some(r) = &self.termination_reason {
            out.insert("termination_reason".into(), json!(r));
        }
        if self.state == ClusterState::Running {
            let workers = self.num_workers();
            out.insert(
                "driver".into(),
                json!({"node_id": format!("{}-driver", self.cluster_id), "private_ip": "127.0.0.1"}),
            );
            let executors: Vec<Value> = (0..workers)
                .map(|i| {
                    json!({"node_id": format!("{}-worker-{i}", self.cluster_id), "private_ip": "127.0.0.1"})
                })
                .collect();
            out.insert("executors".into(), Value::Array(executors));
            out.insert("cluster_cores".into(), json!(4 * (workers + 1)));
            out.insert("cluster_memory_mb".into(), json!(16384 * (workers + 1)));
            out.insert("spark_context_id".into(), json!(self.seq));
        }
        out.insert("spec".into(), Value::Object(self.spec.clone()));
        Value::Object(out)
    }
}

/// How `list` sorts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortField {
    /// Newest first (ascending); the reverse with `DESC`.
    #[default]
    Default,
    /// By `cluster_name`, then id.
    ClusterName,
}

/// A parsed `list` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// `filter_by.cluster_states`; empty means every state.
    pub states: Vec<ClusterState>,
    /// `filter_by.cluster_sources`; empty means every source.
    pub sources: Vec<String>,
    /// `filter_by.is_pinned`.
    pub is_pinned: Option<bool>,
    /// `filter_by.policy_id`.
    pub policy_id: Option<String>,
    /// `sort_by.field`.
    pub sort_field: SortField,
    /// `sort_by.direction == DESC`.
    pub descending: bool,
    /// `page_size`; `None` or 0 returns everything in one page.
    pub page_size: Option<usize>,
    /// `page_token` from a previous page.
    pub page_token: Option<String>,
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListPage {
    /// The clusters, as `ClusterDetails`.
    pub clusters: Vec<Value>,
    /// Token of the next page, absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Token of the previous page, absent on the first one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_page_token: Option<String>,
}

/// Every cluster of the workspace.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    /// Clusters by id. Permanently deleted clusters are removed.
    pub clusters: BTreeMap<String, Cluster>,
    /// The last creation sequence number handed out.
    pub last_seq: u64,
    /// The delays in force, copied from the workspace settings.
    #[serde(skip)]
    pub settings: Settings,
}

/// `400 INVALID_PARAMETER_VALUE: Cluster <id> does not exist`, what Databricks answers for an
/// unknown id (the SDK turns it into `ResourceDoesNotExist`).
pub fn no_such_cluster(cluster_id: &str) -> ApiError {
    ApiError::invalid_parameter(format!("Cluster {cluster_id} does not exist"))
}

fn invalid_state(cluster: &Cluster) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidState,
        format!(
            "Cluster {} is in unexpected state {}.",
            cluster.cluster_id,
            title(&cluster.state)
        ),
    )
}

/// Reads a required string field.
fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::missing_field(field)),
        Some(_) => Err(ApiError::invalid_parameter(format!(
            "Invalid value for field {field}: expected a string"
        ))),
    }
}

/// Checks the parts of a cluster spec Databricks validates up front.
fn validate_spec(spec: &Map<String, Value>) -> Result<(), ApiError> {
    required_str(spec, "spark_version")?;
    if let Some(v) = spec.get("num_workers").filter(|v| !v.is_null())
        && v.as_u64().is_none()
    {
        return Err(ApiError::invalid_parameter(
            "num_workers must be a non-negative integer",
        ));
    }
    if let Some(a) = spec.get("autoscale").filter(|v| !v.is_null()) {
        validate_autoscale(a)?;
    }
    if let Some(v) = spec.get("autotermination_minutes").filter(|v| !v.is_null()) {
        match v.as_u64() {
            Some(0) | Some(10..=10000) => {}
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid autotermination_minutes: {v}. It must be 0 (disabled) or between 10 and 10000."
                )));
            }
        }
    }
    Ok(())
}

fn validate_autoscale(a: &Value) -> Result<(), ApiError> {
    let min = a.get("min_workers").and_then(Value::as_u64);
    let max = a.get("max_workers").and_then(Value::as_u64);
    match (min, max) {
        (Some(min), Some(max)) if min <= max => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter(
            "autoscale.min_workers must not be greater than autoscale.max_workers",
        )),
        _ => Err(ApiError::invalid_parameter(
            "autoscale requires min_workers and max_workers",
        )),
    }
}

fn clean_spec(mut body: Map<String, Value>) -> Map<String, Value> {
    for field in COMPUTED_FIELDS {
        body.remove(field);
    }
    body
}

fn new_cluster_id(now: i64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let secs = now.max(0) / 1000;
    let day = secs / 86_400;
    let tod = secs % 86_400;
    // Month and day of a 360-day calendar are enough for the shape `MMDD-HHMMSS-`.
    let (month, mday) = ((day % 360) / 30 + 1, day % 30 + 1);
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!(
        "{month:02}{mday:02}-{:02}{:02}{:02}-{suffix}",
        tod / 3600,
        (tod / 60) % 60,
        tod % 60
    )
}

fn encode_offset(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_offset(token: &str) -> Result<usize, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::invalid_parameter(format!("Invalid page token: {token}")))
}

impl State {
    /// The cluster `cluster_id`, brought up to date with `now`.
    pub fn get(&mut self, cluster_id: &str, now: i64) -> Result<&Cluster, ApiError> {
        Ok(self.get_mut(cluster_id, now)?)
    }

    fn get_mut(&mut self, cluster_id: &str, now: i64) -> Result<&mut Cluster, ApiError> {
        let cluster = self
            .clusters
            .get_mut(cluster_id)
            .ok_or_else(|| no_such_cluster(cluster_id))?;
        cluster.advance(now);
        Ok(cluster)
    }

    /// Creates a cluster from a `create` request body; it starts `PENDING`.
    pub fn create(&mut self, body: Map<String, Value>, now: i64) -> Result<String, ApiError> {
        let creator = self.settings.creator_user_name.clone();
        self.create_with_source(body, "API", &creator, now)
    }

    /// Creates a cluster with an explicit `cluster_source` and creator (job clusters, seeds).
    pub fn create_with_source(
        &mut self,
        body: Map<String, Value>,
        source: &str,
        creator: &str,
        now: i64,
    ) -> Result<String, ApiError> {
        let spec = clean_spec(body);
        validate_spec(&spec)?;
        let mut cluster_id = new_cluster_id(now);
        while self.clusters.contains_key(&cluster_id) {
            cluster_id = new_cluster_id(now);
        }
        self.last_seq += 1;
        let mut cluster = Cluster {
            cluster_id: cluster_id.clone(),
            spec,
            state: ClusterState::Pending,
            state_message: String::new(),
            transition: None,
            cluster_source: source.to_owned(),
            creator_user_name: creator.to_owned(),
            start_time: now,
            terminated_time: None,
            last_restarted_time: None,
            termination_reason: None,
            is_pinned: false,
            seq: self.last_seq,
            last_activity_ms: now,
            events: Vec::new(),
        };
        cluster.record(
            now,
            "CREATING",
            json!({"user": creator, "target_num_workers": cluster.num_workers()}),
        );
        cluster.begin(
            ClusterState::Pending,
            "Finding instances for new nodes, acquiring more instances if necessary",
            ClusterState::Running,
            now + self.settings.start_delay_ms as i64,
        );
        cluster.advance(now);
        self.clusters.insert(cluster_id.clone(), cluster);
        Ok(cluster_id)
    }

    /// Creates a cluster that is already `RUNNING` (seed data, tests).
    pub fn create_running(
        &mut self,
        body: Map<String, Value>,
        source: &str,
        creator: &str,
        now: i64,
    ) -> Result<String, ApiError> {
        let id = self.create_with_source(body, source, creator, now)?;
        if let Some(cluster) = self.clusters.get_mut(&id) {
            if let Some(t) = cluster.transition.as_mut() {
                t.at_ms = now;
            }
            cluster.advance(now);
        }
        Ok(id)
    }

    /// The id of the cluster named `name`, if any.
    pub fn find_by_name(&self, name: &str) -> Option<String> {
        self.clusters
            .values()
            .find(|c| c.name() == name)
            .map(|c| c.cluster_id.clone())
    }

    /// `start`: a `TERMINATED` cluster goes `PENDING` and then `RUNNING`.
    pub fn start(&mut self, cluster_id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.start_delay_ms as i64;
        let cluster = self.get_mut(cluster_id, now)?;
        if cluster.cluster_source == "JOB" {
            return Err(ApiError::invalid_parameter(format!(
                "Cluster {cluster_id} is a job cluster and cannot be started"
            )));
        }
        if cluster.state != ClusterState::Terminated {
            return Err(invalid_state(cluster));
        }
        cluster.start_time = now;
        cluster.termination_reason = None;
        let workers = cluster.num_workers();
        cluster.record(now, "STARTING", json!({"target_num_workers": workers}));
        cluster.begin(
            ClusterState::Pending,
            "Starting Spark",
            ClusterState::Running,
            now + delay,
        );
        cluster.advance(now);
        Ok(())
    }

    /// `restart`: a `RUNNING` cluster goes `RESTARTING` and then `RUNNING`.
    pub fn restart(&mut self, cluster_id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.restart_delay_ms as i64;
        let cluster = self.get_mut(cluster_id, now)?;
        if cluster.state != ClusterState::Running {
            return Err(invalid_state(cluster));
        }
        cluster.record(now, "RESTARTING", json!({}));
        cluster.begin(
            ClusterState::Restarting,
            "Restarting Spark",
            ClusterState::Running,
            now + delay,
        );
        cluster.advance(now);
        Ok(())
    }

    /// `delete` (terminate): goes `TERMINATING` and then `TERMINATED`; a no-op if already there.
    pub fn terminate(&mut self, cluster_id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.terminate_delay_ms as i64;
        let cluster = self.get_mut(cluster_id, now)?;
        if matches!(
            cluster.state,
            ClusterState::Terminating | ClusterState::Terminated
        ) {
            return Ok(());
        }
        let reason = TerminationReason {
            code: "USER_REQUEST".into(),
            kind: "SUCCESS".into(),
            parameters: BTreeMap::from([("username".into(), cluster.creator_user_name.clone())]),
        };
        cluster.record(now, "TERMINATING", json!({ "reason": reason }));
        cluster.termination_reason = Some(reason);
        cluster.begin(
            ClusterState::Terminating,
            "Terminating cluster",
            ClusterState::Terminated,
            now + delay,
        );
        cluster.advance(now);
        Ok(())
    }

    /// `permanent-delete`: the cluster is gone from `list` and `get`.
    pub fn permanent_delete(&mut self, cluster_id: &str) -> Result<(), ApiError> {
        self.clusters
            .remove(cluster_id)
            .map(|_| ())
            .ok_or_else(|| no_such_cluster(cluster_id))
    }

    /// Records work on a running cluster (a job task, a command) so auto termination waits.
    pub fn record_activity(&mut self, cluster_id: &str, now: i64) -> Result<(), ApiError> {
        let cluster = self.get_mut(cluster_id, now)?;
        if cluster.state == ClusterState::Running {
            cluster.last_activity_ms = now;
        }
        Ok(())
    }

    /// `pin` / `unpin`.
    pub fn set_pinned(&mut self, cluster_id: &str, pinned: bool, now: i64) -> Result<(), ApiError> {
        let cluster = self.get_mut(cluster_id, now)?;
        cluster.is_pinned = pinned;
        cluster.record(now, if pinned { "PINNED" } else { "UNPINNED" }, json!({}));
        Ok(())
    }

    /// Editing is allowed when `RUNNING` (the cluster restarts) or `TERMINATED`.
    fn check_editable(&mut self, cluster_id: &str, now: i64) -> Result<&mut Cluster, ApiError> {
        let cluster = self.get_mut(cluster_id, now)?;
        match cluster.state {
            ClusterState::Running | ClusterState::Terminated => Ok(cluster),
            _ => Err(invalid_state(cluster)),
        }
    }

    fn restart_if_running(&mut self, cluster_id: &str, now: i64) {
        let delay = self.settings.restart_delay_ms as i64;
        if let Some(cluster) = self.clusters.get_mut(cluster_id)
            && cluster.state == ClusterState::Running
        {
            cluster.record(now, "RESTARTING", json!({}));
            cluster.begin(
                ClusterState::Restarting,
                "Restarting Spark to apply the new configuration",
                ClusterState::Running,
                now + delay,
            );
            cluster.advance(now);
        }
    }

    /// `edit`: replaces the whole spec.
    pub fn edit(&mut self, body: Map<String, Value>, now: i64) -> Result<(), ApiError> {
        let cluster_id = required_str(&body, "cluster_id")?.to_owned();
        let spec = clean_spec(body);
        validate_spec(&spec)?;
        let cluster = self.check_editable(&cluster_id, now)?;
        let previous = std::mem::replace(&mut cluster.spec, spec);
        cluster.record(now, "EDITED", json!({"previous_attributes": previous}));
        self.restart_if_running(&cluster_id, now);
        Ok(())
    }

    /// `update`: copies the fields named in `update_mask` (comma-separated; `*` means all)
    /// from `cluster` into the spec; a named field absent from `cluster` is cleared.
    pub fn update(&mut self, body: Map<String, Value>, now: i64) -> Result<(), ApiError> {
        let cluster_id = required_str(&body, "cluster_id")?.to_owned();
        let mask = required_str(&body, "update_mask")?.to_owned();
        let changes = match body.get("cluster") {
            Some(Value::Object(c)) => clean_spec(c.clone()),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(ApiError::invalid_parameter("cluster must be an object")),
        };
        let cluster = self.check_editable(&cluster_id, now)?;
        let mut spec = cluster.spec.clone();
        if mask.trim() == "*" {
            spec = changes;
        } else {
            for field in mask.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                if COMPUTED_FIELDS.contains(&field) {
                    return Err(ApiError::invalid_parameter(format!(
                        "Field {field} cannot be updated"
                    )));
                }
                match changes.get(field) {
                    Some(v) => spec.insert(field.to_owned(), v.clone()),
                    None => spec.remove(field),
                };
            }
        }
        validate_spec(&spec)?;
        let previous = std::mem::replace(&mut cluster.spec, spec);
        cluster.record(now, "EDITED", json!({"previous_attributes": previous}));
        self.restart_if_running(&cluster_id, now);
        Ok(())
    }

    /// `resize`: a `RUNNING` cluster goes `RESIZING` and then `RUNNING` with the new size.
    pub fn resize(&mut self, body: Map<String, Value>, now: i64) -> Result<(), ApiError> {
        let cluster_id = required_str(&body, "cluster_id")?.to_owned();
        let num_workers = body.get("num_workers").filter(|v| !v.is_null());
        let autoscale = body.get("autoscale").filter(|v| !v.is_null());
        let change = match (num_workers, autoscale) {
            (Some(n), None) => {
                n.as_u64().ok_or_else(|| {
                    ApiError::invalid_parameter("num_workers must be a non-negative integer")
                })?;
                ("num_workers", n.clone())
            }
            (None, Some(a)) => {
                validate_autoscale(a)?;
                ("autoscale", a.clone())
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_parameter(
                    "Only one of num_workers or autoscale may be specified",
                ));
            }
            (None, None) => {
                return Err(ApiError::missing_field("num_workers or autoscale"));
            }
        };
        let delay = self.settings.resize_delay_ms as i64;
        let cluster = self.get_mut(&cluster_id, now)?;
        if cluster.state != ClusterState::Running {
            return Err(invalid_state(cluster));
        }
        let current = cluster.num_workers();
        cluster.spec.remove("num_workers");
        cluster.spec.remove("autoscale");
        cluster.spec.insert(change.0.to_owned(), change.1);
        let target = cluster.num_workers();
        cluster.record(
            now,
            "RESIZING",
            json!({"current_num_workers": current, "target_num_workers": target}),
        );
        cluster.begin(
            ClusterState::Resizing,
            "Resizing cluster",
            ClusterState::Running,
            now + delay,
        );
        cluster.advance(now);
        Ok(())
    }

    /// `events`: the event log of one cluster, newest first unless `order` is `ASC`, filtered
    /// by `start_time`, `end_time` and `event_types`, paged by `offset` and `limit` (default
    /// 50, at most 500). `next_page` is the request body for the following page.
    pub fn events(&mut self, body: &Map<String, Value>, now: i64) -> Result<Value, ApiError> {
        let cluster_id = required_str(body, "cluster_id")?.to_owned();
        let int = |field: &str| -> Result<Option<i64>, ApiError> {
            match body.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                    ApiError::invalid_parameter(format!("{field} must be a non-negative integer"))
                }),
            }
        };
        let (start, end) = (int("start_time")?, int("end_time")?);
        let offset = int("offset")?.unwrap_or(0) as usize;
        let limit = int("limit")?.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::invalid_parameter(
                "limit must be between 1 and 500",
            ));
        }
        let descending = match body.get("order").and_then(Value::as_str) {
            None | Some("DESC") => true,
            Some("ASC") => false,
            Some(other) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid order: {other}"
                )));
            }
        };
        let types: Vec<&str> = body
            .get("event_types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let cluster = self.get_mut(&cluster_id, now)?;
        let mut selected: Vec<&ClusterEvent> = cluster
            .events
            .iter()
            .filter(|e| start.is_none_or(|s| e.timestamp >= s))
            .filter(|e| end.is_none_or(|t| e.timestamp <= t))
            .filter(|e| types.is_empty() || types.contains(&e.kind.as_str()))
            .collect();
        if descending {
            selected.reverse();
        }
        let total = selected.len();
        let events: Vec<Value> = selected
            .into_iter()
            .skip(offset)
            .take(limit as usize)
            .map(|e| {
                json!({"cluster_id": cluster_id, "timestamp": e.timestamp, "type": e.kind,
                       "details": e.details})
            })
            .collect();
        let mut out = json!({ "events": events, "total_count": total });
        let next = offset + limit as usize;
        if next < total {
            let mut next_page = body.clone();
            next_page.insert("offset".into(), json!(next));
            out["next_page"] = Value::Object(next_page);
        }
        Ok(out)
    }

    /// `list`: filters, sorts and pages the clusters.
    pub fn list(&mut self, query: &ListQuery, now: i64) -> Result<ListPage, ApiError> {
        for cluster in self.clusters.values_mut() {
            cluster.advance(now);
        }
        let mut selected: Vec<&Cluster> = self
            .clusters
            .values()
            .filter(|c| query.states.is_empty() || query.states.contains(&c.state))
            .filter(|c| query.sources.is_empty() || query.sources.contains(&c.cluster_source))
            .filter(|c| query.is_pinned.is_none_or(|p| p == c.is_pinned))
            .filter(|c| {
                query
                    .policy_id
                    .as_deref()
                    .is_none_or(|p| c.spec.get("policy_id").and_then(Value::as_str) == Some(p))
            })
            .collect();
        match query.sort_field {
            SortField::Default => selected.sort_by_key(|c| std::cmp::Reverse(c.seq)),
            SortField::ClusterName => selected.sort_by(|a, b| {
                (a.name().to_lowercase(), &a.cluster_id)
                    .cmp(&(b.name().to_lowercase(), &b.cluster_id))
            }),
        }
        if query.descending {
            selected.reverse();
        }
        let offset = match &query.page_token {
            Some(t) if !t.is_empty() => decode_offset(t)?,
            _ => 0,
        };
        let size = query.page_size.filter(|&n| n > 0).unwrap_or(usize::MAX);
        let total = selected.len();
        let clusters = selected
            .into_iter()
            .skip(offset)
            .take(size)
            .map(Cluster::details)
            .collect();
        let end = offset.saturating_add(size);
        Ok(ListPage {
            clusters,
            next_page_token: (end < total).then(|| encode_offset(end)),
            prev_page_token: (offset > 0).then(|| encode_offset(offset.saturating_sub(size))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> Map<String, Value> {
        json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12", "num_workers": 2})
            .as_object()
            .unwrap()
            .clone()
    }

    fn state() -> State {
        State {
            settings: Settings {
                start_delay_ms: 100,
                restart_delay_ms: 50,
                resize_delay_ms: 30,
                terminate_delay_ms: 20,
                ..Settings::default()
            },
            ..State::default()
        }
    }

    #[test]
    fn create_is_pending_until_the_start_delay_elapses() {
        let mut s = state();
        let id = s.create(spec("a"), 1_000).unwrap();
        assert_eq!(s.get(&id, 1_099).unwrap().state, ClusterState::Pending);
        let c = s.get(&id, 1_100).unwrap();
        assert_eq!(c.state, ClusterState::Running);
        assert_eq!(c.start_time, 1_000);
        assert_eq!(c.last_restarted_time, Some(1_100));
    }

    #[test]
    fn cluster_ids_have_the_databricks_shape() {
        let id = new_cluster_id(1_700_000_000_000);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0].len(), 4);
        assert_eq!(parts[1].len(), 6);
        assert_eq!(parts[2].len(), 8);
        assert!(
            parts[0]
                .chars()
                .chain(parts[1].chars())
                .all(|c| c.is_ascii_digit())
        );
    }

    #[test]
    fn lifecycle_restart_resize_terminate_start() {
        let mut s = state();
        let id = s.create(spec("a"), 0).unwrap();
        s.restart(&id, 100).unwrap();
        assert_eq!(s.get(&id, 149).unwrap().state, ClusterState::Restarting);
        assert_eq!(s.get(&id, 150).unwrap().state, ClusterState::Running);
        s.resize(
            json!({"cluster_id": id, "num_workers": 5})
                .as_object()
                .unwrap()
                .clone(),
            200,
        )
        .unwrap();
        assert_eq!(s.get(&id, 229).unwrap().state, ClusterState::Resizing);
        assert_eq!(s.get(&id, 230).unwrap().spec["num_workers"], json!(5));
        s.terminate(&id, 300).unwrap();
        let c = s.get(&id, 300).unwrap();
        assert_eq!(c.state, ClusterState::Terminating);
        assert_eq!(c.termination_reason.as_ref().unwrap().code, "USER_REQUEST");
        let c = s.get(&id, 320).unwrap();
        assert_eq!(c.state, ClusterState::Terminated);
        assert_eq!(c.terminated_time, Some(320));
        s.start(&id, 400).unwrap();
        let c = s.get(&id, 400).unwrap();
        assert_eq!(
            (c.state.clone(), c.start_time),
            (ClusterState::Pending, 400)
        );
        assert!(c.termination_reason.is_none());
    }

    #[test]
    fn invalid_transitions_answer_invalid_state() {
        let mut s = state();
        let id = s.create(spec("a"), 0).unwrap();
        let e = s.start(&id, 1).unwrap_err();
        assert_eq!(e.error_code, "INVALID_STATE");
        assert_eq!(
            e.message,
            format!("Cluster {id} is in unexpected state Pending.")
        );
        assert_eq!(s.restart(&id, 1).unwrap_err().error_code, "INVALID_STATE");
        s.terminate(&id, 1).unwrap();
        s.terminate(&id, 2).unwrap();
        assert_eq!(s.restart(&id, 500).unwrap_err().error_code, "INVALID_STATE");
    }

    #[test]
    fn an_idle_cluster_terminates_after_its_autotermination_minutes() {
        let mut s = state();
        let mut body = spec("idle");
        body.insert("autotermination_minutes".into(), json!(10));
        let id = s.create(body, 0).unwrap();
        s.record_activity(&id, 100_000).unwrap();
        assert_eq!(s.get(&id, 699_999).unwrap().state, ClusterState::Running);
        let c = s.get(&id, 700_000).unwrap();
        assert_eq!(c.state, ClusterState::Terminated);
        assert_eq!(c.terminated_time, Some(700_000));
        assert_eq!(c.termination_reason.as_ref().unwrap().code, "INACTIVITY");
        s.start(&id, 800_000).unwrap();
        assert_eq!(s.get(&id, 800_100).unwrap().state, ClusterState::Running);
    }

    #[test]
    fn the_event_log_follows_the_lifecycle_and_pages() {
        let mut s = state();
        let id = s.create(spec("a"), 0).unwrap();
        s.resize(
            json!({"cluster_id": id, "num_workers": 4})
                .as_object()
                .unwrap()
                .clone(),
            200,
        )
        .unwrap();
        s.terminate(&id, 300).unwrap();
        let body = json!({"cluster_id": id, "order": "ASC"});
        let all = s.events(body.as_object().unwrap(), 1_000).unwrap();
        let kinds: Vec<&str> = all["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "CREATING",
                "RUNNING",
                "RESIZING",
                "UPSIZE_COMPLETED",
                "TERMINATING"
            ]
        );
        assert_eq!(
            all["events"][4]["details"]["reason"]["code"],
            "USER_REQUEST"
        );
        let body = json!({"cluster_id": id, "limit": 2});
        let page = s.events(body.as_object().unwrap(), 1_000).unwrap();
        assert_eq!(page["total_count"], 5);
        assert_eq!(page["events"][0]["type"], "TERMINATING");
        assert_eq!(page["next_page"]["offset"], 2);
        let only = json!({"cluster_id": id, "event_types": ["RUNNING"]});
        let only = s.events(only.as_object().unwrap(), 1_000).unwrap();
        assert_eq!(only["total_count"], 1);
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut s = state();
        let id = s.create(spec("a"), 0).unwrap();
        s.terminate(&id, 50).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let mut back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back.clusters, s.clusters);
        assert_eq!(
            back.get(&id, 10_000).unwrap().state,
            ClusterState::Terminated
        );
    }

    #[test]
    fn job_clusters_cannot_be_started() {
        let mut s = state();
        let id = s.create_with_source(spec("job"), "JOB", "x", 0).unwrap();
        s.terminate(&id, 200).unwrap();
        let e = s.start(&id, 1_000).unwrap_err();
        assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE");
    }

    #[test]
    fn update_applies_only_masked_fields_and_restarts_a_running_cluster() {
        let mut s = state();
        let id = s.create(spec("a"), 0).unwrap();
        let body = json!({"cluster_id": id, "update_mask": "cluster_name,custom_tags",
            "cluster": {"cluster_name": "b", "num_workers": 9}});
        s.update(body.as_object().unwrap().clone(), 100).unwrap();
        let c = s.get(&id, 100).unwrap();
        assert_eq!(c.state, ClusterState::Restarting);
        assert_eq!(c.spec["cluster_name"], json!("b"));
        assert_eq!(c.spec["num_workers"], json!(2));
        assert!(!c.spec.contains_key("custom_tags"));
    }

    #[test]
    fn list_pages_cover_everything_once() {
        let mut s = state();
        for i in 0..5 {
            s.create(spec(&format!("c{i}")), 0).unwrap();
        }
        let mut query = ListQuery {
            sort_field: SortField::ClusterName,
            page_size: Some(2),
            ..ListQuery::default()
        };
        let mut names = Vec::new();
        loop {
            let page = s.list(&query, 0).unwrap();
            names.extend(page.clusters.iter().map(|c| c["cluster_name"].clone()));
            match page.next_page_token {
                Some(t) => query.page_token = Some(t),
                None => break,
            }
        }
        assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4"]);
    }
}
