//! State of this service, with no HTTP.

use serde::{Deserialize, Serialize};

/// Settings of this service, changeable through the admin API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {}

/// The service's state.
#[derive(Debug, Default)]
pub struct State {}
