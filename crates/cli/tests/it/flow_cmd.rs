//! `brickwire flow ...` end to end: every file of `examples/flows` validates, an invalid one
//! exits 1 naming the path, `flow run` executes an example against the in-process emulator
//! (the warehouse it stops is stopped), and deploy/list/runs/show/replay work on a data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use brickwire_emulator::{Emulator, EmulatorOptions};
use brickwire_flows::StepError;
use brickwire_service::flows::{Enqueued, NewRun, RunEnd};
use brickwire_service::{StartupEnv, open_data_dir};
use serde_json::{Value, json};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows")
}

/// Runs `brickwire ARGS` with a clean environment (plus `envs`).
async fn brickwire(args: Vec<String>, envs: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_brickwire"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .envs(envs)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn every_example_validates_and_an_invalid_flow_names_its_path() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let out = brickwire(
            args(&["flow", "validate", file.to_str().unwrap(), "-o", "json"]),
            vec![],
        )
        .await;
        assert_eq!(
            stdout_json(&out),
            json!({"valid": true, "problems": []}),
            "{file:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\ntrigger: {type: schedule, cron: '0 2 * * *', timezone: Mars/Base}\nsteps:\n  - {id: a, action: show-job, input: {job_id: abc}}\n",
    )
    .unwrap();
    let out = brickwire(args(&["flow", "validate", bad.to_str().unwrap()]), vec![]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trigger.timezone"), "{stderr}");
    assert!(stderr.contains("steps[0].input.job_id"), "{stderr}");
    let out = brickwire(
        args(&["flow", "validate", bad.to_str().unwrap(), "-o", "json"]),
        vec![],
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], json!(false));
    assert_eq!(report["problems"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_run_executes_an_example_against_the_emulator() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let http = reqwest::Client::new();
    let seeded: Value = http
        .post(format!("{}/_emulator/seed", emulator.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let warehouse = seeded["warehouse_id"].as_str().unwrap().to_owned();
    let file = examples().join("nightly-warehouse-stop.yaml");
    let out = brickwire(
        args(&["flow", "run", file.to_str().unwrap(), "-o", "json"]),
        vec![
            ("DATABRICKS_HOST", emulator.base_url().to_owned()),
            ("DATABRICKS_TOKEN", emulator.token().to_owned()),
        ],
    )
    .await;
    let report = stdout_json(&out);
    assert_eq!(report["status"], json!("succeeded"), "{report}");
    let steps = report["steps"].as_array().unwrap();
    let stop = steps
        .iter()
        .find(|s| s["path"] == json!("stop_each[0].stop") && s["status"] == json!("succeeded"))
        .expect("the running warehouse was stopped");
    assert_eq!(stop["input"]["warehouse_id"], json!(warehouse));
    let state: Value = http
        .get(format!(
            "{}/api/2.0/sql/warehouses/{warehouse}",
            emulator.base_url()
        ))
        .bearer_auth(emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        matches!(state["state"].as_str(), Some("STOPPING" | "STOPPED")),
        "{state}"
    );

    // text output prints each step as it goes, on stderr
    let out = brickwire(
        args(&["flow", "run", file.to_str().unwrap()]),
        vec![
            ("DATABRICKS_HOST", emulator.base_url().to_owned()),
            ("DATABRICKS_TOKEN", emulator.token().to_owned()),
        ],
    )
    .await;
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warehouses #1 running query-warehouses"),
        "{stderr}"
    );
    assert!(stderr.contains("summary #1 succeeded"), "{stderr}");
}

#[tokio::test]
async fn deploy_list_runs_show_and_replay_work_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = open_data_dir(&data, &StartupEnv::default()).await.unwrap();
    let envs = || vec![("BRICKWIRE_DATA_DIR", data.to_str().unwrap().to_owned())];
    let file = examples().join("nightly-warehouse-stop.yaml");

    let deployed = stdout_json(
        &brickwire(
            args(&["flow", "deploy", file.to_str().unwrap(), "-o", "json"]),
            envs(),
        )
        .await,
    );
    assert_eq!(deployed["version"], json!(1));
    let id = deployed["id"].as_str().unwrap().to_owned();
    let again = stdout_json(
        &brickwire(
            args(&[
                "flow",
                "deploy",
                file.to_str().unwrap(),
                "--flow-id",
                &id,
                "-o",
                "json",
            ]),
            envs(),
        )
        .await,
    );
    assert_eq!(again["version"], json!(2));
    let listed = stdout_json(&brickwire(args(&["flow", "list", "-o", "json"]), envs()).await);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["trigger_type"], json!("schedule"));

    // a failed run, as the service would have left it
    let store = started.store;
    let Enqueued::Created(run) = store
        .enqueue_run(NewRun {
            flow_id: brickwire_service::flows::FlowId::new(id.clone()),
            flow_version: None,
            trigger: "manual".into(),
            event: json!({"why": "test"}),
            dedupe_key: None,
            replay_of: None,
            seed_steps: Vec::new(),
        })
        .await
        .unwrap()
    else {
        panic!("no dedupe key")
    };
    store
        .finish_run(
            run.id.clone(),
            RunEnd::Failed(StepError::new("UNAVAILABLE", "try later", true).at_step("warehouses")),
            SystemTime::now(),
            None,
        )
        .await
        .unwrap();

    let failed = stdout_json(
        &brickwire(
            args(&["flow", "runs", "--status", "failed", "-o", "json"]),
            envs(),
        )
        .await,
    );
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["flow_version"], json!(2));
    let shown = stdout_json(
        &brickwire(
            args(&["flow", "show", run.id.as_str(), "-o", "json"]),
            envs(),
        )
        .await,
    );
    assert_eq!(shown["error"]["code"], json!("UNAVAILABLE"));
    let replayed = stdout_json(
        &brickwire(
            args(&["flow", "replay", run.id.as_str(), "-o", "json"]),
            envs(),
        )
        .await,
    );
    assert_eq!(replayed["replay_of"], json!(run.id.as_str()));
    assert_eq!(replayed["status"], json!("queued"));
    // a queued run is not replayed again; a bad status is a usage error
    let out = brickwire(
        args(&["flow", "replay", replayed["id"].as_str().unwrap()]),
        envs(),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = brickwire(args(&["flow", "runs", "--status", "exploded"]), envs()).await;
    assert_eq!(out.status.code(), Some(2));
    let out = brickwire(args(&["flow", "disable", &id]), envs()).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled"));
}
