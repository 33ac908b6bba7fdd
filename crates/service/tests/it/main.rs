//! Integration tests of the service: one test binary (so one link and one copy of the emulator on
//! disk), one module per part. `backends`, `common`, `flows_support` and `triggers_support` are
//! the shared set-up.

mod account_clients;
mod api;
mod backends;
mod common;
mod flows_api;
mod flows_crash;
mod flows_engine;
mod flows_kinds;
mod flows_replicas;
mod flows_store;
mod flows_support;
mod flows_ui;
mod health;
mod link;
mod oauth;
mod replicas;
mod store;
mod triggers;
mod triggers_crash;
mod triggers_service;
mod triggers_store;
mod triggers_support;
