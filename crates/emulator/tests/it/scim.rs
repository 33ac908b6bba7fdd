//! SCIM over HTTP: filters, paging, sorting, projection, PATCH, PUT, delete, errors, `/Me`.

use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const USERS: &str = "/api/2.0/preview/scim/v2/Users";
const GROUPS: &str = "/api/2.0/preview/scim/v2/Groups";

struct Scim {
    emulator: Emulator,
    http: reqwest::Client,
}

impl Scim {
    async fn start() -> Self {
        Self {
            emulator: Emulator::start(EmulatorOptions::default()).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.base_url()))
            .bearer_auth(self.emulator.token());
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn user(&self, user_name: &str, display: &str, active: bool) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                USERS,
                Some(json!({"userName": user_name, "displayName": display, "active": active, "externalId": format!("ext-{display}")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn list(&self, query: &str) -> Value {
        let (status, body) = self
            .call(Method::GET, &format!("{USERS}?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }

    async fn names(&self, filter: &str) -> Vec<String> {
        let query =
            serde_urlencoded::to_string([("filter", filter), ("sortBy", "userName")]).unwrap();
        let body = self.list(&query).await;
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn seeded() -> (Scim, Vec<String>) {
    let s = Scim::start().await;
    let ids = vec![
        s.user("ann@example.com", "Ann Engineer", true).await,
        s.user("bob@example.com", "Bob Builder", true).await,
        s.user("cid@other.org", "Cid Engineer", false).await,
    ];
    (s, ids)
}

#[tokio::test]
async fn filters_each_operator_and_combinations() {
    let (s, ids) = seeded().await;
    assert_eq!(
        s.names(r#"userName eq "ANN@example.com""#).await,
        ["ann@example.com"]
    );
    assert_eq!(
        s.names(r#"USERNAME Eq "bob@example.com""#).await,
        ["bob@example.com"]
    );
    assert_eq!(
        s.names(r#"displayName co "engineer""#).await,
        ["ann@example.com", "cid@other.org"]
    );
    assert_eq!(s.names(r#"userName sw "b""#).await, ["bob@example.com"]);
    assert_eq!(
        s.names(r#"userName ne "admin@brickwire.local" and userName ne "ann@example.com""#)
            .await,
        ["bob@example.com", "cid@other.org"]
    );
    assert_eq!(s.names("active eq false").await, ["cid@other.org"]);
    assert_eq!(
        s.names(&format!(r#"id eq "{}""#, ids[1])).await,
        ["bob@example.com"]
    );
    assert_eq!(
        s.names(r#"externalId eq "ext-Bob Builder""#).await,
        ["bob@example.com"]
    );
    assert_eq!(
        s.names(r#"externalId pr and userName ew "example.com""#)
            .await,
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        s.names(r#"userName eq "ann@example.com" or userName eq "cid@other.org""#)
            .await,
        ["ann@example.com", "cid@other.org"]
    );
    assert_eq!(
        s.names(r#"displayName co "engineer" and active eq true"#)
            .await,
        ["ann@example.com"]
    );
    assert_eq!(
        s.names(r#"(userName sw "a" or userName sw "b") and displayName co "build""#)
            .await,
        ["bob@example.com"]
    );
    // The SDK's wire form: `+` for spaces, %22 for quotes.
    let body = s
        .list("filter=userName+eq+%22bob%40example.com%22&startIndex=1&count=10000")
        .await;
    assert_eq!(body["totalResults"], 1);
}

#[tokio::test]
async fn invalid_filter_is_a_scim_400() {
    let (s, _) = seeded().await;
    for bad in [
        r#"userName eq"#,
        r#"userName like "a""#,
        r#"(userName eq "a""#,
    ] {
        let query = serde_urlencoded::to_string([("filter", bad)]).unwrap();
        let response = s
            .http
            .get(format!("{}{USERS}?{query}", s.emulator.base_url()))
            .bearer_auth(s.emulator.token())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.headers()["content-type"], "application/scim+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scimType"], "invalidFilter", "{bad}");
        assert_eq!(body["status"], "400");
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
}

#[tokio::test]
async fn paging_sorting_and_projection() {
    let (s, _) = seeded().await;
    // Four users in all (with the admin), sorted by userName.
    let page = s.list("sortBy=userName&startIndex=2&count=2").await;
    assert_eq!(page["totalResults"], 4);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann@example.com", "bob@example.com"]);
    let last = s.list("sortBy=userName&startIndex=4&count=2").await;
    assert_eq!(last["itemsPerPage"], 1);
    assert_eq!(last["Resources"][0]["userName"], "cid@other.org");
    let beyond = s.list("startIndex=10").await;
    assert_eq!(beyond["Resources"], json!([]));

    let desc = s
        .list("sortBy=displayName&sortOrder=descending&count=1")
        .await;
    assert_eq!(desc["Resources"][0]["displayName"], "Emulator Admin");

    let projected = s.list("attributes=userName&count=1").await;
    let keys: Vec<&String> = projected["Resources"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        keys.iter()
            .all(|k| ["id", "userName", "schemas"].contains(&k.as_str())),
        "{keys:?}"
    );
    let excluded = s.list("excludedAttributes=groups,emails&count=1").await;
    assert!(excluded["Resources"][0].get("groups").is_none());
    assert!(excluded["Resources"][0].get("userName").is_some());

    let (status, body) = s
        .call(Method::GET, &format!("{USERS}?count=abc"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn group_membership_patch_add_remove_and_user_groups() {
    let (s, ids) = seeded().await;
    let (status, group) = s
        .call(
            Method::POST,
            GROUPS,
            Some(json!({"displayName": "eng", "members": [{"value": ids[0]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let gid = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["members"][0]["display"], "Ann Engineer");
    assert_eq!(group["meta"]["resourceType"], "Group");

    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("{GROUPS}/{gid}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": ids[1]}, {"value": ids[2]}]}]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, bob) = s
        .call(Method::GET, &format!("{USERS}/{}", ids[1]), None)
        .await;
    assert_eq!(
        bob["groups"],
        json!([{"value": gid, "display": "eng", "$ref": format!("Groups/{gid}"), "type": "direct"}])
    );

    let (status, group) = s
        .call(
            Method::PATCH,
            &format!("{GROUPS}/{gid}"),
            Some(json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [ids[0].as_str(), ids[2].as_str()]);
    let (_, bob) = s
        .call(Method::GET, &format!("{USERS}/{}", ids[1]), None)
        .await;
    assert_eq!(bob["groups"], json!([]));

    // Filtering groups by name.
    let query = serde_urlencoded::to_string([("filter", r#"displayName eq "ENG""#)]).unwrap();
    let (_, found) = s
        .call(Method::GET, &format!("{GROUPS}?{query}"), None)
        .await;
    assert_eq!(found["totalResults"], 1);

    // Unknown member -> 404; duplicate name -> 409.
    let (status, body) = s
        .call(Method::PATCH, &format!("{GROUPS}/{gid}"), Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "999"}]}]})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = s
        .call(Method::POST, GROUPS, Some(json!({"displayName": "Eng"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["scimType"], "uniqueness");

    // Deleting a user removes it from the group.
    let (status, _) = s
        .call(Method::DELETE, &format!("{USERS}/{}", ids[0]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, group) = s.call(Method::GET, &format!("{GROUPS}/{gid}"), None).await;
    assert_eq!(
        group["members"],
        json!([{"value": ids[2], "display": "Cid Engineer", "$ref": format!("Users/{}", ids[2])}])
    );

    let (status, _) = s
        .call(Method::DELETE, &format!("{GROUPS}/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, &format!("{GROUPS}/{gid}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_patch_attributes() {
    let (s, ids) = seeded().await;
    let path = format!("{USERS}/{}", ids[0]);
    let (status, user) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "displayName", "value": "Ann Manager"},
                {"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}, {"value": "databricks-sql-access"}]},
                {"op": "add", "path": "roles", "value": [{"value": "arn:aws:iam::1:instance-profile/x"}]},
                {"op": "add", "path": "emails", "value": [{"value": "ann@work.example.com", "type": "work"}]},
                {"op": "replace", "path": "name.givenName", "value": "Ann"},
                {"op": "replace", "path": "userName", "value": "ignored@example.com"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["active"], false);
    assert_eq!(user["displayName"], "Ann Manager");
    assert_eq!(user["userName"], "ann@example.com");
    assert_eq!(user["name"]["givenName"], "Ann");
    assert_eq!(user["entitlements"].as_array().unwrap().len(), 2);
    assert_eq!(
        user["roles"][0]["value"],
        "arn:aws:iam::1:instance-profile/x"
    );
    assert_eq!(user["emails"].as_array().unwrap().len(), 2);

    let (_, user) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [
                {"op": "remove", "path": "entitlements[value eq \"allow-cluster-create\"]"},
                {"op": "Replace", "value": {"active": true, "externalId": "new-ext"}},
            ]})),
        )
        .await;
    assert_eq!(user["active"], true);
    // The shape Databricks documents for single-valued attributes.
    let (_, user) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": [{"value": "false"}]}]})),
        )
        .await;
    assert_eq!(user["active"], false);
    let (_, user) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": "true"}]})),
        )
        .await;
    assert_eq!(
        user["entitlements"],
        json!([{"value": "databricks-sql-access"}])
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["externalId"], "new-ext");

    // Groups patched on the user side become memberships.
    let (_, group) = s
        .call(Method::POST, GROUPS, Some(json!({"displayName": "ops"})))
        .await;
    let gid = group["id"].as_str().unwrap();
    s.call(
        Method::PATCH,
        &path,
        Some(json!({"Operations": [{"op": "add", "path": "groups", "value": [{"value": gid}]}]})),
    )
    .await;
    let (_, group) = s.call(Method::GET, &format!("{GROUPS}/{gid}"), None).await;
    assert_eq!(group["members"][0]["value"], ids[0]);

    for bad in [
        json!({"Operations": [{"op": "move", "path": "active", "value": true}]}),
        json!({"Operations": [{"op": "replace", "path": "nosuch", "value": 1}]}),
        json!({"Operations": [{"op": "remove", "path": "members[value eq]"}]}),
        json!({"nothing": []}),
    ] {
        let (status, body) = s.call(Method::PATCH, &path, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
    }
}

#[tokio::test]
async fn put_replaces_but_keeps_user_name() {
    let (s, ids) = seeded().await;
    let path = format!("{USERS}/{}", ids[1]);
    let (status, user) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"userName": "renamed@example.com", "displayName": "Robert", "entitlements": [{"value": "workspace-access"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["userName"], "bob@example.com");
    assert_eq!(user["displayName"], "Robert");
    assert_eq!(user["entitlements"], json!([{"value": "workspace-access"}]));
    // Fields left out of a PUT are gone.
    assert!(user.get("externalId").is_none());

    let (status, _) = s
        .call(
            Method::PUT,
            &format!("{USERS}/12345"),
            Some(json!({"userName": "x@y.z"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn errors_are_scim_shaped() {
    let (s, _) = seeded().await;
    let (status, body) = s.call(Method::GET, &format!("{USERS}/424242"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["status"], "404");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );

    let (status, body) = s
        .call(
            Method::POST,
            USERS,
            Some(json!({"userName": "BOB@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["scimType"], "uniqueness");

    let (status, _) = s
        .call(Method::POST, USERS, Some(json!({"displayName": "no name"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .call(Method::DELETE, &format!("{USERS}/424242"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Plain application/json is accepted too.
    let response = s
        .http
        .post(format!("{}{USERS}", s.emulator.base_url()))
        .bearer_auth(s.emulator.token())
        .json(&json!({"userName": "json@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
}

#[tokio::test]
async fn me_is_the_token_owner() {
    let s = Scim::start().await;
    let (status, me) = s
        .call(Method::GET, "/api/2.0/preview/scim/v2/Me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["userName"], "admin@brickwire.local");
    assert_eq!(me["groups"][0]["display"], "admins");
    let (_, me) = s
        .call(
            Method::GET,
            "/api/2.0/preview/scim/v2/Me?excludedAttributes=groups",
            None,
        )
        .await;
    assert!(me.get("groups").is_none());
    assert_eq!(me["userName"], "admin@brickwire.local");
}
