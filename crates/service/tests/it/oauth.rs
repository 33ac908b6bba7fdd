//! Linking by OAuth (PKCE) against the emulator, clicking its consent page over HTTP: the happy
//! path and the negative cases (wrong, replayed and superseded state, expired session, code
//! replay, wrong verifier, redirect mismatch, scope not allowed, denied consent); token refresh
//! with rotation and 50 concurrent actions sharing one refresh; a refresh that fails for good
//! marking the account and its reconnection re-linking the same account; and three replicas
//! on one PostgreSQL database: a connect session, its page and its OAuth callback each on a
//! different replica, then 50 concurrent actions on the account through all three with one
//! refresh.

use crate::backends;
use crate::common;

use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_service::store::{ConnectSessionId, Credential, LinkedAccountId, OAuthStart};
use common::{
    Svc, Workspace, assert_not_logged, contains, linked_account_id, location, result_status,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A service whose app settings point at an app connection of the emulator.
async fn setup(app_scopes: &[&str], additional: &[&str], rotate: bool) -> (Svc, Workspace) {
    let ws = Workspace::start().await;
    let svc = Svc::start().await;
    let settings = svc.ok(Method::GET, "/api/v1/app-settings", None).await;
    let callback = settings["callback_url"].as_str().unwrap().to_owned();
    let client_id = ws.app_connection(&callback, app_scopes, rotate).await;
    svc.ok(
        Method::PUT,
        "/api/v1/app-settings",
        Some(json!({
            "oauth_client_id": client_id,
            "workspace_url": ws.base_url(),
            "scopes": {"additional": additional},
        })),
    )
    .await;
    (svc, ws)
}

const APP_SCOPES: &[&str] = &["all-apis", "offline_access", "sql"];

/// Presses "Connect with Databricks"; returns the consent page URL.
async fn start_oauth(svc: &Svc, connect_url: &str) -> String {
    let response = svc
        .http
        .post(format!("{connect_url}/oauth"))
        .form(&[("unused", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

/// Follows the emulator's redirect back to the service; returns (status, html).
async fn callback(svc: &Svc, url: &str) -> (StatusCode, String) {
    assert!(url.contains("/oauth/callback"), "{url}");
    let response = svc.http.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The whole flow; returns the linked account id.
async fn link_oauth(svc: &Svc, ws: &Workspace) -> String {
    let (_, connect_url) = svc.session(json!({"end_user_ref": "user-o"})).await;
    let authorize = start_oauth(svc, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    let (status, html) = callback(svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(result_status(&html).as_deref(), Some("success"), "{html}");
    linked_account_id(&html).unwrap()
}

/// The stored access and refresh tokens.
async fn stored_tokens(svc: &Svc, id: &str) -> (String, String) {
    let stored = svc
        .service()
        .store()
        .linked_account_credential(LinkedAccountId::new(id))
        .await
        .unwrap();
    match stored.credential {
        Credential::OAuth(o) => (
            o.access_token.expose_secret().to_owned(),
            o.refresh_token.unwrap().expose_secret().to_owned(),
        ),
        other => panic!("{other:?}"),
    }
}

async fn stored_refresh_token(svc: &Svc, id: &str) -> (String, u64) {
    let stored = svc
        .service()
        .store()
        .linked_account_credential(LinkedAccountId::new(id))
        .await
        .unwrap();
    match stored.credential {
        Credential::OAuth(o) => (
            o.refresh_token.unwrap().expose_secret().to_owned(),
            stored.version,
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_links_an_account_that_runs_actions() {
    let (mut svc, ws) = setup(APP_SCOPES, &["all-apis"], false).await;
    let (session, connect_url) = svc.session(json!({"display_name": "Via OAuth"})).await;
    let html = svc
        .http
        .get(&connect_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("id=\"oauth-submit\" disabled"));
    let authorize = start_oauth(&svc, &connect_url).await;
    // The authorization request is S256 PKCE with a random state, the callback URL and the
    // effective scopes.
    assert!(
        authorize.starts_with(&ws.url("/oidc/v1/authorize")),
        "{authorize}"
    );
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("offline_access all-apis")
    );
    assert_eq!(
        query_param(&authorize, "redirect_uri").unwrap(),
        format!("{}oauth/callback", svc.service().public_url())
    );
    let state = query_param(&authorize, "state").unwrap();
    assert!(state.len() >= 40);
    let view = svc
        .ok(
            Method::GET,
            &format!("/api/v1/connect-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(view["status"], "oauth_started");

    let back = ws.consent(&authorize, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let id = linked_account_id(&html).unwrap();
    let account = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["auth_type"], "oauth");
    assert_eq!(account["display_name"], "Via OAuth");
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");

    // Code replay: the same callback again is refused (the state was single use).
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(result_status(&html).as_deref(), Some("error"));
    assert!(html.contains("already used"), "{html}");

    // Restart: the OAuth account still works; no token in the database.
    svc.restart().await;
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (refresh, _) = stored_refresh_token(&svc, &id).await;
    svc.service()
        .store()
        .as_sqlite()
        .unwrap()
        .checkpoint()
        .await
        .unwrap();
    assert!(!contains(&svc.database_bytes(), &refresh));
    assert!(!contains(&svc.database_bytes(), &state));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_refuses_wrong_superseded_and_expired_state() {
    let (svc, ws) = setup(APP_SCOPES, &["all-apis"], false).await;

    // Unknown state (and no sign-in started in this browser).
    let (status, html) =
        callback(&svc, &svc.url("/oauth/callback?code=abc&state=not-a-state")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("did not come back to the browser"), "{html}");

    // An authorization URL completed in another browser (no state cookie) links nothing and
    // does not burn the session: the browser that started it can still finish.
    let (session, connect_url) = svc.session(json!({})).await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    let other_browser = common::http_client();
    let response = other_browser.get(&back).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("same browser"));
    let view = svc
        .ok(
            Method::GET,
            &format!("/api/v1/connect-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(view["linked_account_id"], Value::Null);
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, _) = callback(&svc, &svc.url("/oauth/callback?code=abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Two starts: only the latest state works.
    let (_, connect_url) = svc.session(json!({})).await;
    let first = start_oauth(&svc, &connect_url).await;
    let second = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&first, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let back = ws.consent(&second, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");

    // Expired session: the service's clock passes the session's lifetime during consent.
    let (session, connect_url) = svc.session(json!({"expires_in_minutes": 5})).await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    svc.clock.advance(Duration::from_secs(6 * 60));
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("expired"), "{html}");
    let view = svc
        .ok(
            Method::GET,
            &format!("/api/v1/connect-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(view["linked_account_id"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_verifier_is_refused_by_the_workspace() {
    let (svc, ws) = setup(APP_SCOPES, &["all-apis"], false).await;
    let (session, connect_url) = svc.session(json!({})).await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let state = query_param(&authorize, "state").unwrap();
    // Tamper with the store: same state, another verifier.
    svc.service()
        .store()
        .start_connect_session_oauth(
            ConnectSessionId::new(session),
            OAuthStart {
                workspace_url: None,
                oauth_state: SecretString::new(state),
                pkce_verifier: SecretString::new("tampered-verifier-0123456789-0123456789-abcdef"),
            },
        )
        .await
        .unwrap();
    let back = ws.consent(&authorize, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(result_status(&html).as_deref(), Some("error"));
    assert!(html.contains("invalid_grant"), "{html}");
    assert!(!html.contains("tampered-verifier"));
    let list = svc.ok(Method::GET, "/api/v1/linked-accounts", None).await;
    assert_eq!(list["linked_accounts"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mismatch_scope_not_allowed_and_denied_consent() {
    // The app connection allows fewer scopes than the settings request.
    let (svc, ws) = setup(&["all-apis", "offline_access"], &["all-apis", "sql"], false).await;
    let (session, connect_url) = svc.session(json!({})).await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_scope")
    );
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(result_status(&html).as_deref(), Some("error"));
    assert!(html.contains("Scopes do not match"), "{html}");
    assert!(html.contains("app connection"), "{html}");
    assert!(html.contains("custom scope"), "{html}");
    assert!(html.contains("offline_access all-apis sql"), "{html}");
    // The session is still usable once the settings are fixed.
    svc.ok(
        Method::PUT,
        "/api/v1/app-settings",
        Some(json!({
            "oauth_client_id": svc.ok(Method::GET, "/api/v1/app-settings", None).await["oauth_client_id"],
            "workspace_url": ws.base_url(),
            "scopes": {"additional": ["all-apis"]},
        })),
    )
    .await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&authorize, false).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("access_denied"), "{html}");
    let authorize = start_oauth(&svc, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let view = svc
        .ok(
            Method::GET,
            &format!("/api/v1/connect-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(view["status"], "completed");

    // Redirect mismatch: an app connection registered with another redirect URL. The
    // workspace refuses before consent, naming the redirect URI.
    let other = ws
        .app_connection("https://elsewhere.example.com/cb", APP_SCOPES, false)
        .await;
    svc.ok(
        Method::PUT,
        "/api/v1/app-settings",
        Some(json!({"oauth_client_id": other, "workspace_url": ws.base_url()})),
    )
    .await;
    let (_, connect_url) = svc.session(json!({})).await;
    let authorize = start_oauth(&svc, &connect_url).await;
    let response = ws.http.get(&authorize).send().await.unwrap();
    assert_ne!(
        response.status(),
        StatusCode::FOUND,
        "no redirect to an unregistered URI"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("redirect_uri"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_fifty_concurrent_actions_share_one_refresh() {
    let (svc, ws) = setup(APP_SCOPES, &["all-apis"], true).await;
    ws.admin(
        Method::PATCH,
        "/_emulator/settings",
        json!({"oauth": {"access_token_lifetime_seconds": 30}}),
    )
    .await;
    let id = link_oauth(&svc, &ws).await;
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (refresh_before, version_before) = stored_refresh_token(&svc, &id).await;
    let tokens_before = ws.hits("POST /oidc/v1/token").await;

    // The service's clock passes the access token's expiry; 50 actions at once.
    svc.clock.advance(Duration::from_secs(31));
    let runs = (0..50).map(|_| svc.action(&id, "list-users", json!({})));
    for (status, out) in futures::future::join_all(runs).await {
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    assert_eq!(
        ws.hits("POST /oidc/v1/token").await - tokens_before,
        1,
        "one refresh for all 50 actions"
    );
    // The rotated refresh token was stored at once.
    let (refresh_after, version_after) = stored_refresh_token(&svc, &id).await;
    assert_ne!(refresh_after, refresh_before);
    assert_eq!(version_after, version_before + 1);

    // And the next refresh starts from it (the retired one would end the session).
    svc.clock.advance(Duration::from_secs(31));
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(ws.hits("POST /oidc/v1/token").await - tokens_before, 2);
    let (refresh_third, _) = stored_refresh_token(&svc, &id).await;
    assert_ne!(refresh_third, refresh_after);
    // Nothing secret reached the logs (every level is captured).
    let (access, refresh) = stored_tokens(&svc, &id).await;
    for secret in [&access, &refresh, &refresh_before, &refresh_after] {
        assert_not_logged(secret);
    }
    let account = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_refresh_token_asks_for_reconnection_of_the_same_account() {
    let (svc, ws) = setup(APP_SCOPES, &["all-apis"], true).await;
    let id = link_oauth(&svc, &ws).await;
    let (status, _) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // Someone else spends the stored single-use refresh token: the workspace sees its reuse
    // when the service refreshes, and ends the whole session.
    let (refresh, _) = stored_refresh_token(&svc, &id).await;
    let settings = svc.ok(Method::GET, "/api/v1/app-settings", None).await;
    let response = ws
        .http
        .post(ws.url("/oidc/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", settings["oauth_client_id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    svc.clock.advance(Duration::from_secs(3601));

    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{out}");
    assert_eq!(out["error"]["code"], "UNAUTHENTICATED");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("reconnected"), "{message}");
    assert!(!message.contains(&refresh));
    let link = message
        .split_whitespace()
        .find(|w| w.contains("/connect/"))
        .expect("a reconnect link")
        .to_owned();
    let account = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["status"], "needs_reconnect");
    // Later calls fail the same way, with the same link, without touching the workspace.
    let tokens = ws.hits("POST /oidc/v1/token").await;
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{out}");
    assert!(
        out["error"]["message"].as_str().unwrap().contains(&link),
        "{out}"
    );
    assert_eq!(ws.hits("POST /oidc/v1/token").await, tokens);
    let reconnect = svc
        .ok(
            Method::POST,
            &format!("/api/v1/linked-accounts/{id}/reconnect"),
            None,
        )
        .await;
    assert_eq!(reconnect["reconnect_account_id"], id.as_str());

    // The end user follows the link: the same account is re-linked and works again.
    let html = svc
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Reconnect"), "{html}");
    let authorize = start_oauth(&svc, &link).await;
    let back = ws.consent(&authorize, true).await;
    let (status, html) = callback(&svc, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(linked_account_id(&html).as_deref(), Some(id.as_str()));
    let account = svc
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["status"], "active");
    let (status, out) = svc.action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let list = svc.ok(Method::GET, "/api/v1/linked-accounts", None).await;
    assert_eq!(list["linked_accounts"].as_array().unwrap().len(), 1);
    let (access, new_refresh) = stored_tokens(&svc, &id).await;
    for secret in [&access, &new_refresh, &refresh] {
        assert_not_logged(secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_link_across_replicas_and_make_one_refresh_for_fifty_actions() {
    let Some(url) = backends::fresh_postgres_url().await else {
        return;
    };
    let master_key = brickwire_service::crypto::MasterKey::generate().to_base64();
    let operator_key = format!("bw_replica_test_{:032x}", rand::random::<u128>());
    // All three behind one public URL, as behind a load balancer (the first replica's URL).
    let first = Svc::replica(&url, &master_key, &operator_key, None).await;
    let public = first.service().url();
    let mut replicas = vec![first];
    for _ in 0..2 {
        replicas.push(Svc::replica(&url, &master_key, &operator_key, Some(public.clone())).await);
    }
    let ws = Workspace::start().await;
    let settings = replicas[0]
        .ok(Method::GET, "/api/v1/app-settings", None)
        .await;
    let callback_url = settings["callback_url"].as_str().unwrap().to_owned();
    let client_id = ws.app_connection(&callback_url, APP_SCOPES, true).await;
    replicas[1]
        .ok(
            Method::PUT,
            "/api/v1/app-settings",
            Some(json!({"oauth_client_id": client_id, "workspace_url": ws.base_url()})),
        )
        .await;
    ws.admin(
        Method::PATCH,
        "/_emulator/settings",
        json!({"oauth": {"access_token_lifetime_seconds": 30}}),
    )
    .await;
    // The session is made on one replica, the browser's connect page is served by another,
    // and the balancer sends the OAuth callback to the third: the browser's cookie and the
    // PKCE state are in the database, so it links.
    let (_, connect_url) = replicas[1]
        .session(json!({"end_user_ref": "user-fleet"}))
        .await;
    let browser = &replicas[0];
    let authorize = start_oauth(browser, &connect_url).await;
    let back = ws.consent(&authorize, true).await;
    let third = replicas[2].service().url();
    let back = back.replacen(
        public.as_str().trim_end_matches('/'),
        third.as_str().trim_end_matches('/'),
        1,
    );
    assert!(back.starts_with(third.as_str()), "{back}");
    let (status, html) = callback(browser, &back).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(result_status(&html).as_deref(), Some("success"), "{html}");
    let id = linked_account_id(&html).unwrap();
    // Every replica has used the first tokens (each has its client cached).
    for svc in &replicas {
        let (status, out) = svc.action(&id, "list-users", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let (refresh_before, version_before) = stored_refresh_token(&replicas[2], &id).await;
    let tokens_before = ws.hits("POST /oidc/v1/token").await;

    // Every replica's clock passes the expiry; 50 actions spread over the three at once.
    for svc in &replicas {
        svc.clock.advance(Duration::from_secs(31));
    }
    let runs = (0..50).map(|i| replicas[i % 3].action(&id, "list-users", json!({})));
    for (status, out) in futures::future::join_all(runs).await {
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    assert_eq!(
        ws.hits("POST /oidc/v1/token").await - tokens_before,
        1,
        "one refresh across the fleet"
    );
    let (refresh_after, version_after) = stored_refresh_token(&replicas[1], &id).await;
    assert_ne!(refresh_after, refresh_before);
    assert_eq!(version_after, version_before + 1);
    // The single-use refresh token chain is intact: the next expiry refreshes from it.
    for svc in &replicas {
        svc.clock.advance(Duration::from_secs(31));
    }
    let (status, out) = replicas[2].action(&id, "list-users", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(ws.hits("POST /oidc/v1/token").await - tokens_before, 2);
    let account = replicas[0]
        .ok(Method::GET, &format!("/api/v1/linked-accounts/{id}"), None)
        .await;
    assert_eq!(account["status"], "active");
}
