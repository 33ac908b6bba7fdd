//! Workspace objects (`/api/2.0/workspace/*`): import, export, list, get-status, delete, mkdirs, over an in-memory tree of notebooks, files and directories.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
