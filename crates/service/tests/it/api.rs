//! The operator REST API without a workspace: the key check on every documented route, the
//! OpenAPI document matching the router, the error shape for bad input, app settings, connect
//! sessions, the catalog, and the connect page's markup.

use crate::common;

use std::sync::Arc;

use axum::body::Body;
use brickwire_service::api_key::OperatorApiKeys;
use brickwire_service::{AccountClients, AccountClientsOptions, AppState, SqliteStore, Store};
use common::{Svc, field_value, result_status};
use http::Request;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn documented_routes(doc: &Value) -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "x")
                .replace("{action_id}", "list-clusters");
            routes.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    routes
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_key() {
    let svc = Svc::start().await;
    let doc = svc.ok(Method::GET, "/api/v1/openapi.json", None).await;
    let routes = documented_routes(&doc);
    assert!(routes.len() >= 14, "{routes:?}");
    for (method, path) in routes {
        // a webhook flow's inbound route is authenticated by the secret in its URL, not by
        // the operator key (flows_api.rs tests it)
        if path.starts_with("/hooks/") {
            continue;
        }
        for auth in [
            None,
            Some("Bearer wrong-key"),
            Some("Basic Zm9vOmJhcg=="),
            Some("Bearer "),
        ] {
            let mut request = svc.http.request(method.clone(), svc.url(&path));
            if let Some(value) = auth {
                request = request.header("authorization", value);
            }
            let response = request.json(&json!({})).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {auth:?}"
            );
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{method} {path}");
        }
    }
    // Unknown routes too: nothing is revealed without a key.
    let response = svc.http.get(svc.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_documented_route_is_served_and_unknown_ones_are_json_404() {
    let svc = Svc::start().await;
    let doc = svc.ok(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["servers"][0]["url"],
        svc.service().url().as_str().trim_end_matches('/')
    );
    for (method, path) in documented_routes(&doc) {
        let (status, body) = svc.api(method.clone(), &path, Some(json!({}))).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("no such route"),
            "{method} {path} is documented but not routed"
        );
    }
    let (status, body) = svc.api(Method::GET, "/api/v1/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such route")
    );
    let (status, body) = svc.api(Method::DELETE, "/api/v1/actions", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "INVALID_INPUT");
    // Every schema reference resolves inside the document.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn the_router_works_in_process_with_oneshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        dir.path(),
        &brickwire_service::crypto::MasterKey::generate(),
    )
    .await
    .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let key = brickwire_service::api_key::bootstrap_operator_api_key(
        store.as_ref(),
        None,
        &brickwire_client::credentials::SystemClock,
    )
    .await
    .unwrap();
    let state = AppState::new(
        store.clone(),
        key.keys.clone(),
        "https://connect.example.com/".parse().unwrap(),
        AccountClients::new(store.clone(), AccountClientsOptions::default()),
        std::time::Duration::from_secs(2),
    );
    let _: &OperatorApiKeys = &key.keys;
    let app = brickwire_service::router(state);
    let request = Request::get("/api/v1/app-settings")
        .header(
            "authorization",
            format!("Bearer {}", key.generated.unwrap().expose_secret()),
        )
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let settings: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        settings["callback_url"],
        "https://connect.example.com/oauth/callback"
    );
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_the_error_shape_naming_the_field() {
    let svc = Svc::start().await;
    let send_raw = |path: &str, content_type: &str, body: Vec<u8>| {
        svc.http
            .post(svc.url(path))
            .bearer_auth(&svc.key)
            .header("content-type", content_type.to_owned())
            .body(body)
            .send()
    };
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("/api/v1/connect-sessions", b"{\"display_name\": ", ""),
        (
            "/api/v1/connect-sessions",
            b"{\"expires_in_minutes\": \"ten\"}",
            "expires_in_minutes",
        ),
        ("/api/v1/connect-sessions", b"{\"surprise\": 1}", "surprise"),
        (
            "/api/v1/connect-sessions",
            b"{\"expires_in_minutes\": 0}",
            "expires_in_minutes",
        ),
        (
            "/api/v1/connect-sessions",
            b"{\"expires_in_minutes\": 100000}",
            "expires_in_minutes",
        ),
        (
            "/api/v1/connect-sessions",
            b"{\"workspace_url\": \"http://evil.example.com\"}",
            "workspace_url",
        ),
        ("/api/v1/connect-sessions", b"[]", ""),
        (
            "/api/v1/linked-accounts",
            b"{\"workspace_url\": \"https://x.example.com\"}",
            "token",
        ),
        (
            "/api/v1/linked-accounts",
            b"{\"workspace_url\": 5, \"token\": \"t\"}",
            "workspace_url",
        ),
        (
            "/api/v1/linked-accounts",
            b"{\"workspace_url\": \"ftp://x\", \"token\": \"t\"}",
            "workspace_url",
        ),
        (
            "/api/v1/linked-accounts",
            b"{\"workspace_url\": \"https://x.example.com\", \"token\": \"two words\"}",
            "token",
        ),
        (
            "/api/v1/linked-accounts/la_x/actions/list-clusters",
            b"[1]",
            "",
        ),
        (
            "/api/v1/linked-accounts/la_x/actions/list-clusters",
            b"{nope",
            "",
        ),
    ];
    for (path, body, field) in cases {
        let response = send_raw(path, "application/json", body.to_vec())
            .await
            .unwrap();
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path} {:?}: {json}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(json["error"]["code"], "INVALID_INPUT", "{json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message} should name {field}");
    }
    // Too big: 413 in the same shape.
    let big = format!("{{\"display_name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let response = send_raw(
        "/api/v1/connect-sessions",
        "application/json",
        big.into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "INVALID_INPUT");
    // Not JSON at all.
    let response = send_raw("/api/v1/connect-sessions", "text/plain", b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A path segment that is not UTF-8.
    let (status, json) = svc
        .api(Method::GET, "/api/v1/linked-accounts/%FF%FE", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"]["code"], "INVALID_INPUT");
    // Unknown query parameter.
    let (status, json) = svc
        .api(Method::GET, "/api/v1/linked-accounts?color=red", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("color"));
}

#[tokio::test]
async fn app_settings_keep_mandatory_scopes_and_show_the_callback_url() {
    let svc = Svc::start().await;
    let settings = svc.ok(Method::GET, "/api/v1/app-settings", None).await;
    let callback = format!("{}oauth/callback", svc.service().public_url());
    assert_eq!(settings["callback_url"], callback.as_str());
    assert_eq!(settings["scopes"]["mandatory"], json!(["offline_access"]));
    assert_eq!(
        settings["effective_scopes"],
        json!(["offline_access", "all-apis"])
    );
    assert_eq!(settings["oauth_client_id"], Value::Null);

    let saved = svc
        .ok(
            Method::PUT,
            "/api/v1/app-settings",
            Some(json!({
                "oauth_client_id": "abc-123",
                "workspace_url": "dbc-1.cloud.databricks.com",
                "scopes": {"additional": ["sql", "email"], "custom": ["unity-catalog:read"]}
            })),
        )
        .await;
    assert_eq!(saved["oauth_client_id"], "abc-123");
    assert_eq!(saved["workspace_url"], "https://dbc-1.cloud.databricks.com");
    assert_eq!(
        saved["effective_scopes"],
        json!(["offline_access", "sql", "email", "unity-catalog:read"])
    );
    assert!(saved["updated_at"].as_str().unwrap().ends_with('Z'));
    // A GET answer can be sent back as it is.
    let again = svc
        .ok(Method::PUT, "/api/v1/app-settings", Some(saved.clone()))
        .await;
    assert_eq!(again["effective_scopes"], saved["effective_scopes"]);

    for (body, field) in [
        (
            json!({"scopes": {"additional": ["admin"]}}),
            "scopes.additional",
        ),
        (
            json!({"scopes": {"custom": ["has space"]}}),
            "scopes.custom",
        ),
        (json!({"scopes": {"mandatory": []}}), "scopes.mandatory"),
        (
            json!({"workspace_url": "http://dbc-1.cloud.databricks.com"}),
            "workspace_url",
        ),
        (json!({"oauth_client_id": "has space"}), "oauth_client_id"),
        (
            json!({"scopes": {"additional": "sql"}}),
            "scopes.additional",
        ),
    ] {
        let (status, json) = svc
            .api(Method::PUT, "/api/v1/app-settings", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert!(
            json["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {json}"
        );
    }
    // Nothing of the refused writes was stored.
    let now = svc.ok(Method::GET, "/api/v1/app-settings", None).await;
    assert_eq!(now["effective_scopes"], saved["effective_scopes"]);
}

#[tokio::test]
async fn connect_sessions_and_the_connect_page() {
    let svc = Svc::start().await;
    let created = svc
        .ok(
            Method::POST,
            "/api/v1/connect-sessions",
            Some(json!({"end_user_ref": "user-7", "display_name": "<b>Acme</b> \"prod\""})),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let connect_url = created["connect_url"].as_str().unwrap();
    assert!(connect_url.starts_with(&format!("{}connect/", svc.service().public_url())));
    assert_eq!(created["status"], "pending");
    let view = svc
        .ok(Method::GET, &format!("/api/v1/connect-sessions/{id}"), None)
        .await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["end_user_ref"], "user-7");
    assert!(view.get("connect_url").is_none(), "the link is shown once");
    let (status, json) = svc
        .api(Method::GET, "/api/v1/connect-sessions/cs_nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "NOT_FOUND");

    // The page has the stable ids, both forms, the PAT steps, and escapes what it shows.
    let response = svc.http.get(connect_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let html = response.text().await.unwrap();
    for id in [
        "id=\"api-key-form\"",
        "id=\"api-key-submit\"",
        "id=\"oauth-form\"",
        "id=\"oauth-submit\"",
        "name=\"token\"",
        "name=\"workspace_url\"",
        "Access tokens",
        "Generate new token",
    ] {
        assert!(html.contains(id), "missing {id}");
    }
    // OAuth is not configured yet: the button is there but disabled.
    assert!(html.contains("id=\"oauth-submit\" disabled"));
    assert!(!html.contains("<b>Acme</b>"));

    // A reconnect session's heading names the account, escaped.
    let response = svc
        .http
        .get(svc.url("/connect/bwcs_not-a-real-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        result_status(&response.text().await.unwrap()).as_deref(),
        Some("error")
    );

    // An expired link says so.
    svc.clock.advance(std::time::Duration::from_secs(16 * 60));
    let response = svc.http.get(connect_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let html = response.text().await.unwrap();
    assert!(html.contains("expired"), "{html}");
    let view = svc
        .ok(Method::GET, &format!("/api/v1/connect-sessions/{id}"), None)
        .await;
    assert_eq!(view["status"], "expired");
    assert!(field_value(&html, "token").is_none());
}

#[tokio::test]
async fn the_catalog_is_served_with_schemas() {
    let svc = Svc::start().await;
    let list = svc.ok(Method::GET, "/api/v1/actions", None).await;
    let actions = list["actions"].as_array().unwrap();
    assert_eq!(
        actions.len(),
        brickwire_connector::Catalog::global().actions().len()
    );
    assert!(actions.iter().all(|a| a["input_schema"].is_object()));
    let one = svc
        .ok(Method::GET, "/api/v1/actions/list-clusters", None)
        .await;
    assert_eq!(one["id"], "list-clusters");
    let (status, json) = svc.api(Method::GET, "/api/v1/actions/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "UNKNOWN_ACTION");
    let (status, json) = svc.action("la_missing", "list-clusters", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    assert_eq!(json["error"]["code"], "NOT_FOUND");
    let (status, json) = svc.action("la_missing", "nope", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "UNKNOWN_ACTION");
}

#[tokio::test]
async fn linked_account_routes_answer_404_for_unknown_ids() {
    let svc = Svc::start().await;
    let list = svc.ok(Method::GET, "/api/v1/linked-accounts", None).await;
    assert_eq!(list["linked_accounts"], json!([]));
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"display_name": "x"}))),
        (Method::DELETE, None),
    ] {
        let (status, json) = svc
            .api(method.clone(), "/api/v1/linked-accounts/la_nope", body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {json}");
    }
    let (status, _) = svc
        .api(
            Method::POST,
            "/api/v1/linked-accounts/la_nope/reconnect",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_public_url_sets_links_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = brickwire_service::ServeOptions::new(dir.path());
    options.public_url = Some("https://connect.example.com/bw/".parse().unwrap());
    let service = brickwire_service::Service::start(options).await.unwrap();
    let key = service
        .generated_api_key()
        .unwrap()
        .expose_secret()
        .to_owned();
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}api/v1/connect-sessions", service.url()))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        created["connect_url"]
            .as_str()
            .unwrap()
            .starts_with("https://connect.example.com/bw/connect/bwcs_"),
        "{created}"
    );
    service.shutdown().await;

    let mut options = brickwire_service::ServeOptions::new(dir.path());
    options.public_url = Some("ftp://connect.example.com/".parse().unwrap());
    let err = brickwire_service::Service::start(options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("public URL"), "{err}");
}
