//! SCIM users and groups (`/api/2.0/preview/scim/v2/*`): create, get, list with filters and
//! paging, PATCH, PUT, delete, `/Me`, and SCIM error bodies.
//!
//! `state` holds the logic with no HTTP, `filter` parses SCIM filter expressions, and `routes`
//! parses requests, calls the state, and serializes.

pub mod filter;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

crate::services::saved_service!("scim");
