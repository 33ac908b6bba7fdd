//! State of this service, with no HTTP.

use serde::{Deserialize, Serialize};

/// Settings of this service, changeable through the admin API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {}

/// The service's state.
#[derive(Debug, Default)]
pub struct State {}

impl State {
    /// Checks that `warehouse_id` names a warehouse that can run a statement, starting it if it
    /// is stopped (Databricks starts a stopped warehouse on demand).
    ///
    /// The statements service calls this before it runs anything.
    pub fn require_for_statement(&self, warehouse_id: &str) -> Result<(), crate::ApiError> {
        let _ = warehouse_id;
        Ok(())
    }

    /// Whether `warehouse_id` is RUNNING; statements stay PENDING until it is.
    ///
    /// Stub in the statements branch: every warehouse counts as running.
    pub fn is_running(&self, warehouse_id: &str) -> bool {
        let _ = warehouse_id;
        true
    }
}
