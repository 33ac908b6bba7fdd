//! Unity Catalog (`/api/2.1/unity-catalog/*`): catalogs, schemas, tables, table summaries and
//! volumes. The SQL engine ([`crate::sql`]) works on the same metastore.
//!
//! `state` holds the metastore with no HTTP; `routes` parses requests, calls it, and serializes;
//! `pagination` is the token paging and `LIKE` matching every list shares.

pub mod pagination;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State, UcError};

crate::services::saved_service!("unity_catalog");
