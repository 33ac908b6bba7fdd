//! Workspace objects (`/api/2.0/workspace/*`): import, export, list, get-status, delete, mkdirs, over an in-memory tree of notebooks, files and directories.
//!
//! `state` holds the tree and its rules with no HTTP; `notebook` converts between the `SOURCE`
//! and Jupyter formats; `routes` parses requests, calls the state, and serializes.

pub mod notebook;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{EMULATOR_USER, Settings, State};
