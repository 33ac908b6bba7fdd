//! The brickwire action catalog: every Databricks action a user can run against a linked
//! workspace, as data that every surface (library, CLI, HTTP service, agent tools) is generic
//! over.
//!
//! Start with [`Catalog::global`] and [`run_action`]. Each [`Action`] carries its id (the
//! kebab-case of its title), title, [`Group`], one-line description, the JSON Schema of its
//! input (derived with `schemars` from a typed input struct), an example input, and whether it
//! is safe to retry. Inputs are validated against the schema before any request is sent;
//! every failure is one [`ActionError`] shape. Actions live in the file of their group under
//! [`actions`]; adding one touches only that file.
//!
//! List actions share one output shape, see [`paging`]; long-running actions share the
//! `wait` / `timeout_seconds` inputs of [`wait`].

pub mod actions;
pub mod catalog;
pub mod error;
pub mod paging;
pub mod wait;

pub use catalog::{Action, Catalog, Group, RunError, run_action};
pub use error::{ActionError, ErrorCode};
