//! The actions, one file per group. Each file's `actions()` returns its group's actions in the
//! seed's order; [`crate::Catalog::new`] concatenates them. To add an action, add its input
//! struct and one [`crate::Action::define`] call to its group's file.

pub mod catalogs;
pub mod clusters;
pub mod groups;
pub mod http;
pub mod jobs;
pub mod schemas;
pub mod sql;
pub mod tables;
pub mod users;
pub mod volumes;
pub mod warehouses;
pub mod workspace;

/// What every group file needs.
pub(crate) mod prelude {
    pub use brickwire_client::Client;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{Value, json};
    pub use std::collections::BTreeMap;

    pub use crate::catalog::support::{body_without, to_model, to_output};
    pub use crate::catalog::{Action, Group, RunError};
    pub use crate::paging::{CursorStyle, Paging, list};
    pub use crate::wait::{WAIT_FIELDS, Wait};
}
