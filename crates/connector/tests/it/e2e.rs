//! End to end: every action of the catalog (and HTTP Request) against the in-process
//! emulator, with its happy path, and per group a missing resource (`NOT_FOUND` with
//! Databricks' `error_code`) and an invalid input (`INVALID_INPUT` naming the field, with the
//! emulator's request counters showing that nothing was sent).
//!
//! Each test starts its own emulator with short lifecycle delays, so the tests run in
//! parallel. `ACTIONS_COVERED` lists what each test runs; a test checks it against the
//! catalog so a new action without an end-to-end test fails here.
//!
//! Not covered here: a Run Job wait that outlives an OAuth access token (OAuth accounts come
//! later).

use std::sync::Arc;

use brickwire_api::SecretString;
use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions};
use brickwire_connector::{ActionError, Catalog, ErrorCode, run_action};
use brickwire_emulator::{Emulator, EmulatorOptions};
use serde_json::{Value, json};

/// One emulator, a client for it, and a plain HTTP client for its admin API.
struct Env {
    emulator: Emulator,
    client: Client,
    admin: reqwest::Client,
}

impl Env {
    /// Starts an emulator with lifecycle delays short enough for tests.
    async fn start() -> Env {
        let emulator = Emulator::start(EmulatorOptions::default())
            .await
            .expect("emulator starts");
        let url = url::Url::parse(emulator.base_url()).expect("emulator url");
        let token = SecretString::new(emulator.token().to_owned());
        let client = Client::with_credentials(
            url,
            Arc::new(PatCredentials::new(&token)),
            ClientOptions {
                rate_limit: None,
                ..Default::default()
            },
        )
        .expect("client");
        let env = Env {
            emulator,
            client,
            admin: reqwest::Client::new(),
        };
        env.admin(
            reqwest::Method::PATCH,
            "/_emulator/settings",
            json!({
                "clusters": {"start_delay_ms": 200, "restart_delay_ms": 200, "terminate_delay_ms": 100},
                "warehouses": {"start_delay_ms": 200, "stop_delay_ms": 100},
                "jobs": {"run_pending_ms": 100, "task_run_ms": 200},
            }),
        )
        .await;
        env
    }

    /// Calls the admin API and returns its JSON answer.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.emulator.base_url());
        let mut req = self.admin.request(method.clone(), &url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status();
        let text = resp.text().await.expect("admin body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("admin json")
        }
    }

    /// The request counters.
    async fn counters(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_emulator/counters", Value::Null)
            .await
    }

    /// How many requests reached `endpoint` (`"GET /api/2.0/sql/statements/{statement_id}"`).
    async fn hits(&self, endpoint: &str) -> u64 {
        self.counters().await["endpoints"][endpoint]
            .as_u64()
            .unwrap_or(0)
    }

    /// Runs an action that must succeed.
    async fn ok(&self, id: &str, input: Value) -> Value {
        match run_action(&self.client, id, input.clone()).await {
            Ok(out) => out,
            Err(e) => panic!("{id} {input} failed: {}", e.to_json()),
        }
    }

    /// Runs an action that must fail.
    async fn err(&self, id: &str, input: Value) -> ActionError {
        match run_action(&self.client, id, input.clone()).await {
            Ok(out) => panic!("{id} {input} succeeded: {out}"),
            Err(e) => e,
        }
    }

    /// A missing resource: `NOT_FOUND`, Databricks' `error_code`, a 4xx status.
    async fn not_found(&self, id: &str, input: Value, error_code: &str) -> ActionError {
        let e = self.err(id, input).await;
        assert_eq!(e.code, ErrorCode::NotFound, "{id}: {}", e.to_json());
        assert_eq!(
            e.error_code.as_deref(),
            Some(error_code),
            "{id}: {}",
            e.to_json()
        );
        assert!(!e.retryable, "{id}: {}", e.to_json());
        e
    }

    /// An invalid input: `INVALID_INPUT` naming `field`, and no request reached the emulator.
    async fn invalid(&self, id: &str, input: Value, field: &str) {
        let before = self.counters().await["total"].as_u64().unwrap();
        let e = self.err(id, input).await;
        assert_eq!(e.code, ErrorCode::InvalidInput, "{id}: {}", e.to_json());
        assert!(
            e.message.contains(&format!("`{field}`")),
            "{id}: message should name `{field}`: {}",
            e.message
        );
        assert_eq!(e.status, None, "{id}: {}", e.to_json());
        let after = self.counters().await["total"].as_u64().unwrap();
        assert_eq!(
            before, after,
            "{id}: a request was sent for an invalid input"
        );
    }

    /// Demo data: a running warehouse and a running cluster, as `(warehouse_id, cluster_id)`.
    async fn seed(&self) -> (String, String) {
        let out = self
            .admin(reqwest::Method::POST, "/_emulator/seed", Value::Null)
            .await;
        (
            out["warehouse_id"].as_str().unwrap().to_owned(),
            out["cluster_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Runs a SQL statement that must succeed, returning its rows.
    async fn sql(&self, warehouse_id: &str, statement: &str) -> Vec<Value> {
        let out = self
            .ok(
                "execute-statement",
                json!({"statement": statement, "warehouse_id": warehouse_id}),
            )
            .await;
        assert_eq!(out["status"]["state"], "SUCCEEDED", "{statement}: {out}");
        out["result"]["data_array"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The names of the items of a list action's output field, under `key`.
fn names(out: &Value, field: &str, key: &str) -> Vec<String> {
    out[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list in {out}"))
        .iter()
        .map(|v| v[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// What each test below runs; checked against the catalog.
const ACTIONS_COVERED: &[&str] = &[
    // catalogs_and_schemas
    "query-catalogs",
    "create-catalog",
    "retrieve-catalog",
    "update-catalog",
    "delete-catalog",
    "query-schemas",
    "create-schema",
    "retrieve-schema",
    "update-schema",
    "delete-schema",
    // volumes
    "query-volumes",
    "create-volume",
    "retrieve-volume",
    "update-volume",
    "delete-volume",
    // tables
    "query-tables",
    "retrieve-table",
    "check-table-exists",
    "query-table-summaries",
    "delete-table",
    // clusters
    "create-cluster",
    "list-clusters",
    "get-cluster-info",
    "query-clusters",
    "start-cluster",
    "restart-cluster",
    "terminate-cluster",
    "delete-cluster",
    // jobs
    "create-job",
    "query-jobs",
    "show-job",
    "update-job",
    "delete-job",
    "run-job",
    "get-job-run",
    "cancel-run",
    // sql
    "execute-statement",
    "retrieve-statement",
    "retrieve-statement-result-chunk",
    "cancel-statement-execution",
    // users
    "list-users",
    "create-user",
    "get-user",
    "update-user",
    "delete-user",
    // groups
    "list-groups",
    "create-group",
    "update-group",
    "delete-group",
    // warehouses
    "query-warehouses",
    "create-warehouse",
    "retrieve-warehouse",
    "update-warehouse",
    "start-warehouse",
    "stop-warehouse",
    "delete-warehouse",
    // workspace
    "import-workspace",
    "export-workspace",
    "list-workspace",
    "retrieve-object-status",
    "delete-workspace",
    "query-directories",
    "create-directory",
    // http
    "http-request",
];

#[test]
fn every_action_has_an_end_to_end_test() {
    let mut catalog: Vec<&str> = Catalog::global().actions().iter().map(|a| a.id()).collect();
    let mut covered = ACTIONS_COVERED.to_vec();
    catalog.sort_unstable();
    covered.sort_unstable();
    assert_eq!(catalog, covered);
    assert_eq!(covered.len(), 64, "63 actions and HTTP Request");
}

// ---------------------------------------------------------------------------------------
// Unity Catalog

#[tokio::test]
async fn catalogs_and_schemas() {
    let env = Env::start().await;
    let out = env.ok("query-catalogs", json!({})).await;
    let initial = names(&out, "catalogs", "name");
    assert!(initial.contains(&"main".to_owned()), "{out}");

    for name in ["e2e_a", "e2e_b", "e2e_c"] {
        let made = env
            .ok(
                "create-catalog",
                json!({"name": name, "comment": "made by e2e", "properties": {"team": "data"}}),
            )
            .await;
        assert_eq!(made["name"], name);
        assert_eq!(made["comment"], "made by e2e");
    }
    let got = env.ok("retrieve-catalog", json!({"name": "e2e_b"})).await;
    assert_eq!(got["name"], "e2e_b");
    assert_eq!(got["properties"]["team"], "data");

    let updated = env
        .ok(
            "update-catalog",
            json!({"name": "e2e_b", "comment": "curated"}),
        )
        .await;
    assert_eq!(updated["comment"], "curated");
    // only the fields given change
    assert_eq!(updated["properties"]["team"], "data");

    // paging: `limit` across pages, and `single_page` with its token
    let total = initial.len() + 3;
    let all = env.ok("query-catalogs", json!({"limit": 1000})).await;
    assert_eq!(names(&all, "catalogs", "name").len(), total, "{all}");
    assert!(all.get("next_page_token").is_none(), "{all}");
    let two = env.ok("query-catalogs", json!({"limit": 2})).await;
    assert_eq!(names(&two, "catalogs", "name").len(), 2, "{two}");
    let page = env
        .ok("query-catalogs", json!({"limit": 2, "single_page": true}))
        .await;
    let first = names(&page, "catalogs", "name");
    assert_eq!(first.len(), 2, "{page}");
    let token = page["next_page_token"].as_str().expect("a next page token");
    let rest = env
        .ok(
            "query-catalogs",
            json!({"page_token": token, "limit": 1000}),
        )
        .await;
    let mut seen = first.clone();
    seen.extend(names(&rest, "catalogs", "name"));
    let mut expected = names(&all, "catalogs", "name");
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "the token continues right after the first page"
    );

    // schemas
    let schema = env
        .ok(
            "create-schema",
            json!({"catalog_name": "e2e_a", "name": "sales", "comment": "raw"}),
        )
        .await;
    assert_eq!(schema["full_name"], "e2e_a.sales");
    let schemas = env
        .ok("query-schemas", json!({"catalog_name": "e2e_a"}))
        .await;
    assert!(
        names(&schemas, "schemas", "name").contains(&"sales".to_owned()),
        "{schemas}"
    );
    let got = env
        .ok("retrieve-schema", json!({"full_name": "e2e_a.sales"}))
        .await;
    assert_eq!(
        (got["catalog_name"].as_str(), got["name"].as_str()),
        (Some("e2e_a"), Some("sales"))
    );
    let renamed = env
        .ok(
            "update-schema",
            json!({"full_name": "e2e_a.sales", "new_name": "orders", "comment": "curated"}),
        )
        .await;
    assert_eq!(renamed["full_name"], "e2e_a.orders");
    assert_eq!(renamed["comment"], "curated");
    env.ok("delete-schema", json!({"full_name": "e2e_a.orders"}))
        .await;
    env.not_found(
        "retrieve-schema",
        json!({"full_name": "e2e_a.orders"}),
        "SCHEMA_DOES_NOT_EXIST",
    )
    .await;

    env.ok("delete-catalog", json!({"name": "e2e_c"})).await;
    env.not_found(
        "retrieve-catalog",
        json!({"name": "e2e_c"}),
        "CATALOG_DOES_NOT_EXIST",
    )
    .await;
    env.not_found(
        "delete-catalog",
        json!({"name": "e2e_c"}),
        "CATALOG_DOES_NOT_EXIST",
    )
    .await;

    // invalid inputs never reach the workspace
    env.invalid("create-catalog", json!({"comment": "no name"}), "name")
        .await;
    env.invalid("query-schemas", json!({}), "catalog_name")
        .await;
    env.invalid("query-catalogs", json!({"limit": 0}), "limit")
        .await;
    env.invalid(
        "update-schema",
        json!({"full_name": "e2e_a.x", "enable_predictive_optimization": "SOMETIMES"}),
        "enable_predictive_optimization",
    )
    .await;
}

#[tokio::test]
async fn volumes() {
    let env = Env::start().await;
    env.ok(
        "create-schema",
        json!({"catalog_name": "main", "name": "landing"}),
    )
    .await;
    let made = env
        .ok(
            "create-volume",
            json!({"catalog_name": "main", "schema_name": "landing", "name": "raw",
                   "volume_type": "MANAGED", "comment": "files"}),
        )
        .await;
    assert_eq!(made["full_name"], "main.landing.raw");
    assert_eq!(made["volume_type"], "MANAGED");
    env.ok(
        "create-volume",
        json!({"catalog_name": "main", "schema_name": "landing", "name": "archive",
               "volume_type": "MANAGED"}),
    )
    .await;
    let list = env
        .ok(
            "query-volumes",
            json!({"catalog_name": "main", "schema_name": "landing"}),
        )
        .await;
    let mut got = names(&list, "volumes", "name");
    got.sort();
    assert_eq!(got, ["archive", "raw"]);
    let one = env
        .ok(
            "query-volumes",
            json!({"catalog_name": "main", "schema_name": "landing", "limit": 1, "single_page": true}),
        )
        .await;
    assert_eq!(names(&one, "volumes", "name").len(), 1, "{one}");
    assert!(one["next_page_token"].is_string(), "{one}");

    let vol = env
        .ok("retrieve-volume", json!({"full_name": "main.landing.raw"}))
        .await;
    assert_eq!(vol["comment"], "files");
    let updated = env
        .ok(
            "update-volume",
            json!({"full_name": "main.landing.raw", "new_name": "bronze", "comment": "landing files"}),
        )
        .await;
    assert_eq!(updated["full_name"], "main.landing.bronze");
    assert_eq!(updated["comment"], "landing files");
    env.ok("delete-volume", json!({"full_name": "main.landing.bronze"}))
        .await;
    env.not_found(
        "retrieve-volume",
        json!({"full_name": "main.landing.bronze"}),
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    env.invalid(
        "create-volume",
        json!({"catalog_name": "main", "schema_name": "landing", "name": "x", "volume_type": "SHARED"}),
        "volume_type",
    )
    .await;
    env.invalid("retrieve-volume", json!({}), "full_name").await;
}

#[tokio::test]
async fn tables() {
    let env = Env::start().await;
    let (warehouse, _) = env.seed().await;
    env.ok(
        "create-schema",
        json!({"catalog_name": "main", "name": "sales"}),
    )
    .await;
    env.ok(
        "create-schema",
        json!({"catalog_name": "main", "name": "hr"}),
    )
    .await;
    for (schema, table) in [
        ("sales", "orders"),
        ("sales", "order_items"),
        ("hr", "people"),
    ] {
        env.sql(
            &warehouse,
            &format!("CREATE TABLE main.{schema}.{table} (id BIGINT NOT NULL, label STRING)"),
        )
        .await;
    }
    let list = env
        .ok(
            "query-tables",
            json!({"catalog_name": "main", "schema_name": "sales"}),
        )
        .await;
    let mut got = names(&list, "tables", "name");
    got.sort();
    assert_eq!(got, ["order_items", "orders"]);

    let table = env
        .ok("retrieve-table", json!({"full_name": "main.sales.orders"}))
        .await;
    assert_eq!(table["full_name"], "main.sales.orders");
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "label"]);

    let exists = env
        .ok(
            "check-table-exists",
            json!({"full_name": "main.sales.orders"}),
        )
        .await;
    assert_eq!(exists, json!({"table_exists": true}));
    let missing = env
        .ok(
            "check-table-exists",
            json!({"full_name": "main.sales.refunds"}),
        )
        .await;
    assert_eq!(missing, json!({"table_exists": false}));

    let summaries = env
        .ok(
            "query-table-summaries",
            json!({"catalog_name": "main", "schema_name_pattern": "sal%", "table_name_pattern": "order%"}),
        )
        .await;
    let mut got = names(&summaries, "tables", "full_name");
    got.sort();
    assert_eq!(got, ["main.sales.order_items", "main.sales.orders"]);
    let summaries = env
        .ok(
            "query-table-summaries",
            json!({"catalog_name": "main", "table_name_pattern": "people"}),
        )
        .await;
    assert_eq!(names(&summaries, "tables", "full_name"), ["main.hr.people"]);

    env.ok("delete-table", json!({"full_name": "main.sales.orders"}))
        .await;
    let exists = env
        .ok(
            "check-table-exists",
            json!({"full_name": "main.sales.orders"}),
        )
        .await;
    assert_eq!(exists, json!({"table_exists": false}));
    env.not_found(
        "retrieve-table",
        json!({"full_name": "main.sales.orders"}),
        "TABLE_DOES_NOT_EXIST",
    )
    .await;
    env.not_found(
        "delete-table",
        json!({"full_name": "main.sales.orders"}),
        "TABLE_DOES_NOT_EXIST",
    )
    .await;
    env.invalid(
        "query-tables",
        json!({"catalog_name": "main"}),
        "schema_name",
    )
    .await;
    env.invalid("check-table-exists", json!({"full_name": 42}), "full_name")
        .await;
}

// ---------------------------------------------------------------------------------------
// Compute

#[tokio::test]
async fn clusters() {
    let env = Env::start().await;
    let created = env
        .ok(
            "create-cluster",
            json!({"cluster_name": "etl", "spark_version": "15.4.x-scala2.12",
                   "node_type_id": "i3.xlarge", "num_workers": 2, "wait": true,
                   "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(created["state"], "RUNNING", "{created}");
    assert_eq!(created["cluster_name"], "etl");
    assert_eq!(created["num_workers"], 2);
    let id = created["cluster_id"].as_str().unwrap().to_owned();

    let quick = env
        .ok(
            "create-cluster",
            json!({"cluster_name": "adhoc", "spark_version": "15.4.x-scala2.12",
                   "node_type_id": "i3.xlarge", "num_workers": 0}),
        )
        .await;
    let adhoc = quick["cluster_id"]
        .as_str()
        .expect("a cluster id")
        .to_owned();
    assert_ne!(adhoc, id);

    let info = env.ok("get-cluster-info", json!({"cluster_id": id})).await;
    assert_eq!(info["cluster_name"], "etl");
    assert_eq!(info["state"], "RUNNING");

    let restarted = env
        .ok(
            "restart-cluster",
            json!({"cluster_id": id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(restarted["state"], "RUNNING", "{restarted}");

    env.ok("terminate-cluster", json!({"cluster_id": id})).await;
    let info = env.ok("get-cluster-info", json!({"cluster_id": id})).await;
    assert!(
        matches!(info["state"].as_str(), Some("TERMINATING" | "TERMINATED")),
        "{info}"
    );

    let listed = env.ok("list-clusters", json!({})).await;
    let mut got = names(&listed, "clusters", "cluster_name");
    got.sort();
    assert_eq!(got, ["adhoc", "etl"]);
    let one = env
        .ok("list-clusters", json!({"limit": 1, "single_page": true}))
        .await;
    assert_eq!(names(&one, "clusters", "cluster_name").len(), 1, "{one}");
    assert!(one["next_page_token"].is_string(), "{one}");

    // wait for the termination so the state filter below is deterministic
    let mut terminated = false;
    for _ in 0..100 {
        let info = env.ok("get-cluster-info", json!({"cluster_id": id})).await;
        if info["state"] == "TERMINATED" {
            terminated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(terminated, "cluster {id} never terminated");
    let terminated = env
        .ok(
            "query-clusters",
            json!({"cluster_states": ["TERMINATED"], "sort_by_field": "CLUSTER_NAME",
                   "sort_by_direction": "ASC"}),
        )
        .await;
    assert_eq!(names(&terminated, "clusters", "cluster_name"), ["etl"]);
    let sorted = env
        .ok(
            "query-clusters",
            json!({"sort_by_field": "CLUSTER_NAME", "sort_by_direction": "DESC"}),
        )
        .await;
    assert_eq!(names(&sorted, "clusters", "cluster_name"), ["etl", "adhoc"]);

    let started = env
        .ok(
            "start-cluster",
            json!({"cluster_id": id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(started["state"], "RUNNING", "{started}");
    assert_eq!(started["cluster_id"], id.as_str());

    env.ok("delete-cluster", json!({"cluster_id": adhoc})).await;
    let e = env
        .err(
            "start-cluster",
            json!({"cluster_id": "0000-000000-missing"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert_eq!(
        e.error_code.as_deref(),
        Some("INVALID_PARAMETER_VALUE"),
        "{}",
        e.to_json()
    );
    let e = env
        .err(
            "get-cluster-info",
            json!({"cluster_id": "0000-000000-missing"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert!(e.message.contains("0000-000000-missing"), "{}", e.message);

    env.invalid(
        "create-cluster",
        json!({"cluster_name": "x", "num_workers": 1}),
        "spark_version",
    )
    .await;
    env.invalid(
        "query-clusters",
        json!({"cluster_states": ["SLEEPING"]}),
        "cluster_states.0",
    )
    .await;
    env.invalid(
        "restart-cluster",
        json!({"cluster_id": id, "timeout_seconds": 0}),
        "timeout_seconds",
    )
    .await;
}

#[tokio::test]
async fn warehouses() {
    let env = Env::start().await;
    let created = env
        .ok(
            "create-warehouse",
            json!({"name": "analytics", "cluster_size": "Small", "auto_stop_mins": 20,
                   "max_num_clusters": 1, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(created["state"], "RUNNING", "{created}");
    assert_eq!(created["name"], "analytics");
    assert_eq!(created["cluster_size"], "Small");
    let id = created["id"].as_str().unwrap().to_owned();
    let other = env
        .ok(
            "create-warehouse",
            json!({"name": "reporting", "cluster_size": "X-Small", "max_num_clusters": 1}),
        )
        .await;
    let other = other["id"].as_str().expect("a warehouse id").to_owned();

    let got = env
        .ok("retrieve-warehouse", json!({"warehouse_id": id}))
        .await;
    assert_eq!(got["auto_stop_mins"], 20);

    let list = env.ok("query-warehouses", json!({})).await;
    let mut got = names(&list, "warehouses", "name");
    got.sort();
    assert_eq!(got, ["analytics", "reporting"]);
    let one = env.ok("query-warehouses", json!({"limit": 1})).await;
    assert_eq!(names(&one, "warehouses", "name").len(), 1, "{one}");

    env.ok(
        "update-warehouse",
        json!({"warehouse_id": id, "name": "analytics", "cluster_size": "Medium",
               "auto_stop_mins": 30, "max_num_clusters": 1}),
    )
    .await;
    let got = env
        .ok("retrieve-warehouse", json!({"warehouse_id": id}))
        .await;
    assert_eq!(
        (got["cluster_size"].as_str(), got["auto_stop_mins"].as_i64()),
        (Some("Medium"), Some(30))
    );

    let stopped = env
        .ok(
            "stop-warehouse",
            json!({"warehouse_id": id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(stopped["state"], "STOPPED", "{stopped}");
    let started = env
        .ok(
            "start-warehouse",
            json!({"warehouse_id": id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(started["state"], "RUNNING", "{started}");
    assert_eq!(started["id"], id.as_str());

    env.ok("delete-warehouse", json!({"warehouse_id": other}))
        .await;
    let list = env.ok("query-warehouses", json!({})).await;
    assert!(
        !names(&list, "warehouses", "name").contains(&"reporting".to_owned())
            || list["warehouses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["name"] == "reporting" && w["state"] == "DELETED"),
        "{list}"
    );
    let e = env
        .err(
            "retrieve-warehouse",
            json!({"warehouse_id": "0000000000000000"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert_eq!(
        e.error_code.as_deref(),
        Some("RESOURCE_DOES_NOT_EXIST"),
        "{}",
        e.to_json()
    );
    env.invalid(
        "create-warehouse",
        json!({"name": "x", "cluster_size": "Huge"}),
        "cluster_size",
    )
    .await;
    env.invalid("start-warehouse", json!({"wait": true}), "warehouse_id")
        .await;
}

// ---------------------------------------------------------------------------------------
// Jobs

fn notebook_task(key: &str, path: &str, depends_on: &[&str]) -> Value {
    json!({
        "task_key": key,
        "notebook_task": {"notebook_path": path},
        "existing_cluster_id": "0123-456789-abcdefgh",
        "depends_on": depends_on.iter().map(|d| json!({"task_key": d})).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn jobs() {
    let env = Env::start().await;
    let nb = "/Shared/e2e/etl";
    env.ok("create-directory", json!({"path": "/Shared/e2e"}))
        .await;
    env.ok(
        "import-workspace",
        json!({"path": nb, "format": "SOURCE", "language": "PYTHON",
               "content": "cHJpbnQoJ2V0bCcp"}),
    )
    .await;

    let created = env
        .ok(
            "create-job",
            json!({"name": "nightly", "description": "loads sales", "tags": {"team": "data"},
                   "max_concurrent_runs": 2,
                   "tasks": [notebook_task("a", nb, &[]), notebook_task("b", nb, &["a"])]}),
        )
        .await;
    let job_id = created["job_id"].as_i64().expect("a job id");
    let other = env
        .ok(
            "create-job",
            json!({"name": "weekly", "tasks": [notebook_task("a", nb, &[])]}),
        )
        .await["job_id"]
        .as_i64()
        .unwrap();

    let job = env.ok("show-job", json!({"job_id": job_id})).await;
    assert_eq!(job["settings"]["name"], "nightly");
    let keys = |job: &Value| -> Vec<String> {
        job["settings"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(&job), ["a", "b"]);

    let found = env.ok("query-jobs", json!({"name": "nightly"})).await;
    let ids: Vec<i64> = found["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [job_id]);
    let page = env
        .ok("query-jobs", json!({"limit": 1, "single_page": true}))
        .await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1, "{page}");
    let rest = env
        .ok(
            "query-jobs",
            json!({"page_token": page["next_page_token"].as_str().expect("a token")}),
        )
        .await;
    let mut all: Vec<i64> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["jobs"].as_array().unwrap())
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, [job_id.min(other), job_id.max(other)]);

    // update: merge tasks by key, remove named fields, keep the rest
    env.ok(
        "update-job",
        json!({"job_id": job_id, "mode": "update",
               "new_settings": {"tasks": [notebook_task("b", "/Shared/e2e/other", &["a"]),
                                          notebook_task("c", nb, &["b"])]},
               "fields_to_remove": ["tags"]}),
    )
    .await;
    let job = env.ok("show-job", json!({"job_id": job_id})).await;
    assert_eq!(keys(&job), ["a", "b", "c"]);
    assert_eq!(
        job["settings"]["tasks"][1]["notebook_task"]["notebook_path"],
        "/Shared/e2e/other"
    );
    assert_eq!(job["settings"]["description"], "loads sales");
    assert_eq!(job["settings"]["max_concurrent_runs"], 2);
    assert!(job["settings"].get("tags").is_none(), "{job}");

    // reset: the new settings replace all of them
    env.ok(
        "update-job",
        json!({"job_id": job_id, "mode": "reset",
               "new_settings": {"name": "nightly", "max_concurrent_runs": 1,
                                "tasks": [notebook_task("a", nb, &[]), notebook_task("b", nb, &["a"])]}}),
    )
    .await;
    let job = env.ok("show-job", json!({"job_id": job_id})).await;
    assert_eq!(keys(&job), ["a", "b"]);
    assert!(job["settings"].get("description").is_none(), "{job}");
    assert_eq!(job["settings"]["max_concurrent_runs"], 1);

    // run and wait: terminated, with every task's state
    let run = env
        .ok(
            "run-job",
            json!({"job_id": job_id, "job_parameters": {"day": "tue"}, "wait": true,
                   "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(run["job_id"], job_id);
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED", "{run}");
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    let tasks = run["tasks"].as_array().expect("task runs");
    let states: Vec<(&str, &str)> = tasks
        .iter()
        .map(|t| {
            (
                t["task_key"].as_str().unwrap(),
                t["state"]["result_state"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(states, [("a", "SUCCESS"), ("b", "SUCCESS")]);
    let run_id = run["run_id"].as_i64().unwrap();
    let again = env.ok("get-job-run", json!({"run_id": run_id})).await;
    assert_eq!(again["state"]["result_state"], "SUCCESS");
    assert_eq!(again["tasks"].as_array().unwrap().len(), 2);

    // run without waiting, then cancel and wait for the cancellation
    let started = env.ok("run-job", json!({"job_id": other})).await;
    let run_id = started["run_id"].as_i64().expect("a run id");
    let run = env.ok("get-job-run", json!({"run_id": run_id})).await;
    assert_eq!(run["job_id"], other);
    let cancelled = env
        .ok(
            "cancel-run",
            json!({"run_id": run_id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(
        cancelled["state"]["life_cycle_state"], "TERMINATED",
        "{cancelled}"
    );
    assert_eq!(
        cancelled["state"]["result_state"], "CANCELED",
        "{cancelled}"
    );

    env.ok("delete-job", json!({"job_id": other})).await;
    let e = env.err("show-job", json!({"job_id": other})).await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert_eq!(
        e.error_code.as_deref(),
        Some("INVALID_PARAMETER_VALUE"),
        "{}",
        e.to_json()
    );
    let e = env.err("get-job-run", json!({"run_id": 987654321})).await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    let e = env.err("run-job", json!({"job_id": other})).await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());

    env.invalid(
        "update-job",
        json!({"job_id": job_id, "mode": "reset"}),
        "new_settings",
    )
    .await;
    env.invalid(
        "update-job",
        json!({"job_id": job_id, "mode": "merge"}),
        "mode",
    )
    .await;
    env.invalid("run-job", json!({"job_id": "nightly"}), "job_id")
        .await;
    env.invalid(
        "create-job",
        json!({"tasks": [{"notebook_task": {}}]}),
        "tasks.0.task_key",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// SQL

#[tokio::test]
async fn sql_statements() {
    let env = Env::start().await;
    let (warehouse, _) = env.seed().await;
    env.admin(
        reqwest::Method::PATCH,
        "/_emulator/settings",
        json!({"statements": {"chunk_row_count": 10}}),
    )
    .await;
    let chunk_endpoint = "GET /api/2.0/sql/statements/{statement_id}/result/chunks/{chunk_index}";

    // every chunk, fetched
    let out = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT id FROM range(45)", "warehouse_id": warehouse}),
        )
        .await;
    assert_eq!(out["status"]["state"], "SUCCEEDED", "{out}");
    assert_eq!(
        out["manifest"]["total_chunk_count"], 5,
        "{}",
        out["manifest"]
    );
    assert_eq!(out["manifest"]["total_row_count"], 45);
    let rows = out["result"]["data_array"].as_array().unwrap();
    assert_eq!(rows.len(), 45);
    assert_eq!(out["result"]["row_count"], 45);
    assert_eq!(
        (rows[0][0].as_str(), rows[44][0].as_str()),
        (Some("0"), Some("44"))
    );
    assert!(
        out["result"].get("next_chunk_index").is_none(),
        "{}",
        out["result"]
    );
    assert_eq!(env.hits(chunk_endpoint).await, 4);
    let statement_id = out["statement_id"].as_str().unwrap().to_owned();

    // up to the row cap: chunks 0 and 1, then the pointer to chunk 2 is kept
    let capped = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT id FROM range(45)", "warehouse_id": warehouse, "row_cap": 15}),
        )
        .await;
    let rows = capped["result"]["data_array"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "{}", capped["result"]);
    assert_eq!(
        capped["result"]["next_chunk_index"], 2,
        "{}",
        capped["result"]
    );
    assert_eq!(env.hits(chunk_endpoint).await, 5);

    // retrieve the statement and one chunk
    let got = env
        .ok("retrieve-statement", json!({"statement_id": statement_id}))
        .await;
    assert_eq!(got["status"]["state"], "SUCCEEDED");
    assert_eq!(got["result"]["data_array"].as_array().unwrap().len(), 10);
    let chunk = env
        .ok(
            "retrieve-statement-result-chunk",
            json!({"statement_id": statement_id, "chunk_index": 2}),
        )
        .await;
    assert_eq!(chunk["chunk_index"], 2);
    assert_eq!(chunk["row_offset"], 20);
    assert_eq!(chunk["data_array"][0][0], "20");
    assert_eq!(chunk["next_chunk_index"], 3);

    // without waiting: the statement id to retrieve later; then cancel it
    let pending = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT count(*) FROM range(10000000000)", "warehouse_id": warehouse,
                   "wait_timeout": "0s", "wait": false}),
        )
        .await;
    let state = pending["status"]["state"].as_str().unwrap();
    assert!(matches!(state, "PENDING" | "RUNNING"), "{pending}");
    let long = pending["statement_id"].as_str().unwrap().to_owned();
    env.ok("cancel-statement-execution", json!({"statement_id": long}))
        .await;
    let mut state = String::new();
    for _ in 0..100 {
        let got = env
            .ok("retrieve-statement", json!({"statement_id": long}))
            .await;
        state = got["status"]["state"].as_str().unwrap().to_owned();
        if state == "CANCELED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "CANCELED");

    // a SQL error is a FAILED statement, not an action error
    let failed = env
        .ok(
            "execute-statement",
            json!({"statement": "SELEC oops", "warehouse_id": warehouse}),
        )
        .await;
    assert_eq!(failed["status"]["state"], "FAILED", "{failed}");

    let e = env
        .err(
            "retrieve-statement",
            json!({"statement_id": "no-such-statement"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert_eq!(
        e.error_code.as_deref(),
        Some("RESOURCE_DOES_NOT_EXIST"),
        "{}",
        e.to_json()
    );
    let e = env
        .err(
            "execute-statement",
            json!({"statement": "SELECT 1", "warehouse_id": "0000000000000000"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());

    env.invalid(
        "execute-statement",
        json!({"statement": "SELECT 1"}),
        "warehouse_id",
    )
    .await;
    env.invalid(
        "execute-statement",
        json!({"statement": "SELECT 1", "warehouse_id": warehouse, "wait_timeout": "2s"}),
        "wait_timeout",
    )
    .await;
    env.invalid(
        "retrieve-statement-result-chunk",
        json!({"statement_id": statement_id, "chunk_index": -1}),
        "chunk_index",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// SCIM

#[tokio::test]
async fn users() {
    let env = Env::start().await;
    let made = env
        .ok(
            "create-user",
            json!({"userName": "ada@example.com", "displayName": "Ada",
                   "emails": [{"value": "ada@example.com", "primary": true}],
                   "entitlements": [{"value": "allow-cluster-create"}]}),
        )
        .await;
    let id = made["id"].as_str().expect("a user id").to_owned();
    assert_eq!(made["userName"], "ada@example.com");
    env.ok("create-user", json!({"userName": "bob@example.com"}))
        .await;
    env.ok("create-user", json!({"userName": "cy@example.com"}))
        .await;

    let got = env.ok("get-user", json!({"id": id})).await;
    assert_eq!(got["displayName"], "Ada");

    let found = env
        .ok(
            "list-users",
            json!({"filter": "userName eq \"ada@example.com\""}),
        )
        .await;
    assert_eq!(names(&found, "Resources", "id"), [id.as_str()]);
    let all = env.ok("list-users", json!({"sortBy": "userName"})).await;
    let all_names = names(&all, "Resources", "userName");
    assert!(all_names.len() >= 3, "{all}");
    let page = env
        .ok(
            "list-users",
            json!({"sortBy": "userName", "limit": 2, "single_page": true}),
        )
        .await;
    assert_eq!(names(&page, "Resources", "userName"), all_names[..2]);
    assert_eq!(page["next_page_token"], "3");
    let rest = env
        .ok(
            "list-users",
            json!({"sortBy": "userName", "page_token": "3"}),
        )
        .await;
    assert_eq!(names(&rest, "Resources", "userName"), all_names[2..]);

    // PATCH changes what the operations name
    env.ok(
        "update-user",
        json!({"id": id, "mode": "patch",
               "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]}),
    )
    .await;
    let got = env.ok("get-user", json!({"id": id})).await;
    assert_eq!(got["displayName"], "Ada L.");
    assert_eq!(got["emails"][0]["value"], "ada@example.com");
    assert_eq!(got["entitlements"][0]["value"], "allow-cluster-create");

    // replace drops what is not given
    env.ok(
        "update-user",
        json!({"id": id, "mode": "replace", "userName": "ada@example.com",
               "displayName": "Ada Lovelace"}),
    )
    .await;
    let got = env.ok("get-user", json!({"id": id})).await;
    assert_eq!(got["displayName"], "Ada Lovelace");
    assert!(
        got.get("entitlements")
            .is_none_or(|e| e.as_array().is_some_and(Vec::is_empty)),
        "{got}"
    );

    env.ok("delete-user", json!({"id": id})).await;
    let e = env.err("get-user", json!({"id": id})).await;
    assert_eq!(
        (e.code, e.status),
        (ErrorCode::NotFound, Some(404)),
        "{}",
        e.to_json()
    );
    let e = env.err("delete-user", json!({"id": id})).await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());

    env.invalid("create-user", json!({"displayName": "nobody"}), "userName")
        .await;
    env.invalid(
        "update-user",
        json!({"id": "1", "mode": "patch"}),
        "Operations",
    )
    .await;
    env.invalid(
        "update-user",
        json!({"id": "1", "Operations": [{"op": "merge", "path": "active"}]}),
        "Operations.0.op",
    )
    .await;
}

#[tokio::test]
async fn groups() {
    let env = Env::start().await;
    let ada = env
        .ok("create-user", json!({"userName": "ada@example.com"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = env
        .ok("create-user", json!({"userName": "bob@example.com"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = env
        .ok(
            "create-group",
            json!({"displayName": "data-engineers", "members": [{"value": ada}]}),
        )
        .await;
    let id = made["id"].as_str().expect("a group id").to_owned();
    assert_eq!(made["displayName"], "data-engineers");
    env.ok("create-group", json!({"displayName": "analysts"}))
        .await;

    let found = env
        .ok(
            "list-groups",
            json!({"filter": "displayName eq \"data-engineers\""}),
        )
        .await;
    assert_eq!(names(&found, "Resources", "id"), [id.as_str()]);
    let members = |g: &Value| -> Vec<String> {
        let mut m: Vec<String> = g["Resources"][0]["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        m.sort();
        m
    };
    assert_eq!(members(&found), [ada.as_str()]);
    let one = env
        .ok("list-groups", json!({"limit": 1, "single_page": true}))
        .await;
    assert_eq!(one["Resources"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["next_page_token"], "2");

    // PATCH adds a member and keeps the others
    env.ok(
        "update-group",
        json!({"id": id, "Operations": [{"op": "add", "path": "members", "value": [{"value": bob}]}]}),
    )
    .await;
    let filter = json!({"filter": "displayName eq \"data-engineers\""});
    let got = env.ok("list-groups", filter.clone()).await;
    let mut both = vec![ada.clone(), bob.clone()];
    both.sort();
    assert_eq!(members(&got), both);

    // replace: the members given are all the members
    env.ok(
        "update-group",
        json!({"id": id, "mode": "replace", "displayName": "data-engineers",
               "members": [{"value": bob}]}),
    )
    .await;
    let got = env.ok("list-groups", filter.clone()).await;
    assert_eq!(members(&got), [bob.as_str()]);

    env.ok("delete-group", json!({"id": id})).await;
    let got = env.ok("list-groups", filter).await;
    assert_eq!(got["Resources"].as_array().map_or(0, Vec::len), 0, "{got}");
    let e = env.err("delete-group", json!({"id": id})).await;
    assert_eq!(
        (e.code, e.status),
        (ErrorCode::NotFound, Some(404)),
        "{}",
        e.to_json()
    );

    env.invalid("create-group", json!({"members": []}), "displayName")
        .await;
    env.invalid(
        "update-group",
        json!({"id": id, "mode": "replace", "Operations": []}),
        "Operations",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Workspace

#[tokio::test]
async fn workspace_objects() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let env = Env::start().await;
    env.ok(
        "create-directory",
        json!({"path": "/Shared/e2e/nested/deeper"}),
    )
    .await;
    // again: succeeds when it exists
    env.ok("create-directory", json!({"path": "/Shared/e2e/nested"}))
        .await;
    let source = "print('hello')\n";
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/e2e/hello", "format": "SOURCE", "language": "PYTHON",
               "content": b64.encode(source)}),
    )
    .await;
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/e2e/nested/deeper/query", "format": "SOURCE", "language": "SQL",
               "content": b64.encode("SELECT 1\n")}),
    )
    .await;
    let raw = b"id,label\n1,a\n";
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/e2e/data.csv", "format": "AUTO", "content": b64.encode(raw)}),
    )
    .await;

    // round trips
    let exported = env
        .ok(
            "export-workspace",
            json!({"path": "/Shared/e2e/hello", "format": "SOURCE"}),
        )
        .await;
    let text =
        String::from_utf8(b64.decode(exported["content"].as_str().unwrap()).unwrap()).unwrap();
    assert!(text.contains("print('hello')"), "{text}");
    assert_eq!(exported["file_type"], "py");
    let exported = env
        .ok(
            "export-workspace",
            json!({"path": "/Shared/e2e/data.csv", "format": "AUTO"}),
        )
        .await;
    assert_eq!(
        b64.decode(exported["content"].as_str().unwrap()).unwrap(),
        raw
    );

    let status = env
        .ok(
            "retrieve-object-status",
            json!({"path": "/Shared/e2e/hello"}),
        )
        .await;
    assert_eq!(status["object_type"], "NOTEBOOK");
    assert_eq!(status["language"], "PYTHON");
    assert!(status["object_id"].is_i64(), "{status}");
    let status = env
        .ok(
            "retrieve-object-status",
            json!({"path": "/Shared/e2e/data.csv"}),
        )
        .await;
    assert_eq!(status["object_type"], "FILE");

    let listed = env
        .ok("list-workspace", json!({"path": "/Shared/e2e"}))
        .await;
    let mut got = names(&listed, "objects", "path");
    got.sort();
    assert_eq!(
        got,
        [
            "/Shared/e2e/data.csv",
            "/Shared/e2e/hello",
            "/Shared/e2e/nested"
        ]
    );

    let notebooks = env
        .ok(
            "query-directories",
            json!({"path": "/Shared/e2e", "recursive": true, "object_types": ["NOTEBOOK"]}),
        )
        .await;
    let mut got = names(&notebooks, "objects", "path");
    got.sort();
    assert_eq!(
        got,
        ["/Shared/e2e/hello", "/Shared/e2e/nested/deeper/query"]
    );
    let dirs = env
        .ok(
            "query-directories",
            json!({"path": "/Shared/e2e", "recursive": true, "object_types": ["DIRECTORY"]}),
        )
        .await;
    let mut got = names(&dirs, "objects", "path");
    got.sort();
    assert_eq!(got, ["/Shared/e2e/nested", "/Shared/e2e/nested/deeper"]);

    // overwriting needs `overwrite`
    let e = env
        .err(
            "import-workspace",
            json!({"path": "/Shared/e2e/hello", "format": "SOURCE", "language": "PYTHON",
                   "content": b64.encode("print(2)")}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{}", e.to_json());
    assert_eq!(e.error_code.as_deref(), Some("RESOURCE_ALREADY_EXISTS"));

    let e = env
        .err("delete-workspace", json!({"path": "/Shared/e2e/nested"}))
        .await;
    assert_ne!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    env.ok(
        "delete-workspace",
        json!({"path": "/Shared/e2e/nested", "recursive": true}),
    )
    .await;
    env.not_found(
        "retrieve-object-status",
        json!({"path": "/Shared/e2e/nested/deeper/query"}),
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    env.not_found(
        "export-workspace",
        json!({"path": "/Shared/e2e/nothing"}),
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    env.not_found(
        "list-workspace",
        json!({"path": "/Shared/nothing"}),
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;

    env.invalid(
        "import-workspace",
        json!({"path": "/Shared/e2e/x"}),
        "content",
    )
    .await;
    env.invalid(
        "export-workspace",
        json!({"path": "/Shared/e2e/hello", "format": "PDF"}),
        "format",
    )
    .await;
    env.invalid("create-directory", json!({}), "path").await;
}

// ---------------------------------------------------------------------------------------
// HTTP Request

#[tokio::test]
async fn http_request() {
    let env = Env::start().await;
    let (warehouse, cluster) = env.seed().await;

    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.1/clusters/get", "query": {"cluster_id": cluster}}),
        )
        .await;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"]["cluster_id"], cluster.as_str());
    assert_eq!(out["body"]["state"], "RUNNING");
    assert!(
        out["headers"]["content-type"]
            .as_str()
            .is_some_and(|c| c.starts_with("application/json")),
        "{out}"
    );

    let out = env
        .ok(
            "http-request",
            json!({"method": "POST", "path": "/api/2.0/workspace/mkdirs",
                   "json": {"path": "/Shared/from-http"}}),
        )
        .await;
    assert_eq!(out["status"], 200, "{out}");
    let status = env
        .ok(
            "retrieve-object-status",
            json!({"path": "/Shared/from-http"}),
        )
        .await;
    assert_eq!(status["object_type"], "DIRECTORY");

    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.0/sql/warehouses"}),
        )
        .await;
    assert_eq!(out["body"]["warehouses"][0]["id"], warehouse.as_str());

    // auto-pagination: three catalogs made, listed one per page
    for name in ["h1", "h2", "h3"] {
        env.ok("create-catalog", json!({"name": name})).await;
    }
    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.1/unity-catalog/catalogs",
                   "query": {"max_results": 1}, "paginate": true}),
        )
        .await;
    let got = names(&out["body"], "catalogs", "name");
    for name in ["h1", "h2", "h3", "main"] {
        assert!(got.contains(&name.to_owned()), "{got:?}");
    }
    assert!(env.hits("GET /api/2.1/unity-catalog/catalogs").await >= 4);

    // a missing resource is the action error shape
    let e = env
        .err(
            "http-request",
            json!({"method": "GET", "path": "/api/2.1/unity-catalog/catalogs/nothing"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    assert_eq!(e.error_code.as_deref(), Some("CATALOG_DOES_NOT_EXIST"));

    // refusals, before any request
    env.invalid(
        "http-request",
        json!({"method": "GET", "path": "https://evil.example.com/api/2.0/clusters/list"}),
        "path",
    )
    .await;
    env.invalid(
        "http-request",
        json!({"method": "GET", "path": "/api/2.0/../../etc/passwd"}),
        "path",
    )
    .await;
    env.invalid(
        "http-request",
        json!({"method": "GET", "path": "/api/2.1/clusters/list",
               "headers": {"Authorization": "Bearer other"}}),
        "headers.Authorization",
    )
    .await;
    env.invalid(
        "http-request",
        json!({"method": "TRACE", "path": "/api/2.1/clusters/list"}),
        "method",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Edges users meet

#[tokio::test]
async fn statement_polled_past_the_server_wait_and_external_links() {
    let env = Env::start().await;
    let (warehouse, _) = env.seed().await;
    env.admin(
        reqwest::Method::PATCH,
        "/_emulator/settings",
        json!({"statements": {"chunk_row_count": 10}}),
    )
    .await;
    // the first answer is PENDING (`0s`); the action polls, then fetches every chunk
    let out = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT id FROM range(25)", "warehouse_id": warehouse,
                   "wait_timeout": "0s"}),
        )
        .await;
    assert_eq!(out["status"]["state"], "SUCCEEDED", "{out}");
    let rows = out["result"]["data_array"].as_array().expect("rows");
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[24][0], "24");
    assert!(env.hits("GET /api/2.0/sql/statements/{statement_id}").await >= 1);

    // external links: one link per chunk, all of them
    let out = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT id FROM range(25)", "warehouse_id": warehouse,
                   "disposition": "EXTERNAL_LINKS", "format": "JSON_ARRAY"}),
        )
        .await;
    let links = out["result"]["external_links"].as_array().expect("links");
    let chunks: Vec<i64> = links
        .iter()
        .map(|l| l["chunk_index"].as_i64().unwrap())
        .collect();
    assert_eq!(chunks, [0, 1, 2], "{}", out["result"]);
    assert!(
        out["result"].get("next_chunk_index").is_none(),
        "{}",
        out["result"]
    );
}

#[tokio::test]
async fn a_failed_run_is_returned_with_its_task_states() {
    let env = Env::start().await;
    let job_id = env
        .ok(
            "create-job",
            json!({"name": "broken", "tasks": [notebook_task("a", "/Shared/missing", &[])]}),
        )
        .await["job_id"]
        .as_i64()
        .unwrap();
    let run = env
        .ok(
            "run-job",
            json!({"job_id": job_id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED", "{run}");
    assert_eq!(run["state"]["result_state"], "FAILED", "{run}");
    assert_eq!(run["tasks"][0]["state"]["result_state"], "FAILED", "{run}");
}

#[tokio::test]
async fn list_tokens_continue_for_clusters_and_groups() {
    let env = Env::start().await;
    for name in ["c1", "c2", "c3"] {
        env.ok(
            "create-cluster",
            json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12", "num_workers": 0}),
        )
        .await;
        env.ok("create-group", json!({"displayName": name})).await;
    }
    let page = env
        .ok("list-clusters", json!({"limit": 2, "single_page": true}))
        .await;
    let mut seen = names(&page, "clusters", "cluster_name");
    assert_eq!(seen.len(), 2, "{page}");
    let rest = env
        .ok(
            "list-clusters",
            json!({"page_token": page["next_page_token"].as_str().expect("a token")}),
        )
        .await;
    seen.extend(names(&rest, "clusters", "cluster_name"));
    seen.sort();
    assert_eq!(seen, ["c1", "c2", "c3"]);

    let page = env
        .ok(
            "query-clusters",
            json!({"limit": 1, "single_page": true, "sort_by_field": "CLUSTER_NAME"}),
        )
        .await;
    assert_eq!(names(&page, "clusters", "cluster_name"), ["c1"]);
    let rest = env
        .ok(
            "query-clusters",
            json!({"sort_by_field": "CLUSTER_NAME",
                   "page_token": page["next_page_token"].as_str().expect("a token")}),
        )
        .await;
    assert_eq!(names(&rest, "clusters", "cluster_name"), ["c2", "c3"]);

    let filter = "displayName sw \"c\"";
    let page = env
        .ok(
            "list-groups",
            json!({"filter": filter, "sortBy": "displayName", "limit": 2, "single_page": true}),
        )
        .await;
    assert_eq!(names(&page, "Resources", "displayName"), ["c1", "c2"]);
    let rest = env
        .ok(
            "list-groups",
            json!({"filter": filter, "sortBy": "displayName",
                   "page_token": page["next_page_token"].as_str().expect("a token")}),
        )
        .await;
    assert_eq!(names(&rest, "Resources", "displayName"), ["c3"]);
}

#[tokio::test]
async fn conflicts_timeouts_and_odd_inputs() {
    let env = Env::start().await;
    // duplicates are ALREADY_EXISTS with Databricks' code
    env.ok("create-catalog", json!({"name": "dup"})).await;
    let e = env.err("create-catalog", json!({"name": "dup"})).await;
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{}", e.to_json());
    assert_eq!(e.error_code.as_deref(), Some("CATALOG_ALREADY_EXISTS"));
    env.ok("create-user", json!({"userName": "dup@example.com"}))
        .await;
    let e = env
        .err("create-user", json!({"userName": "dup@example.com"}))
        .await;
    assert_eq!(
        (e.code, e.status),
        (ErrorCode::AlreadyExists, Some(409)),
        "{}",
        e.to_json()
    );

    // a wait that runs out is TIMEOUT, and says so
    env.admin(
        reqwest::Method::PATCH,
        "/_emulator/settings",
        json!({"clusters": {"start_delay_ms": 600000}}),
    )
    .await;
    let e = env
        .err(
            "create-cluster",
            json!({"cluster_name": "slow", "spark_version": "15.4.x-scala2.12", "num_workers": 0,
                   "wait": true, "timeout_seconds": 1}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::Timeout, "{}", e.to_json());
    let listed = env.ok("list-clusters", json!({})).await;
    assert_eq!(listed["clusters"][0]["state"], "PENDING", "{listed}");

    // HTTP Request: DELETE with a JSON body, HEAD, and a raw body
    env.ok("create-directory", json!({"path": "/Shared/odd"}))
        .await;
    let out = env
        .ok(
            "http-request",
            json!({"method": "POST", "path": "/api/2.0/workspace/delete",
                   "body": "{\"path\": \"/Shared/odd\"}", "content_type": "application/json"}),
        )
        .await;
    assert_eq!(out["status"], 200, "{out}");
    env.not_found(
        "retrieve-object-status",
        json!({"path": "/Shared/odd"}),
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;

    // Query Directories on a file is the object itself
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/one.txt", "format": "AUTO", "content": "aGk="}),
    )
    .await;
    let out = env
        .ok("query-directories", json!({"path": "/Shared/one.txt"}))
        .await;
    assert_eq!(names(&out, "objects", "path"), ["/Shared/one.txt"]);
    let out = env
        .ok("list-workspace", json!({"path": "/Shared", "limit": 1}))
        .await;
    assert_eq!(out["objects"].as_array().unwrap().len(), 1, "{out}");
}

#[tokio::test]
async fn large_lists_and_stopped_warehouses() {
    let env = Env::start().await;
    // more jobs than one page of the Jobs API (at most 100)
    for i in 0..130 {
        env.ok("create-job", json!({"name": format!("job-{i:03}")}))
            .await;
    }
    let out = env.ok("query-jobs", json!({"limit": 120})).await;
    assert_eq!(out["jobs"].as_array().unwrap().len(), 120);
    let token = out["next_page_token"].as_str().expect("more jobs follow");
    let rest = env
        .ok("query-jobs", json!({"page_token": token, "limit": 1000}))
        .await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 10);
    assert!(rest.get("next_page_token").is_none(), "{rest}");
    let default = env.ok("query-jobs", json!({})).await;
    assert_eq!(default["jobs"].as_array().unwrap().len(), 100);

    // a statement on a stopped warehouse starts it, as Databricks does
    let (warehouse, _) = env.seed().await;
    let stopped = env
        .ok(
            "stop-warehouse",
            json!({"warehouse_id": warehouse, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(stopped["state"], "STOPPED");
    let rows = env.sql(&warehouse, "SELECT 1 AS one").await;
    assert_eq!(rows, [json!(["1"])]);
    let got = env
        .ok("retrieve-warehouse", json!({"warehouse_id": warehouse}))
        .await;
    assert_eq!(got["state"], "RUNNING");
}

#[tokio::test]
async fn big_jobs_and_scim_pagination_over_http() {
    let env = Env::start().await;
    env.ok("create-directory", json!({"path": "/Shared/big"}))
        .await;
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/big/nb", "format": "SOURCE", "language": "PYTHON",
               "content": "cHJpbnQoMSk="}),
    )
    .await;
    // more tasks than one page of the 2.2 API: Show Job merges every page
    let tasks: Vec<Value> = (0..105)
        .map(|i| notebook_task(&format!("t{i:03}"), "/Shared/big/nb", &[]))
        .collect();
    let job_id = env
        .ok("create-job", json!({"name": "wide", "tasks": tasks}))
        .await["job_id"]
        .as_i64()
        .unwrap();
    let job = env.ok("show-job", json!({"job_id": job_id})).await;
    let got = job["settings"]["tasks"].as_array().unwrap();
    assert_eq!(got.len(), 105);
    assert_eq!(got[104]["task_key"], "t104");
    assert!(
        job.get("next_page_token").is_none(),
        "{}",
        job["next_page_token"]
    );
    let run = env
        .ok(
            "run-job",
            json!({"job_id": job_id, "wait": true, "timeout_seconds": 60}),
        )
        .await;
    assert_eq!(run["tasks"].as_array().unwrap().len(), 105);
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{}", run["state"]);
    let again = env
        .ok("get-job-run", json!({"run_id": run["run_id"]}))
        .await;
    assert_eq!(again["tasks"].as_array().unwrap().len(), 105);

    // HTTP Request follows SCIM startIndex pages
    for name in ["u1", "u2", "u3"] {
        env.ok(
            "create-user",
            json!({"userName": format!("{name}@example.com")}),
        )
        .await;
    }
    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.0/preview/scim/v2/Users",
                   "query": {"count": 1, "filter": "userName sw \"u\""}, "paginate": true}),
        )
        .await;
    let mut got = names(&out["body"], "Resources", "userName");
    got.sort();
    assert_eq!(got, ["u1@example.com", "u2@example.com", "u3@example.com"]);
    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.0/preview/scim/v2/Users",
                   "query": {"count": 1, "filter": "userName sw \"u\""}, "paginate": true,
                   "limit": 2}),
        )
        .await;
    assert_eq!(
        out["body"]["Resources"].as_array().unwrap().len(),
        2,
        "{out}"
    );
}

#[tokio::test]
async fn row_cap_with_external_links_and_summary_pages() {
    let env = Env::start().await;
    let (warehouse, _) = env.seed().await;
    env.admin(
        reqwest::Method::PATCH,
        "/_emulator/settings",
        json!({"statements": {"chunk_row_count": 10}}),
    )
    .await;
    let out = env
        .ok(
            "execute-statement",
            json!({"statement": "SELECT id FROM range(45)", "warehouse_id": warehouse,
                   "disposition": "EXTERNAL_LINKS", "format": "JSON_ARRAY", "row_cap": 15}),
        )
        .await;
    let chunks: Vec<i64> = out["result"]["external_links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["chunk_index"].as_i64().unwrap())
        .collect();
    assert_eq!(chunks, [0, 1], "{}", out["result"]);
    assert_eq!(out["result"]["next_chunk_index"], 2, "{}", out["result"]);

    env.ok(
        "create-schema",
        json!({"catalog_name": "main", "name": "s"}),
    )
    .await;
    for t in ["t1", "t2", "t3"] {
        env.sql(&warehouse, &format!("CREATE TABLE main.s.{t} (id BIGINT)"))
            .await;
    }
    let page = env
        .ok(
            "query-table-summaries",
            json!({"catalog_name": "main", "schema_name_pattern": "s", "limit": 2, "single_page": true}),
        )
        .await;
    let mut seen = names(&page, "tables", "full_name");
    assert_eq!(seen.len(), 2, "{page}");
    let rest = env
        .ok(
            "query-table-summaries",
            json!({"catalog_name": "main", "schema_name_pattern": "s",
                   "page_token": page["next_page_token"].as_str().expect("a token")}),
        )
        .await;
    seen.extend(names(&rest, "tables", "full_name"));
    seen.sort();
    assert_eq!(seen, ["main.s.t1", "main.s.t2", "main.s.t3"]);
}

#[tokio::test]
async fn renames_forced_deletes_and_directory_exports() {
    let env = Env::start().await;
    env.ok("create-catalog", json!({"name": "old"})).await;
    env.ok("create-schema", json!({"catalog_name": "old", "name": "s"}))
        .await;
    let renamed = env
        .ok("update-catalog", json!({"name": "old", "new_name": "new"}))
        .await;
    assert_eq!(renamed["name"], "new");
    let schema = env
        .ok("retrieve-schema", json!({"full_name": "new.s"}))
        .await;
    assert_eq!(schema["catalog_name"], "new");
    let e = env.err("delete-catalog", json!({"name": "new"})).await;
    assert_eq!(e.code, ErrorCode::InvalidInput, "{}", e.to_json());
    assert_eq!(
        e.error_code.as_deref(),
        Some("CATALOG_NOT_EMPTY"),
        "{}",
        e.to_json()
    );
    env.ok("delete-catalog", json!({"name": "new", "force": true}))
        .await;
    env.not_found(
        "retrieve-catalog",
        json!({"name": "new"}),
        "CATALOG_DOES_NOT_EXIST",
    )
    .await;

    // a directory exports as an archive and imports back
    env.ok("create-directory", json!({"path": "/Shared/pkg"}))
        .await;
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/pkg/a", "format": "SOURCE", "language": "PYTHON",
               "content": "cHJpbnQoMSk="}),
    )
    .await;
    let archive = env
        .ok(
            "export-workspace",
            json!({"path": "/Shared/pkg", "format": "SOURCE"}),
        )
        .await;
    let content = archive["content"].as_str().expect("archive content");
    env.ok(
        "import-workspace",
        json!({"path": "/Shared/copy", "format": "SOURCE", "content": content}),
    )
    .await;
    let listed = env
        .ok(
            "query-directories",
            json!({"path": "/Shared/copy", "recursive": true}),
        )
        .await;
    let got = names(&listed, "objects", "path");
    assert!(got.iter().any(|p| p.ends_with("/a")), "{listed}");

    let e = env
        .err(
            "update-job",
            json!({"job_id": 424242, "mode": "reset", "new_settings": {"name": "x"}}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
    let e = env
        .err(
            "delete-cluster",
            json!({"cluster_id": "0000-000000-missing"}),
        )
        .await;
    assert_eq!(e.code, ErrorCode::NotFound, "{}", e.to_json());
}

#[tokio::test]
async fn http_query_encoding_and_scim_attributes() {
    let env = Env::start().await;
    let (_, running) = env.seed().await;
    let stopped = env
        .ok(
            "create-cluster",
            json!({"cluster_name": "idle", "spark_version": "15.4.x-scala2.12", "num_workers": 0,
                   "wait": true, "timeout_seconds": 60}),
        )
        .await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("terminate-cluster", json!({"cluster_id": stopped}))
        .await;
    // nested objects flatten with dots, arrays repeat the key
    let out = env
        .ok(
            "http-request",
            json!({"method": "GET", "path": "/api/2.1/clusters/list",
                   "query": {"filter_by": {"cluster_states": ["RUNNING", "PENDING"]}}}),
        )
        .await;
    let ids: Vec<&str> = out["body"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [running.as_str()], "{out}");

    env.ok(
        "create-user",
        json!({"userName": "ada@example.com", "displayName": "Ada"}),
    )
    .await;
    let out = env
        .ok(
            "list-users",
            json!({"filter": "userName eq \"ada@example.com\"", "attributes": "userName"}),
        )
        .await;
    let user = &out["Resources"][0];
    assert_eq!(user["userName"], "ada@example.com");
    assert!(user.get("displayName").is_none(), "{user}");
}

/// Run Job with `wait: true` on OAuth (client credentials) whose access tokens live one second:
/// the run takes several seconds, so tokens expire during the wait, and the wait must carry on
/// with fresh ones instead of failing with UNAUTHENTICATED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_job_wait_survives_access_token_expiry() {
    let env = Env::start().await;
    env.admin(
        reqwest::Method::PATCH,
        "/_emulator/settings",
        json!({"oauth": {"access_token_lifetime_seconds": 1}, "jobs": {"task_run_ms": 3500}}),
    )
    .await;
    let account_id = env
        .admin(reqwest::Method::GET, "/_emulator/settings", Value::Null)
        .await["oauth"]["account_id"]
        .as_str()
        .expect("account id")
        .to_owned();
    // A confidential app connection, created the way a user does it (with the PAT).
    let created = env
        .client
        .send(
            brickwire_client::ApiRequest::post(format!(
                "/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations"
            ))
            .json(json!({
                "name": "wait-test",
                "redirect_urls": ["http://localhost:8020"],
                "scopes": ["all-apis"],
                "confidential": true,
            })),
        )
        .await
        .expect("app connection");
    let created: Value = serde_json::from_slice(&created.body).expect("json");
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();
    let secret = SecretString::new(created["client_secret"].as_str().expect("secret"));

    let host = url::Url::parse(env.emulator.base_url()).expect("url");
    let m2m = brickwire_client::credentials::OAuthM2mCredentials::new(
        client_id,
        secret,
        brickwire_client::credentials::TokenEndpoint::discover(host.clone(), None, None),
        reqwest::Client::new(),
    );
    let oauth_client = Client::with_credentials(
        host,
        Arc::new(m2m),
        ClientOptions {
            rate_limit: None,
            ..Default::default()
        },
    )
    .expect("client");

    let job = env
        .ok(
            "create-job",
            json!({"name": "slow", "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "dbfs:/x.py"}}]}),
        )
        .await;
    let tokens_before = env.hits("POST /oidc/v1/token").await;
    let run = match run_action(
        &oauth_client,
        "run-job",
        json!({"job_id": job["job_id"], "wait": true, "timeout_seconds": 60}),
    )
    .await
    {
        Ok(run) => run,
        Err(e) => panic!("run-job wait failed: {}", e.to_json()),
    };
    assert_eq!(run["state"]["life_cycle_state"], "TERMINATED", "{run}");
    assert_eq!(run["state"]["result_state"], "SUCCESS", "{run}");
    let tokens = env.hits("POST /oidc/v1/token").await - tokens_before;
    assert!(
        tokens >= 2,
        "the wait spans several token lifetimes, so it needs more than one token (got {tokens})"
    );
}
