//! Unity Catalog REST API: CRUD of catalogs, schemas, tables and volumes, errors, pagination.

use serde_json::{Value, json};

use crate::Harness;
use crate::sql::run;

const UC: &str = "/api/2.1/unity-catalog";

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {list}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn fresh_workspace_has_main_default_and_system() {
    let h = Harness::start().await;
    let (status, list) = h.get(&format!("{UC}/catalogs")).await;
    assert_eq!(status, 200);
    assert_eq!(names(&list, "catalogs"), ["main", "system"]);
    assert!(list.get("next_page_token").is_none());
    let (status, schema) = h.get(&format!("{UC}/schemas/main.default")).await;
    assert_eq!(status, 200);
    assert_eq!(schema["full_name"], "main.default");
    assert_eq!(schema["catalog_name"], "main");
    let (_, system) = h.get(&format!("{UC}/catalogs/system")).await;
    assert_eq!(system["catalog_type"], "SYSTEM_CATALOG");
}

#[tokio::test]
async fn catalog_lifecycle_and_errors() {
    let h = Harness::start().await;
    let (status, created) = h
        .post(
            &format!("{UC}/catalogs"),
            json!({"name": "Sales", "comment": "c1", "properties": {"k": "v"}, "custom_max_retention_hours": 12}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "sales");
    assert_eq!(created["full_name"], "sales");
    assert_eq!(created["catalog_type"], "MANAGED_CATALOG");
    assert_eq!(created["properties"]["k"], "v");
    assert_eq!(
        created["custom_max_retention_hours"], 12,
        "unknown fields are kept"
    );
    assert_eq!(created["owner"], created["created_by"]);
    assert!(created["created_at"].as_i64().unwrap() > 0);
    assert_eq!(created["id"].as_str().unwrap().len(), 36);
    assert!(created["metastore_id"].as_str().is_some());
    assert!(
        created["storage_location"]
            .as_str()
            .unwrap()
            .contains(created["id"].as_str().unwrap())
    );

    let (status, dup) = h
        .post(&format!("{UC}/catalogs"), json!({"name": "sales"}))
        .await;
    assert_eq!(
        (status, dup["error_code"].as_str()),
        (409, Some("CATALOG_ALREADY_EXISTS"))
    );

    let (status, missing) = h
        .post(&format!("{UC}/catalogs"), json!({"comment": "x"}))
        .await;
    assert_eq!(
        (status, missing["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    assert!(
        missing["message"].as_str().unwrap().contains("name"),
        "{missing}"
    );

    let (status, got) = h.get(&format!("{UC}/catalogs/SALES")).await;
    assert_eq!((status, got["comment"].as_str()), (200, Some("c1")));

    let (status, updated) = h
        .patch(
            &format!("{UC}/catalogs/sales"),
            json!({"new_name": "revenue", "comment": "c2", "owner": "someone"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["name"].as_str(), updated["comment"].as_str()),
        (Some("revenue"), Some("c2"))
    );
    assert_eq!(updated["owner"], "someone");
    assert!(updated["updated_at"].as_i64() > created["updated_at"].as_i64());
    let (status, gone) = h.get(&format!("{UC}/catalogs/sales")).await;
    assert_eq!(
        (status, gone["error_code"].as_str()),
        (404, Some("CATALOG_DOES_NOT_EXIST"))
    );

    h.post(
        &format!("{UC}/schemas"),
        json!({"name": "s", "catalog_name": "revenue"}),
    )
    .await;
    let (status, err) = h.delete(&format!("{UC}/catalogs/revenue")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (400, Some("CATALOG_NOT_EMPTY"))
    );
    let (status, _) = h.delete(&format!("{UC}/catalogs/revenue?force=true")).await;
    assert_eq!(status, 200);
    let (status, _) = h.get(&format!("{UC}/schemas/revenue.s")).await;
    assert_eq!(status, 404);
    let (status, err) = h.delete(&format!("{UC}/catalogs/revenue")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("CATALOG_DOES_NOT_EXIST"))
    );
}

#[tokio::test]
async fn schema_lifecycle_and_errors() {
    let h = Harness::start().await;
    let (status, err) = h.post(&format!("{UC}/schemas"), json!({"name": "s"})).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("catalog_name"));
    let (status, err) = h
        .post(
            &format!("{UC}/schemas"),
            json!({"name": "s", "catalog_name": "nope"}),
        )
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("CATALOG_DOES_NOT_EXIST"))
    );

    let (status, s) = h
        .post(
            &format!("{UC}/schemas"),
            json!({"name": "raw", "catalog_name": "main", "comment": "landing"}),
        )
        .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["full_name"], "main.raw");
    assert!(s["schema_id"].as_str().is_some());
    let (status, err) = h
        .post(
            &format!("{UC}/schemas"),
            json!({"name": "raw", "catalog_name": "main"}),
        )
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (409, Some("SCHEMA_ALREADY_EXISTS"))
    );

    let (status, list) = h.get(&format!("{UC}/schemas?catalog_name=main")).await;
    assert_eq!(status, 200);
    assert_eq!(names(&list, "schemas"), ["default", "raw"]);
    let (status, err) = h.get(&format!("{UC}/schemas")).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("catalog_name"));
    let (status, err) = h.get(&format!("{UC}/schemas?catalog_name=nope")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("CATALOG_DOES_NOT_EXIST"))
    );

    let (status, updated) = h
        .patch(
            &format!("{UC}/schemas/main.raw"),
            json!({"new_name": "bronze", "comment": "renamed"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (updated["full_name"].as_str(), updated["comment"].as_str()),
        (Some("main.bronze"), Some("renamed"))
    );
    let (status, err) = h.get(&format!("{UC}/schemas/main.raw")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("SCHEMA_DOES_NOT_EXIST"))
    );
    let (status, _) = h.get(&format!("{UC}/schemas/not-a-full-name")).await;
    assert_eq!(status, 400);

    run(&h, "CREATE TABLE main.bronze.t (a INT)").await;
    let (status, err) = h.delete(&format!("{UC}/schemas/main.bronze")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (400, Some("SCHEMA_NOT_EMPTY"))
    );
    let (status, _) = h
        .delete(&format!("{UC}/schemas/main.bronze?force=true"))
        .await;
    assert_eq!(status, 200);
    let (_, exists) = h.get(&format!("{UC}/tables/main.bronze.t/exists")).await;
    assert_eq!(exists["table_exists"], false);
}

#[tokio::test]
async fn tables_list_get_exists_summaries_delete() {
    let h = Harness::start().await;
    run(&h, "CREATE SCHEMA main.sales").await;
    run(&h, "CREATE SCHEMA main.sandbox").await;
    run(&h, "CREATE TABLE main.sales.orders (id BIGINT NOT NULL, amount DECIMAL(10,2) COMMENT 'eur', note STRING) USING DELTA COMMENT 'all orders'").await;
    run(&h, "CREATE TABLE main.sales.order_items (id BIGINT)").await;
    run(&h, "CREATE TABLE main.sandbox.orders_copy (id BIGINT)").await;

    let (status, t) = h.get(&format!("{UC}/tables/main.sales.orders")).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["full_name"], "main.sales.orders");
    assert_eq!(
        (t["table_type"].as_str(), t["data_source_format"].as_str()),
        (Some("MANAGED"), Some("DELTA"))
    );
    assert_eq!(t["comment"], "all orders");
    let cols = t["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 3);
    assert_eq!(cols[0]["name"], "id");
    assert_eq!(
        (cols[0]["type_name"].as_str(), cols[0]["type_text"].as_str()),
        (Some("LONG"), Some("bigint"))
    );
    assert_eq!(cols[0]["nullable"], false);
    assert_eq!(cols[1]["type_text"], "decimal(10,2)");
    assert_eq!(
        (
            cols[1]["type_precision"].as_i64(),
            cols[1]["type_scale"].as_i64()
        ),
        (Some(10), Some(2))
    );
    assert_eq!(cols[1]["comment"], "eur");
    assert_eq!(
        (cols[2]["position"].as_i64(), cols[2]["nullable"].as_bool()),
        (Some(2), Some(true))
    );
    assert!(t["table_id"].as_str().is_some() && t["owner"].as_str().is_some());

    let (status, list) = h
        .get(&format!("{UC}/tables?catalog_name=main&schema_name=sales"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&list, "tables"), ["order_items", "orders"]);
    assert!(list["tables"][0].get("columns").is_some());
    let (_, list) = h
        .get(&format!("{UC}/tables?catalog_name=main&schema_name=sales&omit_columns=true&omit_username=true&omit_properties=true"))
        .await;
    assert!(list["tables"][0].get("columns").is_none());
    assert!(list["tables"][0].get("owner").is_none());
    assert!(list["tables"][0].get("properties").is_none());
    let (status, err) = h.get(&format!("{UC}/tables?catalog_name=main")).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("schema_name"));
    let (status, err) = h
        .get(&format!("{UC}/tables?catalog_name=main&schema_name=nope"))
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("SCHEMA_DOES_NOT_EXIST"))
    );

    let (status, exists) = h
        .get(&format!("{UC}/tables/main.sales.orders/exists"))
        .await;
    assert_eq!(
        (status, exists["table_exists"].as_bool()),
        (200, Some(true))
    );
    let (status, exists) = h.get(&format!("{UC}/tables/main.sales.nope/exists")).await;
    assert_eq!(
        (status, exists["table_exists"].as_bool()),
        (200, Some(false))
    );

    let summaries = |q: &'static str| {
        let h = &h;
        async move {
            let (status, v) = h
                .get(&format!("{UC}/table-summaries?catalog_name=main{q}"))
                .await;
            assert_eq!(status, 200, "{v}");
            v["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["full_name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        summaries("").await,
        [
            "main.sales.order_items",
            "main.sales.orders",
            "main.sandbox.orders_copy"
        ]
    );
    assert_eq!(summaries("&schema_name_pattern=sa%25").await.len(), 3);
    assert_eq!(
        summaries("&schema_name_pattern=sales").await,
        ["main.sales.order_items", "main.sales.orders"]
    );
    // `_` is one character: `orders` matches, `order_items` does not.
    assert_eq!(
        summaries("&table_name_pattern=order_").await,
        ["main.sales.orders"]
    );
    assert_eq!(summaries("&table_name_pattern=order%25").await.len(), 3);
    assert_eq!(
        summaries("&table_name_pattern=orders_c_p%25").await,
        ["main.sandbox.orders_copy"]
    );
    let (_, v) = h
        .get(&format!(
            "{UC}/table-summaries?catalog_name=main&table_name_pattern=orders"
        ))
        .await;
    assert_eq!(v["tables"][0]["table_type"], "MANAGED");

    let (status, _) = h
        .patch(
            &format!("{UC}/tables/main.sales.orders"),
            json!({"owner": "data-team"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, t) = h.get(&format!("{UC}/tables/main.sales.orders")).await;
    assert_eq!(t["owner"], "data-team");

    let (status, _) = h.delete(&format!("{UC}/tables/main.sales.orders")).await;
    assert_eq!(status, 200);
    let (status, err) = h.get(&format!("{UC}/tables/main.sales.orders")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("TABLE_DOES_NOT_EXIST"))
    );
    let (status, err) = h.delete(&format!("{UC}/tables/main.sales.orders")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("TABLE_DOES_NOT_EXIST"))
    );
}

#[tokio::test]
async fn volume_lifecycle_and_rules() {
    let h = Harness::start().await;
    let base = json!({"catalog_name": "main", "schema_name": "default", "name": "files"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let (status, err) = h.post(&format!("{UC}/volumes"), base.clone()).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("volume_type"));
    let (status, err) = h
        .post(
            &format!("{UC}/volumes"),
            with(json!({"volume_type": "MANAGED", "storage_location": "s3://b/x"})),
        )
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    let (status, err) = h
        .post(
            &format!("{UC}/volumes"),
            with(json!({"volume_type": "EXTERNAL", "name": "ext"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("storage_location")
    );
    let (status, err) = h
        .post(
            &format!("{UC}/volumes"),
            with(json!({"volume_type": "MANAGED", "schema_name": "nope"})),
        )
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("SCHEMA_DOES_NOT_EXIST"))
    );

    let (status, v) = h
        .post(
            &format!("{UC}/volumes"),
            with(json!({"volume_type": "MANAGED", "comment": "c"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["full_name"], "main.default.files");
    assert!(
        v["storage_location"]
            .as_str()
            .unwrap()
            .contains(v["volume_id"].as_str().unwrap())
    );
    let (status, ext) = h
        .post(&format!("{UC}/volumes"), with(json!({"volume_type": "EXTERNAL", "name": "ext", "storage_location": "s3://bucket/ext"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ext["storage_location"], "s3://bucket/ext");
    let (status, err) = h
        .post(
            &format!("{UC}/volumes"),
            with(json!({"volume_type": "MANAGED"})),
        )
        .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (409, Some("VOLUME_ALREADY_EXISTS"))
    );

    let (_, list) = h
        .get(&format!(
            "{UC}/volumes?catalog_name=main&schema_name=default"
        ))
        .await;
    assert_eq!(names(&list, "volumes"), ["ext", "files"]);

    let (status, updated) = h
        .patch(
            &format!("{UC}/volumes/main.default.files"),
            json!({"new_name": "docs", "comment": "c2", "owner": "o"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            updated["full_name"].as_str(),
            updated["comment"].as_str(),
            updated["owner"].as_str()
        ),
        (Some("main.default.docs"), Some("c2"), Some("o"))
    );
    let (status, got) = h.get(&format!("{UC}/volumes/main.default.docs")).await;
    assert_eq!(
        (status, got["volume_type"].as_str()),
        (200, Some("MANAGED"))
    );
    let (status, _) = h.delete(&format!("{UC}/volumes/main.default.docs")).await;
    assert_eq!(status, 200);
    let (status, err) = h.get(&format!("{UC}/volumes/main.default.docs")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (404, Some("RESOURCE_DOES_NOT_EXIST"))
    );
}

/// Follows `next_page_token` to the end; returns every page's names.
async fn pages(h: &Harness, path: &str, key: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(t) => format!("{path}&page_token={t}"),
            None => path.to_owned(),
        };
        let (status, v) = h.get(&url).await;
        assert_eq!(status, 200, "{v}");
        out.push(names(&v, key));
        match v.get("next_page_token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return out,
        }
        assert!(out.len() < 100, "pagination does not end");
    }
}

#[tokio::test]
async fn pagination_tokens_server_page_size_and_empty_pages() {
    let h = Harness::start().await;
    for i in 0..5 {
        h.post(&format!("{UC}/catalogs"), json!({"name": format!("c{i}")}))
            .await;
    }
    let all: Vec<String> = (0..5)
        .map(|i| format!("c{i}"))
        .chain(["main".into(), "system".into()])
        .collect();

    let p = pages(&h, &format!("{UC}/catalogs?max_results=3"), "catalogs").await;
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(p.concat(), all);

    let (status, err) = h.get(&format!("{UC}/catalogs?max_results=-1")).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    let (status, _) = h
        .get(&format!("{UC}/catalogs?max_results=1&page_token=garbage!"))
        .await;
    assert_eq!(status, 400);

    h.emulator
        .state()
        .settings
        .write()
        .unwrap()
        .unity_catalog
        .page_size = 4;
    let p = pages(&h, &format!("{UC}/catalogs?max_results=0"), "catalogs").await;
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [4, 3]);
    // Omitted max_results stays unpaginated for catalogs ...
    assert_eq!(
        pages(&h, &format!("{UC}/catalogs?"), "catalogs").await,
        std::slice::from_ref(&all)
    );
    // ... while volumes page by default.
    for i in 0..5 {
        h.post(&format!("{UC}/volumes"), json!({"catalog_name": "main", "schema_name": "default", "name": format!("v{i}"), "volume_type": "MANAGED"})).await;
    }
    let p = pages(
        &h,
        &format!("{UC}/volumes?catalog_name=main&schema_name=default"),
        "volumes",
    )
    .await;
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [4, 1]);

    h.emulator
        .state()
        .settings
        .write()
        .unwrap()
        .unity_catalog
        .empty_pages = true;
    let p = pages(&h, &format!("{UC}/catalogs?max_results=3"), "catalogs").await;
    assert_eq!(
        p.iter().map(Vec::len).collect::<Vec<_>>(),
        [0, 3, 0, 3, 0, 1]
    );
    assert_eq!(p.concat(), all);
    let p = pages(
        &h,
        &format!("{UC}/schemas?catalog_name=main&max_results=0"),
        "schemas",
    )
    .await;
    assert_eq!(p, [vec![], vec!["default".to_owned()]]);
}

#[tokio::test]
async fn external_tables_created_through_the_api_are_queryable() {
    let h = Harness::start().await;
    let body = json!({
        "name": "ext", "catalog_name": "main", "schema_name": "default",
        "table_type": "EXTERNAL", "data_source_format": "DELTA", "storage_location": "s3://bucket/ext",
        "columns": [
            {"name": "label", "type_text": "string", "type_name": "STRING", "position": 1},
            {"name": "id", "type_text": "bigint", "type_name": "LONG", "position": 0, "nullable": false, "comment": "key"}
        ],
        "properties": {"owner_team": "x"}
    });
    let (status, t) = h.post(&format!("{UC}/tables"), body.clone()).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (t["table_type"].as_str(), t["storage_location"].as_str()),
        (Some("EXTERNAL"), Some("s3://bucket/ext"))
    );
    assert_eq!(t["columns"][0]["name"], "id");
    assert_eq!(t["columns"][0]["comment"], "key");
    assert_eq!(t["columns"][0]["nullable"], false);
    assert_eq!(t["properties"]["owner_team"], "x");
    let (status, err) = h.post(&format!("{UC}/tables"), body.clone()).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (409, Some("TABLE_ALREADY_EXISTS"))
    );

    run(&h, "INSERT INTO main.default.ext VALUES (1, 'one')").await;
    let b = run(&h, "SELECT label FROM ext WHERE id = 1").await;
    assert_eq!(b[0].num_rows(), 1);

    let mut managed = body.clone();
    managed["name"] = json!("m");
    managed["table_type"] = json!("MANAGED");
    let (status, _) = h.post(&format!("{UC}/tables"), managed).await;
    assert_eq!(status, 400);
    let mut bad_type = body.clone();
    bad_type["name"] = json!("b");
    bad_type["columns"] = json!([{"name": "x", "type_text": "no such type"}]);
    let (status, err) = h.post(&format!("{UC}/tables"), bad_type).await;
    assert_eq!(status, 400, "{err}");
    let mut no_location = body;
    no_location["name"] = json!("n");
    no_location
        .as_object_mut()
        .unwrap()
        .remove("storage_location");
    let (status, err) = h.post(&format!("{UC}/tables"), no_location).await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("storage_location")
    );
}

#[tokio::test]
async fn create_bodies_are_read_as_the_wire_model_and_a_wrong_field_is_named() {
    let h = Harness::start().await;
    let cases = [
        (
            "catalogs",
            json!({"name": 7}),
            "Invalid value for field name: invalid type: integer `7`, expected a string",
        ),
        (
            "catalogs",
            json!({"name": "c", "properties": {"k": 1}}),
            "Invalid value for field properties.k:",
        ),
        (
            "catalogs",
            json!({"comment": "no name"}),
            "Missing required field: name",
        ),
        (
            "catalogs",
            json!({"name": ""}),
            "Missing required field: name",
        ),
        (
            "schemas",
            json!({"name": "s"}),
            "Missing required field: catalog_name",
        ),
        (
            "schemas",
            json!({"name": "s", "catalog_name": ["main"]}),
            "Invalid value for field catalog_name:",
        ),
        (
            "volumes",
            json!({"catalog_name": "main", "schema_name": "default", "name": "v"}),
            "Missing required field: volume_type",
        ),
        (
            "volumes",
            json!({"catalog_name": "main", "schema_name": "default", "name": "v", "volume_type": ""}),
            "Missing required field: volume_type",
        ),
        (
            "volumes",
            json!({"catalog_name": "main", "schema_name": "default", "name": "v",
                   "volume_type": "MANAGED", "comment": 5}),
            "Invalid value for field comment:",
        ),
        (
            "volumes",
            json!({"catalog_name": "main", "schema_name": "default", "name": "v",
                   "volume_type": "SHARED"}),
            "Invalid volume_type 'SHARED': expected MANAGED or EXTERNAL",
        ),
        (
            "tables",
            json!({"name": "t", "catalog_name": "main", "schema_name": "default",
                   "data_source_format": "DELTA", "storage_location": "s3://b/t"}),
            "Missing required field: table_type",
        ),
        (
            "tables",
            json!({"name": "t", "catalog_name": "main", "schema_name": "default",
                   "table_type": "EXTERNAL", "data_source_format": "DELTA",
                   "storage_location": "s3://b/t", "columns": [{"name": 3}]}),
            "Invalid value for field columns[0].name:",
        ),
        (
            "tables",
            json!({"name": "t", "catalog_name": "main", "schema_name": "default",
                   "table_type": "EXTERNAL", "data_source_format": "DELTA",
                   "storage_location": "s3://b/t", "columns": {"name": "x"}}),
            "Invalid value for field columns:",
        ),
    ];
    for (kind, body, message) in cases {
        let (status, err) = h.post(&format!("{UC}/{kind}"), body.clone()).await;
        assert_eq!(
            (status, err["error_code"].as_str()),
            (400, Some("INVALID_PARAMETER_VALUE")),
            "{kind} {body}: {err}"
        );
        let got = err["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{kind} {body}: {got}");
    }
    // Fields the model does not name are kept as sent.
    let (status, created) = h
        .post(
            &format!("{UC}/schemas"),
            json!({"name": "kept", "catalog_name": "main", "properties": {"owner_team": "data"}}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["properties"]["owner_team"], "data");
    // Volume fields the model does not name are kept too.
    let (status, volume) = h
        .post(
            &format!("{UC}/volumes"),
            json!({"catalog_name": "main", "schema_name": "kept", "name": "v",
                   "volume_type": "MANAGED", "browse_only": false}),
        )
        .await;
    assert_eq!(status, 200, "{volume}");
    assert_eq!(volume["volume_type"], "MANAGED");
    assert_eq!(volume["browse_only"], false);
    // An update's field of the wrong type is named as well.
    let (status, err) = h
        .patch(
            &format!("{UC}/volumes/main.kept.v"),
            json!({"owner": ["a"]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value for field owner:"),
        "{err}"
    );
}
