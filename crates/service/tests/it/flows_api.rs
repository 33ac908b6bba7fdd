//! The flows REST API and the inbound webhook of `brickwire serve` (`Service::start`), against
//! an emulator: validation with paths, versions (a run records the version it ran), YAML
//! bodies, manual runs with their steps, run filters, replay from the failed step (the step
//! that succeeded is not executed again: rows counted in the emulator), cancel of a waiting
//! run, and webhooks with a right or wrong secret, with and without a signature.

use crate::common;
use crate::flows_support;

use std::time::Duration;

use common::Svc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn wait_status(svc: &Svc, run: &str, want: &[&str]) -> Value {
    for _ in 0..600 {
        let detail = svc
            .ok(Method::GET, &format!("/api/v1/flow-runs/{run}"), None)
            .await;
        if want.contains(&detail["status"].as_str().unwrap_or_default()) {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never reached {want:?}");
}

async fn start_run(svc: &Svc, flow: &str, event: Value) -> String {
    let (status, run) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flows/{flow}/runs"),
            Some(event),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    run["id"]
        .as_str()
        .or(run["run_id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_are_validated_versioned_run_and_replayed_through_the_api() {
    let svc = Svc::start().await;
    let ws = flows_support::link_workspace(svc.service().store().clone(), "emulator").await;
    let table = flows_support::create_table(&ws, "api").await;

    // nothing without the operator key
    let unauthenticated = svc.http.get(svc.url("/api/v1/flows")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    // validation names every problem's path
    let bad = json!({
        "name": "bad",
        "trigger": {"type": "manual"},
        "steps": [{"id": "a", "action": "run-jbo"}, {"id": "b", "action": "show-job", "input": {"job_id": "{% $steps.zzz %}"}}],
    });
    let report = svc
        .ok(Method::POST, "/api/v1/flows/validate", Some(bad.clone()))
        .await;
    assert_eq!(report["valid"], json!(false));
    let paths: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"steps[0].action"), "{report}");
    assert!(paths.contains(&"steps[1].input.job_id"), "{report}");
    let (status, refused) = svc.api(Method::POST, "/api/v1/flows", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], json!("INVALID_INPUT"));
    assert!(refused["problems"].as_array().unwrap().len() >= 2);
    let schema = svc.ok(Method::GET, "/api/v1/flows/schema", None).await;
    assert!(schema.to_string().contains("for_each"));

    // a flow from YAML: insert a row, then read a job that a fault makes unavailable
    let yaml = format!(
        r#"
name: insert then look
account: emulator
trigger: {{type: manual}}
steps:
  - id: insert
    action: execute-statement
    input:
      warehouse_id: {wh}
      statement: "{{% \"INSERT INTO {table} VALUES ('\" & $run.id & \"', 'insert')\" %}}"
    retry: {{max_attempts: 1}}
  - id: look
    action: list-clusters
    retry: {{max_attempts: 1}}
"#,
        wh = ws.warehouse_id
    );
    let (status, flow) = svc
        .api(Method::POST, "/api/v1/flows", Some(json!({"yaml": yaml})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");
    assert_eq!(flow["version"], json!(1));
    let flow_id = flow["id"].as_str().unwrap().to_owned();

    flows_support::patch_settings(
        &ws.emulator,
        json!({"faults": {"seed": 1, "endpoints": {"/api/2.1/clusters/list": {"unavailable_probability": 1.0}}}}),
    )
    .await;
    let run = start_run(&svc, &flow_id, json!({"who": "api test"})).await;
    let failed = wait_status(&svc, &run, &["failed"]).await;
    assert_eq!(failed["error"]["step"], json!("look"));
    assert_eq!(failed["flow_version"], json!(1));
    let steps = failed["steps"].as_array().unwrap();
    assert_eq!(steps[0]["path"], json!("insert"));
    assert_eq!(steps[0]["status"], json!("succeeded"));
    assert!(
        steps[0]["input"]["statement"]
            .as_str()
            .unwrap()
            .contains(&run)
    );
    assert_eq!(steps[1]["status"], json!("failed"));
    assert!(steps[1]["duration_ms"].is_u64());

    // filters
    let listed = svc
        .ok(
            Method::GET,
            &format!("/api/v1/flow-runs?flow_id={flow_id}&status=failed"),
            None,
        )
        .await;
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
    let none = svc
        .ok(
            Method::GET,
            &format!("/api/v1/flow-runs?flow_id={flow_id}&status=succeeded"),
            None,
        )
        .await;
    assert!(none["runs"].as_array().unwrap().is_empty());
    let (status, _) = svc
        .api(Method::GET, "/api/v1/flow-runs?status=exploded", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // the cause is fixed: a replay runs from the failed step, the insert is not repeated
    flows_support::patch_settings(
        &ws.emulator,
        json!({"faults": {"seed": 1, "endpoints": {"/api/2.1/clusters/list": {"unavailable_probability": 0.0}}}}),
    )
    .await;
    let (status, replay) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flow-runs/{run}/replay"),
            None,
        )
        .await;
    assert_eq!(status.as_u16() / 100, 2, "{replay}");
    let replay_id = replay["id"].as_str().unwrap().to_owned();
    let done = wait_status(&svc, &replay_id, &["succeeded", "failed"]).await;
    assert_eq!(done["status"], json!("succeeded"), "{done}");
    assert_eq!(done["replay_of"], json!(run));
    assert_eq!(
        flows_support::row_counts(&ws, &table).await,
        [(run.clone(), "insert".to_owned(), 1)],
        "one row: the replay reused the stored insert"
    );
    // a succeeded run is not replayed
    let (status, _) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flow-runs/{replay_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // a new version; the next run records it
    let mut definition = flow["definition"].clone();
    definition["steps"] = json!([{"id": "pause", "wait": {"seconds": 3600}}]);
    let updated = svc
        .ok(
            Method::PUT,
            &format!("/api/v1/flows/{flow_id}"),
            Some(definition),
        )
        .await;
    assert_eq!(updated["version"], json!(2));
    let waiting = start_run(&svc, &flow_id, json!({})).await;
    let running = wait_status(&svc, &waiting, &["running"]).await;
    assert_eq!(running["flow_version"], json!(2));
    let (status, _) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flow-runs/{waiting}/cancel"),
            None,
        )
        .await;
    assert_eq!(status.as_u16() / 100, 2);
    wait_status(&svc, &waiting, &["cancelled"]).await;
    let (status, again) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flow-runs/{waiting}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // disabled flows refuse runs; unknown ids are 404
    svc.ok(
        Method::POST,
        &format!("/api/v1/flows/{flow_id}/disable"),
        None,
    )
    .await;
    let (status, _) = svc
        .api(
            Method::POST,
            &format!("/api/v1/flows/{flow_id}/runs"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = svc
        .api(Method::GET, "/api/v1/flow-runs/run_nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // the OpenAPI document has the routes
    let doc = svc.ok(Method::GET, "/api/v1/openapi.json", None).await;
    for path in [
        "/api/v1/flows",
        "/api/v1/flows/{id}",
        "/api/v1/flow-runs/{id}/replay",
        "/hooks/flows/{flow_id}/{secret}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} not in the OpenAPI document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_start_runs_with_the_secret_url_and_an_optional_signature() {
    let svc = Svc::start().await;
    let definition = |signed: bool| {
        json!({
            "name": "hook",
            "trigger": {"type": "webhook", "require_signature": signed},
            "steps": [{"id": "pause", "wait": {"seconds": "{% $event.body.seconds %}"}}],
        })
    };
    let flow = svc
        .ok(Method::POST, "/api/v1/flows", Some(definition(false)))
        .await;
    let url = flow["webhook_url"].as_str().unwrap().to_owned();
    let secret = url.rsplit('/').next().unwrap().to_owned();
    let listed = svc.ok(Method::GET, "/api/v1/flows", None).await;
    assert!(
        !listed.to_string().contains(&secret),
        "the secret URL is shown on the flow only"
    );

    let hook_path = url.split_once("/hooks/").map(|(_, p)| p).unwrap();
    let hook = |path: String, body: Value| {
        svc.http
            .post(svc.url(&format!("/hooks/{path}")))
            .header("authorization", "Bearer not-for-the-event")
            .json(&body)
            .send()
    };
    let resp = hook(hook_path.to_owned(), json!({"seconds": 0}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let run: Value = resp.json().await.unwrap();
    let run = run["run_id"].as_str().unwrap().to_owned();
    let done = wait_status(&svc, &run, &["succeeded"]).await;
    assert_eq!(done["trigger"], json!("webhook"));
    assert_eq!(done["event"]["body"], json!({"seconds": 0}));
    assert!(done["event"]["headers"].get("authorization").is_none());

    let flow_id = flow["id"].as_str().unwrap();
    let wrong = hook(format!("flows/{flow_id}/whsec_wrong"), json!({}))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let unknown = hook(format!("flows/flow_nope/{secret}"), json!({}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // a signed webhook
    let signed = svc
        .ok(Method::POST, "/api/v1/flows", Some(definition(true)))
        .await;
    let url = signed["webhook_url"].as_str().unwrap().to_owned();
    let hook_path = url
        .split_once("/hooks/")
        .map(|(_, p)| p)
        .unwrap()
        .to_owned();
    let secret = brickwire_api::SecretString::new(url.rsplit('/').next().unwrap());
    let unsigned = hook(hook_path.clone(), json!({"seconds": 0}))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let body = br#"{"seconds": 0}"#.to_vec();
    let now = brickwire_client::credentials::Clock::now(&*svc.clock);
    let header = brickwire_service::triggers::signature::sign(&secret, now, &body);
    let ok = svc
        .http
        .post(svc.url(&format!("/hooks/{hook_path}")))
        .header("content-type", "application/json")
        .header("brickwire-signature", &header)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let tampered = svc
        .http
        .post(svc.url(&format!("/hooks/{hook_path}")))
        .header("brickwire-signature", &header)
        .body(br#"{"seconds": 9}"#.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
}
