//! OAuth: discovery documents, app connections (custom app integrations), the consent page, and the token endpoint (authorization code with PKCE, refresh with rotation, client credentials).
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes.

pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
