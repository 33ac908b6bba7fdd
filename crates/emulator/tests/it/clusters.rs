//! Clusters over HTTP: state machine, errors, echo of unknown fields, list filters and pages.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::compute_harness::{Harness, assert_error};

const HOLD: u64 = 3_600_000;

async fn create(h: &Harness, body: Value) -> String {
    let reply = h.post("/api/2.1/clusters/create", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["cluster_id"].as_str().unwrap().to_owned()
}

fn spec(name: &str) -> Value {
    json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12",
           "node_type_id": "i3.xlarge", "num_workers": 2})
}

async fn details(h: &Harness, id: &str) -> Value {
    let reply = h
        .get(&format!("/api/2.1/clusters/get?cluster_id={id}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

async fn state(h: &Harness, id: &str) -> String {
    details(h, id).await["state"].as_str().unwrap().to_owned()
}

async fn action(h: &Harness, name: &str, id: &str) -> crate::compute_harness::Reply {
    h.post(
        &format!("/api/2.1/clusters/{name}"),
        json!({"cluster_id": id}),
    )
    .await
}

#[tokio::test]
async fn transient_states_last_for_their_configured_delay() {
    let h = Harness::instant().await;
    h.settings(json!({"clusters": {"start_delay_ms": HOLD}}))
        .await;
    let id = create(&h, spec("held")).await;
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "PENDING");
    assert!(!c["state_message"].as_str().unwrap().is_empty());
    let e = action(&h, "start", &id).await;
    assert_error(&e, StatusCode::BAD_REQUEST, "INVALID_STATE");
    assert_eq!(
        e.body["message"],
        json!(format!("Cluster {id} is in unexpected state Pending."))
    );

    h.settings(json!({"clusters": {"start_delay_ms": 0, "restart_delay_ms": HOLD}}))
        .await;
    let id = create(&h, spec("restarting")).await;
    assert_eq!(state(&h, &id).await, "RUNNING");
    assert_eq!(action(&h, "restart", &id).await.status, StatusCode::OK);
    assert_eq!(state(&h, &id).await, "RESTARTING");
    let resize = h
        .post(
            "/api/2.1/clusters/resize",
            json!({"cluster_id": id, "num_workers": 3}),
        )
        .await;
    assert_error(&resize, StatusCode::BAD_REQUEST, "INVALID_STATE");

    h.settings(json!({"clusters": {"resize_delay_ms": HOLD, "terminate_delay_ms": HOLD}}))
        .await;
    let id = create(&h, spec("resizing")).await;
    let resize = h
        .post(
            "/api/2.1/clusters/resize",
            json!({"cluster_id": id, "autoscale": {"min_workers": 1, "max_workers": 4}}),
        )
        .await;
    assert_eq!(resize.status, StatusCode::OK, "{:?}", resize.body);
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "RESIZING");
    assert_eq!(c["autoscale"]["max_workers"], 4);
    assert!(c.get("num_workers").is_none());
    assert_eq!(action(&h, "delete", &id).await.status, StatusCode::OK);
    assert_eq!(state(&h, &id).await, "TERMINATING");
    // Terminating again is a no-op, starting is not allowed yet.
    assert_eq!(action(&h, "delete", &id).await.status, StatusCode::OK);
    assert_error(
        &action(&h, "start", &id).await,
        StatusCode::BAD_REQUEST,
        "INVALID_STATE",
    );
}

#[tokio::test]
async fn a_cluster_goes_through_its_whole_lifecycle() {
    let h = Harness::instant().await;
    let id = create(&h, spec("life")).await;
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![4, 6, 8]
    );
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "RUNNING");
    assert_eq!(c["cluster_source"], "API");
    assert_eq!(c["creator_user_name"], "admin@brickwire.local");
    assert_eq!(c["default_tags"]["ClusterId"], json!(id));
    assert_eq!(c["executors"].as_array().unwrap().len(), 2);
    assert!(c["start_time"].as_i64().unwrap() > 0);
    let started = c["last_restarted_time"].as_i64().unwrap();

    assert_eq!(action(&h, "restart", &id).await.status, StatusCode::OK);
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "RUNNING");
    assert!(c["last_restarted_time"].as_i64().unwrap() >= started);

    let resize = h
        .post(
            "/api/2.1/clusters/resize",
            json!({"cluster_id": id, "num_workers": 5}),
        )
        .await;
    assert_eq!(resize.status, StatusCode::OK);
    assert_eq!(details(&h, &id).await["num_workers"], 5);

    assert_eq!(action(&h, "delete", &id).await.status, StatusCode::OK);
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "TERMINATED");
    assert!(c["terminated_time"].as_i64().is_some());
    assert_eq!(
        c["termination_reason"],
        json!({"code": "USER_REQUEST", "type": "SUCCESS",
               "parameters": {"username": "admin@brickwire.local"}})
    );
    assert_error(
        &action(&h, "restart", &id).await,
        StatusCode::BAD_REQUEST,
        "INVALID_STATE",
    );

    assert_eq!(action(&h, "start", &id).await.status, StatusCode::OK);
    let c = details(&h, &id).await;
    assert_eq!(c["state"], "RUNNING");
    assert!(c.get("termination_reason").is_none());

    assert_eq!(
        action(&h, "permanent-delete", &id).await.status,
        StatusCode::OK
    );
    let gone = h
        .get(&format!("/api/2.1/clusters/get?cluster_id={id}"))
        .await;
    assert_error(&gone, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_eq!(
        gone.body["message"],
        json!(format!("Cluster {id} does not exist"))
    );
    let list = h.get("/api/2.1/clusters/list").await;
    assert_eq!(list.body["clusters"], json!([]));
}

#[tokio::test]
async fn errors_look_like_databricks() {
    let h = Harness::instant().await;
    let missing = h
        .post("/api/2.1/clusters/create", json!({"cluster_name": "x"}))
        .await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("spark_version")
    );

    let bad_auto = h
        .post(
            "/api/2.1/clusters/create",
            json!({"spark_version": "15.4.x-scala2.12", "autotermination_minutes": 5}),
        )
        .await;
    assert_error(
        &bad_auto,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );

    let unknown = h
        .get("/api/2.0/clusters/get?cluster_id=0000-000000-nothere0")
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_eq!(
        unknown.body["message"],
        "Cluster 0000-000000-nothere0 does not exist"
    );
    for name in ["start", "restart", "delete", "permanent-delete", "pin"] {
        let e = action(&h, name, "0000-000000-nothere0").await;
        assert_error(&e, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
    let no_id = h.post("/api/2.1/clusters/start", json!({})).await;
    assert_error(&no_id, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert!(
        no_id.body["message"]
            .as_str()
            .unwrap()
            .contains("cluster_id")
    );

    let resp = h
        .http
        .post(h.url("/api/2.1/clusters/create"))
        .bearer_auth(h.emu.token())
        .body("{not json")
        .send()
        .await
        .unwrap();
    let malformed = crate::compute_harness::decode(resp).await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");

    let id = create(&h, spec("running")).await;
    let e = action(&h, "start", &id).await;
    assert_eq!(
        e.body["message"],
        json!(format!("Cluster {id} is in unexpected state Running."))
    );
    let no_size = h
        .post("/api/2.1/clusters/resize", json!({"cluster_id": id}))
        .await;
    assert_error(&no_size, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn unknown_fields_are_kept_and_both_api_versions_agree() {
    let h = Harness::instant().await;
    let mut body = spec("echo");
    body["future_field"] = json!({"nested": [1, 2]});
    body["spark_conf"] = json!({"spark.speculation": "true"});
    body["state"] = json!("TERMINATED");
    let reply = h.post("/api/2.0/clusters/create", body).await;
    let id = reply.body["cluster_id"].as_str().unwrap().to_owned();
    let v20 = h
        .get(&format!("/api/2.0/clusters/get?cluster_id={id}"))
        .await
        .body;
    let v21 = details(&h, &id).await;
    assert_eq!(v20, v21);
    assert_eq!(v21["future_field"], json!({"nested": [1, 2]}));
    assert_eq!(v21["spec"]["spark_conf"]["spark.speculation"], "true");
    assert_eq!(
        v21["state"], "RUNNING",
        "a request cannot set computed fields"
    );
}

#[tokio::test]
async fn edit_replaces_the_spec_and_update_applies_the_mask() {
    let h = Harness::instant().await;
    let id = create(&h, spec("before")).await;
    action(&h, "delete", &id).await;
    let edit = h
        .post(
            "/api/2.1/clusters/edit",
            json!({"cluster_id": id, "cluster_name": "after", "spark_version": "16.0.x-scala2.12",
                   "num_workers": 1}),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{:?}", edit.body);
    let c = details(&h, &id).await;
    assert_eq!(
        (c["cluster_name"].as_str(), c["state"].as_str()),
        (Some("after"), Some("TERMINATED"))
    );
    assert!(
        c.get("node_type_id").is_none(),
        "edit replaces the whole spec"
    );

    let no_version = h
        .post(
            "/api/2.1/clusters/edit",
            json!({"cluster_id": id, "num_workers": 1}),
        )
        .await;
    assert_error(
        &no_version,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );

    action(&h, "start", &id).await;
    h.settings(json!({"clusters": {"restart_delay_ms": HOLD}}))
        .await;
    let update = h
        .post(
            "/api/2.1/clusters/update",
            json!({"cluster_id": id, "update_mask": "num_workers,custom_tags",
                   "cluster": {"num_workers": 7, "custom_tags": {"team": "data"},
                               "cluster_name": "ignored"}}),
        )
        .await;
    assert_eq!(update.status, StatusCode::OK, "{:?}", update.body);
    let c = details(&h, &id).await;
    assert_eq!(
        c["state"], "RESTARTING",
        "a running cluster restarts to apply an update"
    );
    assert_eq!(c["num_workers"], 7);
    assert_eq!(c["custom_tags"]["team"], "data");
    assert_eq!(c["cluster_name"], "after");
    let while_restarting = h
        .post(
            "/api/2.1/clusters/update",
            json!({"cluster_id": id, "update_mask": "num_workers", "cluster": {"num_workers": 1}}),
        )
        .await;
    assert_error(&while_restarting, StatusCode::BAD_REQUEST, "INVALID_STATE");
}

fn names(reply: &crate::compute_harness::Reply) -> Vec<String> {
    reply.body["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let h = Harness::instant().await;
    let a = create(&h, spec("alpha")).await;
    let b = create(&h, spec("bravo")).await;
    let mut with_policy = spec("charlie");
    with_policy["policy_id"] = json!("POLICY1");
    let c = create(&h, with_policy).await;
    action(&h, "delete", &b).await;
    action(&h, "pin", &c).await;
    h.admin(reqwest::Method::POST, "/seed", None).await; // "Starter Cluster", source UI

    let all = h.get("/api/2.0/clusters/list").await;
    assert_eq!(
        names(&all),
        vec!["Starter Cluster", "charlie", "bravo", "alpha"]
    );
    assert!(all.body.get("next_page_token").is_none());

    let running = h
        .get("/api/2.1/clusters/list?filter_by.cluster_states=RUNNING&sort_by.field=CLUSTER_NAME")
        .await;
    assert_eq!(names(&running), vec!["alpha", "charlie", "Starter Cluster"]);
    let two_states = h
        .get("/api/2.1/clusters/list?filter_by.cluster_states=TERMINATED&filter_by.cluster_states=PENDING")
        .await;
    assert_eq!(names(&two_states), vec!["bravo"]);
    let ui = h
        .get("/api/2.1/clusters/list?filter_by.cluster_sources=UI")
        .await;
    assert_eq!(names(&ui), vec!["Starter Cluster"]);
    let pinned = h
        .get("/api/2.1/clusters/list?filter_by.is_pinned=true")
        .await;
    assert_eq!(names(&pinned), vec!["charlie"]);
    let unpinned = h
        .get("/api/2.1/clusters/list?filter_by.is_pinned=False")
        .await;
    assert_eq!(unpinned.body["clusters"].as_array().unwrap().len(), 3);
    let policy = h
        .get("/api/2.1/clusters/list?filter_by.policy_id=POLICY1")
        .await;
    assert_eq!(names(&policy), vec!["charlie"]);
    let desc = h
        .get("/api/2.1/clusters/list?sort_by.field=CLUSTER_NAME&sort_by.direction=DESC")
        .await;
    assert_eq!(
        names(&desc),
        vec!["Starter Cluster", "charlie", "bravo", "alpha"]
    );
    let bad = h
        .get("/api/2.1/clusters/list?filter_by.cluster_states=UP")
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");

    let mut seen = Vec::new();
    let mut path = "/api/2.1/clusters/list?sort_by.field=CLUSTER_NAME&page_size=3".to_owned();
    let first = h.get(&path).await;
    assert!(first.body.get("prev_page_token").is_none());
    seen.extend(names(&first));
    let token = first.body["next_page_token"].as_str().unwrap().to_owned();
    path.push_str(&format!("&page_token={token}"));
    let second = h.get(&path).await;
    seen.extend(names(&second));
    assert!(second.body.get("next_page_token").is_none());
    assert!(second.body["prev_page_token"].is_string());
    assert_eq!(seen, vec!["alpha", "bravo", "charlie", "Starter Cluster"]);
    let bad_token = h.get("/api/2.1/clusters/list?page_token=garbage").await;
    assert_error(
        &bad_token,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
    );
    let _ = a;
}

#[tokio::test]
async fn spark_versions_and_node_types_are_listed() {
    let h = Harness::start().await;
    let versions = h.get("/api/2.1/clusters/spark-versions").await;
    assert_eq!(versions.status, StatusCode::OK);
    let keys: Vec<&str> = versions.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"15.4.x-scala2.12"), "{keys:?}");
    let nodes = h.get("/api/2.0/clusters/list-node-types").await;
    let first = &nodes.body["node_types"][0];
    assert!(first["node_type_id"].is_string() && first["memory_mb"].is_i64());
}
