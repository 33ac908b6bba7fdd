//! The emulator's settings: one section per service, read and changed through the admin API.

use serde::{Deserialize, Serialize};

/// Every setting of the emulator. `GET /_emulator/settings` returns it; `PATCH` merges a
/// partial document into it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Clusters: lifecycle delays.
    pub clusters: crate::clusters::Settings,
    /// Warehouses: lifecycle delays.
    pub warehouses: crate::warehouses::Settings,
    /// Jobs: run durations.
    pub jobs: crate::jobs::Settings,
    /// Unity Catalog.
    pub unity_catalog: crate::unity_catalog::Settings,
    /// SQL statements: chunk size, link lifetime.
    pub statements: crate::statements::Settings,
    /// Workspace objects.
    pub workspace_objects: crate::workspace_objects::Settings,
    /// SCIM.
    pub scim: crate::scim::Settings,
    /// OAuth: token lifetimes.
    pub oauth: crate::oauth::Settings,
    /// Fault injection: rate limits, 503/500, dropped connections, latency.
    pub faults: crate::faults::Settings,
}
