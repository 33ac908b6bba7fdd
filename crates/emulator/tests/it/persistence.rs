//! `state_dir`: a restarted emulator still has what was created before, and an unreadable
//! state file is refused instead of silently starting empty.

use brickwire_emulator::{Emulator, EmulatorOptions};
use serde_json::{Value, json};

async fn call(emu: &Emulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.expect("JSON body")
}

fn options(dir: &std::path::Path) -> EmulatorOptions {
    EmulatorOptions {
        state_dir: Some(dir.to_owned()),
        ..EmulatorOptions::default()
    }
}

#[tokio::test]
async fn a_restarted_emulator_keeps_catalogs_tables_jobs_and_notebooks() {
    let dir = tempfile::tempdir().unwrap();
    let post = reqwest::Method::POST;

    let emu = Emulator::start(options(dir.path())).await.unwrap();
    call(
        &emu,
        post.clone(),
        "/api/2.1/unity-catalog/catalogs",
        Some(json!({"name": "kept"})),
    )
    .await;
    let created = call(
        &emu,
        post.clone(),
        "/api/2.0/sql/warehouses",
        Some(json!({"name": "w", "cluster_size": "2X-Small"})),
    )
    .await;
    let warehouse_id = created["id"].as_str().unwrap().to_owned();
    let statement = call(
        &emu,
        post.clone(),
        "/api/2.0/sql/statements",
        Some(json!({
            "warehouse_id": warehouse_id,
            "statement": "CREATE TABLE kept.default.t AS SELECT id FROM range(5)",
            "wait_timeout": "30s",
        })),
    )
    .await;
    if statement["status"]["state"] != "SUCCEEDED" {
        // CTAS is optional in the engine; fall back to CREATE + INSERT.
        call(
            &emu,
            post.clone(),
            "/api/2.1/unity-catalog/schemas",
            Some(json!({"name": "default", "catalog_name": "kept"})),
        )
        .await;
        for sql in [
            "CREATE TABLE kept.default.t (id BIGINT)",
            "INSERT INTO kept.default.t VALUES (0), (1), (2), (3), (4)",
        ] {
            let done = call(
                &emu,
                post.clone(),
                "/api/2.0/sql/statements",
                Some(
                    json!({"warehouse_id": warehouse_id, "statement": sql, "wait_timeout": "30s"}),
                ),
            )
            .await;
            assert_eq!(done["status"]["state"], "SUCCEEDED", "{done}");
        }
    }
    let job = call(
        &emu,
        post.clone(),
        "/api/2.2/jobs/create",
        Some(json!({"name": "nightly"})),
    )
    .await;
    call(
        &emu,
        post.clone(),
        "/api/2.0/workspace/mkdirs",
        Some(json!({"path": "/Shared/kept"})),
    )
    .await;
    emu.stop().await;

    let emu = Emulator::start(options(dir.path())).await.unwrap();
    let get = reqwest::Method::GET;
    let catalog = call(
        &emu,
        get.clone(),
        "/api/2.1/unity-catalog/catalogs/kept",
        None,
    )
    .await;
    assert_eq!(catalog["name"], "kept");
    let table = call(
        &emu,
        get.clone(),
        "/api/2.1/unity-catalog/tables/kept.default.t",
        None,
    )
    .await;
    assert_eq!(table["columns"][0]["name"], "id");
    let sum = call(
        &emu,
        post.clone(),
        "/api/2.0/sql/statements",
        Some(json!({
            "warehouse_id": warehouse_id,
            "statement": "SELECT sum(id) FROM kept.default.t",
            "wait_timeout": "30s",
        })),
    )
    .await;
    assert_eq!(sum["result"]["data_array"], json!([["10"]]), "{sum}");
    let job_id = job["job_id"].as_i64().unwrap();
    let kept_job = call(
        &emu,
        get.clone(),
        &format!("/api/2.2/jobs/get?job_id={job_id}"),
        None,
    )
    .await;
    assert_eq!(kept_job["settings"]["name"], "nightly");
    let status = call(
        &emu,
        get,
        "/api/2.0/workspace/get-status?path=/Shared/kept",
        None,
    )
    .await;
    assert_eq!(status["object_type"], "DIRECTORY");
    emu.stop().await;
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), b"{not json").unwrap();
    let error = Emulator::start(options(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("state.json"), "{error}");
}
