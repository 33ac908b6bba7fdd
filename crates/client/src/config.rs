//! Unified configuration, resolved the way the official Databricks SDKs and CLI do it.
//!
//! Sources in order: explicit settings, then `DATABRICKS_*` environment variables, then a
//! profile of `~/.databrickscfg`.

use std::time::Duration;

use brickwire_api::SecretString;

/// Settings of a [`crate::Client`]; see the module docs for how they are resolved.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Workspace URL, e.g. `https://dbc-1234.cloud.databricks.com`.
    pub host: Option<String>,
    /// Personal access token (auth type `pat`).
    pub token: Option<SecretString>,
    /// OAuth client id (`oauth-m2m`, or U2M with a custom app).
    pub client_id: Option<String>,
    /// OAuth client secret (`oauth-m2m`).
    pub client_secret: Option<SecretString>,
    /// Forces one auth method (`pat`, `oauth-m2m`, ...).
    pub auth_type: Option<String>,
    /// Per-attempt HTTP timeout (default 60 s).
    pub http_timeout: Option<Duration>,
    /// Overall retry deadline (default 300 s).
    pub retry_timeout: Option<Duration>,
    /// Client-side request rate cap per second (default 15).
    pub rate_limit: Option<f64>,
}
