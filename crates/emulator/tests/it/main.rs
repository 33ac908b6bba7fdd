//! Integration tests of the emulator over real HTTP: one binary, one module per service.

mod jobs;
mod workspace_objects;
