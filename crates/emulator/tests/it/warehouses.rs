//! SQL warehouses over HTTP: state machine, validation, connection details, pages, and the
//! hooks the statements service uses.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::compute_harness::{Harness, assert_error};

const HOLD: u64 = 3_600_000;
const BASE: &str = "/api/2.0/sql/warehouses";

async fn create(h: &Harness, name: &str) -> String {
    let reply = h
        .post(
            BASE,
            json!({"name": name, "cluster_size": "2X-Small", "max_num_clusters": 2}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn info(h: &Harness, id: &str) -> Value {
    let reply = h.get(&format!("{BASE}/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

async fn act(h: &Harness, id: &str, action: &str) -> crate::compute_harness::Reply {
    h.post(&format!("{BASE}/{id}/{action}"), json!({})).await
}

#[tokio::test]
async fn a_warehouse_goes_through_its_whole_lifecycle() {
    let h = Harness::instant().await;
    let id = create(&h, "life").await;
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let w = info(&h, &id).await;
    assert_eq!(w["state"], "RUNNING");
    assert_eq!(w["num_clusters"], 1);
    assert_eq!(w["health"]["status"], "HEALTHY");
    assert_eq!(w["auto_stop_mins"], 120);
    assert_eq!(w["enable_photon"], true);
    assert_eq!(w["creator_name"], "admin@brickwire.local");
    let port = h
        .emu
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(
        w["odbc_params"],
        json!({"hostname": "127.0.0.1", "path": format!("/sql/1.0/warehouses/{id}"),
               "port": port, "protocol": "http"})
    );
    assert!(
        w["jdbc_url"]
            .as_str()
            .unwrap()
            .contains(&format!("httpPath=/sql/1.0/warehouses/{id}"))
    );

    assert_eq!(act(&h, &id, "stop").await.status, StatusCode::OK);
    let w = info(&h, &id).await;
    assert_eq!(
        (w["state"].as_str(), w["num_clusters"].as_i64()),
        (Some("STOPPED"), Some(0))
    );
    assert_eq!(
        act(&h, &id, "stop").await.status,
        StatusCode::OK,
        "stopping twice is fine"
    );
    assert_eq!(act(&h, &id, "start").await.status, StatusCode::OK);
    assert_eq!(info(&h, &id).await["state"], "RUNNING");

    let deleted = h.call(Method::DELETE, &format!("{BASE}/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(info(&h, &id).await["state"], "DELETED");
    assert_eq!(h.get(BASE).await.body["warehouses"], json!([]));
    assert_error(
        &act(&h, &id, "start").await,
        StatusCode::BAD_REQUEST,
        "INVALID_STATE",
    );
    let unknown = h.get(&format!("{BASE}/0123456789abcdef")).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn transient_states_last_for_their_configured_delay() {
    let h = Harness::instant().await;
    h.settings(json!({"warehouses": {"start_delay_ms": HOLD}}))
        .await;
    let id = create(&h, "starting").await;
    let w = info(&h, &id).await;
    assert_eq!(
        (w["state"].as_str(), w["num_clusters"].as_i64()),
        (Some("STARTING"), Some(0))
    );
    h.settings(json!({"warehouses": {"stop_delay_ms": HOLD, "delete_delay_ms": HOLD}}))
        .await;
    act(&h, &id, "stop").await;
    assert_eq!(info(&h, &id).await["state"], "STOPPING");
    h.call(Method::DELETE, &format!("{BASE}/{id}"), None).await;
    assert_eq!(info(&h, &id).await["state"], "DELETING");
    assert_error(
        &act(&h, &id, "stop").await,
        StatusCode::BAD_REQUEST,
        "INVALID_STATE",
    );
}

#[tokio::test]
async fn create_and_edit_validate_like_databricks() {
    let h = Harness::instant().await;
    let id = create(&h, "taken").await;
    let other = create(&h, "other").await;
    let cases = [
        (json!({"cluster_size": "Small"}), "name"),
        (
            json!({"name": "n".repeat(100), "cluster_size": "Small"}),
            "100",
        ),
        (
            json!({"name": "taken", "cluster_size": "Small"}),
            "already exists",
        ),
        (json!({"name": "a"}), "cluster_size"),
        (json!({"name": "a", "cluster_size": "Tiny"}), "cluster_size"),
        (
            json!({"name": "a", "cluster_size": "Small", "auto_stop_mins": 9}),
            "auto_stop_mins",
        ),
        (
            json!({"name": "a", "cluster_size": "Small", "max_num_clusters": 41}),
            "max_num_clusters",
        ),
        (
            json!({"name": "a", "cluster_size": "Small", "min_num_clusters": 3, "max_num_clusters": 2}),
            "min_num_clusters",
        ),
        (
            json!({"name": "a", "cluster_size": "Small", "enable_serverless_compute": true, "warehouse_type": "CLASSIC"}),
            "PRO",
        ),
    ];
    for (body, needle) in cases {
        let reply = h.post(BASE, body.clone()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }

    let edit = h
        .post(
            &format!("{BASE}/{id}/edit"),
            json!({"cluster_size": "Medium", "auto_stop_mins": 0,
              "tags": {"custom_tags": [{"key": "team", "value": "bi"}]}}),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{:?}", edit.body);
    let w = info(&h, &id).await;
    assert_eq!(
        (w["cluster_size"].as_str(), w["auto_stop_mins"].as_i64()),
        (Some("Medium"), Some(0))
    );
    assert_eq!(w["tags"]["custom_tags"][0]["value"], "bi");
    assert_eq!(w["name"], "taken", "edit keeps fields it does not name");
    let clash = h
        .post(&format!("{BASE}/{other}/edit"), json!({"name": "taken"}))
        .await;
    assert_error(&clash, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    let bad = h
        .post(&format!("{BASE}/{id}/edit"), json!({"auto_stop_mins": 1}))
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_eq!(
        info(&h, &id).await["auto_stop_mins"],
        0,
        "a rejected edit changes nothing"
    );
}

#[tokio::test]
async fn list_pages_in_creation_order() {
    let h = Harness::instant().await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(create(&h, &format!("w{i}")).await);
        }
        ids
    };
    let all = h.get(BASE).await;
    assert_eq!(all.body["warehouses"].as_array().unwrap().len(), 5);
    assert!(all.body.get("next_page_token").is_none());
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("{BASE}?page_size=2&page_token={t}"),
            None => format!("{BASE}?page_size=2"),
        };
        let page = h.get(&path).await;
        let batch = page.body["warehouses"].as_array().unwrap();
        assert!(batch.len() <= 2);
        seen.extend(batch.iter().map(|w| w["id"].as_str().unwrap().to_owned()));
        match page.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn statements_start_a_stopped_warehouse_on_demand() {
    let h = Harness::instant().await;
    h.settings(json!({"warehouses": {"start_delay_ms": HOLD}}))
        .await;
    let id = {
        let mut w = h.emu.state().warehouses.lock().unwrap();
        w.create_running(
            json!({"name": "w", "cluster_size": "Small"})
                .as_object()
                .unwrap()
                .clone(),
            brickwire_emulator::state::now_ms(),
        )
        .unwrap()
    };
    act(&h, &id, "stop").await;
    {
        let mut w = h.emu.state().warehouses.lock().unwrap();
        assert!(!w.is_running(&id));
        w.require_for_statement(&id).unwrap();
        assert!(!w.is_running(&id), "starting takes the configured delay");
        assert!(w.require_for_statement("0000000000000000").is_err());
    }
    assert_eq!(info(&h, &id).await["state"], "STARTING");
}
