//! brickwire-service: `brickwire serve`, the service through which end users link their
//! Databricks workspaces (API key or OAuth) and a product runs actions on them.
//!
//! Start at [`server::Service::start`] (run it) or [`server::router`] (the whole HTTP surface
//! for in-process tests). Underneath: [`store::Store`] (the storage interface) and
//! [`store::SqliteStore`] (its embedded implementation) or [`store::PgStore`] (PostgreSQL, for
//! replicas sharing one database); [`accounts::AccountClients`] (one shared Databricks client
//! per linked account, refreshing OAuth tokens one refresh at a time fleet-wide); [`link`]
//! (checking a workspace URL and verifying an API key). [`crypto`] encrypts every secret at rest
//! under the master key; [`api_key`] sets up and verifies the operator's API key; [`scopes`]
//! holds the OAuth scope rules of the app settings. [`open_data_dir`] and [`open_store`] do the
//! storage start-up: master key, store, operator key.

pub mod accounts;
pub mod api_key;
pub mod crypto;
pub mod error;
pub mod flows;
pub mod link;
pub mod mcp;
pub mod scopes;
pub mod server;
pub mod store;
pub mod triggers;

mod startup;

pub use accounts::{AccountClientError, AccountClients, AccountClientsOptions};
pub use error::{Error, Result};
pub use server::{AppState, RunningService, ServeOptions, Service, StartError, router};
pub use startup::{Started, StartupEnv, open_data_dir, open_data_dir_with_clock, open_store};
pub use store::{PgStore, ServiceStore, SharedStore, SqliteStore, Store};
