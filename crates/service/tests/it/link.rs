//! Linking by API key against the emulator, through the REST API and the connect page, with
//! each failure (wrong token, not a workspace, unreachable, plain http to a remote host);
//! actions on the linked account; restart on the same data directory; no plaintext secret in
//! the database or in answers.

use crate::common;

use common::{Svc, Workspace, assert_not_logged, contains, linked_account_id, result_status};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn link(svc: &Svc, ws: &Workspace) -> Value {
    svc.ok(
        Method::POST,
        "/api/v1/linked-accounts",
        Some(json!({
            "display_name": "Acme prod",
            "end_user_ref": "user-1",
            "workspace_url": ws.base_url(),
            "token": ws.emulator.token(),
        })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_account_runs_actions_and_survives_a_restart() {
    let ws = Workspace::start().await;
    let mut svc = Svc::start().await;
    let account = link(&svc, &ws).await;
    let id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["auth_type"], "api_key");
    assert_eq!(account["status"], "active");
    assert_eq!(account["workspace_host"], ws.base_url());
    assert_eq!(account["last_used_at"], Value::Null);
    assert!(!account.to_string().contains(ws.emulator.token()));

    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(
        out["output"].is_object() || out["output"].is_array(),
        "{out}"
    );
    let got = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    let first_use = got["last_used_at"]
        .as_str()
        .expect("set by the first action")
        .to_owned();
    // Within a minute it is not written again; after that it is.
    svc.clock.advance(std::time::Duration::from_secs(30));
    svc.action(&id, "list-users", json!({})).await;
    let got = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(got["last_used_at"], first_use.as_str());
    svc.clock.advance(std::time::Duration::from_secs(31));
    svc.action(&id, "list-users", json!({})).await;
    let got = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_ne!(got["last_used_at"], first_use.as_str());

    // Action errors keep the catalog's shape and status.
    let (status, out) = svc
        .action(&id, "get-cluster-info", json!({"cluster_id": "0000-nope"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{out}");
    assert_eq!(out["error"]["code"], "NOT_FOUND");
    let (status, out) = svc.action(&id, "get-cluster-info", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cluster_id")
    );

    // Filters, rename.
    let mine = svc
        .ok(
            Method::GET,
            "/api/v1/linked-accounts?end_user_ref=user-1",
            None,
        )
        .await;
    assert_eq!(mine["linked_accounts"].as_array().unwrap().len(), 1);
    let theirs = svc
        .ok(
            Method::GET,
            "/api/v1/linked-accounts?end_user_ref=user-2",
            None,
        )
        .await;
    assert_eq!(theirs["linked_accounts"], json!([]));
    let renamed = svc
        .ok(
            Method::PATCH,
            &format!("/api/v1/linked-accounts/{id}"),
            Some(json!({"display_name": "Acme production"})),
        )
        .await;
    assert_eq!(renamed["display_name"], "Acme production");
    let (status, json) = svc
        .api(
            Method::PATCH,
            &format!("/api/v1/linked-accounts/{id}"),
            Some(json!({"display_name": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("display_name")
    );

    // Restart on the same data directory: same key, same account, still works.
    svc.restart().await;
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");

    // No plaintext token in the database files.
    if let Some(s) = &svc.service {
        s.store().as_sqlite().unwrap().checkpoint().await.unwrap();
    }
    let bytes = svc.database_bytes();
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, ws.emulator.token()));

    // Delete: gone for good.
    let (status, _) = svc
        .api(
            Method::DELETE,
            &format!("/api/v1/linked-accounts/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_failures_are_told_apart_and_never_echo_the_token() {
    let ws = Workspace::start().await;
    let svc = Svc::start().await;
    let secret = "dapi-wrong-0123456789abcdef";
    let try_link = |url: String, token: &'static str| {
        let svc = &svc;
        async move {
            svc.api(
                Method::POST,
                "/api/v1/linked-accounts",
                Some(json!({"workspace_url": url, "token": token})),
            )
            .await
        }
    };

    // Wrong token.
    let (status, json) = try_link(ws.base_url(), secret).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"]["code"], "UNAUTHENTICATED");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused the token")
    );
    assert!(!json.to_string().contains(secret));

    // Not a workspace: a server that answers HTML.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/api/2.0/preview/scim/v2/Me",
            axum::routing::get(|| async { axum::response::Html("<html>Welcome</html>") }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "nothing here") });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (status, json) = try_link(other.clone(), secret).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"]["code"], "INVALID_INPUT");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not look like a Databricks workspace"),
        "{message}"
    );
    assert!(message.contains("workspace_url"), "{message}");
    assert!(!json.to_string().contains(secret));

    // Unreachable: a port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (status, json) = try_link(format!("http://{closed}"), secret).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(json["error"]["code"], "NETWORK_ERROR");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );

    // Plain http to a remote host is refused before anything is sent.
    let (status, json) = try_link("http://dbc-1.cloud.databricks.com".into(), secret).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workspace_url")
    );
    assert!(json["error"]["message"].as_str().unwrap().contains("http"));

    let list = svc.ok(Method::GET, "/api/v1/linked-accounts", None).await;
    assert_eq!(list["linked_accounts"], json!([]), "nothing was stored");
    assert_not_logged(secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_page_links_by_api_key_once() {
    let ws = Workspace::start().await;
    let svc = Svc::start().await;
    let (session, connect_url) = svc
        .session(json!({"end_user_ref": "user-9", "display_name": "From the page"}))
        .await;
    let form = |url: &str, token: &str| {
        svc.http
            .post(format!("{connect_url}/api-key"))
            .form(&[
                ("workspace_url", url.to_owned()),
                ("token", token.to_owned()),
            ])
            .send()
    };

    // A wrong token: an error page, the session stays usable, the token is not echoed.
    let response = form(&ws.base_url(), "dapi-typo-123456").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert_eq!(result_status(&html).as_deref(), Some("error"));
    assert!(html.contains("refused the token"));
    assert!(!html.contains("dapi-typo-123456"));
    assert!(html.contains("id=\"retry\""));

    // A bad URL names the field.
    let response = form("http://example.com", ws.emulator.token())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("http"));

    // The right token links the account.
    let response = form(&ws.base_url(), ws.emulator.token()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert_eq!(result_status(&html).as_deref(), Some("success"));
    let id = linked_account_id(&html).unwrap();
    assert!(!html.contains(ws.emulator.token()));
    let account = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["display_name"], "From the page");
    assert_eq!(account["end_user_ref"], "user-9");
    let view = svc
        .ok(
            Method::GET,
            &format!("/api/v1/connect-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["linked_account_id"], id.as_str());

    // Single use: the link and the form no longer work.
    let response = form(&ws.base_url(), ws.emulator.token()).await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let response = svc.http.get(&connect_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let list = svc.ok(Method::GET, "/api/v1/linked-accounts", None).await;
    assert_eq!(list["linked_accounts"].as_array().unwrap().len(), 1);

    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_not_logged(ws.emulator.token());
    assert_not_logged("dapi-typo-123456");
}
