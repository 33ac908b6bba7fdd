//! Running actions against a scripted mock workspace: validation before any request, the
//! paging shape of every list action, HTTP Request refusals, and the request each group's
//! representative actions send.

use crate::support;

use brickwire_connector::{ErrorCode, run_action};
use serde_json::{Value, json};
use support::Mock;

fn query(r: &support::Recorded) -> Vec<(&str, &str)> {
    r.query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// validation

#[tokio::test]
async fn invalid_inputs_name_the_field_and_send_nothing() {
    let mock = Mock::start().await;
    let client = mock.client();
    let cases: &[(&str, Value, &[&str])] = &[
        // missing required field
        ("get-cluster-info", json!({}), &["cluster_id"]),
        (
            "execute-statement",
            json!({"statement": "SELECT 1"}),
            &["warehouse_id"],
        ),
        ("create-user", json!({"displayName": "x"}), &["userName"]),
        // wrong type
        ("show-job", json!({"job_id": "abc"}), &["job_id", "integer"]),
        (
            "query-catalogs",
            json!({"limit": "ten"}),
            &["limit", "integer"],
        ),
        (
            "delete-catalog",
            json!({"name": "x", "force": "yes"}),
            &["force", "boolean"],
        ),
        // unknown enum value
        (
            "create-volume",
            json!({"catalog_name": "a", "schema_name": "b", "name": "c", "volume_type": "SHARED"}),
            &["volume_type", "MANAGED", "EXTERNAL"],
        ),
        (
            "query-clusters",
            json!({"cluster_states": ["RUNNING", "SLEEPING"]}),
            &["cluster_states.1", "SLEEPING"],
        ),
        (
            "update-job",
            json!({"job_id": 1, "mode": "merge"}),
            &["mode", "update", "reset"],
        ),
        (
            "http-request",
            json!({"method": "TRACE", "path": "/api/2.0/x"}),
            &["method", "TRACE"],
        ),
        // out of range, unknown field
        ("query-jobs", json!({"limit": 0}), &["limit"]),
        (
            "retrieve-warehouse",
            json!({"warehouse_id": "w", "idd": 1}),
            &["idd"],
        ),
        // checks the schema cannot express
        (
            "update-job",
            json!({"job_id": 1, "mode": "reset"}),
            &["new_settings"],
        ),
        (
            "update-user",
            json!({"id": "1", "mode": "patch"}),
            &["Operations"],
        ),
        (
            "import-workspace",
            json!({"path": "/Users/a/b"}),
            &["content"],
        ),
        ("query-users-nope", json!({}), &["query-users-nope"]),
    ];
    for (id, input, needles) in cases {
        let e = run_action(&client, id, input.clone())
            .await
            .expect_err(&format!("{id} {input} should fail"));
        let expected = if *id == "query-users-nope" {
            ErrorCode::UnknownAction
        } else {
            ErrorCode::InvalidInput
        };
        assert_eq!(e.code, expected, "{id}: {e:?}");
        assert!(!e.retryable);
        for needle in *needles {
            assert!(
                e.message.contains(needle),
                "{id}: `{}` does not name {needle}",
                e.message
            );
        }
    }
    assert!(mock.requests().is_empty(), "sent: {:?}", mock.requests());
}

// ---------------------------------------------------------------------------------------
// paging: every list action, one shape

#[tokio::test]
async fn every_token_list_action_pages_to_the_end_with_one_shape() {
    // (action, input, path, Databricks' list field, page-size parameter)
    let cases: &[(&str, Value, &str, &str, &str)] = &[
        (
            "query-catalogs",
            json!({}),
            "/api/2.1/unity-catalog/catalogs",
            "catalogs",
            "max_results",
        ),
        (
            "query-schemas",
            json!({"catalog_name": "main"}),
            "/api/2.1/unity-catalog/schemas",
            "schemas",
            "max_results",
        ),
        (
            "query-tables",
            json!({"catalog_name": "main", "schema_name": "s"}),
            "/api/2.1/unity-catalog/tables",
            "tables",
            "max_results",
        ),
        (
            "query-table-summaries",
            json!({"catalog_name": "main"}),
            "/api/2.1/unity-catalog/table-summaries",
            "tables",
            "max_results",
        ),
        (
            "query-volumes",
            json!({"catalog_name": "main", "schema_name": "s"}),
            "/api/2.1/unity-catalog/volumes",
            "volumes",
            "max_results",
        ),
        (
            "list-clusters",
            json!({}),
            "/api/2.1/clusters/list",
            "clusters",
            "page_size",
        ),
        (
            "query-clusters",
            json!({"cluster_states": ["RUNNING"]}),
            "/api/2.1/clusters/list",
            "clusters",
            "page_size",
        ),
        (
            "query-jobs",
            json!({}),
            "/api/2.2/jobs/list",
            "jobs",
            "limit",
        ),
        (
            "query-warehouses",
            json!({}),
            "/api/2.0/sql/warehouses",
            "warehouses",
            "page_size",
        ),
    ];
    for (id, input, path, field, size_param) in cases {
        let mock = Mock::start().await;
        mock.on(
            "GET",
            path,
            200,
            json!({field.to_string(): [{"n": 1}, {"n": 2}], "next_page_token": "p2"}),
        )
        .on(
            "GET",
            path,
            200,
            json!({field.to_string(): [{"n": 3, "unknown_field": true}]}),
        );
        let out = run_action(&mock.client(), id, input.clone()).await.unwrap();
        assert_eq!(
            out,
            json!({field.to_string(): [{"n": 1}, {"n": 2}, {"n": 3, "unknown_field": true}]}),
            "{id}"
        );
        let reqs = mock.requests();
        assert_eq!(reqs.len(), 2, "{id}");
        let size = |r: &support::Recorded| {
            r.query
                .iter()
                .find(|(k, _)| k == size_param)
                .map(|(_, v)| v.clone())
        };
        // the first page asks for the default limit (100, also the Jobs API's maximum)
        assert_eq!(size(&reqs[0]).as_deref(), Some("100"), "{id}");
        // the second page asks only for what is still wanted, at the token
        assert_eq!(size(&reqs[1]).as_deref(), Some("98"), "{id}");
        assert!(
            query(&reqs[1]).contains(&("page_token", "p2")),
            "{id}: {:?}",
            reqs[1].query
        );
        mock.assert_done();
    }
}

#[tokio::test]
async fn single_page_returns_the_token_and_a_token_continues() {
    let mock = Mock::start().await;
    let path = "/api/2.1/unity-catalog/catalogs";
    mock.on(
        "GET",
        path,
        200,
        json!({"catalogs": [{"name": "a"}, {"name": "b"}], "next_page_token": "t2"}),
    )
    .on("GET", path, 200, json!({"catalogs": [{"name": "c"}]}));
    let client = mock.client();
    let first = run_action(
        &client,
        "query-catalogs",
        json!({"limit": 2, "single_page": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        first,
        json!({"catalogs": [{"name": "a"}, {"name": "b"}], "next_page_token": "t2"})
    );
    let rest = run_action(&client, "query-catalogs", json!({"page_token": "t2"}))
        .await
        .unwrap();
    assert_eq!(rest, json!({"catalogs": [{"name": "c"}]}));
    let reqs = mock.requests();
    assert!(query(&reqs[0]).contains(&("max_results", "2")));
    assert!(query(&reqs[1]).contains(&("page_token", "t2")));
}

#[tokio::test]
async fn limit_stops_paging_and_hands_back_the_token() {
    let mock = Mock::start().await;
    let path = "/api/2.2/jobs/list";
    mock.on(
        "GET",
        path,
        200,
        json!({"jobs": [{"job_id": 1}, {"job_id": 2}], "has_more": true, "next_page_token": "j2"}),
    );
    let out = run_action(&mock.client(), "query-jobs", json!({"limit": 2}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"jobs": [{"job_id": 1}, {"job_id": 2}], "next_page_token": "j2"})
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn scim_lists_page_by_start_index_with_the_same_shape() {
    for (id, path) in [
        ("list-users", "/api/2.0/preview/scim/v2/Users"),
        ("list-groups", "/api/2.0/preview/scim/v2/Groups"),
    ] {
        let mock = Mock::start().await;
        mock.on(
            "GET",
            path,
            200,
            json!({"Resources": [{"id": "1"}, {"id": "2"}], "startIndex": 1, "totalResults": 3}),
        )
        .on(
            "GET",
            path,
            200,
            json!({"Resources": [{"id": "3"}], "startIndex": 3, "totalResults": 3}),
        )
        .on(
            "GET",
            path,
            200,
            json!({"Resources": [], "startIndex": 4, "totalResults": 3}),
        );
        let out = run_action(
            &mock.client(),
            id,
            json!({"filter": "displayName co \"a\""}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            json!({"Resources": [{"id": "1"}, {"id": "2"}, {"id": "3"}]}),
            "{id}"
        );
        let reqs = mock.requests();
        assert!(
            query(&reqs[0]).contains(&("startIndex", "1")),
            "{:?}",
            reqs[0].query
        );
        assert!(query(&reqs[0]).contains(&("count", "100")));
        assert!(query(&reqs[0]).contains(&("filter", "displayName co \"a\"")));
        assert!(query(&reqs[1]).contains(&("startIndex", "3")));
        assert!(query(&reqs[1]).contains(&("count", "98")));

        let mock = Mock::start().await;
        mock.on(
            "GET",
            path,
            200,
            json!({"Resources": [{"id": "5"}], "startIndex": 5}),
        );
        let out = run_action(&mock.client(), id, json!({"page_token": "5", "limit": 1}))
            .await
            .unwrap();
        assert_eq!(
            out,
            json!({"Resources": [{"id": "5"}], "next_page_token": "6"}),
            "{id}"
        );
        assert!(query(&mock.requests()[0]).contains(&("startIndex", "5")));
    }
}

#[tokio::test]
async fn workspace_lists_use_the_objects_field_without_a_token() {
    let mock = Mock::start().await;
    let objects = json!([{"path": "/a/x", "object_type": "NOTEBOOK"}, {"path": "/a/d", "object_type": "DIRECTORY"}]);
    mock.on(
        "GET",
        "/api/2.0/workspace/list",
        200,
        json!({"objects": objects}),
    );
    let out = run_action(&mock.client(), "list-workspace", json!({"path": "/a"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"objects": objects}));
    assert!(query(&mock.requests()[0]).contains(&("path", "/a")));

    // Query Directories walks subdirectories and filters by type
    let mock = Mock::start().await;
    mock.on(
        "GET",
        "/api/2.0/workspace/list",
        200,
        json!({"objects": objects}),
    )
    .on(
        "GET",
        "/api/2.0/workspace/list",
        200,
        json!({"objects": [{"path": "/a/d/y", "object_type": "NOTEBOOK"}]}),
    );
    let out = run_action(
        &mock.client(),
        "query-directories",
        json!({"path": "/a", "recursive": true, "object_types": ["NOTEBOOK"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"objects": [{"path": "/a/x", "object_type": "NOTEBOOK"}, {"path": "/a/d/y", "object_type": "NOTEBOOK"}]})
    );
    assert!(query(&mock.requests()[1]).contains(&("path", "/a/d")));

    // an empty directory has no `objects` key at all
    let mock = Mock::start().await;
    mock.on("GET", "/api/2.0/workspace/list", 200, json!({}));
    let out = run_action(&mock.client(), "list-workspace", json!({"path": "/empty"}))
        .await
        .unwrap();
    assert_eq!(out, json!({"objects": []}));
}

// ---------------------------------------------------------------------------------------
// HTTP Request

#[tokio::test]
async fn http_request_refuses_to_leave_the_workspace_or_replace_credentials() {
    let mock = Mock::start().await;
    let client = mock.client();
    let refused = [
        (
            json!({"method": "GET", "path": "https://evil.example.com/api/2.0/x"}),
            "path",
        ),
        (
            json!({"method": "GET", "path": "//evil.example.com/api/2.0/x"}),
            "path",
        ),
        (
            json!({"method": "GET", "path": "/api/2.0/../../oidc/token"}),
            "path",
        ),
        (
            json!({"method": "GET", "path": "/api/2.0/%2E%2E/x"}),
            "path",
        ),
        (json!({"method": "GET", "path": "/login"}), "path"),
        (
            json!({"method": "GET", "path": "/api/2.0/x", "headers": {"Authorization": "Bearer other"}}),
            "headers.Authorization",
        ),
        (
            json!({"method": "GET", "path": "/api/2.0/x", "headers": {"authorization": "Basic eA=="}}),
            "headers.authorization",
        ),
        (
            json!({"method": "GET", "path": "/api/2.0/x", "headers": {"X-Databricks-Azure-SP-Management-Token": "t"}}),
            "headers.",
        ),
        (
            json!({"method": "GET", "path": "/api/2.0/x", "headers": {"Host": "evil.example.com"}}),
            "headers.Host",
        ),
        (
            json!({"method": "POST", "path": "/api/2.0/x", "json": {}, "body": "x"}),
            "body",
        ),
        (
            json!({"method": "POST", "path": "/api/2.0/x", "paginate": true}),
            "paginate",
        ),
    ];
    for (input, field) in refused {
        let e = run_action(&client, "http-request", input.clone())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{input}");
        assert!(e.message.contains(field), "{input}: {}", e.message);
        assert!(!e.message.contains("Bearer other"));
    }
    assert!(mock.requests().is_empty(), "sent: {:?}", mock.requests());
}

#[tokio::test]
async fn http_request_sends_method_path_query_body_and_headers_and_returns_the_answer() {
    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.1/jobs/run-now",
        200,
        json!({"run_id": 7, "extra": [1]}),
    );
    let out = run_action(
        &mock.client(),
        "http-request",
        json!({"method": "POST", "path": "/api/2.1/jobs/run-now",
               "query": {"a": 1, "tags": ["x", "y"], "filter_by": {"is_pinned": true}},
               "json": {"job_id": 5}, "headers": {"X-Trace": "abc"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], json!({"run_id": 7, "extra": [1]}));
    assert_eq!(out["headers"]["x-request-id"], "req-mock");
    let r = &mock.requests()[0];
    assert_eq!(
        query(r),
        vec![
            ("a", "1"),
            ("tags", "x"),
            ("tags", "y"),
            ("filter_by.is_pinned", "true")
        ]
    );
    assert_eq!(r.body, json!({"job_id": 5}));
    assert_eq!(r.headers["x-trace"], "abc");
    assert_eq!(r.headers["authorization"], "Bearer dapi-test-token");

    // raw body with its content type
    let mock = Mock::start().await;
    mock.on(
        "PUT",
        "/api/2.0/fs/files/Volumes/a/b/c/f.txt",
        204,
        Value::Null,
    );
    let out = run_action(
        &mock.client(),
        "http-request",
        json!({"method": "PUT", "path": "/api/2.0/fs/files/Volumes/a/b/c/f.txt",
               "body": "hello", "content_type": "application/octet-stream"}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 204);
    let r = &mock.requests()[0];
    assert_eq!(r.body, json!("hello"));
    assert_eq!(r.headers["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn http_request_paginates_token_and_scim_styles() {
    let mock = Mock::start().await;
    mock.on(
        "GET",
        "/api/2.1/clusters/list",
        200,
        json!({"clusters": [{"cluster_id": "a"}], "next_page_token": "n2"}),
    )
    .on(
        "GET",
        "/api/2.1/clusters/list",
        200,
        json!({"clusters": [{"cluster_id": "b"}]}),
    );
    let out = run_action(
        &mock.client(),
        "http-request",
        json!({"method": "GET", "path": "/api/2.1/clusters/list", "query": {"page_size": 1}, "paginate": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        out["body"],
        json!({"clusters": [{"cluster_id": "a"}, {"cluster_id": "b"}]})
    );
    assert_eq!(
        query(&mock.requests()[1]),
        vec![("page_size", "1"), ("page_token", "n2")]
    );

    let mock = Mock::start().await;
    let path = "/api/2.0/preview/scim/v2/Users";
    mock.on(
        "GET",
        path,
        200,
        json!({"Resources": [{"id": "1"}], "startIndex": 1, "totalResults": 2}),
    )
    .on(
        "GET",
        path,
        200,
        json!({"Resources": [{"id": "2"}], "startIndex": 2, "totalResults": 2}),
    );
    let out = run_action(
        &mock.client(),
        "http-request",
        json!({"method": "GET", "path": path, "paginate": true}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["Resources"], json!([{"id": "1"}, {"id": "2"}]));
    assert!(query(&mock.requests()[1]).contains(&("startIndex", "2")));
    mock.assert_done();
}

// ---------------------------------------------------------------------------------------
// request mapping, one or two representative actions per group

#[tokio::test]
async fn catalogs_update_patches_by_name_and_returns_databricks_json_unchanged() {
    let mock = Mock::start().await;
    let answer = json!({"name": "sales", "comment": "c", "isolation_mode": "ISOLATED", "new_field": {"x": 1}});
    mock.on(
        "PATCH",
        "/api/2.1/unity-catalog/catalogs/sales",
        200,
        answer.clone(),
    );
    let out = run_action(
        &mock.client(),
        "update-catalog",
        json!({"name": "sales", "comment": "c", "isolation_mode": "ISOLATED"}),
    )
    .await
    .unwrap();
    assert_eq!(out, answer);
    assert_eq!(
        mock.requests()[0].body,
        json!({"comment": "c", "isolation_mode": "ISOLATED"})
    );
}

#[tokio::test]
async fn clusters_create_passes_unknown_fields_and_waits_until_running() {
    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.1/clusters/create",
        200,
        json!({"cluster_id": "c-1"}),
    )
    .on(
        "GET",
        "/api/2.1/clusters/get",
        200,
        json!({"cluster_id": "c-1", "state": "RUNNING", "driver": {"host": "h"}}),
    );
    let out = run_action(
        &mock.client(),
        "create-cluster",
        json!({"spark_version": "15.4.x-scala2.12", "num_workers": 1,
               "aws_attributes": {"availability": "SPOT"}, "wait": true, "timeout_seconds": 60}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"cluster_id": "c-1", "state": "RUNNING", "driver": {"host": "h"}})
    );
    let reqs = mock.requests();
    assert_eq!(
        reqs[0].body,
        json!({"spark_version": "15.4.x-scala2.12", "num_workers": 1, "aws_attributes": {"availability": "SPOT"}})
    );
    assert_eq!(query(&reqs[1]), vec![("cluster_id", "c-1")]);

    // the wait fails on a failure state
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.1/clusters/start", 200, json!({}))
        .on(
            "GET",
            "/api/2.1/clusters/get",
            200,
            json!({"cluster_id": "c-1", "state": "ERROR", "state_message": "no capacity"}),
        );
    let e = run_action(
        &mock.client(),
        "start-cluster",
        json!({"cluster_id": "c-1", "wait": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed);
    assert!(e.message.contains("no capacity"), "{}", e.message);

    // terminate is POST /delete; delete is the permanent one
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.1/clusters/delete", 200, json!({}))
        .on("POST", "/api/2.1/clusters/permanent-delete", 200, json!({}));
    let client = mock.client();
    run_action(&client, "terminate-cluster", json!({"cluster_id": "c-1"}))
        .await
        .unwrap();
    run_action(&client, "delete-cluster", json!({"cluster_id": "c-1"}))
        .await
        .unwrap();
    assert_eq!(mock.requests()[1].body, json!({"cluster_id": "c-1"}));
    mock.assert_done();
}

#[tokio::test]
async fn query_clusters_sends_the_2_1_filters_and_sort() {
    let mock = Mock::start().await;
    mock.on(
        "GET",
        "/api/2.1/clusters/list",
        200,
        json!({"clusters": []}),
    );
    run_action(
        &mock.client(),
        "query-clusters",
        json!({"cluster_states": ["RUNNING", "PENDING"], "cluster_sources": ["UI"], "is_pinned": true,
               "sort_by_field": "CLUSTER_NAME", "sort_by_direction": "DESC", "limit": 10}),
    )
    .await
    .unwrap();
    assert_eq!(
        query(&mock.requests()[0]),
        vec![
            ("filter_by.cluster_states", "RUNNING"),
            ("filter_by.cluster_states", "PENDING"),
            ("filter_by.cluster_sources", "UI"),
            ("filter_by.is_pinned", "true"),
            ("sort_by.direction", "DESC"),
            ("sort_by.field", "CLUSTER_NAME"),
            ("page_size", "10"),
        ]
    );
}

#[tokio::test]
async fn groups_update_patches_operations_or_replaces() {
    let mock = Mock::start().await;
    let path = "/api/2.0/preview/scim/v2/Groups/987";
    mock.on("PATCH", path, 204, Value::Null)
        .on("PUT", path, 200, json!({"id": "987"}));
    let client = mock.client();
    let ops = json!([{"op": "add", "path": "members", "value": [{"value": "1"}]}]);
    let out = run_action(
        &client,
        "update-group",
        json!({"id": "987", "Operations": ops}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({}));
    run_action(
        &client,
        "update-group",
        json!({"id": "987", "mode": "replace", "displayName": "eng", "members": [{"value": "1"}]}),
    )
    .await
    .unwrap();
    let reqs = mock.requests();
    assert_eq!(
        reqs[0].body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    );
    assert_eq!(
        reqs[1].body,
        json!({"displayName": "eng", "members": [{"value": "1"}],
               "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]})
    );
}

#[tokio::test]
async fn jobs_update_modes_and_run_with_wait() {
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.2/jobs/update", 200, json!({})).on(
        "POST",
        "/api/2.2/jobs/reset",
        200,
        json!({}),
    );
    let client = mock.client();
    run_action(
        &client,
        "update-job",
        json!({"job_id": 1, "new_settings": {"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"}}]},
               "fields_to_remove": ["schedule"]}),
    )
    .await
    .unwrap();
    run_action(
        &client,
        "update-job",
        json!({"job_id": 1, "mode": "reset", "new_settings": {"name": "n"}}),
    )
    .await
    .unwrap();
    let reqs = mock.requests();
    assert_eq!(
        reqs[0].body,
        json!({"job_id": 1, "new_settings": {"tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/n"}}]},
               "fields_to_remove": ["schedule"]})
    );
    assert_eq!(
        reqs[1].body,
        json!({"job_id": 1, "new_settings": {"name": "n"}})
    );

    let mock = Mock::start().await;
    let run = json!({"run_id": 9, "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
                     "tasks": [{"task_key": "a", "state": {"life_cycle_state": "TERMINATED"}}]});
    mock.on(
        "POST",
        "/api/2.2/jobs/run-now",
        200,
        json!({"run_id": 9, "number_in_job": 1}),
    )
    .on("GET", "/api/2.2/jobs/runs/get", 200, run.clone());
    let out = run_action(
        &mock.client(),
        "run-job",
        json!({"job_id": 1, "job_parameters": {"d": "1"}, "wait": true, "timeout_seconds": 60}),
    )
    .await
    .unwrap();
    // a FAILED run is Databricks' answer, not an action error
    assert_eq!(out, run);
    let reqs = mock.requests();
    assert_eq!(
        reqs[0].body,
        json!({"job_id": 1, "job_parameters": {"d": "1"}})
    );
    assert!(query(&reqs[1]).contains(&("run_id", "9")));
}

#[tokio::test]
async fn schemas_delete_sends_force_in_the_query() {
    let mock = Mock::start().await;
    mock.on(
        "DELETE",
        "/api/2.1/unity-catalog/schemas/main.sales",
        200,
        json!({}),
    );
    let out = run_action(
        &mock.client(),
        "delete-schema",
        json!({"full_name": "main.sales", "force": true}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({}));
    assert_eq!(query(&mock.requests()[0]), vec![("force", "true")]);
}

#[tokio::test]
async fn sql_execute_fetches_every_chunk_up_to_the_row_cap() {
    let first = json!({"statement_id": "s1", "status": {"state": "SUCCEEDED"},
        "manifest": {"format": "JSON_ARRAY", "total_chunk_count": 3, "total_row_count": 5},
        "result": {"chunk_index": 0, "row_offset": 0, "row_count": 2, "data_array": [["1"], ["2"]],
                   "next_chunk_index": 1, "next_chunk_internal_link": "/api/2.0/sql/statements/s1/result/chunks/1"}});
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.0/sql/statements", 200, first.clone())
        .on("GET", "/api/2.0/sql/statements/s1/result/chunks/1", 200,
            json!({"chunk_index": 1, "row_offset": 2, "row_count": 2, "data_array": [["3"], [null]], "next_chunk_index": 2,
                   "next_chunk_internal_link": "/api/2.0/sql/statements/s1/result/chunks/2"}))
        .on("GET", "/api/2.0/sql/statements/s1/result/chunks/2", 200,
            json!({"chunk_index": 2, "row_offset": 4, "row_count": 1, "data_array": [["5"]]}));
    let out = run_action(
        &mock.client(),
        "execute-statement",
        json!({"statement": "SELECT x FROM t", "warehouse_id": "w1", "catalog": "main"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out["result"]["data_array"],
        json!([["1"], ["2"], ["3"], [null], ["5"]])
    );
    assert_eq!(out["result"]["row_count"], 5);
    assert!(out["result"].get("next_chunk_index").is_none());
    assert_eq!(out["manifest"], first["manifest"]);
    assert_eq!(
        mock.requests()[0].body,
        json!({"statement": "SELECT x FROM t", "warehouse_id": "w1", "catalog": "main"})
    );
    mock.assert_done();

    // with a row cap of 3: one more chunk, then the pointer to the rest is kept
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.0/sql/statements", 200, first.clone())
        .on("GET", "/api/2.0/sql/statements/s1/result/chunks/1", 200,
            json!({"chunk_index": 1, "row_count": 2, "data_array": [["3"], ["4"]], "next_chunk_index": 2}));
    let out = run_action(
        &mock.client(),
        "execute-statement",
        json!({"statement": "SELECT x FROM t", "warehouse_id": "w1", "row_cap": 3}),
    )
    .await
    .unwrap();
    assert_eq!(out["result"]["row_count"], 4);
    assert_eq!(out["result"]["next_chunk_index"], 2);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn sql_execute_polls_past_the_server_wait_or_returns_at_once() {
    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.0/sql/statements",
        200,
        json!({"statement_id": "s2", "status": {"state": "RUNNING"}}),
    )
    .on(
        "GET",
        "/api/2.0/sql/statements/s2",
        200,
        json!({"statement_id": "s2", "status": {"state": "FAILED", "error": {"message": "boom"}}}),
    );
    let out = run_action(
        &mock.client(),
        "execute-statement",
        json!({"statement": "SELECT 1", "warehouse_id": "w1", "wait_timeout": "50s"}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"]["state"], "FAILED");
    assert_eq!(mock.requests()[0].body["wait_timeout"], "50s");

    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.0/sql/statements",
        200,
        json!({"statement_id": "s3", "status": {"state": "PENDING"}}),
    );
    let out = run_action(
        &mock.client(),
        "execute-statement",
        json!({"statement": "SELECT 1", "warehouse_id": "w1", "wait": false, "wait_timeout": "0s"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"statement_id": "s3", "status": {"state": "PENDING"}})
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn tables_exists_and_errors_keep_status_and_request_id() {
    let mock = Mock::start().await;
    mock.on("GET", "/api/2.1/unity-catalog/tables/main.sales.orders/exists", 200, json!({"table_exists": true}))
        .on("GET", "/api/2.1/unity-catalog/tables/main.sales.gone", 404,
            json!({"error_code": "TABLE_DOES_NOT_EXIST", "message": "Table 'main.sales.gone' does not exist."}));
    let client = mock.client();
    let out = run_action(
        &client,
        "check-table-exists",
        json!({"full_name": "main.sales.orders"}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"table_exists": true}));
    let e = run_action(
        &client,
        "retrieve-table",
        json!({"full_name": "main.sales.gone"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, Some(404));
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(!e.to_json().to_string().contains("dapi-test-token"));
}

#[tokio::test]
async fn users_create_adds_the_scim_schema() {
    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.0/preview/scim/v2/Users",
        201,
        json!({"id": "42", "userName": "a@b.c"}),
    );
    let out = run_action(
        &mock.client(),
        "create-user",
        json!({"userName": "a@b.c", "entitlements": [{"value": "workspace-access"}]}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"id": "42", "userName": "a@b.c"}));
    assert_eq!(
        mock.requests()[0].body,
        json!({"userName": "a@b.c", "entitlements": [{"value": "workspace-access"}],
               "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})
    );
}

#[tokio::test]
async fn volumes_create_sends_the_body_databricks_expects() {
    let mock = Mock::start().await;
    mock.on(
        "POST",
        "/api/2.1/unity-catalog/volumes",
        200,
        json!({"full_name": "main.s.v"}),
    );
    run_action(
        &mock.client(),
        "create-volume",
        json!({"catalog_name": "main", "schema_name": "s", "name": "v", "volume_type": "EXTERNAL",
               "storage_location": "s3://b/p"}),
    )
    .await
    .unwrap();
    assert_eq!(
        mock.requests()[0].body,
        json!({"catalog_name": "main", "schema_name": "s", "name": "v", "volume_type": "EXTERNAL",
               "storage_location": "s3://b/p"})
    );
}

#[tokio::test]
async fn warehouses_stop_waits_until_stopped_and_edit_posts_the_fields() {
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.0/sql/warehouses/w1/stop", 200, json!({}))
        .on(
            "GET",
            "/api/2.0/sql/warehouses/w1",
            200,
            json!({"id": "w1", "state": "STOPPED"}),
        )
        .on("POST", "/api/2.0/sql/warehouses/w1/edit", 200, json!({}));
    let client = mock.client();
    let out = run_action(
        &client,
        "stop-warehouse",
        json!({"warehouse_id": "w1", "wait": true}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"id": "w1", "state": "STOPPED"}));
    run_action(
        &client,
        "update-warehouse",
        json!({"warehouse_id": "w1", "cluster_size": "2X-Small", "auto_stop_mins": 10}),
    )
    .await
    .unwrap();
    assert_eq!(
        mock.requests()[2].body,
        json!({"cluster_size": "2X-Small", "auto_stop_mins": 10})
    );
}

#[tokio::test]
async fn workspace_import_and_export() {
    let mock = Mock::start().await;
    mock.on("POST", "/api/2.0/workspace/import", 200, json!({}))
        .on(
            "GET",
            "/api/2.0/workspace/export",
            200,
            json!({"content": "eA==", "file_type": "py"}),
        );
    let client = mock.client();
    run_action(
        &client,
        "import-workspace",
        json!({"path": "/Users/a/n", "content": "eA==", "format": "SOURCE", "language": "PYTHON", "overwrite": true}),
    )
    .await
    .unwrap();
    let out = run_action(
        &client,
        "export-workspace",
        json!({"path": "/Users/a/n", "format": "SOURCE"}),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"content": "eA==", "file_type": "py"}));
    let reqs = mock.requests();
    assert_eq!(
        reqs[0].body,
        json!({"path": "/Users/a/n", "content": "eA==", "format": "SOURCE", "language": "PYTHON", "overwrite": true})
    );
    assert_eq!(
        query(&reqs[1]),
        vec![("path", "/Users/a/n"), ("format", "SOURCE")]
    );
}

#[tokio::test]
async fn a_wait_that_runs_out_is_a_timeout_naming_the_statement() {
    let mock = Mock::start().await;
    let running = json!({"statement_id": "s9", "status": {"state": "RUNNING"}});
    mock.on("POST", "/api/2.0/sql/statements", 200, running.clone());
    for _ in 0..5 {
        mock.on("GET", "/api/2.0/sql/statements/s9", 200, running.clone());
    }
    let e = run_action(
        &mock.client(),
        "execute-statement",
        json!({"statement": "SELECT 1", "warehouse_id": "w1", "timeout_seconds": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Timeout, "{e:?}");
    assert!(
        e.message.contains("s9") && e.message.contains("retrieve-statement"),
        "{}",
        e.message
    );
}
