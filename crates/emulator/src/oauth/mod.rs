//! OAuth: discovery documents, app connections (custom app integrations), the consent page, and the token endpoint (authorization code with PKCE, refresh with rotation, client credentials).
//!
//! `state` holds the logic with no HTTP; `routes` parses requests, calls it, and serializes;
//! `drive` is the client side (register an app connection, answer the consent page) for tests
//! and the demo.

pub mod drive;
pub mod routes;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};

crate::services::saved_service!("oauth");
