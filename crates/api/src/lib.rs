//! Databricks wire models shared by the brickwire client and the emulator.
//!
//! Nothing here does I/O: these are the serde shapes of Databricks' REST API (request bodies,
//! responses, error bodies, states), plus the [`SecretString`] newtype for credentials. Start with
//! [`secret`]; each Databricks service has its own module.

pub mod error;
pub mod secret;

pub use secret::SecretString;
