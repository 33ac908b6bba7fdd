//! Integration tests of the emulator over real HTTP: one binary, one module per area.

mod oauth;
mod scim;
