//! SQL warehouses (`/api/2.0/sql/warehouses`): create, list, get, edit, start, stop, delete, with the warehouse state machine.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

crate::services::saved_service!("warehouses", copies_settings);
