//! Every pagination style against a scripted server: tokens (with empty pages and repeated
//! tokens), `has_more`, SCIM indices, statement chunks, unpaginated lists, and the item cap.

use crate::services_mock;

use brickwire_api::clusters::ListClustersRequest;
use brickwire_api::jobs::{ListJobsRequest, ListRunsRequest};
use brickwire_api::scim::ListRequest;
use brickwire_api::statements::StatementResponse;
use brickwire_api::unity_catalog::{ListCatalogsRequest, ListTablesRequest};
use brickwire_api::warehouses::ListWarehousesRequest;
use futures::TryStreamExt;
use serde_json::json;
use services_mock::{Expect, Mock};

fn names<T>(items: &[T], f: impl Fn(&T) -> Option<&str>) -> Vec<String> {
    items
        .iter()
        .map(|i| f(i).unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn token_pages_continue_through_empty_pages_until_the_token_is_gone() {
    let path = "/api/2.1/unity-catalog/catalogs";
    let mock = Mock::start(vec![
        Expect::get(path)
            .query(&[("max_results", "0")])
            .respond(json!({"catalogs": [{"name": "a"}], "next_page_token": "p2"})),
        // an empty page that still carries a token: keep going
        Expect::get(path)
            .query(&[("max_results", "0"), ("page_token", "p2")])
            .respond(json!({"next_page_token": "p3"})),
        // an empty-string token ends the list
        Expect::get(path)
            .query(&[("max_results", "0"), ("page_token", "p3")])
            .respond(json!({"catalogs": [{"name": "b"}, {"name": "c"}], "next_page_token": ""})),
    ])
    .await;
    let all = mock
        .client
        .catalogs()
        .list(&ListCatalogsRequest::default())
        .collect()
        .await
        .unwrap();
    assert_eq!(names(&all, |c| c.name.as_deref()), ["a", "b", "c"]);
    mock.verify();
}

#[tokio::test]
async fn a_repeated_token_stops_instead_of_looping() {
    let path = "/api/2.1/clusters/list";
    let mock = Mock::start(vec![
        Expect::get(path)
            .query(&[])
            .respond(json!({"clusters": [{"cluster_id": "1"}], "next_page_token": "same"})),
        Expect::get(path)
            .query(&[("page_token", "same")])
            .respond(json!({"clusters": [{"cluster_id": "2"}], "next_page_token": "same"})),
    ])
    .await;
    let all = mock
        .client
        .clusters()
        .list(&ListClustersRequest::default())
        .collect()
        .await
        .unwrap();
    assert_eq!(names(&all, |c| c.cluster_id.as_deref()), ["1", "2"]);
    mock.verify();
}

#[tokio::test]
async fn has_more_false_ends_jobs_and_runs_lists() {
    let mock = Mock::start(vec![
        Expect::get("/api/2.2/jobs/list")
            .query(&[("limit", "2")])
            .respond(json!({"jobs": [{"job_id": 1}, {"job_id": 2}], "has_more": true, "next_page_token": "t1"})),
        Expect::get("/api/2.2/jobs/list")
            .query(&[("limit", "2"), ("page_token", "t1")])
            .respond(json!({"jobs": [{"job_id": 3}], "has_more": false, "next_page_token": "t2"})),
        Expect::get("/api/2.2/jobs/runs/list")
            .query(&[("job_id", "3"), ("active_only", "true")])
            .respond(json!({"runs": [{"run_id": 30}], "has_more": false})),
    ])
    .await;
    let jobs = mock
        .client
        .jobs()
        .list(&ListJobsRequest {
            limit: Some(2),
            ..ListJobsRequest::default()
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.job_id.unwrap()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let runs = mock
        .client
        .jobs()
        .list_runs(&ListRunsRequest {
            job_id: Some(3),
            active_only: Some(true),
            ..ListRunsRequest::default()
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(runs[0].run_id, Some(30));
    mock.verify();
}

#[tokio::test]
async fn scim_advances_start_index_by_page_length_until_empty() {
    let path = "/api/2.0/preview/scim/v2/Users";
    let user = |id: &str| json!({"id": id, "userName": format!("{id}@x.com")});
    let mock = Mock::start(vec![
        Expect::get(path)
            .query(&[("filter", "active eq true"), ("count", "2"), ("startIndex", "1")])
            .respond(json!({"totalResults": 3, "startIndex": 1, "itemsPerPage": 2, "Resources": [user("1"), user("2")]})),
        Expect::get(path)
            .query(&[("filter", "active eq true"), ("count", "2"), ("startIndex", "3")])
            .respond(json!({"totalResults": 3, "startIndex": 3, "itemsPerPage": 1, "Resources": [user("3")]})),
        Expect::get(path)
            .query(&[("filter", "active eq true"), ("count", "2"), ("startIndex", "4")])
            .respond(json!({"totalResults": 3, "startIndex": 4, "itemsPerPage": 0})),
    ])
    .await;
    let users = mock
        .client
        .users()
        .list(&ListRequest {
            filter: Some("active eq true".into()),
            count: Some(2),
            ..ListRequest::default()
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(names(&users, |u| u.id.as_deref()), ["1", "2", "3"]);
    mock.verify();
}

#[tokio::test]
async fn statement_rows_follow_next_chunk_index() {
    let mock = Mock::start(vec![
        Expect::get("/api/2.0/sql/statements/st1/result/chunks/1")
            .respond(json!({"chunk_index": 1, "row_offset": 2, "data_array": [["3"]], "next_chunk_index": 2})),
        Expect::get("/api/2.0/sql/statements/st1/result/chunks/2")
            .respond(json!({"chunk_index": 2, "row_offset": 3, "data_array": [[null]]})),
    ])
    .await;
    let response: StatementResponse = serde_json::from_value(json!({
        "statement_id": "st1",
        "status": {"state": "SUCCEEDED"},
        "result": {"chunk_index": 0, "data_array": [["1"], ["2"]], "next_chunk_index": 1}
    }))
    .unwrap();
    let rows = mock
        .client
        .statements()
        .rows(&response)
        .collect()
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![Some("1".to_owned())],
            vec![Some("2".to_owned())],
            vec![Some("3".to_owned())],
            vec![None]
        ]
    );
    mock.verify();
}

#[tokio::test]
async fn statement_chunks_without_a_first_chunk_start_at_zero() {
    let mock = Mock::start(vec![
        Expect::get("/api/2.0/sql/statements/st2/result/chunks/0").respond(json!({
            "chunk_index": 0,
            "external_links": [{"chunk_index": 0, "external_link": "https://x/0", "next_chunk_index": 1}]
        })),
        Expect::get("/api/2.0/sql/statements/st2/result/chunks/1").respond(json!({
            "chunk_index": 1,
            "external_links": [{"chunk_index": 1, "external_link": "https://x/1"}]
        })),
    ])
    .await;
    let chunks = mock
        .client
        .statements()
        .chunks("st2", None)
        .collect()
        .await
        .unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        chunks[1].external_links[0].external_link.as_deref(),
        Some("https://x/1")
    );
    mock.verify();
}

#[tokio::test]
async fn unpaginated_workspace_list_is_one_request() {
    let mock = Mock::start(vec![
        Expect::get("/api/2.0/workspace/list")
            .query(&[("path", "/Users/a")])
            .respond(json!({"objects": [{"path": "/Users/a/nb", "object_type": "NOTEBOOK"}]})),
        // an empty directory has no `objects` key at all
        Expect::get("/api/2.0/workspace/list")
            .query(&[("path", "/Users/empty")])
            .respond(json!({})),
    ])
    .await;
    let ws = mock.client.workspace();
    let objects = ws.list("/Users/a", None).collect().await.unwrap();
    assert_eq!(objects[0].path.as_deref(), Some("/Users/a/nb"));
    assert!(
        ws.list("/Users/empty", None)
            .collect()
            .await
            .unwrap()
            .is_empty()
    );
    mock.verify();
}

#[tokio::test]
async fn the_cap_never_fetches_the_page_after_it() {
    let path = "/api/2.0/sql/warehouses";
    let mock = Mock::start(vec![
        Expect::get(path)
            .query(&[])
            .respond(json!({"warehouses": [{"id": "1"}, {"id": "2"}], "next_page_token": "b"})),
        Expect::get(path)
            .query(&[("page_token", "b")])
            .respond(json!({"warehouses": [{"id": "3"}, {"id": "4"}], "next_page_token": "c"})),
        // no third page is scripted: fetching it would be an unexpected request
    ])
    .await;
    let mut items = mock
        .client
        .warehouses()
        .list(&ListWarehousesRequest::default())
        .max_items(3)
        .items();
    let mut got = Vec::new();
    while let Some(w) = items.try_next().await.unwrap() {
        got.push(w.id.unwrap());
    }
    assert_eq!(got, ["1", "2", "3"]);
    mock.verify();
}

#[tokio::test]
async fn one_page_and_its_token_for_callers_that_page_themselves() {
    let path = "/api/2.1/unity-catalog/tables";
    let mock = Mock::start(vec![
        Expect::get(path)
            .query(&[
                ("catalog_name", "main"),
                ("schema_name", "s"),
                ("max_results", "1"),
                ("page_token", "from-caller"),
            ])
            .respond(json!({"tables": [{"name": "t1"}], "next_page_token": "next"})),
        Expect::get(path)
            .query(&[
                ("catalog_name", "main"),
                ("schema_name", "s"),
                ("max_results", "1"),
                ("page_token", "next"),
            ])
            .respond(json!({"tables": [{"name": "t2"}]})),
    ])
    .await;
    let tables = mock.client.tables().list(&ListTablesRequest {
        catalog_name: "main".into(),
        schema_name: "s".into(),
        max_results: Some(1),
        page_token: Some("from-caller".into()),
        ..ListTablesRequest::default()
    });
    let page = tables.first_page().await.unwrap();
    assert_eq!(page.items[0].name.as_deref(), Some("t1"));
    assert_eq!(page.next_page_token(), Some("next"));
    let last = tables.page(page.next).await.unwrap();
    assert_eq!(last.items[0].name.as_deref(), Some("t2"));
    assert_eq!(last.next_page_token(), None);
    mock.verify();
}
