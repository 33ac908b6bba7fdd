//! Integration tests of the flows crate: one test binary, one module per concern.

mod executor;
mod validate;
