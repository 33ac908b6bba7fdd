//! SQL statement execution (`/api/2.0/sql/statements`) on the emulator's SQL engine, with
//! result chunks and external links.
//!
//! Start with [`state`] (lifecycle, results, link grants), then [`run`] (the task that executes
//! a statement through [`crate::sql::execute`]), [`result`] (limits and chunk plan), [`encode`]
//! (JSON_ARRAY / CSV / ARROW_STREAM) and [`routes`] (HTTP, streamed bodies, link serving).

pub mod encode;
pub mod model;
pub mod result;
pub mod routes;
pub mod run;
pub mod state;

pub use routes::routes;
pub use state::{Settings, State};
