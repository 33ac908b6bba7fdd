//! Databricks wire models shared by the brickwire client and the emulator.
//!
//! Nothing here does I/O: these are the serde shapes of Databricks' REST API (request bodies,
//! responses, error bodies, states), plus the [`SecretString`] newtype for credentials. Start with
//! [`secret`]; each Databricks service has its own module.

pub mod clusters;
pub mod common;
pub mod error;
pub mod html;
pub mod jobs;
pub mod scim;
pub mod secret;
pub mod statements;
pub mod unity_catalog;
pub mod warehouses;
pub mod workspace;

pub use common::{Empty, Extra, KeyValue};
pub use secret::SecretString;

#[doc(hidden)]
pub use serde as __serde;

#[cfg(feature = "schemars")]
#[doc(hidden)]
pub use schemars as __schemars;
