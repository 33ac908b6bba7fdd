//! Integration tests of the emulator over real HTTP: one binary, one module per service.
//!
//! Each test starts its own emulator on an ephemeral port and talks to it over HTTP with
//! reqwest, or calls the SQL engine directly on `emulator.state()`.

mod admin;
mod clusters;
mod compute_harness;
mod faults;
mod harness;
mod jobs;
mod oauth;
mod persistence;
mod scim;
mod sql;
mod statements;
mod unity_catalog;
mod warehouses;
mod workspace_objects;

pub use harness::Harness;
