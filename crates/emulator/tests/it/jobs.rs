//! `/api/2.1|2.2/jobs/*` over HTTP: CRUD, the partial-update merge, paging, run-now with its
//! idempotency token, the run state machine (success, missing notebook, cancel) and run filters.
//!
//! Run timing is set through the emulator's settings: zero durations make runs finish on the
//! next read, an hour keeps them running; nothing here waits on the wall clock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Api {
    emu: Emulator,
    http: reqwest::Client,
}

impl Api {
    /// An emulator whose runs take `task_ms` per task (and no setup time).
    async fn start(task_ms: i64) -> Self {
        let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
        {
            let mut settings = emu.state().settings.write().unwrap();
            settings.jobs.run_pending_ms = 0;
            settings.jobs.task_run_ms = task_ms;
        }
        Self {
            emu,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.token())
            .query(query)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.token())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn ok_post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn ok_get(&self, path: &str, query: &[(&str, String)]) -> Value {
        let (status, body) = self.get(path, query).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn create(&self, settings: Value) -> i64 {
        self.ok_post("/api/2.2/jobs/create", settings).await["job_id"]
            .as_i64()
            .unwrap()
    }

    async fn job(&self, job_id: i64) -> Value {
        self.ok_get("/api/2.2/jobs/get", &[("job_id", job_id.to_string())])
            .await
    }

    async fn run_now(&self, body: Value) -> i64 {
        self.ok_post("/api/2.2/jobs/run-now", body).await["run_id"]
            .as_i64()
            .unwrap()
    }

    async fn run(&self, run_id: i64) -> Value {
        self.ok_get("/api/2.2/jobs/runs/get", &[("run_id", run_id.to_string())])
            .await
    }

    async fn notebook(&self, path: &str) {
        let body =
            json!({"path": path, "content": STANDARD.encode("print(1)"), "language": "PYTHON"});
        self.ok_post("/api/2.0/workspace/import", body).await;
    }
}

fn notebook_task(key: &str, path: &str) -> Value {
    json!({"task_key": key, "notebook_task": {"notebook_path": path}, "existing_cluster_id": "0123-456789-abcdefgh"})
}

fn task_keys(job: &Value) -> Vec<String> {
    job["settings"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn create_get_echoes_settings_defaults_and_unknown_fields() {
    let api = Api::start(0).await;
    let job_id = api
        .create(json!({
            "name": "nightly",
            "tasks": [notebook_task("a", "/Shared/a")],
            "tags": {"team": "data"},
            "some_future_field": {"x": 1},
            "access_control_list": [{"user_name": "u", "permission_level": "IS_OWNER"}],
        }))
        .await;
    let job = api.job(job_id).await;
    assert_eq!(job["job_id"], job_id);
    assert_eq!(
        job["creator_user_name"],
        brickwire_emulator::workspace_objects::EMULATOR_USER
    );
    assert!(job["created_time"].as_i64().unwrap() > 0);
    let s = &job["settings"];
    assert_eq!(s["name"], "nightly");
    assert_eq!(s["tags"], json!({"team": "data"}));
    assert_eq!(s["some_future_field"], json!({"x": 1}));
    assert_eq!(s["max_concurrent_runs"], 1);
    assert_eq!(s["format"], "MULTI_TASK");
    assert!(s.get("access_control_list").is_none());
    assert_eq!(s["tasks"][0]["notebook_task"]["notebook_path"], "/Shared/a");
    // 2.1 serves the same job.
    let old = api
        .ok_get("/api/2.1/jobs/get", &[("job_id", job_id.to_string())])
        .await;
    assert_eq!(old["settings"], job["settings"]);
    // No name: "Untitled".
    let unnamed = api.create(json!({})).await;
    assert_eq!(api.job(unnamed).await["settings"]["name"], "Untitled");
}

#[tokio::test]
async fn invalid_settings_and_unknown_jobs_are_400() {
    let api = Api::start(0).await;
    let (status, body) = api
        .post(
            "/api/2.2/jobs/create",
            json!({"tasks": [{"task_key": "a"}, {"task_key": "a"}]}),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMETER_VALUE"))
    );
    let (status, body) = api
        .get("/api/2.2/jobs/get", &[("job_id", "999999".into())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(body["message"], "Job 999999 does not exist.");
    let (status, body) = api.get("/api/2.2/jobs/get", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("job_id"),
        "{body}"
    );
    let (status, body) = api
        .post("/api/2.2/jobs/update", json!({"new_settings": {}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("job_id"),
        "{body}"
    );
    let (status, body) = api
        .post("/api/2.2/jobs/run-now", json!({"job_id": 424242}))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Job 424242 does not exist."))
    );
    let (status, body) = api
        .get("/api/2.2/jobs/runs/get", &[("run_id", "777".into())])
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Run 777 does not exist."))
    );
    let (status, body) = api
        .post("/api/2.2/jobs/runs/cancel", json!({"run_id": 777}))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMETER_VALUE"))
    );
}

#[tokio::test]
async fn update_merges_tasks_by_key_and_removes_fields() {
    let api = Api::start(0).await;
    let job_id = api
        .create(json!({
            "name": "j",
            "description": "old",
            "tags": {"a": "1"},
            "tasks": [notebook_task("a", "/a"), notebook_task("b", "/b"), notebook_task("c", "/c")],
            "job_clusters": [{"job_cluster_key": "k1", "new_cluster": {"num_workers": 1}}],
        }))
        .await;
    api.ok_post(
        "/api/2.2/jobs/update",
        json!({
            "job_id": job_id,
            "new_settings": {
                "tags": {"b": "2"},
                "tasks": [notebook_task("b", "/b2"), notebook_task("d", "/d")],
                "job_clusters": [{"job_cluster_key": "k2", "new_cluster": {"num_workers": 2}}],
            },
            "fields_to_remove": ["description", "tasks/c"],
        }),
    )
    .await;
    let s = api.job(job_id).await["settings"].clone();
    assert_eq!(
        task_keys(&json!({"settings": s.clone()})),
        vec!["a", "b", "d"]
    );
    assert_eq!(s["tasks"][1]["notebook_task"]["notebook_path"], "/b2");
    assert_eq!(
        s["tags"],
        json!({"b": "2"}),
        "top-level fields are replaced, not merged"
    );
    assert!(s.get("description").is_none());
    assert_eq!(s["name"], "j");
    let keys: Vec<&str> = s["job_clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["job_cluster_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["k1", "k2"]);
    api.ok_post(
        "/api/2.2/jobs/update",
        json!({"job_id": job_id, "fields_to_remove": ["job_clusters/k1"]}),
    )
    .await;
    let s = api.job(job_id).await["settings"].clone();
    assert_eq!(s["job_clusters"].as_array().unwrap().len(), 1);
    // An update that leaves a dangling dependency is refused, and changes nothing.
    let (status, _) = api
        .post("/api/2.2/jobs/update", json!({"job_id": job_id, "new_settings": {"tasks": [{"task_key": "e", "depends_on": [{"task_key": "zz"}]}]}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(task_keys(&api.job(job_id).await), vec!["a", "b", "d"]);
}

#[tokio::test]
async fn reset_replaces_everything_and_delete_removes() {
    let api = Api::start(0).await;
    let job_id = api
        .create(json!({"name": "j", "tags": {"a": "1"}, "tasks": [notebook_task("a", "/a")]}))
        .await;
    api.ok_post("/api/2.1/jobs/reset", json!({"job_id": job_id, "new_settings": {"name": "k", "tasks": [notebook_task("z", "/z")]}})).await;
    let s = api.job(job_id).await["settings"].clone();
    assert_eq!(s["name"], "k");
    assert!(s.get("tags").is_none());
    assert_eq!(task_keys(&json!({"settings": s})), vec!["z"]);
    let (status, _) = api
        .post("/api/2.2/jobs/reset", json!({"job_id": job_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "new_settings is required");
    api.ok_post("/api/2.2/jobs/delete", json!({"job_id": job_id}))
        .await;
    let (status, body) = api
        .get("/api/2.2/jobs/get", &[("job_id", job_id.to_string())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], format!("Job {job_id} does not exist."));
    let (status, _) = api
        .post("/api/2.2/jobs/delete", json!({"job_id": job_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn list_pages_filters_by_name_and_expands_tasks() {
    let api = Api::start(0).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api.create(json!({"name": format!("Job {i}"), "tasks": [notebook_task("t", "/t")]}))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("limit", "2".to_owned())];
        if let Some(t) = &token {
            q.push(("page_token", t.clone()));
        }
        let page = api.ok_get("/api/2.2/jobs/list", &q).await;
        pages += 1;
        for job in page["jobs"].as_array().unwrap() {
            assert!(
                job["settings"].get("tasks").is_none(),
                "tasks only with expand_tasks"
            );
            seen.push(job["job_id"].as_i64().unwrap());
        }
        assert_eq!(page["has_more"], page.get("next_page_token").is_some());
        match page["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let named = api
        .ok_get(
            "/api/2.2/jobs/list",
            &[("name", "JOB 3".into()), ("expand_tasks", "true".into())],
        )
        .await;
    let jobs = named["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["job_id"], ids[3]);
    assert_eq!(jobs[0]["settings"]["tasks"][0]["task_key"], "t");
    let none = api
        .ok_get("/api/2.2/jobs/list", &[("name", "Job".into())])
        .await;
    assert!(none.get("jobs").is_none(), "{none}");
    for bad in ["101", "-1"] {
        let (status, _) = api
            .get("/api/2.2/jobs/list", &[("limit", bad.into())])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit={bad}");
    }
}

#[tokio::test]
async fn get_pages_large_task_arrays_in_2_2_only() {
    let api = Api::start(0).await;
    let tasks: Vec<Value> = (0..150)
        .map(|i| notebook_task(&format!("t{i:03}"), "/t"))
        .collect();
    let job_id = api.create(json!({"tasks": tasks})).await;
    let first = api.job(job_id).await;
    assert_eq!(first["settings"]["tasks"].as_array().unwrap().len(), 100);
    assert_eq!(first["has_more"], true);
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    let second = api
        .ok_get(
            "/api/2.2/jobs/get",
            &[("job_id", job_id.to_string()), ("page_token", token)],
        )
        .await;
    assert_eq!(second["settings"]["tasks"].as_array().unwrap().len(), 50);
    assert_eq!(second["settings"]["tasks"][0]["task_key"], "t100");
    assert!(second.get("next_page_token").is_none());
    let old = api
        .ok_get("/api/2.1/jobs/get", &[("job_id", job_id.to_string())])
        .await;
    assert_eq!(old["settings"]["tasks"].as_array().unwrap().len(), 150);
}

#[tokio::test]
async fn run_succeeds_when_the_notebook_exists() {
    let api = Api::start(0).await;
    api.notebook("/Shared/etl").await;
    let job_id = api
        .create(json!({"name": "etl", "tasks": [notebook_task("a", "/Workspace/Shared/etl"), {"task_key": "b", "depends_on": [{"task_key": "a"}], "spark_python_task": {"python_file": "x.py"}}], "parameters": [{"name": "day", "default": "mon"}]}))
        .await;
    let resp = api
        .ok_post("/api/2.1/jobs/run-now", json!({"job_id": job_id, "job_parameters": {"day": "tue"}, "notebook_params": {"k": "v"}}))
        .await;
    assert_eq!(resp["number_in_job"], resp["run_id"]);
    let run = api.run(resp["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["job_id"], job_id);
    assert_eq!(run["run_name"], "etl");
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED");
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    assert_eq!(run["status"]["state"], "TERMINATED");
    assert_eq!(run["status"]["termination_details"]["code"], "SUCCESS");
    assert_eq!(
        run["job_parameters"],
        json!([{"name": "day", "default": "mon", "value": "tue"}])
    );
    assert_eq!(
        run["overriding_parameters"]["notebook_params"],
        json!({"k": "v"})
    );
    assert_eq!(run["run_type"], "JOB_RUN");
    assert!(
        run["run_page_url"]
            .as_str()
            .unwrap()
            .starts_with(api.emu.base_url())
    );
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| t["state"]["result_state"] == "SUCCESS")
    );
    assert_ne!(tasks[0]["run_id"], run["run_id"]);
    let output = api
        .ok_get(
            "/api/2.2/jobs/runs/get-output",
            &[("run_id", tasks[0]["run_id"].to_string())],
        )
        .await;
    assert_eq!(output["notebook_output"], json!({"truncated": false}));
    assert_eq!(output["metadata"]["task_key"], "a");
    assert_eq!(output["metadata"]["job_run_id"], run["run_id"]);
    let (status, body) = api
        .get(
            "/api/2.2/jobs/runs/get-output",
            &[("run_id", run["run_id"].to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("multiple tasks"),
        "{body}"
    );
}

#[tokio::test]
async fn run_fails_when_the_notebook_is_missing() {
    let api = Api::start(0).await;
    let job_id = api
        .create(json!({"tasks": [notebook_task("a", "/Shared/missing"), {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/Shared/missing"}}]}))
        .await;
    let run = api.run(api.run_now(json!({"job_id": job_id})).await).await;
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED");
    assert_eq!(run["state"]["result_state"], "FAILED");
    let message = run["state"]["state_message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Task a failed with message: Unable to access the notebook \"/Shared/missing\""
        ),
        "{message}"
    );
    assert_eq!(
        run["status"]["termination_details"]["code"],
        "RUN_EXECUTION_ERROR"
    );
    assert_eq!(run["status"]["termination_details"]["type"], "CLIENT_ERROR");
    assert_eq!(run["tasks"][0]["state"]["result_state"], "FAILED");
    assert_eq!(
        run["tasks"][0]["status"]["termination_details"]["code"],
        "RESOURCE_NOT_FOUND"
    );
    assert_eq!(run["tasks"][1]["state"]["result_state"], "UPSTREAM_FAILED");
    let output = api
        .ok_get(
            "/api/2.2/jobs/runs/get-output",
            &[("run_id", run["tasks"][0]["run_id"].to_string())],
        )
        .await;
    assert!(
        output["error"]
            .as_str()
            .unwrap()
            .contains("Unable to access the notebook"),
        "{output}"
    );
    assert!(output.get("notebook_output").is_none());
}

#[tokio::test]
async fn run_now_with_the_same_idempotency_token_returns_the_same_run() {
    let api = Api::start(3_600_000).await;
    let job_id = api
        .create(json!({"tasks": [{"task_key": "a"}], "max_concurrent_runs": 5}))
        .await;
    let first = api
        .run_now(json!({"job_id": job_id, "idempotency_token": "tok-1"}))
        .await;
    let again = api
        .run_now(json!({"job_id": job_id, "idempotency_token": "tok-1"}))
        .await;
    let other = api
        .run_now(json!({"job_id": job_id, "idempotency_token": "tok-2"}))
        .await;
    assert_eq!(first, again);
    assert_ne!(first, other);
    let runs = api
        .ok_get("/api/2.2/jobs/runs/list", &[("job_id", job_id.to_string())])
        .await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    let (status, _) = api
        .post(
            "/api/2.2/jobs/run-now",
            json!({"job_id": job_id, "idempotency_token": "x".repeat(65)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cancel_terminates_a_running_run_and_queued_runs_wait() {
    let api = Api::start(3_600_000).await;
    let job_id = api.create(json!({"tasks": [{"task_key": "a"}]})).await;
    let running = api.run_now(json!({"job_id": job_id})).await;
    let queued = api.run_now(json!({"job_id": job_id})).await;
    let run = api.run(running).await;
    assert_eq!(run["state"]["life_cycle_state"], "RUNNING");
    assert_eq!(run["tasks"][0]["state"]["life_cycle_state"], "RUNNING");
    let waiting = api.run(queued).await;
    assert_eq!(waiting["state"]["life_cycle_state"], "QUEUED");
    assert_eq!(waiting["status"]["state"], "QUEUED");
    api.ok_post("/api/2.2/jobs/runs/cancel", json!({"run_id": running}))
        .await;
    let run = api.run(running).await;
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED");
    assert_eq!(run["state"]["result_state"], "CANCELED");
    assert_eq!(
        run["status"]["termination_details"]["code"],
        "USER_CANCELED"
    );
    assert_eq!(run["tasks"][0]["state"]["result_state"], "CANCELED");
    // The freed slot starts the queued run.
    assert_eq!(
        api.run(queued).await["state"]["life_cycle_state"],
        "RUNNING"
    );
    api.ok_post("/api/2.2/jobs/runs/cancel-all", json!({"job_id": job_id}))
        .await;
    assert_eq!(api.run(queued).await["state"]["result_state"], "CANCELED");
    // Cancelling a finished run is accepted and changes nothing.
    api.ok_post("/api/2.2/jobs/runs/cancel", json!({"run_id": running}))
        .await;
    assert_eq!(api.run(running).await["state"]["result_state"], "CANCELED");
}

#[tokio::test]
async fn runs_list_filters_and_pages() {
    let api = Api::start(3_600_000).await;
    let a = api
        .create(json!({"tasks": [{"task_key": "t"}], "max_concurrent_runs": 10}))
        .await;
    let b = api.create(json!({"tasks": [{"task_key": "t"}]})).await;
    let mut a_runs = Vec::new();
    for _ in 0..3 {
        a_runs.push(api.run_now(json!({"job_id": a})).await);
    }
    let b_run = api.run_now(json!({"job_id": b})).await;
    api.ok_post("/api/2.2/jobs/runs/cancel", json!({"run_id": a_runs[0]}))
        .await;
    let ids = |v: &Value| -> Vec<i64> {
        v["runs"]
            .as_array()
            .map(|r| r.iter().map(|x| x["run_id"].as_i64().unwrap()).collect())
            .unwrap_or_default()
    };
    let all = api.ok_get("/api/2.2/jobs/runs/list", &[]).await;
    assert_eq!(
        ids(&all),
        vec![b_run, a_runs[2], a_runs[1], a_runs[0]],
        "newest first"
    );
    assert!(all["runs"][0].get("tasks").is_none());
    let of_a = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("job_id", a.to_string()), ("expand_tasks", "true".into())],
        )
        .await;
    assert_eq!(ids(&of_a).len(), 3);
    assert_eq!(of_a["runs"][0]["tasks"][0]["task_key"], "t");
    let active = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("job_id", a.to_string()), ("active_only", "true".into())],
        )
        .await;
    assert_eq!(ids(&active), vec![a_runs[2], a_runs[1]]);
    let done = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("completed_only", "true".into())],
        )
        .await;
    assert_eq!(ids(&done), vec![a_runs[0]]);
    let (status, _) = api
        .get(
            "/api/2.2/jobs/runs/list",
            &[
                ("active_only", "true".into()),
                ("completed_only", "true".into()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let start = |id: i64| {
        all["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == id)
            .unwrap()["start_time"]
            .as_i64()
            .unwrap()
    };
    let from = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("start_time_from", (start(b_run) + 1).to_string())],
        )
        .await;
    assert!(ids(&from).is_empty());
    let to = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("start_time_to", (start(a_runs[0]) - 1).to_string())],
        )
        .await;
    assert!(ids(&to).is_empty());
    let window = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[
                ("start_time_from", start(a_runs[0]).to_string()),
                ("start_time_to", start(b_run).to_string()),
            ],
        )
        .await;
    assert_eq!(ids(&window).len(), 4);
    // Pages of two.
    let first = api
        .ok_get("/api/2.2/jobs/runs/list", &[("limit", "2".into())])
        .await;
    assert_eq!(ids(&first), vec![b_run, a_runs[2]]);
    assert_eq!(first["has_more"], true);
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    let second = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("limit", "2".into()), ("page_token", token)],
        )
        .await;
    assert_eq!(ids(&second), vec![a_runs[1], a_runs[0]]);
    assert_eq!(second["has_more"], false);
    let (status, _) = api
        .get("/api/2.2/jobs/runs/list", &[("limit", "25".into())])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn submit_runs_once_without_a_job() {
    let api = Api::start(0).await;
    api.notebook("/Shared/once").await;
    let job_id = api.create(json!({"tasks": [{"task_key": "t"}]})).await;
    api.run_now(json!({"job_id": job_id})).await;
    let resp = api
        .ok_post("/api/2.2/jobs/runs/submit", json!({"run_name": "adhoc", "tasks": [notebook_task("a", "/Shared/once")], "idempotency_token": "s-1"}))
        .await;
    let run_id = resp["run_id"].as_i64().unwrap();
    let again = api.ok_post("/api/2.2/jobs/runs/submit", json!({"run_name": "adhoc", "tasks": [notebook_task("a", "/Shared/once")], "idempotency_token": "s-1"})).await;
    assert_eq!(again["run_id"], run_id);
    let run = api.run(run_id).await;
    assert_eq!(run["run_type"], "SUBMIT_RUN");
    assert_eq!(run["run_name"], "adhoc");
    assert!(run.get("job_id").is_none(), "{run}");
    assert_eq!(run["state"]["result_state"], "SUCCESS");
    let submitted = api
        .ok_get(
            "/api/2.2/jobs/runs/list",
            &[("run_type", "SUBMIT_RUN".into())],
        )
        .await;
    let ids: Vec<i64> = submitted["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![run_id]);
    let (status, _) = api
        .post("/api/2.2/jobs/runs/submit", json!({"run_name": "empty"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
