//! Fault injection over HTTP: 429 with Retry-After, 503, 500, dropped connections, latency and
//! reproducible randomness.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::compute_harness::{Harness, assert_error};

const LIST: &str = "/api/2.1/clusters/list";

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after() {
    let h = Harness::start().await;
    h.settings(json!({"faults": {"endpoints": {LIST: {"rate_limit":
        {"requests_per_second": 0.001, "burst": 2}}}}}))
        .await;
    assert_eq!(h.get(LIST).await.status, StatusCode::OK);
    assert_eq!(h.get(LIST).await.status, StatusCode::OK);
    let limited = h.get(LIST).await;
    assert_error(
        &limited,
        StatusCode::TOO_MANY_REQUESTS,
        "REQUEST_LIMIT_EXCEEDED",
    );
    let retry_after: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        h.get("/api/2.0/sql/warehouses").await.status,
        StatusCode::OK,
        "other endpoints pass"
    );

    h.settings(
        json!({"faults": {"endpoints": {LIST: {"rate_limit": {"retry_after_seconds": 3}}}}}),
    )
    .await;
    h.get(LIST).await;
    h.get(LIST).await;
    assert_eq!(h.get(LIST).await.retry_after.as_deref(), Some("3"));
    let c = h.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["faults"]["rate_limited"], 2);
    assert_eq!(c["statuses"]["429"], 2);
    assert_eq!(
        c["endpoints"][format!("GET {LIST}")],
        6,
        "faulted requests are counted"
    );
}

#[tokio::test]
async fn unavailable_and_internal_errors_are_injected() {
    let h = Harness::start().await;
    h.settings(
        json!({"faults": {"global": {"unavailable_probability": 1.0, "retry_after_seconds": 2}}}),
    )
    .await;
    let unavailable = h.get(LIST).await;
    assert_error(
        &unavailable,
        StatusCode::SERVICE_UNAVAILABLE,
        "TEMPORARILY_UNAVAILABLE",
    );
    assert_eq!(unavailable.retry_after.as_deref(), Some("2"));
    let oidc = h
        .http
        .get(h.url("/oidc/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        oidc.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "/oidc/ paths are covered"
    );
    let admin = h.admin(Method::GET, "/settings", None).await;
    assert!(admin.is_object(), "the admin API is never faulted");

    h.settings(json!({"faults": {"global": null,
        "endpoints": {"/api/2.0/sql/": {"internal_error_probability": 1.0}}}}))
        .await;
    assert_eq!(
        h.get(LIST).await.status,
        StatusCode::OK,
        "null restored the global default"
    );
    let internal = h.get("/api/2.0/sql/warehouses").await;
    assert_error(
        &internal,
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
    );
    assert!(internal.retry_after.is_none());
}

#[tokio::test]
async fn a_reset_connection_gets_no_http_response() {
    let h = Harness::start().await;
    h.settings(json!({"faults": {"endpoints": {LIST: {"connection_reset_probability": 1.0}}}}))
        .await;
    let result = h
        .http
        .get(h.url(LIST))
        .bearer_auth(h.emu.token())
        .send()
        .await;
    let err = result.expect_err("no response arrives");
    assert!(!err.is_status(), "{err:?}");
    let c = h.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["faults"]["connection_reset"], 1);
    assert_eq!(
        c["statuses"],
        json!({}),
        "a dropped connection has no status"
    );
    assert_eq!(
        h.get("/api/2.0/sql/warehouses").await.status,
        StatusCode::OK,
        "the server lives on"
    );
}

#[tokio::test]
async fn latency_is_added_before_the_answer() {
    let h = Harness::start().await;
    h.settings(json!({"faults": {"global": {"latency_ms": 300}}}))
        .await;
    let started = Instant::now();
    assert_eq!(h.get(LIST).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let c = h.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["faults"]["delayed"], 1);
}

async fn pattern(h: &Harness) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(h.get(LIST).await.status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_same_seed_reproduces_the_same_faults() {
    let h = Harness::start().await;
    let faults = json!({"faults": {"seed": 7, "global":
        {"unavailable_probability": 0.3, "internal_error_probability": 0.2}}});
    h.settings(faults.clone()).await;
    let first = pattern(&h).await;
    assert!(
        first.contains(&503) && first.contains(&500) && first.contains(&200),
        "{first:?}"
    );
    h.settings(faults).await;
    assert_eq!(
        pattern(&h).await,
        first,
        "writing the faults settings restarts the sequence"
    );
    h.settings(json!({"faults": {"seed": 8}})).await;
    assert_ne!(pattern(&h).await, first);
}
