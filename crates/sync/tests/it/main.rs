//! Integration tests of incremental sync against the in-process emulator: one test binary.

mod common;
mod figures;
mod poll;
