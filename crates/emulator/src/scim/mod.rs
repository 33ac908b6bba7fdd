//! SCIM users and groups (`/api/2.0/preview/scim/v2/*`): create, get, list with filters and paging, PATCH, PUT, delete, SCIM error bodies.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
