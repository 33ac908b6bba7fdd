//! Integration tests of the client against local mock servers: one test binary, one module per
//! concern.

mod config;
mod credentials;
mod databricks_cli_auth;
mod errors;
mod pagination;
mod services;
mod services_mock;
mod transport;
mod waiter;
