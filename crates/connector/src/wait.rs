//! The `wait` / `timeout_seconds` inputs of long-running actions.
//!
//! With `wait: false` (the default, except for Execute Statement) an action returns as soon
//! as Databricks accepted it. With `wait: true` it polls (SDK cadence: 1 s growing to 10 s,
//! with jitter) until the target state and returns the final object; a deadline past
//! `timeout_seconds` is `TIMEOUT`, a failure state `OPERATION_FAILED`.

use std::time::Duration;

use brickwire_client::waiter::WaitOptions;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default `timeout_seconds` (20 minutes, as the SDKs).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 1200;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// Inputs of an action that can wait for its operation to finish.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Wait {
    /// Wait until the operation reaches its target state (see the action's description) and
    /// return the final object, instead of returning once Databricks accepted it
    /// (default false).
    #[serde(default)]
    pub wait: bool,
    /// How long to wait at most, in seconds, when `wait` is true (default 1200).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: u64,
}

impl Wait {
    /// The waiter options for this input.
    pub fn options(&self) -> WaitOptions {
        WaitOptions::with_timeout(Duration::from_secs(self.timeout_seconds))
    }
}

/// The field names of [`Wait`], which are not part of any Databricks request body.
pub const WAIT_FIELDS: &[&str] = &["wait", "timeout_seconds"];
