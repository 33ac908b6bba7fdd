//! Clusters (`/api/2.0|2.1/clusters/*`): create, list, get, start, restart, terminate, permanent delete, edit, resize, with the cluster state machine.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod catalog;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

crate::services::saved_service!("clusters", copies_settings);
