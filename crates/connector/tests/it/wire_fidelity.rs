//! Wire fidelity: for every action, the request brickwire sends (method, path, query, body)
//! is the one the official Databricks SDK for Python sends for the same operation.
//!
//! Two fresh emulators, each behind a recording proxy (see `wire/mod.rs`): the SDK runs
//! `tests/sdk/wire/sdk_calls.py` against one, brickwire runs the same cases through
//! [`run_action`] against the other, in the same order with the same inputs. The recordings
//! are then compared case by case, after the normalisations listed in [`normalise`], each
//! with its reason. Ids the emulator generates at random become `<idN>` placeholders.
//!
//! The SDK runs under `$BRICKWIRE_PYTHON` or `<repo>/.venv/bin/python`. Without either the
//! test is skipped with a message, unless `CI` is set, where it fails.

use crate::wire;

use std::path::PathBuf;
use std::sync::Arc;

use brickwire_api::SecretString;
use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions};
use brickwire_connector::run_action;
use serde_json::Value;
use wire::{Exchange, Recorder};

const HOME: &str = "/Users/ada@example.com";

/// One case: its name (the action id, or `action/variant`), the action, its input as JSON
/// text where `$key` is replaced by a value captured earlier, and what to capture from the
/// output (`key`, JSON pointer).
struct Case {
    name: &'static str,
    action: &'static str,
    input: String,
    capture: Option<(&'static str, &'static str)>,
}

fn case(name: &'static str, input: &str) -> Case {
    Case {
        name,
        action: name.split('/').next().unwrap(),
        input: input.to_owned(),
        capture: None,
    }
}

fn capture(mut c: Case, key: &'static str, pointer: &'static str) -> Case {
    c.capture = Some((key, pointer));
    c
}

/// The brickwire twin of every call in `sdk_calls.py`, in the same order.
fn cases() -> Vec<Case> {
    let wh = r#"{"warehouse_id": "$warehouse_id"}"#;
    let wh_nowait = r#"{"warehouse_id": "$warehouse_id", "wait": false}"#;
    let st = r#"{"statement_id": "$statement_id"}"#;
    let cl = r#"{"cluster_id": "$cluster_id"}"#;
    let cl_nowait = r#"{"cluster_id": "$cluster_id", "wait": false}"#;
    let table = r#"{"full_name": "wf_cat.wf_s.t"}"#;
    let volume = r#"{"full_name": "wf_cat.wf_s.wf_v"}"#;
    vec![
        capture(
            case(
                "create-warehouse",
                r#"{"name": "wf-wh", "cluster_size": "Small", "auto_stop_mins": 20, "max_num_clusters": 1, "wait": false}"#,
            ),
            "warehouse_id",
            "/id",
        ),
        case("query-warehouses", "{}"),
        case("retrieve-warehouse", wh),
        case(
            "update-warehouse",
            r#"{"warehouse_id": "$warehouse_id", "auto_stop_mins": 30}"#,
        ),
        case("start-warehouse", wh_nowait),
        case("create-catalog", r#"{"name": "wf_cat", "comment": "wire"}"#),
        case("query-catalogs", "{}"),
        case("retrieve-catalog", r#"{"name": "wf_cat"}"#),
        case(
            "update-catalog",
            r#"{"name": "wf_cat", "comment": "wire 2"}"#,
        ),
        case(
            "create-schema",
            r#"{"catalog_name": "wf_cat", "name": "wf_s", "comment": "wire"}"#,
        ),
        case("query-schemas", r#"{"catalog_name": "wf_cat"}"#),
        case("retrieve-schema", r#"{"full_name": "wf_cat.wf_s"}"#),
        case(
            "update-schema",
            r#"{"full_name": "wf_cat.wf_s", "comment": "wire 2"}"#,
        ),
        case(
            "create-volume",
            r#"{"catalog_name": "wf_cat", "schema_name": "wf_s", "name": "wf_v", "volume_type": "MANAGED"}"#,
        ),
        case(
            "query-volumes",
            r#"{"catalog_name": "wf_cat", "schema_name": "wf_s"}"#,
        ),
        case("retrieve-volume", volume),
        case(
            "update-volume",
            r#"{"full_name": "wf_cat.wf_s.wf_v", "comment": "wire 2"}"#,
        ),
        capture(
            case(
                "execute-statement",
                r#"{"statement": "CREATE TABLE wf_cat.wf_s.t (a INT)", "warehouse_id": "$warehouse_id", "wait_timeout": "10s", "wait": false}"#,
            ),
            "statement_id",
            "/statement_id",
        ),
        case("retrieve-statement", st),
        case(
            "retrieve-statement-result-chunk",
            r#"{"statement_id": "$statement_id", "chunk_index": 0}"#,
        ),
        case("cancel-statement-execution", st),
        case(
            "query-tables",
            r#"{"catalog_name": "wf_cat", "schema_name": "wf_s"}"#,
        ),
        case("retrieve-table", table),
        case("check-table-exists", table),
        case("query-table-summaries", r#"{"catalog_name": "wf_cat"}"#),
        case("delete-table", table),
        case("delete-volume", volume),
        case("delete-schema", r#"{"full_name": "wf_cat.wf_s"}"#),
        case("delete-catalog", r#"{"name": "wf_cat", "force": true}"#),
        case("stop-warehouse", wh_nowait),
        case("delete-warehouse", wh),
        capture(
            case(
                "create-cluster",
                r#"{"spark_version": "15.4.x-scala2.12", "cluster_name": "wf", "node_type_id": "i3.xlarge", "num_workers": 1, "autotermination_minutes": 60, "wait": false}"#,
            ),
            "cluster_id",
            "/cluster_id",
        ),
        case("list-clusters", "{}"),
        case("get-cluster-info", cl),
        case(
            "query-clusters",
            r#"{"cluster_states": ["RUNNING", "PENDING"], "sort_by_field": "CLUSTER_NAME", "sort_by_direction": "ASC"}"#,
        ),
        case("restart-cluster", cl_nowait),
        case("terminate-cluster", cl),
        case("start-cluster", cl_nowait),
        case("delete-cluster", cl),
        capture(
            case(
                "create-job",
                r#"{"name": "wf-job", "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Users/a/etl"}, "existing_cluster_id": "0123-456789-abcdefgh"}]}"#,
            ),
            "job_id",
            "/job_id",
        ),
        case("query-jobs", r#"{"name": "wf-job"}"#),
        case("show-job", r#"{"job_id": $job_id}"#),
        case(
            "update-job",
            r#"{"job_id": $job_id, "new_settings": {"max_concurrent_runs": 2}, "fields_to_remove": ["tags"]}"#,
        ),
        case(
            "update-job/reset",
            r#"{"job_id": $job_id, "mode": "reset", "new_settings": {"name": "wf-job-2", "max_concurrent_runs": 1}}"#,
        ),
        capture(
            case(
                "run-job",
                r#"{"job_id": $job_id, "job_parameters": {"d": "1"}, "wait": false}"#,
            ),
            "run_id",
            "/run_id",
        ),
        case("get-job-run", r#"{"run_id": $run_id}"#),
        case("cancel-run", r#"{"run_id": $run_id, "wait": false}"#),
        case("delete-job", r#"{"job_id": $job_id}"#),
        capture(
            case(
                "create-user",
                r#"{"userName": "ada@example.com", "displayName": "Ada"}"#,
            ),
            "user_id",
            "/id",
        ),
        case("list-users", r#"{"filter": "userName sw \"ada\""}"#),
        case("get-user", r#"{"id": "$user_id"}"#),
        case(
            "update-user",
            r#"{"id": "$user_id", "Operations": [{"op": "add", "path": "entitlements", "value": [{"value": "databricks-sql-access"}]}]}"#,
        ),
        case(
            "update-user/replace",
            r#"{"id": "$user_id", "mode": "replace", "userName": "ada@example.com", "displayName": "Ada L"}"#,
        ),
        capture(
            case(
                "create-group",
                r#"{"displayName": "wf-g", "members": [{"value": "$user_id"}]}"#,
            ),
            "group_id",
            "/id",
        ),
        case("list-groups", r#"{"filter": "displayName eq \"wf-g\""}"#),
        case(
            "update-group",
            r#"{"id": "$group_id", "Operations": [{"op": "replace", "path": "displayName", "value": "wf-g2"}]}"#,
        ),
        case(
            "update-group/replace",
            r#"{"id": "$group_id", "mode": "replace", "displayName": "wf-g3"}"#,
        ),
        case("delete-group", r#"{"id": "$group_id"}"#),
        case("delete-user", r#"{"id": "$user_id"}"#),
        case("create-directory", &format!(r#"{{"path": "{HOME}/wf"}}"#)),
        case(
            "import-workspace",
            &format!(
                r#"{{"path": "{HOME}/wf/nb", "content": "cHJpbnQoMSk=", "format": "SOURCE", "language": "PYTHON", "overwrite": true}}"#
            ),
        ),
        case(
            "export-workspace",
            &format!(r#"{{"path": "{HOME}/wf/nb", "format": "SOURCE"}}"#),
        ),
        case("list-workspace", &format!(r#"{{"path": "{HOME}/wf"}}"#)),
        case(
            "retrieve-object-status",
            &format!(r#"{{"path": "{HOME}/wf/nb"}}"#),
        ),
        case(
            "query-directories",
            &format!(r#"{{"path": "{HOME}", "recursive": true}}"#),
        ),
        case(
            "delete-workspace",
            &format!(r#"{{"path": "{HOME}/wf", "recursive": true}}"#),
        ),
        case(
            "http-request",
            r#"{"method": "GET", "path": "/api/2.1/clusters/list", "query": {"page_size": 10}}"#,
        ),
    ]
}

/// The Python that has the official SDK, or why there is none.
fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BRICKWIRE_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = repo.join(".venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(format!(
            "neither $BRICKWIRE_PYTHON nor {} exists (scripts/test.sh creates it)",
            venv.display()
        ))
    }
}

async fn run_brickwire(recorder: &Recorder) {
    let client = Client::with_credentials(
        recorder.url.parse().unwrap(),
        Arc::new(PatCredentials::new(&SecretString::new(&recorder.token))),
        ClientOptions {
            rate_limit: None,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let mut captured: Vec<(&str, String)> = Vec::new();
    for c in cases() {
        let mut text = c.input.clone();
        for (key, value) in &captured {
            text = text.replace(&format!("${key}"), value);
        }
        let input: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad input {text}: {e}", c.name));
        recorder.begin(c.name);
        // Refusals are fine (the SDK side sees the same ones): the request was recorded.
        let output = run_action(&client, c.action, input).await;
        if let Some((key, pointer)) = c.capture {
            let output = output.unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
            let value = output
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{}: no {pointer} in {output}", c.name));
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            captured.push((key, text));
        }
    }
    recorder.begin("_end");
}

/// The page-size parameter of each list action. brickwire always asks for an explicit page
/// (at most its `limit`, default 100) so that `limit` bounds what it fetches; the SDK sends
/// no page size (warehouses, clusters, jobs, volumes, table summaries: the server default),
/// `max_results=0` (catalogs, schemas, tables: "server picks") or `count=10000` (SCIM).
/// Both are valid requests for the same list; only this one key is dropped, and only on these
/// cases, so a different path, filter or cursor still fails the comparison.
const PAGE_SIZE: &[(&str, &str)] = &[
    ("query-warehouses", "page_size"),
    ("query-catalogs", "max_results"),
    ("query-schemas", "max_results"),
    ("query-volumes", "max_results"),
    ("query-tables", "max_results"),
    ("query-table-summaries", "max_results"),
    ("list-clusters", "page_size"),
    ("query-clusters", "page_size"),
    ("query-jobs", "limit"),
    ("list-users", "count"),
    ("list-groups", "count"),
];

/// What legitimately differs between the two clients, made equal before comparing. Headers
/// (`User-Agent`, auth) are not recorded; the content type of a body is, and compared with the
/// body, so a POST without fields must send what the SDK sends (`{}` as
/// `application/json`), not an empty body; query pairs are compared
/// sorted, since neither the order of keys nor the order of a repeated key's values
/// (`filter_by.cluster_states`) carries meaning; body keys are compared as JSON objects, so
/// their order does not count either. None of these touches the method, the path or a body
/// field.
fn normalise(case: &str, mut list: Vec<Exchange>) -> Vec<Exchange> {
    let page_size = PAGE_SIZE.iter().find(|(c, _)| *c == case).map(|(_, k)| *k);
    for ex in list.iter_mut() {
        if let Some(key) = page_size {
            ex.query.retain(|(k, _)| k != key);
        }
    }
    list
}

fn show(list: &[Exchange]) -> String {
    list.iter()
        .map(|e| {
            let q: Vec<String> = e.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "    {} {}?{}  {}",
                e.method,
                e.path,
                q.join("&"),
                if e.body.is_null() {
                    String::new()
                } else {
                    format!(
                        "{} ({})",
                        e.body,
                        e.content_type.as_deref().unwrap_or("no type")
                    )
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn same(a: &[Exchange], b: &[Exchange]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.method == y.method
                && x.path == y.path
                && x.query == y.query
                && x.body == y.body
                && x.content_type == y.content_type
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_sends_what_the_python_sdk_sends() {
    let python = match python() {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("wire fidelity needs the official SDK: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED wire fidelity: {why}");
            return;
        }
    };
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/wire/sdk_calls.py");

    let sdk = Recorder::start().await;
    let ours = Recorder::start().await;

    let (url, token, py, sc) = (
        sdk.url.clone(),
        sdk.token.clone(),
        python.clone(),
        script.clone(),
    );
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&py)
            .arg(&sc)
            .arg(&url)
            .arg(&token)
            .status()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        status.success(),
        "{} exited with {status}",
        script.display()
    );
    run_brickwire(&ours).await;

    let mut theirs = sdk.by_case();
    let mut mine = ours.by_case();
    wire::placeholders(&mut theirs);
    wire::placeholders(&mut mine);

    let mut failures = Vec::new();
    let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    for name in &names {
        let get = |all: &[(String, Vec<Exchange>)]| {
            all.iter()
                .find(|(c, _)| c == name)
                .map(|(_, l)| l.clone())
                .unwrap_or_default()
        };
        let a = normalise(name, get(&theirs));
        let b = normalise(name, get(&mine));
        assert!(!a.is_empty(), "{name}: the SDK sent nothing");
        if !same(&a, &b) {
            failures.push(format!(
                "{name}:\n  sdk:\n{}\n  brickwire:\n{}",
                show(&a),
                show(&b)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

#[test]
fn every_catalog_action_has_a_wire_case() {
    let covered: Vec<&str> = cases().iter().map(|c| c.action).collect();
    let missing: Vec<&str> = brickwire_connector::Catalog::global()
        .actions()
        .iter()
        .map(|a| a.id())
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "no wire-fidelity case for {missing:?}");
}
