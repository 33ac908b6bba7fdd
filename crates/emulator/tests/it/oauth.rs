//! OAuth over HTTP: discovery, app connections, the consent page clicked through as a browser
//! would, every token-endpoint grant and error, and OAuth tokens on the API.

use std::time::Duration;

use brickwire_emulator::oauth::state::s256_challenge;
use brickwire_emulator::{Emulator, EmulatorOptions};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

const REDIRECT: &str = "http://localhost:9876/callback";
const VERIFIER: &str = "a-long-enough-random-verifier-0123456789-abcdefghijkl";
const ME: &str = "/api/2.0/preview/scim/v2/Me";

struct Oauth {
    emulator: Emulator,
    http: reqwest::Client,
    account_id: String,
}

struct App {
    integration_id: String,
    client_id: String,
    client_secret: Option<String>,
}

impl Oauth {
    async fn start() -> Self {
        let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let meta: Value = http
            .get(format!(
                "{}/.well-known/databricks-config",
                emulator.base_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account_id = meta["account_id"].as_str().unwrap().to_owned();
        Self {
            emulator,
            http,
            account_id,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    fn apps_path(&self) -> String {
        format!(
            "/api/2.0/accounts/{}/oauth2/custom-app-integrations",
            self.account_id
        )
    }

    async fn create_app(&self, body: Value) -> App {
        let response = self
            .http
            .post(self.url(&self.apps_path()))
            .bearer_auth(self.emulator.token())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let created: Value = response.json().await.unwrap();
        App {
            integration_id: created["integration_id"].as_str().unwrap().to_owned(),
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            client_secret: created["client_secret"].as_str().map(str::to_owned),
        }
    }

    async fn public_app(&self, policy: Value) -> App {
        self.create_app(json!({
            "name": "my tool",
            "redirect_urls": [REDIRECT],
            "scopes": ["all-apis", "offline_access", "sql"],
            "confidential": false,
            "token_access_policy": policy,
        }))
        .await
    }

    fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> Url {
        let challenge = s256_challenge(VERIFIER);
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "all-apis offline_access"),
            ("state", "st4te"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        Url::parse_with_params(&self.url("/oidc/v1/authorize"), &params).unwrap()
    }

    /// Opens the consent page and returns (consent token, cookie header value, html).
    async fn open_consent(&self, url: Url) -> (String, String, String) {
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = response.text().await.unwrap();
        let marker = "name=\"consent_token\" value=\"";
        let start = html.find(marker).expect("consent token field") + marker.len();
        let token = html[start..][..html[start..].find('"').unwrap()].to_owned();
        (token, cookie, html)
    }

    async fn submit(&self, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/oidc/v1/authorize"))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Clicks Allow for the first user listed (the admin) and returns the redirect's query.
    async fn consent(&self, client_id: &str) -> Vec<(String, String)> {
        let (token, cookie, html) = self.open_consent(self.authorize_url(client_id, &[])).await;
        assert!(html.contains("name=\"user_id\""));
        let user_id = "1000000000000001";
        let response = self
            .submit(
                &cookie,
                &[
                    ("consent_token", &token),
                    ("user_id", user_id),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FOUND);
        redirect_query(&response)
    }

    async fn code(&self, client_id: &str) -> String {
        let query = self.consent(client_id).await;
        assert_eq!(param(&query, "state").as_deref(), Some("st4te"));
        param(&query, "code").expect("code")
    }

    async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url("/oidc/v1/token")).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn exchange(&self, client_id: &str, code: &str) -> (StatusCode, Value) {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", client_id),
            ],
            None,
        )
        .await
    }

    async fn api(&self, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(ME))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    fn advance(&self, by: Duration) {
        self.emulator
            .state()
            .oauth
            .lock()
            .unwrap()
            .advance_clock(by);
    }
}

fn redirect_query(response: &reqwest::Response) -> Vec<(String, String)> {
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let url = Url::parse(location).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn discovery_documents() {
    let o = Oauth::start().await;
    let base = o.emulator.base_url();
    let meta: Value = o
        .http
        .get(o.url("/.well-known/databricks-config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["oidc_endpoint"], format!("{base}/oidc"));
    assert!(meta["workspace_id"].is_string());
    assert_eq!(meta["cloud"], "aws");
    for path in [
        "/oidc/.well-known/oauth-authorization-server",
        "/oidc/.well-known/openid-configuration",
    ] {
        let doc: Value = o
            .http
            .get(o.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], format!("{base}/oidc"));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/oidc/v1/authorize")
        );
        assert_eq!(doc["token_endpoint"], format!("{base}/oidc/v1/token"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}

#[tokio::test]
async fn app_connection_crud() {
    let o = Oauth::start().await;
    let public = o
        .public_app(json!({"access_token_ttl_in_minutes": 15}))
        .await;
    assert!(public.client_secret.is_none());
    let confidential = o
        .create_app(json!({"name": "svc", "confidential": true, "scopes": ["all-apis"]}))
        .await;
    assert!(confidential.client_secret.is_some());

    let path = format!("{}/{}", o.apps_path(), public.integration_id);
    let got: Value = o
        .http
        .get(o.url(&path))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["client_id"], public.client_id);
    assert_eq!(got["name"], "my tool");
    assert_eq!(got["confidential"], false);
    assert_eq!(got["redirect_urls"], json!([REDIRECT]));
    assert_eq!(
        got["token_access_policy"]["access_token_ttl_in_minutes"],
        15
    );
    assert_eq!(got["creator_username"], "admin@brickwire.local");
    assert!(got.get("client_secret").is_none());

    let response = o
        .http
        .patch(o.url(&path))
        .bearer_auth(o.emulator.token())
        .json(&json!({"redirect_urls": ["http://localhost:1/cb"], "scopes": ["sql"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = o
        .http
        .get(o.url(&path))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["scopes"], json!(["sql"]));
    assert_eq!(got["redirect_urls"], json!(["http://localhost:1/cb"]));

    let list: Value = o
        .http
        .get(o.url(&format!("{}?page_size=1", o.apps_path())))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["apps"].as_array().unwrap().len(), 1);
    let token = list["next_page_token"].as_str().unwrap();
    let rest: Value = o
        .http
        .get(o.url(&format!("{}?page_size=1&page_token={token}", o.apps_path())))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["apps"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_page_token").is_none());

    let bad = o
        .http
        .post(o.url(&o.apps_path()))
        .bearer_auth(o.emulator.token())
        .json(&json!({"name": "x", "scopes": ["root"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let wrong_account = o
        .http
        .get(o.url("/api/2.0/accounts/nope/oauth2/custom-app-integrations"))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_account.status(), StatusCode::NOT_FOUND);
    let unauthenticated = o.http.get(o.url(&o.apps_path())).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let deleted = o
        .http
        .delete(o.url(&path))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = o
        .http
        .get(o.url(&path))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn u2m_happy_path_with_consent_form_and_refresh() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;
    let code = o.code(&app.client_id).await;
    let (status, tokens) = o.exchange(&app.client_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "all-apis offline_access");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let (status, me) = o.api(access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["userName"], "admin@brickwire.local");

    // Without rotation the same refresh token keeps working.
    for _ in 0..2 {
        let (status, refreshed) = o
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", &app.client_id),
                ],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        assert_eq!(refreshed["refresh_token"], refresh);
        let (status, _) = o.api(refreshed["access_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn consent_picks_the_chosen_user_and_deny_redirects() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;
    let created: Value = o
        .http
        .post(o.url("/api/2.0/preview/scim/v2/Users"))
        .bearer_auth(o.emulator.token())
        .json(&json!({"userName": "dev@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dev_id = created["id"].as_str().unwrap();

    let (token, cookie, html) = o.open_consent(o.authorize_url(&app.client_id, &[])).await;
    assert!(html.contains("dev@example.com"));
    assert!(html.contains("my tool"));
    let response = o
        .submit(
            &cookie,
            &[
                ("consent_token", &token),
                ("user_id", dev_id),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = param(&redirect_query(&response), "code").unwrap();
    let (_, tokens) = o.exchange(&app.client_id, &code).await;
    let dev_access = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, me) = o.api(&dev_access).await;
    assert_eq!(me["userName"], "dev@example.com");
    // Deactivating the user revokes its OAuth access at once.
    let response = o
        .http
        .patch(o.url(&format!("/api/2.0/preview/scim/v2/Users/{dev_id}")))
        .bearer_auth(o.emulator.token())
        .json(&json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(o.api(&dev_access).await.0, StatusCode::UNAUTHORIZED);

    let (token, cookie, _) = o.open_consent(o.authorize_url(&app.client_id, &[])).await;
    let response = o
        .submit(&cookie, &[("consent_token", &token), ("decision", "deny")])
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let query = redirect_query(&response);
    assert_eq!(param(&query, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&query, "state").as_deref(), Some("st4te"));
    assert!(param(&query, "code").is_none());
}

#[tokio::test]
async fn consent_form_rejects_forgery_and_reuse() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;
    let (token, cookie, _) = o.open_consent(o.authorize_url(&app.client_id, &[])).await;
    let allow = [
        ("consent_token", token.as_str()),
        ("user_id", "1000000000000001"),
        ("decision", "allow"),
    ];
    // No cookie: a cross-site form post.
    let response = o
        .http
        .post(o.url("/oidc/v1/authorize"))
        .form(&allow)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A made-up token with a matching cookie.
    let response = o
        .submit(
            "brickwire_consent=forged",
            &[
                ("consent_token", "forged"),
                ("user_id", "1000000000000001"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Unknown user.
    let response = o
        .submit(
            &cookie,
            &[
                ("consent_token", token.as_str()),
                ("user_id", "42"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The real one works once.
    assert_eq!(o.submit(&cookie, &allow).await.status(), StatusCode::FOUND);
    assert_eq!(
        o.submit(&cookie, &allow).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn authorize_errors_on_page_or_redirect() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;

    // Unknown client and redirect mismatch: an error page, never a redirect.
    for url in [
        o.authorize_url("no-such-client", &[]),
        o.authorize_url(
            &app.client_id,
            &[("redirect_uri", "http://localhost:9876/other")],
        ),
        o.authorize_url(&app.client_id, &[("redirect_uri", "")]),
    ] {
        let response = o.http.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Authorization error")
        );
    }

    for (extra, error) in [
        (vec![("scope", "all-apis clusters")], "invalid_scope"),
        (vec![("scope", "openid")], "invalid_scope"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
    ] {
        let response = o
            .http
            .get(o.authorize_url(&app.client_id, &extra))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{extra:?}");
        let query = redirect_query(&response);
        assert_eq!(param(&query, "error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(param(&query, "state").as_deref(), Some("st4te"));
    }
}

#[tokio::test]
async fn code_exchange_errors() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;
    let other = o.public_app(json!({})).await;

    // Wrong verifier, wrong redirect, wrong client: the code stays unused and then works.
    let code = o.code(&app.client_id).await;
    let base = |verifier: &'static str, redirect: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]
    };
    let mut form = base("wrong-verifier", REDIRECT);
    form.extend([
        ("code", code.as_str()),
        ("client_id", app.client_id.as_str()),
    ]);
    let (status, body) = o.token(&form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let mut form = base(VERIFIER, "http://localhost:9876/elsewhere");
    form.extend([
        ("code", code.as_str()),
        ("client_id", app.client_id.as_str()),
    ]);
    let (_, body) = o.token(&form, None).await;
    assert_eq!(body["error"], "invalid_grant");
    let (_, body) = o.exchange(&other.client_id, &code).await;
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = o.exchange("nobody", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let mut form = base(VERIFIER, REDIRECT);
    form.retain(|(k, _)| *k != "code_verifier");
    form.extend([
        ("code", code.as_str()),
        ("client_id", app.client_id.as_str()),
    ]);
    let (_, body) = o.token(&form, None).await;
    assert_eq!(body["error"], "invalid_request");

    let (status, tokens) = o.exchange(&app.client_id, &code).await;
    assert_eq!(status, StatusCode::OK);
    // Replay: rejected, and the tokens it bought are revoked.
    let (status, body) = o.exchange(&app.client_id, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = o.api(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expired code.
    let code = o.code(&app.client_id).await;
    o.advance(Duration::from_secs(121));
    let (_, body) = o.exchange(&app.client_id, &code).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let (_, body) = o.exchange(&app.client_id, "never-issued").await;
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = o
        .token(
            &[("grant_type", "password"), ("client_id", &app.client_id)],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let o = Oauth::start().await;
    let app = o.public_app(json!({})).await;
    let (token, cookie, _) = o
        .open_consent(o.authorize_url(&app.client_id, &[("scope", "all-apis")]))
        .await;
    let response = o
        .submit(
            &cookie,
            &[
                ("consent_token", &token),
                ("user_id", "1000000000000001"),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = param(&redirect_query(&response), "code").unwrap();
    let (status, tokens) = o.exchange(&app.client_id, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tokens.get("refresh_token").is_none());
}

#[tokio::test]
async fn refresh_rotation_and_reuse() {
    let o = Oauth::start().await;
    let app = o
        .public_app(json!({"enable_single_use_refresh_tokens": true}))
        .await;
    let code = o.code(&app.client_id).await;
    let (_, tokens) = o.exchange(&app.client_id, &code).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let client_id = app.client_id.clone();
        let o = &o;
        async move {
            o.token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", &client_id),
                ],
                None,
            )
            .await
        }
    };
    let (status, second) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let (status, _) = refresh(second_refresh).await;
    assert_eq!(status, StatusCode::OK);
    // The retired token is rejected, and its reuse ends the session.
    let (status, body) = refresh(first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = o.api(second["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another client cannot use a refresh token; unknown ones fail.
    let (_, body) = refresh("made-up".into()).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn access_token_expiry_and_legacy_403() {
    let o = Oauth::start().await;
    o.emulator
        .state()
        .settings
        .write()
        .unwrap()
        .oauth
        .access_token_lifetime_seconds = 2;
    let app = o.public_app(json!({})).await;
    let code = o.code(&app.client_id).await;
    let (_, tokens) = o.exchange(&app.client_id, &code).await;
    assert_eq!(tokens["expires_in"], 2);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(o.api(&access).await.0, StatusCode::OK);
    o.advance(Duration::from_secs(3));
    let (status, body) = o.api(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_code"], "UNAUTHENTICATED");

    // Refresh brings a working token back.
    let (_, refreshed) = o
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &app.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(
        o.api(refreshed["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );

    o.emulator
        .state()
        .settings
        .write()
        .unwrap()
        .oauth
        .legacy_invalid_token_403 = true;
    let (status, body) = o.api(&access).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"error_code": "403", "message": "Invalid access token."})
    );
    let (status, _) = o.api("unknown-token").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn client_credentials() {
    let o = Oauth::start().await;
    let app = o
        .create_app(json!({"name": "robot", "confidential": true, "scopes": ["all-apis", "sql"]}))
        .await;
    let secret = app.client_secret.clone().unwrap();
    let (status, tokens) = o
        .token(
            &[("grant_type", "client_credentials"), ("scope", "all-apis")],
            Some((&app.client_id, &secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(tokens["scope"], "all-apis");
    let (status, me) = o.api(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["userName"], app.client_id);
    assert_eq!(me["displayName"], "robot");

    // Secret as form fields works too.
    let (status, _) = o
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = o
        .token(
            &[("grant_type", "client_credentials"), ("scope", "all-apis")],
            Some((&app.client_id, "wrong")),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = o
        .token(
            &[("grant_type", "client_credentials")],
            Some(("nobody", "x")),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = o
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "offline_access"),
            ],
            Some((&app.client_id, &secret)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let public = o.public_app(json!({})).await;
    let (status, body) = o
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    // A confidential client must authenticate for authorization codes too.
    let web = o
        .create_app(json!({"name": "web", "confidential": true, "redirect_urls": [REDIRECT], "scopes": ["all-apis", "offline_access"]}))
        .await;
    let code = o.code(&web.client_id).await;
    let (status, body) = o.exchange(&web.client_id, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let web_secret = web.client_secret.unwrap();
    let (status, _) = o
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", &web.client_id),
                ("client_secret", &web_secret),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn builtin_databricks_cli_client() {
    let o = Oauth::start().await;
    let challenge = s256_challenge(VERIFIER);
    let url = Url::parse_with_params(
        &o.url("/oidc/v1/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", "databricks-cli"),
            ("redirect_uri", "http://localhost:8020"),
            ("scope", "all-apis offline_access"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let (token, cookie, _) = o.open_consent(url).await;
    let response = o
        .submit(
            &cookie,
            &[
                ("consent_token", &token),
                ("user_id", "1000000000000001"),
                ("decision", "allow"),
            ],
        )
        .await;
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        "http://localhost:8020"
    );
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, tokens) = o
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:8020"),
                ("code_verifier", VERIFIER),
                ("client_id", "databricks-cli"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    // Not a custom integration.
    let list: Value = o
        .http
        .get(o.url(&o.apps_path()))
        .bearer_auth(o.emulator.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list.get("apps")
            .is_none_or(|a| a.as_array().unwrap().is_empty())
    );
}
