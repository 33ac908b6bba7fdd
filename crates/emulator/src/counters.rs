//! Request counters: how many requests each endpoint received, by method and route template
//! (`GET /api/2.0/sql/warehouses/{id}`), for tests that check what a client sent.
//!
//! [`count`] is the middleware; `GET /_emulator/counters` reads a [`Snapshot`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::faults::{ConnectionResetMarker, FaultCounts};

/// The counts, as `GET /_emulator/counters` returns them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every request counted.
    pub total: u64,
    /// By `"<METHOD> <route template>"`; requests no route matched count as
    /// `"<METHOD> (unmatched)"`.
    pub endpoints: BTreeMap<String, u64>,
    /// By response status code.
    pub statuses: BTreeMap<String, u64>,
    /// Faults injected (see [`crate::faults`]).
    pub faults: FaultCounts,
}

/// Request counts of one emulator.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<Snapshot>,
}

impl Counters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.inner.lock().expect("counters lock")
    }

    /// Counts a request to `endpoint` (`"GET /api/2.1/clusters/get"`).
    pub fn record_request(&self, endpoint: &str) {
        let mut s = self.lock();
        s.total += 1;
        *s.endpoints.entry(endpoint.to_owned()).or_default() += 1;
    }

    /// Counts a response status.
    pub fn record_status(&self, status: u16) {
        *self.lock().statuses.entry(status.to_string()).or_default() += 1;
    }

    /// The request counts (the `faults` part is left for the caller to fill).
    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        *self.lock() = Snapshot::default();
    }
}

/// Middleware: counts every request by method and matched route, and every response status.
/// It wraps the fault injection, so injected faults are counted too (a reset connection has
/// no status).
pub async fn count(
    State(counters): State<Arc<Counters>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |m| m.as_str());
    counters.record_request(&format!("{} {route}", request.method()));
    let response = next.run(request).await;
    if response
        .extensions()
        .get::<ConnectionResetMarker>()
        .is_none()
    {
        counters.record_status(response.status().as_u16());
    }
    response
}
