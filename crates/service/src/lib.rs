//! brickwire-service: the storage and security foundation of `brickwire serve`.
//!
//! Start at [`store::Store`] (the storage interface the REST API, connect page and OAuth flows
//! use) and [`store::SqliteStore`] (its embedded implementation). [`crypto`] encrypts every
//! secret at rest under the master key; [`api_key`] sets up and verifies the operator's API key;
//! [`scopes`] holds the OAuth scope rules of the app settings; [`rotation`] stores refreshed
//! OAuth tokens from the client's refresh callback. [`open_data_dir`] does the whole
//! start-up: master key, store, operator key.

pub mod api_key;
pub mod crypto;
pub mod error;
pub mod rotation;
pub mod scopes;
pub mod store;
pub mod triggers;

mod startup;

pub use error::{Error, Result};
pub use startup::{Started, StartupEnv, open_data_dir, open_data_dir_with_clock};
pub use store::{SqliteStore, Store};
