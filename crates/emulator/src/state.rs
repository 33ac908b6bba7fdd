//! The emulated workspace: every service's state plus the emulator's own settings.
//!
//! Each service keeps its state behind its own lock so one slow service never blocks another.
//! The services are the ones listed in [`crate::services`]. Nothing here knows about HTTP.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::services::{EmulatedService, with_services};
use crate::settings::Settings;

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

macro_rules! workspace {
    ($($(#[$doc:meta])* $name:ident: $service:ty,)*) => {
        /// One emulated Databricks workspace: its URL, tokens and settings, and each service's
        /// state behind its own lock (one field per entry of
        /// `with_services!` in [`crate::services`]).
        pub struct Workspace {
            /// The URL clients use, e.g. `http://127.0.0.1:8765`.
            pub base_url: String,
            /// Personal access tokens that authenticate.
            pub tokens: RwLock<HashSet<String>>,
            /// The emulator's settings.
            pub settings: RwLock<Settings>,
            $(
                $(#[$doc])*
                pub $name: Mutex<<$service as EmulatedService>::State>,
            )*
        }

        impl Workspace {
            /// A fresh, empty workspace reachable at `base_url` that accepts `token`.
            pub fn new(base_url: &str, token: &str) -> Self {
                Self {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    tokens: RwLock::new(HashSet::from([token.to_owned()])),
                    settings: RwLock::default(),
                    $($name: Mutex::default(),)*
                }
            }
        }
    };
}
with_services!(workspace);

impl Workspace {
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
