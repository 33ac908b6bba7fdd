//! Unity Catalog (`/api/2.1/unity-catalog/*`): catalogs, schemas, tables, table summaries and volumes. Shares its catalog with SQL statements.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
