//! SQL warehouses and their lifecycle, with no HTTP.
//!
//! Like clusters, a warehouse in a transient state (`STARTING`, `STOPPING`, `DELETING`) holds a
//! [`Transition`] applied lazily on the next access. A running warehouse with `auto_stop_mins`
//! stops once it has been idle that long; statements count as activity (see
//! [`State::require_for_statement`]). Methods take `now` (epoch milliseconds) so tests drive the
//! clock; the two the statements service calls read the system clock and have `_at` twins.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use brickwire_api::warehouses::{ClusterSize, SpotInstancePolicy, WarehouseType};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::state::now_ms;

/// Settings of warehouses, changeable through the admin API (`settings.warehouses`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long `STARTING` lasts before `RUNNING` (create, start, start on demand), in ms.
    pub start_delay_ms: u64,
    /// How long `STOPPING` lasts before `STOPPED`.
    pub stop_delay_ms: u64,
    /// How long `DELETING` lasts before `DELETED`.
    pub delete_delay_ms: u64,
    /// The user reported as `creator_name`.
    pub creator_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            start_delay_ms: 200,
            stop_delay_ms: 200,
            delete_delay_ms: 200,
            creator_name: crate::state::EMULATOR_USER.to_owned(),
        }
    }
}

/// A warehouse's state: the api's enum. The emulator only ever sets the known values.
pub use brickwire_api::warehouses::State as WarehouseState;

/// A pending lifecycle step: the warehouse reaches `target` at `at_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The state reached.
    pub target: WarehouseState,
    /// When, in epoch milliseconds.
    pub at_ms: i64,
}

/// One SQL warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warehouse {
    /// 16 hex digits.
    pub id: String,
    /// The configuration: request fields (unknown ones included) over the defaults.
    pub spec: Map<String, Value>,
    /// Current state.
    pub state: WarehouseState,
    /// The step in progress, if the state is transient.
    pub transition: Option<Transition>,
    /// Who created it.
    pub creator_name: String,
    /// Last time it started or ran a statement, for auto stop.
    pub last_activity_ms: i64,
    /// Creation order.
    pub seq: u64,
}

/// Fields Databricks computes; a request cannot set them.
const COMPUTED_FIELDS: [&str; 9] = [
    "id",
    "state",
    "creator_name",
    "num_clusters",
    "num_active_sessions",
    "jdbc_url",
    "odbc_params",
    "health",
    "warehouse_id",
];

/// Where clients reach the workspace, for `odbc_params` and `jdbc_url`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Host name, e.g. `127.0.0.1`.
    pub hostname: String,
    /// Port.
    pub port: u16,
    /// `http` or `https`.
    pub protocol: String,
}

impl Endpoint {
    /// Reads the endpoint from a workspace URL such as `http://127.0.0.1:8765`.
    pub fn from_base_url(base_url: &str) -> Self {
        let parsed = url::Url::parse(base_url).ok();
        Self {
            hostname: parsed
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "localhost".to_owned()),
            port: parsed
                .as_ref()
                .and_then(|u| u.port_or_known_default())
                .unwrap_or(443),
            protocol: parsed
                .map(|u| u.scheme().to_owned())
                .unwrap_or_else(|| "https".to_owned()),
        }
    }
}

impl Warehouse {
    fn name(&self) -> &str {
        self.spec
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn int(&self, field: &str) -> i64 {
        self.spec.get(field).and_then(Value::as_i64).unwrap_or(0)
    }

    fn begin(&mut self, state: WarehouseState, target: WarehouseState, at_ms: i64) {
        self.state = state;
        self.transition = Some(Transition { target, at_ms });
    }

    /// Applies the pending transition if due, then auto stop if idle long enough.
    fn advance(&mut self, now: i64) {
        if let Some(t) = self.transition.take_if(|t| now >= t.at_ms) {
            self.state = t.target.clone();
            if t.target == WarehouseState::Running {
                self.last_activity_ms = t.at_ms;
            }
        }
        let auto_stop = self.int("auto_stop_mins");
        if self.state == WarehouseState::Running
            && auto_stop > 0
            && now >= self.last_activity_ms + auto_stop * 60_000
        {
            self.state = WarehouseState::Stopped;
        }
    }

    /// The `EndpointInfo` JSON Databricks returns from `get` and `list`.
    pub fn info(&self, endpoint: &Endpoint) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        for (k, v) in &self.spec {
            out.insert(k.clone(), v.clone());
        }
        out.insert("creator_name".into(), json!(self.creator_name));
        out.insert("state".into(), json!(self.state.as_str()));
        let running = self.state == WarehouseState::Running;
        let clusters = if running {
            self.int("min_num_clusters").max(1)
        } else {
            0
        };
        out.insert("num_clusters".into(), json!(clusters));
        out.insert("num_active_sessions".into(), json!(0));
        let path = format!("/sql/1.0/warehouses/{}", self.id);
        let ssl = u8::from(endpoint.protocol == "https");
        out.insert(
            "jdbc_url".into(),
            json!(format!(
                "jdbc:spark://{}:{}/default;transportMode=http;ssl={ssl};AuthMech=3;httpPath={path};",
                endpoint.hostname, endpoint.port
            )),
        );
        out.insert(
            "odbc_params".into(),
            json!({"hostname": endpoint.hostname, "path": path, "port": endpoint.port,
                   "protocol": endpoint.protocol}),
        );
        if running {
            out.insert("health".into(), json!({"status": "HEALTHY"}));
        } else if !self.state.is_deleted() {
            out.insert(
                "health".into(),
                json!({"status": "HEALTHY", "summary": "The warehouse is not running"}),
            );
        }
        Value::Object(out)
    }
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListPage {
    /// The warehouses, as `EndpointInfo`.
    pub warehouses: Vec<Value>,
    /// Token of the next page, absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Every SQL warehouse of the workspace.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    /// Warehouses by id; deleted ones stay (state `DELETED`) but leave `list`.
    pub warehouses: BTreeMap<String, Warehouse>,
    /// The last creation sequence number handed out.
    pub last_seq: u64,
    /// The delays in force, copied from the workspace settings.
    #[serde(skip)]
    pub settings: Settings,
}

/// `404 RESOURCE_DOES_NOT_EXIST` for an unknown warehouse id.
pub fn no_such_warehouse(id: &str) -> ApiError {
    ApiError::not_found(format!("Warehouse {id} does not exist."))
}

fn invalid_state(w: &Warehouse, action: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidState,
        format!(
            "Cannot {action} warehouse {} because it is in state {}.",
            w.id,
            w.state.as_str()
        ),
    )
}

fn new_warehouse_id() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

fn defaults() -> Map<String, Value> {
    let v = json!({
        "auto_stop_mins": 120,
        "min_num_clusters": 1,
        "max_num_clusters": 1,
        "enable_photon": true,
        "enable_serverless_compute": false,
        "warehouse_type": "CLASSIC",
        "spot_instance_policy": "COST_OPTIMIZED",
        "channel": {"name": "CHANNEL_NAME_CURRENT"},
        "tags": {},
    });
    v.as_object().cloned().unwrap_or_default()
}

fn int_field(spec: &Map<String, Value>, field: &str) -> Result<i64, ApiError> {
    spec.get(field).and_then(Value::as_i64).ok_or_else(|| {
        ApiError::invalid_parameter(format!("Invalid value for {field}: expected an integer"))
    })
}

fn one_of(spec: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match spec.get(field) {
        None => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(v) => Err(ApiError::invalid_parameter(format!(
            "Invalid {field}: {v}. Allowed values: {}",
            allowed.join(", ")
        ))),
    }
}

impl State {
    fn get_mut(&mut self, id: &str, now: i64) -> Result<&mut Warehouse, ApiError> {
        let w = self
            .warehouses
            .get_mut(id)
            .ok_or_else(|| no_such_warehouse(id))?;
        w.advance(now);
        Ok(w)
    }

    /// The warehouse `id`, brought up to date with `now` (deleted ones included).
    pub fn get(&mut self, id: &str, now: i64) -> Result<&Warehouse, ApiError> {
        Ok(self.get_mut(id, now)?)
    }

    /// Checks a complete configuration against Databricks' documented limits.
    fn validate(&self, spec: &Map<String, Value>, id: Option<&str>) -> Result<(), ApiError> {
        let name = match spec.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err(ApiError::missing_field("name")),
        };
        if name.chars().count() >= 100 {
            return Err(ApiError::invalid_parameter(
                "Warehouse name must be less than 100 characters",
            ));
        }
        let taken = self
            .warehouses
            .values()
            .any(|w| Some(w.id.as_str()) != id && !w.state.is_deleted() && w.name() == name);
        if taken {
            return Err(ApiError::invalid_parameter(format!(
                "Warehouse with name '{name}' already exists"
            )));
        }
        match spec.get("cluster_size") {
            None | Some(Value::Null) => {
                return Err(ApiError::missing_field("cluster_size"));
            }
            _ => one_of(spec, "cluster_size", ClusterSize::KNOWN_WIRE)?,
        }
        let auto_stop = int_field(spec, "auto_stop_mins")?;
        if auto_stop != 0 && auto_stop < 10 {
            return Err(ApiError::invalid_parameter(format!(
                "auto_stop_mins must be 0 or at least 10, got {auto_stop}"
            )));
        }
        let max = int_field(spec, "max_num_clusters")?;
        if !(1..=40).contains(&max) {
            return Err(ApiError::invalid_parameter(format!(
                "max_num_clusters must be between 1 and 40, got {max}"
            )));
        }
        let min = int_field(spec, "min_num_clusters")?;
        if min < 1 || min > max.min(30) {
            return Err(ApiError::invalid_parameter(format!(
                "min_num_clusters must be between 1 and min(max_num_clusters, 30), got {min}"
            )));
        }
        one_of(spec, "warehouse_type", WarehouseType::KNOWN_WIRE)?;
        one_of(spec, "spot_instance_policy", SpotInstancePolicy::KNOWN_WIRE)?;
        let serverless = spec.get("enable_serverless_compute") == Some(&Value::Bool(true));
        if serverless && spec.get("warehouse_type").and_then(Value::as_str) != Some("PRO") {
            return Err(ApiError::invalid_parameter(
                "Serverless compute requires warehouse_type PRO",
            ));
        }
        let tags = spec
            .get("tags")
            .and_then(|t| t.get("custom_tags"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if tags >= 45 {
            return Err(ApiError::invalid_parameter(
                "A warehouse must have fewer than 45 custom tags",
            ));
        }
        Ok(())
    }

    /// `create`: validates the configuration; the warehouse starts (`STARTING`).
    pub fn create(&mut self, body: Map<String, Value>, now: i64) -> Result<String, ApiError> {
        let mut spec = defaults();
        for (k, v) in body {
            if !COMPUTED_FIELDS.contains(&k.as_str()) && !v.is_null() {
                spec.insert(k, v);
            }
        }
        self.validate(&spec, None)?;
        let mut id = new_warehouse_id();
        while self.warehouses.contains_key(&id) {
            id = new_warehouse_id();
        }
        self.last_seq += 1;
        let mut w = Warehouse {
            id: id.clone(),
            spec,
            state: WarehouseState::Starting,
            transition: None,
            creator_name: self.settings.creator_name.clone(),
            last_activity_ms: now,
            seq: self.last_seq,
        };
        w.begin(
            WarehouseState::Starting,
            WarehouseState::Running,
            now + self.settings.start_delay_ms as i64,
        );
        w.advance(now);
        self.warehouses.insert(id.clone(), w);
        Ok(id)
    }

    /// Creates a warehouse that is already `RUNNING` (seed data, tests).
    pub fn create_running(
        &mut self,
        body: Map<String, Value>,
        now: i64,
    ) -> Result<String, ApiError> {
        let id = self.create(body, now)?;
        if let Some(w) = self.warehouses.get_mut(&id) {
            if let Some(t) = w.transition.as_mut() {
                t.at_ms = now;
            }
            w.advance(now);
        }
        Ok(id)
    }

    /// The id of the live (not deleted) warehouse named `name`, if any.
    pub fn find_by_name(&self, name: &str) -> Option<String> {
        self.warehouses
            .values()
            .find(|w| !w.state.is_deleted() && w.name() == name)
            .map(|w| w.id.clone())
    }

    /// `edit`: merges the given fields into the configuration. The state does not change.
    pub fn edit(&mut self, id: &str, body: Map<String, Value>, now: i64) -> Result<(), ApiError> {
        let w = self.get_mut(id, now)?;
        if w.state.is_deleted() {
            return Err(invalid_state(w, "edit"));
        }
        let mut spec = w.spec.clone();
        for (k, v) in body {
            if !COMPUTED_FIELDS.contains(&k.as_str()) && !v.is_null() {
                spec.insert(k, v);
            }
        }
        self.validate(&spec, Some(id))?;
        if let Some(w) = self.warehouses.get_mut(id) {
            w.spec = spec;
        }
        Ok(())
    }

    /// `start`: a stopped (or stopping) warehouse goes `STARTING` then `RUNNING`; a no-op if
    /// it is already starting or running.
    pub fn start(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.start_delay_ms as i64;
        let w = self.get_mut(id, now)?;
        match &w.state {
            WarehouseState::Starting | WarehouseState::Running => Ok(()),
            WarehouseState::Stopped | WarehouseState::Stopping => {
                w.last_activity_ms = now;
                w.begin(
                    WarehouseState::Starting,
                    WarehouseState::Running,
                    now + delay,
                );
                w.advance(now);
                Ok(())
            }
            WarehouseState::Deleting | WarehouseState::Deleted | WarehouseState::Other(_) => {
                Err(invalid_state(w, "start"))
            }
        }
    }

    /// `stop`: goes `STOPPING` then `STOPPED`; a no-op if already stopping or stopped.
    pub fn stop(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.stop_delay_ms as i64;
        let w = self.get_mut(id, now)?;
        match &w.state {
            WarehouseState::Stopping | WarehouseState::Stopped => Ok(()),
            WarehouseState::Starting | WarehouseState::Running => {
                w.begin(
                    WarehouseState::Stopping,
                    WarehouseState::Stopped,
                    now + delay,
                );
                w.advance(now);
                Ok(())
            }
            WarehouseState::Deleting | WarehouseState::Deleted | WarehouseState::Other(_) => {
                Err(invalid_state(w, "stop"))
            }
        }
    }

    /// `delete`: goes `DELETING` then `DELETED`; the warehouse leaves `list` at once.
    pub fn delete(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let delay = self.settings.delete_delay_ms as i64;
        let w = self.get_mut(id, now)?;
        if !w.state.is_deleted() {
            w.begin(
                WarehouseState::Deleting,
                WarehouseState::Deleted,
                now + delay,
            );
            w.advance(now);
        }
        Ok(())
    }

    /// `list`: warehouses that are not deleted, oldest first, paged by `page_size`.
    pub fn list(
        &mut self,
        page_size: Option<usize>,
        page_token: Option<&str>,
        endpoint: &Endpoint,
        now: i64,
    ) -> Result<ListPage, ApiError> {
        for w in self.warehouses.values_mut() {
            w.advance(now);
        }
        let mut live: Vec<&Warehouse> = self
            .warehouses
            .values()
            .filter(|w| !w.state.is_deleted())
            .collect();
        live.sort_by_key(|w| w.seq);
        let offset = match page_token.filter(|t| !t.is_empty()) {
            Some(t) => decode_offset(t)?,
            None => 0,
        };
        let size = page_size.filter(|&n| n > 0).unwrap_or(usize::MAX);
        let end = offset.saturating_add(size);
        Ok(ListPage {
            next_page_token: (end < live.len()).then(|| encode_offset(end)),
            warehouses: live
                .into_iter()
                .skip(offset)
                .take(size)
                .map(|w| w.info(endpoint))
                .collect(),
        })
    }

    /// Checks that `warehouse_id` can run a statement, starting it if it is stopped
    /// (Databricks starts a stopped warehouse on demand), and records the activity so auto stop
    /// waits. Unknown ids answer 404 `RESOURCE_DOES_NOT_EXIST`; deleted warehouses 400
    /// `INVALID_STATE`.
    ///
    /// The statements service calls this before it runs anything, then [`State::is_running`]
    /// to know whether the statement can run now or waits (`PENDING`).
    pub fn require_for_statement(&mut self, warehouse_id: &str) -> Result<(), ApiError> {
        self.require_for_statement_at(warehouse_id, now_ms())
    }

    /// [`State::require_for_statement`] at a given time.
    pub fn require_for_statement_at(
        &mut self,
        warehouse_id: &str,
        now: i64,
    ) -> Result<(), ApiError> {
        let state = self.get_mut(warehouse_id, now)?.state.clone();
        match state {
            WarehouseState::Deleting | WarehouseState::Deleted | WarehouseState::Other(_) => {
                let w = self.get_mut(warehouse_id, now)?;
                Err(invalid_state(w, "run a statement on"))
            }
            WarehouseState::Stopped | WarehouseState::Stopping => self.start(warehouse_id, now),
            WarehouseState::Starting | WarehouseState::Running => {
                self.get_mut(warehouse_id, now)?.last_activity_ms = now;
                Ok(())
            }
        }
    }

    /// Whether `warehouse_id` exists and is `RUNNING` now.
    pub fn is_running(&mut self, warehouse_id: &str) -> bool {
        self.is_running_at(warehouse_id, now_ms())
    }

    /// [`State::is_running`] at a given time.
    pub fn is_running_at(&mut self, warehouse_id: &str, now: i64) -> bool {
        self.get_mut(warehouse_id, now)
            .is_ok_and(|w| w.state == WarehouseState::Running)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn state() -> State {
        State {
            settings: Settings {
                start_delay_ms: 100,
                stop_delay_ms: 50,
                delete_delay_ms: 20,
                ..Settings::default()
            },
            ..State::default()
        }
    }

    fn create(s: &mut State, name: &str, now: i64) -> String {
        s.create(body(json!({"name": name, "cluster_size": "2X-Small"})), now)
            .unwrap()
    }

    #[test]
    fn lifecycle_start_stop_delete() {
        let mut s = state();
        let id = create(&mut s, "w", 0);
        assert_eq!(id.len(), 16);
        assert_eq!(s.get(&id, 99).unwrap().state, WarehouseState::Starting);
        assert_eq!(s.get(&id, 100).unwrap().state, WarehouseState::Running);
        s.stop(&id, 200).unwrap();
        assert_eq!(s.get(&id, 249).unwrap().state, WarehouseState::Stopping);
        assert_eq!(s.get(&id, 250).unwrap().state, WarehouseState::Stopped);
        s.start(&id, 300).unwrap();
        assert_eq!(s.get(&id, 300).unwrap().state, WarehouseState::Starting);
        s.delete(&id, 500).unwrap();
        assert_eq!(s.get(&id, 500).unwrap().state, WarehouseState::Deleting);
        assert_eq!(s.get(&id, 520).unwrap().state, WarehouseState::Deleted);
        assert_eq!(s.start(&id, 600).unwrap_err().error_code, "INVALID_STATE");
        assert_eq!(s.stop(&id, 600).unwrap_err().error_code, "INVALID_STATE");
    }

    #[test]
    fn validation_follows_the_documented_limits() {
        let mut s = state();
        create(&mut s, "taken", 0);
        let cases = [
            json!({"cluster_size": "Small"}),
            json!({"name": "x".repeat(100), "cluster_size": "Small"}),
            json!({"name": "taken", "cluster_size": "Small"}),
            json!({"name": "a"}),
            json!({"name": "a", "cluster_size": "Huge"}),
            json!({"name": "a", "cluster_size": "Small", "auto_stop_mins": 5}),
            json!({"name": "a", "cluster_size": "Small", "max_num_clusters": 41}),
            json!({"name": "a", "cluster_size": "Small", "min_num_clusters": 2}),
            json!({"name": "a", "cluster_size": "Small", "enable_serverless_compute": true}),
        ];
        for case in cases {
            let e = s.create(body(case.clone()), 0).unwrap_err();
            assert_eq!(e.error_code, "INVALID_PARAMETER_VALUE", "{case}");
        }
        let ok = json!({"name": "b", "cluster_size": "Small", "auto_stop_mins": 0,
            "min_num_clusters": 2, "max_num_clusters": 4, "warehouse_type": "PRO",
            "enable_serverless_compute": true});
        s.create(body(ok), 0).unwrap();
    }

    #[test]
    fn auto_stop_stops_an_idle_warehouse_and_statements_count_as_activity() {
        let mut s = state();
        let id = s
            .create(
                body(json!({"name": "w", "cluster_size": "Small", "auto_stop_mins": 10})),
                0,
            )
            .unwrap();
        s.require_for_statement_at(&id, 500_000).unwrap();
        assert!(s.is_running_at(&id, 500_000 + 599_999));
        assert!(!s.is_running_at(&id, 500_000 + 600_000));
        assert_eq!(
            s.get(&id, 1_200_000).unwrap().state,
            WarehouseState::Stopped
        );
    }

    #[test]
    fn statements_start_a_stopped_warehouse_and_fail_on_missing_ones() {
        let mut s = state();
        let id = create(&mut s, "w", 0);
        s.stop(&id, 100).unwrap();
        s.require_for_statement_at(&id, 1_000).unwrap();
        assert!(!s.is_running_at(&id, 1_000));
        assert!(s.is_running_at(&id, 1_100));
        let e = s
            .require_for_statement_at("0000000000000000", 0)
            .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        s.delete(&id, 2_000).unwrap();
        let e = s.require_for_statement_at(&id, 2_000).unwrap_err();
        assert_eq!(e.error_code, "INVALID_STATE");
        assert!(!s.is_running_at("nope", 0));
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut s = state();
        let id = create(&mut s, "w", 0);
        let json = serde_json::to_string(&s).unwrap();
        let mut back: State = serde_json::from_str(&json).unwrap();
        assert_eq!(back.warehouses, s.warehouses);
        assert!(back.is_running_at(&id, 100));
    }

    #[test]
    fn list_hides_deleted_warehouses_and_pages() {
        let mut s = state();
        let ids: Vec<String> = (0..3)
            .map(|i| create(&mut s, &format!("w{i}"), 0))
            .collect();
        s.delete(&ids[1], 0).unwrap();
        let ep = Endpoint::from_base_url("http://127.0.0.1:9");
        let first = s.list(Some(1), None, &ep, 0).unwrap();
        assert_eq!(first.warehouses[0]["id"], json!(ids[0]));
        let token = first.next_page_token.unwrap();
        let second = s.list(Some(1), Some(&token), &ep, 0).unwrap();
        assert_eq!(second.warehouses[0]["id"], json!(ids[2]));
        assert!(second.next_page_token.is_none());
        let info = &second.warehouses[0];
        assert_eq!(info["odbc_params"]["port"], json!(9));
        assert_eq!(
            info["odbc_params"]["path"],
            json!(format!("/sql/1.0/warehouses/{}", ids[2]))
        );
    }
}
