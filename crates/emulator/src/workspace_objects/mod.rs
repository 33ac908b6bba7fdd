//! Workspace objects (`/api/2.0/workspace/*`): import, export, list, get-status, delete, mkdirs, over an in-memory tree of notebooks, files and directories.
//!
//! `state` holds the tree and its rules with no HTTP; `notebook` converts between the `SOURCE`
//! and Jupyter formats; `zip`
//! packs folders for directory import/export; `routes` parses requests, calls the state, and serializes.

pub mod notebook;
pub mod routes;
pub mod state;
pub mod zip;

pub use routes::routes;
pub use state::{EMULATOR_USER, Settings, State};

crate::services::saved_service!("workspace_objects");
