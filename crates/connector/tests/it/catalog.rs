//! The catalog against the seed list, and every action's schema and example.

use brickwire_connector::catalog::kebab_case;
use brickwire_connector::{Catalog, Group};
use serde_json::json;

/// The seed's actions, by group, in its order (the connector docs' list of 63 actions plus
/// HTTP Request). A change on either side fails `catalog_matches_the_seed_list`.
const SEED: &[(&str, &[&str])] = &[
    (
        "Catalogs",
        &[
            "Query Catalogs",
            "Create Catalog",
            "Retrieve Catalog",
            "Update Catalog",
            "Delete Catalog",
        ],
    ),
    (
        "Clusters",
        &[
            "Create Cluster",
            "List Clusters",
            "Get Cluster Info",
            "Query Clusters",
            "Start Cluster",
            "Restart Cluster",
            "Terminate Cluster",
            "Delete Cluster",
        ],
    ),
    (
        "Groups",
        &[
            "List Groups",
            "Create Group",
            "Update Group",
            "Delete Group",
        ],
    ),
    (
        "Jobs",
        &[
            "Create Job",
            "Query Jobs",
            "Show Job",
            "Update Job",
            "Delete Job",
            "Run Job",
            "Get Job Run",
            "Cancel Run",
        ],
    ),
    (
        "Schemas",
        &[
            "Query Schemas",
            "Create Schema",
            "Retrieve Schema",
            "Update Schema",
            "Delete Schema",
        ],
    ),
    (
        "SQL",
        &[
            "Execute Statement",
            "Retrieve Statement",
            "Retrieve Statement Result Chunk",
            "Cancel Statement Execution",
        ],
    ),
    (
        "Tables",
        &[
            "Query Tables",
            "Retrieve Table",
            "Check Table Exists",
            "Query Table Summaries",
            "Delete Table",
        ],
    ),
    (
        "Users",
        &[
            "List Users",
            "Create User",
            "Get User",
            "Update User",
            "Delete User",
        ],
    ),
    (
        "Volumes",
        &[
            "Query Volumes",
            "Create Volume",
            "Retrieve Volume",
            "Update Volume",
            "Delete Volume",
        ],
    ),
    (
        "Warehouses",
        &[
            "Query Warehouses",
            "Create Warehouse",
            "Retrieve Warehouse",
            "Update Warehouse",
            "Start Warehouse",
            "Stop Warehouse",
            "Delete Warehouse",
        ],
    ),
    (
        "Workspace",
        &[
            "Import Workspace",
            "Export Workspace",
            "List Workspace",
            "Retrieve Object Status",
            "Delete Workspace",
            "Query Directories",
            "Create Directory",
        ],
    ),
    ("HTTP", &["HTTP Request"]),
];

#[test]
fn catalog_matches_the_seed_list() {
    let catalog = Catalog::global();
    let expected: Vec<(String, String)> = SEED
        .iter()
        .flat_map(|(g, titles)| titles.iter().map(move |t| (g.to_string(), t.to_string())))
        .collect();
    let actual: Vec<(String, String)> = catalog
        .actions()
        .iter()
        .map(|a| (a.group().to_string(), a.title().to_owned()))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(expected.len(), 64, "63 actions + HTTP Request");
}

/// The seed file itself, when it is there (it lives outside the repository): every numbered
/// action title of it is in the catalog, and nothing else but the trigger is.
#[test]
fn catalog_matches_the_seed_file_when_present() {
    let path = std::env::var("BRICKWIRE_SEED_DOCS")
        .unwrap_or_else(|_| "/work/shared/seed/databricks-connector-docs.txt".into());
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("seed file {path} not found; the embedded list was checked instead");
        return;
    };
    let after = text.split("supported by Refold.").nth(1).unwrap_or(&text);
    let titles: Vec<&str> = after
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (num, rest) = l.split_once(". ")?;
            num.parse::<u32>().ok()?;
            Some(rest.split(" - ").next()?.trim())
        })
        .filter(|t| *t != "Incremental Sync") // a trigger, not an action
        .collect();
    let catalog: Vec<&str> = Catalog::global()
        .actions()
        .iter()
        .map(|a| a.title())
        .collect();
    assert_eq!(catalog, titles);
}

#[test]
fn ids_are_the_kebab_case_of_titles_and_unique() {
    let catalog = Catalog::global();
    for a in catalog.actions() {
        assert_eq!(a.id(), kebab_case(a.title()));
    }
    assert!(catalog.get("retrieve-statement-result-chunk").is_some());
    assert!(catalog.get("http-request").is_some());
    assert_eq!(catalog.in_group(Group::Warehouses).count(), 7);
}

#[test]
fn every_schema_is_valid_json_schema_and_every_example_validates() {
    for a in Catalog::global().actions() {
        let schema = a.input_schema();
        assert!(
            jsonschema::meta::is_valid(schema),
            "{}: schema is not valid JSON Schema: {schema}",
            a.id()
        );
        assert_eq!(schema["type"], "object", "{}", a.id());
        assert_eq!(schema["title"], format!("{} input", a.title()));
        if let Err(e) = a.validate(a.example()) {
            panic!("{}: the example does not validate: {e}", a.id());
        }
        assert!(!a.description().is_empty());
        // every property says what Databricks expects
        for (name, prop) in schema["properties"].as_object().unwrap() {
            assert!(
                prop.get("description")
                    .is_some_and(|d| d.as_str().is_some_and(|d| !d.is_empty())),
                "{}: property `{name}` has no description",
                a.id()
            );
        }
    }
}

#[test]
fn required_fields_carry_databricks_names() {
    let required = |id: &str| -> Vec<String> {
        let a = Catalog::global().get(id).unwrap();
        let mut r: Vec<String> = a.input_schema()["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        r.sort();
        r
    };
    assert_eq!(required("get-cluster-info"), ["cluster_id"]);
    assert_eq!(required("query-schemas"), ["catalog_name"]);
    assert_eq!(required("query-tables"), ["catalog_name", "schema_name"]);
    assert_eq!(required("retrieve-table"), ["full_name"]);
    assert_eq!(required("execute-statement"), ["statement", "warehouse_id"]);
    assert_eq!(
        required("create-volume"),
        ["catalog_name", "name", "schema_name", "volume_type"]
    );
    assert_eq!(required("run-job"), ["job_id"]);
    assert_eq!(required("create-user"), ["userName"]);
    assert_eq!(required("http-request"), ["method", "path"]);
    assert_eq!(required("query-catalogs"), Vec::<String>::new());
}

#[test]
fn defaults_and_enums_are_in_the_schemas() {
    let c = Catalog::global();
    let q = c.get("query-catalogs").unwrap().input_schema();
    assert_eq!(q["properties"]["limit"]["default"], 100);
    assert_eq!(q["properties"]["single_page"]["default"], false);
    let w = c.get("start-warehouse").unwrap().input_schema();
    assert_eq!(w["properties"]["timeout_seconds"]["default"], 1200);
    let u = c.get("update-job").unwrap().input_schema();
    let modes = u["properties"]["mode"].to_string();
    assert!(
        modes.contains("\"update\"") && modes.contains("\"reset\""),
        "{modes}"
    );
    let v = c.get("create-volume").unwrap().input_schema();
    assert!(
        v["properties"]["volume_type"]
            .to_string()
            .contains("EXTERNAL")
    );
}

#[test]
fn enums_typed_by_the_wire_model_list_their_values_and_refuse_others() {
    // These inputs use brickwire-api's enums (its `schemars` feature), not copies of them.
    let c = Catalog::global();
    let execute = c.get("execute-statement").unwrap();
    let format = execute.input_schema()["properties"]["format"]["enum"].clone();
    assert_eq!(format, json!(["JSON_ARRAY", "ARROW_STREAM", "CSV", null]));
    let err = execute
        .validate(&json!({"statement": "SELECT 1", "warehouse_id": "w", "format": "PARQUET"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("format"), "{err}");
    let query = c.get("query-clusters").unwrap();
    let states = query.input_schema()["properties"]["cluster_states"].to_string();
    assert!(
        states.contains("\"TERMINATING\"") && !states.contains("Other"),
        "{states}"
    );
    let sort = query.input_schema()["properties"]["sort_by_field"]["enum"].clone();
    assert_eq!(sort, json!(["CLUSTER_NAME", "DEFAULT", null]));
}

#[test]
fn pass_through_bodies_accept_fields_not_modelled_and_others_refuse_unknown_fields() {
    let c = Catalog::global();
    let create = c.get("create-cluster").unwrap();
    create
        .validate(&serde_json::json!({"spark_version": "15.4.x-scala2.12",
            "aws_attributes": {"availability": "SPOT"}}))
        .unwrap();
    let get = c.get("get-cluster-info").unwrap();
    let e = get
        .validate(&serde_json::json!({"cluster_id": "c", "clusterid": "x"}))
        .unwrap_err();
    assert!(e.message.contains("clusterid"), "{}", e.message);
}

#[test]
fn read_only_and_destructive_facts_follow_what_each_action_does() {
    let catalog = Catalog::new();
    for action in catalog.actions() {
        let id = action.id();
        let reads = [
            "query-",
            "list-",
            "get-",
            "retrieve-",
            "show-",
            "export-",
            "check-",
        ]
        .iter()
        .any(|p| id.starts_with(p));
        assert_eq!(action.is_read_only(), reads, "{id}: read_only");
        if action.is_read_only() {
            assert!(action.retry_safe(), "{id}: a read is safe to retry");
            assert!(!action.is_destructive(), "{id}: a read destroys nothing");
        }
        if id.starts_with("delete-") {
            assert!(action.is_destructive(), "{id}");
        }
        if id.starts_with("create-") || id.starts_with("start-") {
            assert!(!action.is_destructive(), "{id}: only adds");
        }
        let described = action.describe();
        for key in ["read_only", "destructive", "retry_safe"] {
            assert!(described[key].is_boolean(), "{id}: {key}");
        }
        assert!(described["input_schema"].is_object(), "{id}");
        assert!(!described["example_input"].is_null(), "{id}");
    }
    for id in [
        "terminate-cluster",
        "restart-cluster",
        "cancel-run",
        "cancel-statement-execution",
        "execute-statement",
        "http-request",
        "update-job",
        "import-workspace",
    ] {
        assert!(catalog.get(id).unwrap().is_destructive(), "{id}");
    }
    let read_only = catalog
        .actions()
        .iter()
        .filter(|a| a.is_read_only())
        .count();
    assert!(
        (25..=35).contains(&read_only),
        "{read_only} read-only actions"
    );
}
