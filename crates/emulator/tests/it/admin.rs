//! The admin API: settings, reset, counters, tokens and seed data.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::compute_harness::Harness;

#[tokio::test]
async fn settings_are_read_and_deep_merged() {
    let h = Harness::start().await;
    let s = h.admin(Method::GET, "/settings", None).await;
    for section in ["clusters", "warehouses", "faults"] {
        assert!(s[section].is_object(), "{section} in {s}");
    }
    assert_eq!(s["clusters"]["start_delay_ms"], 200);
    assert_eq!(s["faults"]["global"]["unavailable_probability"], 0.0);

    let s = h.settings(json!({"clusters": {"start_delay_ms": 7}})).await;
    assert_eq!(s["clusters"]["start_delay_ms"], 7);
    assert_eq!(
        s["clusters"]["terminate_delay_ms"], 200,
        "siblings are kept"
    );
    assert_eq!(h.admin(Method::GET, "/settings", None).await, s);

    for bad in [
        json!({"clusters": {"start_delay": 1}}),
        json!({"clusters": {"start_delay_ms": -1}}),
        json!({"nonsense": true}),
    ] {
        let resp = h
            .http
            .patch(h.url("/_emulator/settings"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        let reply = crate::compute_harness::decode(resp).await;
        crate::compute_harness::assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
        );
    }
    assert_eq!(
        h.admin(Method::GET, "/settings", None).await,
        s,
        "bad patches change nothing"
    );
}

#[tokio::test]
async fn reset_empties_every_service_and_keeps_settings() {
    let h = Harness::instant().await;
    h.admin(Method::POST, "/seed", None).await;
    assert_eq!(
        h.get("/api/2.1/clusters/list").await.body["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.admin(Method::POST, "/reset", None).await;
    assert_eq!(
        h.get("/api/2.1/clusters/list").await.body["clusters"],
        json!([])
    );
    assert_eq!(
        h.get("/api/2.0/sql/warehouses").await.body["warehouses"],
        json!([])
    );
    let s = h.admin(Method::GET, "/settings", None).await;
    assert_eq!(s["clusters"]["start_delay_ms"], 0);
    assert_eq!(
        h.get("/api/2.1/clusters/list").await.status,
        StatusCode::OK,
        "token kept"
    );
}

#[tokio::test]
async fn counters_count_by_route_template() {
    let h = Harness::instant().await;
    let seeded = h.admin(Method::POST, "/seed", None).await;
    let cluster = seeded["cluster_id"].as_str().unwrap();
    let warehouse = seeded["warehouse_id"].as_str().unwrap();
    h.admin(Method::POST, "/counters/reset", None).await;
    for _ in 0..3 {
        h.get(&format!("/api/2.1/clusters/get?cluster_id={cluster}"))
            .await;
    }
    h.get("/api/2.0/clusters/get?cluster_id=nope").await;
    h.get(&format!("/api/2.0/sql/warehouses/{warehouse}")).await;
    h.get("/api/2.0/sql/warehouses/0000000000000000").await;
    h.get("/api/9.9/nothing").await;
    let c = h.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["total"], 7);
    assert_eq!(c["endpoints"]["GET /api/2.1/clusters/get"], 3);
    assert_eq!(c["endpoints"]["GET /api/2.0/clusters/get"], 1);
    assert_eq!(c["endpoints"]["GET /api/2.0/sql/warehouses/{id}"], 2);
    assert_eq!(c["endpoints"]["GET (unmatched)"], 1);
    assert_eq!(c["statuses"]["200"], 4);
    assert_eq!(c["statuses"]["400"], 1);
    assert_eq!(c["statuses"]["404"], 2);
    assert_eq!(c["faults"]["rate_limited"], 0);

    h.admin(Method::POST, "/counters/reset", None).await;
    let c = h.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["total"], 0);
    assert_eq!(c["endpoints"], json!({}));
}

async fn status_with(h: &Harness, token: &str) -> StatusCode {
    h.http
        .get(h.url("/api/2.1/clusters/list"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn tokens_are_added_revoked_and_expire() {
    let h = Harness::start().await;
    assert_eq!(status_with(&h, "dapi-mine").await, StatusCode::UNAUTHORIZED);
    let added = h
        .admin(Method::POST, "/tokens", Some(json!({"token": "dapi-mine"})))
        .await;
    assert_eq!(added, json!({"token": "dapi-mine"}));
    assert_eq!(status_with(&h, "dapi-mine").await, StatusCode::OK);
    h.admin(Method::DELETE, "/tokens/dapi-mine", None).await;
    assert_eq!(status_with(&h, "dapi-mine").await, StatusCode::UNAUTHORIZED);
    let again = h
        .http
        .delete(h.url("/_emulator/tokens/dapi-mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let generated = h
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"lifetime_seconds": 1})),
        )
        .await;
    let token = generated["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("dapi") && token.len() == 36, "{token}");
    assert!(generated["expiry_time"].as_i64().unwrap() > 0);
    assert_eq!(status_with(&h, &token).await, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while status_with(&h, &token).await == StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "token never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_old_expiry_does_not_remove_a_token_added_again() {
    let h = Harness::start().await;
    let body = json!({"token": "dapi-again", "lifetime_seconds": 1});
    h.admin(Method::POST, "/tokens", Some(body)).await;
    h.admin(Method::DELETE, "/tokens/dapi-again", None).await;
    h.admin(
        Method::POST,
        "/tokens",
        Some(json!({"token": "dapi-again"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(status_with(&h, "dapi-again").await, StatusCode::OK);
}

#[tokio::test]
async fn seed_creates_running_demo_resources_once() {
    let h = Harness::start().await;
    let first = h.admin(Method::POST, "/seed", None).await;
    let second = h.admin(Method::POST, "/seed", None).await;
    assert_eq!(first, second);
    let w = h
        .get(&format!(
            "/api/2.0/sql/warehouses/{}",
            first["warehouse_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(w.body["state"], "RUNNING");
    let c = h
        .get(&format!(
            "/api/2.1/clusters/get?cluster_id={}",
            first["cluster_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(c.body["state"], "RUNNING");
    assert_eq!(c.body["cluster_source"], "UI");
}

#[tokio::test]
async fn seeded_job_runs_are_finished_at_the_chosen_times() {
    let h = Harness::instant().await;
    let seeded = h
        .admin(
            Method::POST,
            "/seed/job-runs",
            Some(json!({"count": 30, "start_time": 1_000_000, "step_ms": 10, "duration_ms": 5})),
        )
        .await;
    let ids = seeded["run_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{seeded}");
    let page = h
        .get("/api/2.2/jobs/runs/list?completed_only=true&start_time_from=1000200&limit=24")
        .await
        .body;
    let runs = page["runs"].as_array().unwrap();
    // start times 1_000_200 ..= 1_000_290, newest first.
    assert_eq!(runs.len(), 10, "{page}");
    assert_eq!(runs[0]["start_time"], 1_000_290);
    assert_eq!(runs[0]["end_time"], 1_000_295);
    assert_eq!(runs[0]["state"]["result_state"], "SUCCESS");
    assert_eq!(runs[9]["start_time"], 1_000_200);
    assert_eq!(runs[0]["run_id"], ids[1]);

    let resp = h
        .http
        .post(h.url("/_emulator/seed/job-runs"))
        .json(&json!({"count": -1, "start_time": 0}))
        .send()
        .await
        .unwrap();
    let reply = crate::compute_harness::decode(resp).await;
    crate::compute_harness::assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
}
