//! SQL statement execution (`/api/2.0/sql/statements`) backed by a real SQL engine (DataFusion), with result chunks and external links.
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
