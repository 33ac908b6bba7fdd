//! Integration tests of the connector: one test binary, one module per concern.

mod actions;
mod catalog;
mod e2e;
mod support;
mod wire;
mod wire_fidelity;
