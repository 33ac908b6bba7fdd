//! End-to-end tests of `brickwire sync` against the in-process emulator: `--once` twice with
//! a state file prints each event once, the state file holds the cursor, and usage errors
//! exit 2.

use std::process::{Command, Output};

use brickwire_emulator::{Emulator, EmulatorOptions};
use serde_json::{Value, json};

async fn seed_runs(emulator: &Emulator, count: u64, start: i64) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/seed/job-runs", emulator.base_url()))
        .json(&json!({"count": count, "start_time": start, "step_ms": 1}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// Runs `brickwire sync ARGS` against `emulator` (auth from the environment, as cron would).
async fn sync(emulator: &Emulator, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let host = emulator.base_url().to_owned();
    let token = emulator.token().to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_brickwire"))
            .arg("sync")
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("DATABRICKS_HOST", host)
            .env("DATABRICKS_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn events(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_twice_with_a_state_file_prints_each_event_once() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    seed_runs(&emulator, 5, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("runs.cursor");
    let state_arg = state.to_str().unwrap();
    let args = [
        "job-runs",
        "--once",
        "--state",
        state_arg,
        "--start-from",
        "beginning",
        "--batch-size",
        "2",
    ];

    let first = events(&sync(&emulator, &args).await);
    assert_eq!(first.len(), 5, "three batches of at most 2");
    assert_eq!(first[0]["watermark"], 1_000_000);
    assert!(first[0]["data"]["run_id"].is_number());
    let cursor: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(cursor["watermark"], 1_000_004);

    let second = events(&sync(&emulator, &args).await);
    assert!(second.is_empty(), "{second:?}");

    seed_runs(&emulator, 2, 1_000_100).await;
    let third = events(&sync(&emulator, &args).await);
    assert_eq!(third.len(), 2);
    let mut ids: Vec<&str> = first
        .iter()
        .chain(&third)
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 7, "every event id is new");

    // A spec from a file, and a cursor of another source is refused.
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, r#"{"type": "job_runs", "job_id": 1}"#).unwrap();
    let spec_arg = format!("@{}", spec.display());
    let out = sync(
        &emulator,
        &["--spec", &spec_arg, "--once", "--state", state_arg],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cursor belongs to"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_name_the_field() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let out = sync(&emulator, &["tables", "--catalog", "main", "--once"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema"));
    let out = sync(&emulator, &["jobs", "--once", "--start-from", "soon"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--start-from"));
    let out = sync(&emulator, &["jobs"]).await;
    assert_eq!(out.status.code(), Some(2), "--once or --follow is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_keeps_polling_and_prints_new_events_as_they_come() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    seed_runs(&emulator, 3, 1_000_000).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("follow.cursor");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_brickwire"))
            .args([
                "sync",
                "job-runs",
                "--follow",
                "--interval",
                "0.05",
                "--state",
            ])
            .arg(&state)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("DATABRICKS_HOST", emulator.base_url())
            .env("DATABRICKS_TOKEN", emulator.token())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Duration::from_secs(60);
    let mut next = async || {
        tokio::time::timeout(deadline, rx.recv())
            .await
            .expect("an event within the deadline")
            .expect("the command is still running")
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next().await);
    }
    seed_runs(&emulator, 2, 1_000_100).await;
    for _ in 0..2 {
        seen.push(next().await);
    }
    drop(child);
    let starts: Vec<i64> = seen
        .iter()
        .map(|e| e["watermark"].as_i64().unwrap())
        .collect();
    assert_eq!(
        starts,
        [1_000_000, 1_000_001, 1_000_002, 1_000_100, 1_000_101]
    );
}

/// Stops the child process when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
