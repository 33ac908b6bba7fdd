//! Every service operation against a scripted server: the request it sends (method, path,
//! query, body) and what it makes of the answer, including unknown fields surviving a
//! deserialize -> serialize round trip.

use crate::services_mock;

use axum::http::Method;
use brickwire_api::clusters::{ClusterSpec, ResizeCluster};
use brickwire_api::jobs::{JobSettings, ResetJob, RunNow, UpdateJob};
use brickwire_api::scim::{Group, PatchOperation, PatchRequest, User};
use brickwire_api::statements::ExecuteStatementRequest;
use brickwire_api::unity_catalog::{
    CreateCatalog, CreateVolume, ListTableSummariesRequest, UpdateCatalog, UpdateVolume, VolumeType,
};
use brickwire_api::warehouses::WarehouseSpec;
use brickwire_api::workspace::ExportFormat;
use serde_json::{Value, json};
use services_mock::{Expect, Mock};

#[tokio::test]
async fn clusters() {
    let details = json!({
        "cluster_id": "c1", "cluster_name": "etl", "state": "RUNNING",
        "driver": {"host_private_ip": "10.0.0.1"}, "executors": [], "future_field": {"x": [1, 2]}
    });
    let mock = Mock::start(vec![
        Expect::post("/api/2.1/clusters/create")
            .body(json!({"cluster_name": "etl", "spark_version": "15.4.x-scala2.12", "num_workers": 2}))
            .respond(json!({"cluster_id": "c1"})),
        Expect::get("/api/2.1/clusters/get")
            .query(&[("cluster_id", "c1")])
            .respond(details.clone()),
        Expect::post("/api/2.1/clusters/start").body(json!({"cluster_id": "c1"})),
        Expect::post("/api/2.1/clusters/restart").body(json!({"cluster_id": "c1"})),
        Expect::post("/api/2.1/clusters/resize").body(json!({"cluster_id": "c1", "num_workers": 4})),
        Expect::post("/api/2.1/clusters/edit")
            .body(json!({"cluster_id": "c1", "spark_version": "16.0.x-scala2.12"})),
        Expect::post("/api/2.1/clusters/delete").body(json!({"cluster_id": "c1"})),
        Expect::post("/api/2.1/clusters/permanent-delete").body(json!({"cluster_id": "c1"})),
    ])
    .await;
    let clusters = mock.client.clusters();
    let created = clusters
        .create(&ClusterSpec {
            cluster_name: Some("etl".into()),
            spark_version: Some("15.4.x-scala2.12".into()),
            num_workers: Some(2),
            ..ClusterSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(created.cluster_id.as_deref(), Some("c1"));
    let got = clusters.get("c1").await.unwrap();
    assert_eq!(serde_json::to_value(&got).unwrap(), details);
    clusters.start("c1").await.unwrap();
    clusters.restart("c1", None).await.unwrap();
    clusters
        .resize(&ResizeCluster {
            cluster_id: "c1".into(),
            num_workers: Some(4),
            autoscale: None,
        })
        .await
        .unwrap();
    clusters
        .edit(&ClusterSpec {
            cluster_id: Some("c1".into()),
            spark_version: Some("16.0.x-scala2.12".into()),
            ..ClusterSpec::default()
        })
        .await
        .unwrap();
    clusters.delete("c1").await.unwrap();
    clusters.permanent_delete("c1").await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn jobs_and_runs() {
    let mock = Mock::start(vec![
        Expect::post("/api/2.2/jobs/create")
            .body(json!({"name": "nightly", "max_concurrent_runs": 1}))
            .respond(json!({"job_id": 11})),
        // jobs/get pages its arrays: the pages are merged and the paging fields dropped
        Expect::get("/api/2.2/jobs/get")
            .query(&[("job_id", "11")])
            .respond(json!({"job_id": 11, "has_more": true, "next_page_token": "p2",
                            "settings": {"name": "nightly", "tasks": [{"task_key": "a"}], "parameters": [{"name": "x", "default": "1"}]}})),
        Expect::get("/api/2.2/jobs/get")
            .query(&[("job_id", "11"), ("page_token", "p2")])
            .respond(json!({"job_id": 11, "settings": {"tasks": [{"task_key": "b"}], "job_clusters": [{"job_cluster_key": "k"}]}})),
        Expect::post("/api/2.2/jobs/update").body(json!({
            "job_id": 11, "new_settings": {"timeout_seconds": 60}, "fields_to_remove": ["schedule"]
        })),
        Expect::post("/api/2.2/jobs/reset").body(json!({"job_id": 11, "new_settings": {"name": "n2"}})),
        Expect::post("/api/2.2/jobs/run-now")
            .body(json!({"job_id": 11, "job_parameters": {"x": "2"}, "idempotency_token": "tok"}))
            .respond(json!({"run_id": 99, "number_in_job": 1})),
        Expect::get("/api/2.2/jobs/runs/get")
            .query(&[("run_id", "99")])
            .respond(json!({"run_id": 99, "next_page_token": "r2", "tasks": [{"task_key": "a", "run_id": 100}],
                            "job_parameters": [{"name": "x", "value": "2"}]})),
        Expect::get("/api/2.2/jobs/runs/get")
            .query(&[("run_id", "99"), ("page_token", "r2")])
            .respond(json!({"run_id": 99, "tasks": [{"task_key": "b", "run_id": 101}]})),
        Expect::post("/api/2.2/jobs/runs/cancel").body(json!({"run_id": 99})),
        Expect::post("/api/2.2/jobs/delete").body(json!({"job_id": 11})),
    ])
    .await;
    let jobs = mock.client.jobs();
    let created = jobs
        .create(&JobSettings {
            name: Some("nightly".into()),
            max_concurrent_runs: Some(1),
            ..JobSettings::default()
        })
        .await
        .unwrap();
    assert_eq!(created.job_id, Some(11));

    let job = jobs.get(11).await.unwrap();
    let settings = job.settings.as_ref().unwrap();
    let keys: Vec<_> = settings
        .tasks
        .iter()
        .map(|t| t.task_key.clone().unwrap())
        .collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(settings.job_clusters.len(), 1);
    assert_eq!(settings.parameters.len(), 1);
    assert_eq!((job.has_more, job.next_page_token.as_deref()), (None, None));

    jobs.update(&UpdateJob {
        job_id: 11,
        new_settings: Some(JobSettings {
            timeout_seconds: Some(60),
            ..JobSettings::default()
        }),
        fields_to_remove: vec!["schedule".into()],
    })
    .await
    .unwrap();
    jobs.reset(&ResetJob {
        job_id: 11,
        new_settings: JobSettings {
            name: Some("n2".into()),
            ..JobSettings::default()
        },
    })
    .await
    .unwrap();
    let mut run = RunNow {
        job_id: 11,
        idempotency_token: Some("tok".into()),
        ..RunNow::default()
    };
    run.job_parameters.insert("x".into(), "2".into());
    assert_eq!(jobs.run_now(&run).await.unwrap().run_id, Some(99));

    let run = jobs.get_run(99).await.unwrap();
    assert_eq!(run.tasks.len(), 2);
    assert_eq!(run.tasks[1].run_id, Some(101));
    assert_eq!(run.extra["job_parameters"].as_array().unwrap().len(), 1);
    jobs.cancel_run(99).await.unwrap();
    jobs.delete(11).await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn warehouses() {
    let info = json!({"id": "w1", "name": "wh", "state": "RUNNING", "odbc_params": {"port": 443},
                      "channel": {"name": "CHANNEL_NAME_CURRENT"}, "new_knob": true});
    let mock = Mock::start(vec![
        Expect::post("/api/2.0/sql/warehouses")
            .body(json!({"name": "wh", "cluster_size": "2X-Small", "auto_stop_mins": 10}))
            .respond(json!({"id": "w1"})),
        Expect::get("/api/2.0/sql/warehouses/w1").respond(info.clone()),
        Expect::post("/api/2.0/sql/warehouses/w1/edit").body(json!({"auto_stop_mins": 20})),
        Expect::post("/api/2.0/sql/warehouses/w1/stop"),
        Expect::post("/api/2.0/sql/warehouses/w1/start"),
        Expect::new(Method::DELETE, "/api/2.0/sql/warehouses/w1"),
    ])
    .await;
    let w = mock.client.warehouses();
    let spec = WarehouseSpec {
        name: Some("wh".into()),
        cluster_size: Some("2X-Small".into()),
        auto_stop_mins: Some(10),
        ..WarehouseSpec::default()
    };
    assert_eq!(w.create(&spec).await.unwrap().id.as_deref(), Some("w1"));
    let got = w.get("w1").await.unwrap();
    assert_eq!(serde_json::to_value(&got).unwrap(), info);
    w.edit(
        "w1",
        &WarehouseSpec {
            auto_stop_mins: Some(20),
            ..WarehouseSpec::default()
        },
    )
    .await
    .unwrap();
    w.stop("w1").await.unwrap();
    w.start("w1").await.unwrap();
    w.delete("w1").await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn statements() {
    let mock = Mock::start(vec![
        Expect::post("/api/2.0/sql/statements")
            .body(json!({"statement": "SELECT 1", "warehouse_id": "w1", "wait_timeout": "0s"}))
            .respond(json!({"statement_id": "s1", "status": {"state": "PENDING"}})),
        Expect::get("/api/2.0/sql/statements/s1/result/chunks/2")
            .respond(json!({"chunk_index": 2, "row_count": 1, "data_array": [["x"]]})),
        Expect::post("/api/2.0/sql/statements/s1/cancel"),
    ])
    .await;
    let st = mock.client.statements();
    let r = st
        .execute(&ExecuteStatementRequest {
            statement: "SELECT 1".into(),
            warehouse_id: "w1".into(),
            wait_timeout: Some("0s".into()),
            ..ExecuteStatementRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(r.statement_id.as_deref(), Some("s1"));
    let chunk = st.get_chunk("s1", 2).await.unwrap();
    assert_eq!(chunk.data_array, vec![vec![Some("x".to_owned())]]);
    st.cancel("s1").await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn unity_catalog() {
    let base = "/api/2.1/unity-catalog";
    let table = json!({"full_name": "main.s.t", "table_type": "MANAGED", "columns": [{"name": "id", "type_name": "LONG"}],
                       "effective_predictive_optimization_flag": {"value": "ENABLE"}});
    let mock = Mock::start(vec![
        Expect::post(&format!("{base}/catalogs"))
            .body(json!({"name": "main", "comment": "c"}))
            .respond(json!({"name": "main", "catalog_type": "MANAGED_CATALOG"})),
        Expect::new(Method::PATCH, &format!("{base}/catalogs/main"))
            .body(json!({"owner": "team"}))
            .respond(json!({"name": "main", "owner": "team"})),
        Expect::get(&format!("{base}/tables/main.s.t")).respond(table.clone()),
        Expect::get(&format!("{base}/tables/main.s.t/exists")).respond(json!({"table_exists": true})),
        Expect::get(&format!("{base}/tables/main.s.gone/exists")).respond(json!({"table_exists": false})),
        Expect::get(&format!("{base}/table-summaries"))
            .query(&[("catalog_name", "main"), ("schema_name_pattern", "s%")])
            .respond(json!({"tables": [{"full_name": "main.s.t", "table_type": "VIEW"}]})),
        Expect::new(Method::DELETE, &format!("{base}/tables/main.s.t")),
        Expect::get(&format!("{base}/schemas/main.missing"))
            .status(404)
            .respond(json!({"error_code": "SCHEMA_DOES_NOT_EXIST", "message": "Schema 'main.missing' does not exist."})),
        Expect::post(&format!("{base}/volumes"))
            .body(json!({"catalog_name": "main", "schema_name": "s", "name": "v", "volume_type": "MANAGED"}))
            .respond(json!({"full_name": "main.s.v", "volume_type": "MANAGED"})),
        Expect::new(Method::PATCH, &format!("{base}/volumes/main.s.v"))
            .body(json!({"comment": "files"}))
            .respond(json!({"full_name": "main.s.v", "comment": "files"})),
        Expect::new(Method::DELETE, &format!("{base}/volumes/main.s.v")),
        Expect::new(Method::DELETE, &format!("{base}/schemas/main.s")).query(&[("force", "true")]),
        Expect::new(Method::DELETE, &format!("{base}/catalogs/main")).query(&[]),
    ])
    .await;
    let c = &mock.client;
    let cat = c
        .catalogs()
        .create(&CreateCatalog {
            name: "main".into(),
            comment: Some("c".into()),
            ..CreateCatalog::default()
        })
        .await
        .unwrap();
    assert_eq!(cat.catalog_type.as_deref(), Some("MANAGED_CATALOG"));
    let updated = c
        .catalogs()
        .update(
            "main",
            &UpdateCatalog {
                owner: Some("team".into()),
                ..UpdateCatalog::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.owner.as_deref(), Some("team"));
    let t = c.tables().get("main.s.t").await.unwrap();
    assert_eq!(serde_json::to_value(&t).unwrap(), table);
    assert!(c.tables().exists("main.s.t").await.unwrap());
    assert!(!c.tables().exists("main.s.gone").await.unwrap());
    let summaries = c
        .tables()
        .list_summaries(&ListTableSummariesRequest {
            catalog_name: "main".into(),
            schema_name_pattern: Some("s%".into()),
            ..ListTableSummariesRequest::default()
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(summaries[0].full_name.as_deref(), Some("main.s.t"));
    c.tables().delete("main.s.t").await.unwrap();
    let err = c.schemas().get("main.missing").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let v = c
        .volumes()
        .create(&CreateVolume {
            catalog_name: "main".into(),
            schema_name: "s".into(),
            name: "v".into(),
            volume_type: VolumeType::Managed,
            comment: None,
            storage_location: None,
            extra: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(v.full_name.as_deref(), Some("main.s.v"));
    let v = c
        .volumes()
        .update(
            "main.s.v",
            &UpdateVolume {
                comment: Some("files".into()),
                ..UpdateVolume::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(v.comment.as_deref(), Some("files"));
    c.volumes().delete("main.s.v").await.unwrap();
    c.schemas().delete("main.s", true).await.unwrap();
    c.catalogs().delete("main", false).await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn scim_users_and_groups() {
    let users = "/api/2.0/preview/scim/v2/Users";
    let groups = "/api/2.0/preview/scim/v2/Groups";
    let alice = json!({"id": "7", "userName": "alice@x.com", "active": true,
                       "emails": [{"value": "alice@x.com", "primary": true}],
                       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "bob"}});
    let mock = Mock::start(vec![
        Expect::post(users)
            .body(json!({"userName": "alice@x.com"}))
            .status(201)
            .respond(alice.clone()),
        Expect::get(&format!("{users}/7")).respond(alice.clone()),
        Expect::new(Method::PATCH, &format!("{users}/7"))
            .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{"op": "replace", "path": "active", "value": false}]}))
            .status(204),
        Expect::new(Method::PUT, &format!("{users}/7"))
            .body(json!({"userName": "alice@x.com", "displayName": "Alice"}))
            .respond(json!({"id": "7"})),
        Expect::post(groups)
            .body(json!({"displayName": "eng", "members": [{"value": "7"}]}))
            .status(201)
            .respond(json!({"id": "3", "displayName": "eng", "members": [{"value": "7", "display": "alice"}]})),
        Expect::new(Method::PATCH, &format!("{groups}/3")).body(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": "members[value eq \"7\"]"}]
        })),
        Expect::new(Method::DELETE, &format!("{groups}/3")).status(204),
        Expect::new(Method::DELETE, &format!("{users}/7")).status(204),
    ])
    .await;
    let c = &mock.client;
    let created = c
        .users()
        .create(&User {
            user_name: Some("alice@x.com".into()),
            ..User::default()
        })
        .await
        .unwrap();
    assert_eq!(created.id.as_deref(), Some("7"));
    let got = c.users().get("7").await.unwrap();
    assert_eq!(serde_json::to_value(&got).unwrap(), alice);
    c.users()
        .patch(
            "7",
            &PatchRequest::new(vec![PatchOperation::replace("active", Value::Bool(false))]),
        )
        .await
        .unwrap();
    c.users()
        .replace(
            "7",
            &User {
                user_name: Some("alice@x.com".into()),
                display_name: Some("Alice".into()),
                ..User::default()
            },
        )
        .await
        .unwrap();
    let g = c
        .groups()
        .create(&Group {
            display_name: Some("eng".into()),
            members: vec![brickwire_api::scim::ComplexValue::value("7")],
            ..Group::default()
        })
        .await
        .unwrap();
    assert_eq!(g.members[0].display.as_deref(), Some("alice"));
    c.groups()
        .patch(
            "3",
            &PatchRequest::new(vec![PatchOperation::remove_member("7")]),
        )
        .await
        .unwrap();
    c.groups().delete("3").await.unwrap();
    c.users().delete("7").await.unwrap();
    mock.verify();
}

#[tokio::test]
async fn workspace() {
    let base = "/api/2.0/workspace";
    let mock = Mock::start(vec![
        Expect::post(&format!("{base}/mkdirs")).body(json!({"path": "/Users/a/dir"})),
        Expect::post(&format!("{base}/import")).body(json!({
            "path": "/Users/a/dir/f.py", "content": "cHJpbnQoMSkK", "format": "AUTO", "overwrite": true
        })),
        Expect::get(&format!("{base}/get-status"))
            .query(&[("path", "/Users/a/dir/f.py")])
            .respond(json!({"path": "/Users/a/dir/f.py", "object_type": "FILE", "size": 9})),
        Expect::get(&format!("{base}/export"))
            .query(&[("path", "/Users/a/dir/f.py"), ("format", "SOURCE")])
            .respond(json!({"content": "cHJpbnQoMSkK", "file_type": "py"})),
        Expect::get(&format!("{base}/export"))
            .query(&[("path", "/Users/a/dir/f.py"), ("direct_download", "true")])
            .respond_raw(b"print(1)\n"),
        Expect::post(&format!("{base}/delete")).body(json!({"path": "/Users/a/dir", "recursive": true})),
    ])
    .await;
    let ws = mock.client.workspace();
    ws.mkdirs("/Users/a/dir").await.unwrap();
    ws.import_bytes(
        "/Users/a/dir/f.py",
        b"print(1)\n",
        Some(ExportFormat::Auto),
        true,
    )
    .await
    .unwrap();
    let info = ws.get_status("/Users/a/dir/f.py").await.unwrap();
    assert_eq!(info.size, Some(9));
    let exported = ws
        .export("/Users/a/dir/f.py", Some(ExportFormat::Source))
        .await
        .unwrap();
    assert_eq!(exported.file_type.as_deref(), Some("py"));
    let raw = ws.export_raw("/Users/a/dir/f.py", None).await.unwrap();
    assert_eq!(&raw[..], b"print(1)\n");
    ws.delete("/Users/a/dir", true).await.unwrap();
    mock.verify();
}
