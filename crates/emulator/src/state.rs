//! The emulated workspace: every service's state plus the emulator's own settings.
//!
//! Each service keeps its state behind its own lock so one slow service never blocks another.
//! Nothing here knows about HTTP.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::settings::Settings;
use crate::{
    clusters, jobs, oauth, scim, statements, unity_catalog, warehouses, workspace_objects,
};

/// The shared handle every route receives.
#[derive(Clone)]
pub struct AppState(pub Arc<Workspace>);

impl AppState {
    /// Wraps a workspace.
    pub fn new(workspace: Arc<Workspace>) -> Self {
        Self(workspace)
    }
}

impl Deref for AppState {
    type Target = Workspace;
    fn deref(&self) -> &Workspace {
        &self.0
    }
}

/// One emulated Databricks workspace.
pub struct Workspace {
    /// The URL clients use, e.g. `http://127.0.0.1:8765`.
    pub base_url: String,
    /// Personal access tokens that authenticate.
    pub tokens: RwLock<HashSet<String>>,
    /// The emulator's settings.
    pub settings: RwLock<Settings>,
    /// Clusters.
    pub clusters: Mutex<clusters::State>,
    /// SQL warehouses.
    pub warehouses: Mutex<warehouses::State>,
    /// Jobs and runs.
    pub jobs: Mutex<jobs::State>,
    /// Unity Catalog.
    pub unity_catalog: Mutex<unity_catalog::State>,
    /// SQL statements.
    pub statements: Mutex<statements::State>,
    /// Workspace objects.
    pub workspace_objects: Mutex<workspace_objects::State>,
    /// SCIM users and groups.
    pub scim: Mutex<scim::State>,
    /// OAuth app connections, codes and tokens.
    pub oauth: Mutex<oauth::State>,
}

impl Workspace {
    /// A fresh, empty workspace reachable at `base_url` that accepts `token`.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens: RwLock::new(HashSet::from([token.to_owned()])),
            settings: RwLock::default(),
            clusters: Mutex::default(),
            warehouses: Mutex::default(),
            jobs: Mutex::default(),
            unity_catalog: Mutex::default(),
            statements: Mutex::default(),
            workspace_objects: Mutex::default(),
            scim: Mutex::default(),
            oauth: Mutex::default(),
        }
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }
}

/// The emulated workspace's one human user: the owner of the default personal access token,
/// the SCIM admin, the creator of clusters, jobs and Unity Catalog objects, and the owner of
/// `/Users/<user>`. One name everywhere, as in a real workspace.
pub const EMULATOR_USER: &str = "admin@brickwire.local";

/// Milliseconds since the Unix epoch, the unit of every Databricks timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
