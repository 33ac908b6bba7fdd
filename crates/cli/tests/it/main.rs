//! End-to-end tests of the `brickwire` binary: one test binary, one module per command.

mod accounts;
mod auth;
mod demo;
mod flow_cmd;
mod sql;
mod sync;
