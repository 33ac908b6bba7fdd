//! HTTP routes of OAuth: discovery documents, the account's app-connection API, the consent
//! page (`/oidc/v1/authorize`, GET shows it, POST records the decision) and the token endpoint.
//!
//! The consent page is plain HTML a browser can click through. Its form posts back
//! `consent_token` (single-use, also set as the `brickwire_consent` cookie and compared, so
//! another site cannot forge a decision), `user_id` (a SCIM user) and `decision`
//! (`allow` or `deny`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use brickwire_api::SecretString;
use brickwire_api::html::escape_html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{
    AppConnection, AppInput, AuthorizeError, AuthorizeRequest, ClientAuth, IssuedTokens,
    OAuthError, SUPPORTED_SCOPES,
};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Name of the cookie that carries the consent page's anti-forgery token.
pub const CONSENT_COOKIE: &str = "brickwire_consent";

/// The routes of OAuth.
pub fn routes() -> Router<AppState> {
    let apps = "/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations";
    Router::new()
        .route("/.well-known/databricks-config", get(host_metadata))
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(discovery),
        )
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route(
            "/oidc/accounts/{account_id}/.well-known/oauth-authorization-server",
            get(discovery),
        )
        .route("/oidc/v1/authorize", get(authorize).post(consent_decision))
        .route("/oidc/v1/token", axum::routing::post(token))
        .route(apps, get(list_apps).post(create_app))
        .route(
            &format!("{apps}/{{integration_id}}"),
            get(get_app).patch(update_app).delete(delete_app),
        )
}

// ----- discovery ---------------------------------------------------------------------------

async fn host_metadata(State(state): State<AppState>) -> Json<Value> {
    let settings = state.settings().oauth;
    Json(json!({
        "oidc_endpoint": format!("{}/oidc", state.base_url),
        "workspace_id": settings.workspace_id,
        "account_id": settings.account_id,
        "cloud": settings.cloud,
    }))
}

async fn discovery(State(state): State<AppState>) -> Json<Value> {
    let base = &state.base_url;
    Json(json!({
        "issuer": format!("{base}/oidc"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "jwks_uri": format!("{base}/oidc/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SUPPORTED_SCOPES,
    }))
}

// ----- app connections ---------------------------------------------------------------------

fn check_account(state: &AppState, account_id: &str) -> Result<(), ApiError> {
    if state.settings().oauth.account_id != account_id {
        return Err(ApiError::not_found(format!(
            "Account {account_id} does not exist."
        )));
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            e.to_string(),
        )
    })
}

fn render_app(state: &AppState, app: &AppConnection) -> Value {
    let mut v = json!({
        "integration_id": app.integration_id,
        "client_id": app.client_id,
        "name": app.name,
        "redirect_urls": app.redirect_urls,
        "scopes": app.scopes,
        "confidential": app.confidential,
        "token_access_policy": app.token_access_policy,
    });
    if !app.user_authorized_scopes.is_empty() {
        v["user_authorized_scopes"] = json!(app.user_authorized_scopes);
    }
    if let Some(id) = &app.created_by {
        if let Ok(n) = id.parse::<i64>() {
            v["created_by"] = json!(n);
        }
        if let Some(user) = state.scim.lock().expect("scim lock").user(id) {
            v["creator_username"] = json!(user.user_name);
        }
    }
    v
}

async fn create_app(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    principal: Option<Extension<Principal>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_account(&state, &account_id)?;
    let input: AppInput = parse_json(&body)?;
    let created_by = match principal {
        Some(Extension(Principal::User { id })) => Some(id),
        _ => None,
    };
    let created = state
        .oauth
        .lock()
        .expect("oauth lock")
        .create_app(input, created_by)
        .map_err(ApiError::invalid_parameter)?;
    let mut body = json!({
        "integration_id": created.integration_id,
        "client_id": created.client_id,
    });
    if let Some(secret) = &created.client_secret {
        // The secret leaves the emulator exactly once, here.
        body["client_secret"] = json!(secret.expose_secret());
    }
    Ok(Json(body))
}

/// Paging of the app-connection list.
#[derive(Debug, Default, Deserialize)]
struct ListAppsParams {
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn list_apps(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    Query(params): Query<ListAppsParams>,
) -> Result<Json<Value>, ApiError> {
    check_account(&state, &account_id)?;
    let apps: Vec<AppConnection> = state
        .oauth
        .lock()
        .expect("oauth lock")
        .apps()
        .into_iter()
        .cloned()
        .collect();
    let offset = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_parameter("Invalid page_token."))?,
        None => 0,
    };
    let size = params.page_size.filter(|s| *s > 0).unwrap_or(usize::MAX);
    let page: Vec<Value> = apps
        .iter()
        .skip(offset)
        .take(size)
        .map(|a| render_app(&state, a))
        .collect();
    let mut body = json!({ "apps": page });
    if offset.saturating_add(size) < apps.len() {
        body["next_page_token"] = json!((offset + size).to_string());
    }
    Ok(Json(body))
}

fn app_not_found(integration_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "OAuth app integration {integration_id} does not exist."
    ))
}

async fn get_app(
    State(state): State<AppState>,
    Path((account_id, integration_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_account(&state, &account_id)?;
    let app = state
        .oauth
        .lock()
        .expect("oauth lock")
        .app(&integration_id)
        .cloned()
        .ok_or_else(|| app_not_found(&integration_id))?;
    Ok(Json(render_app(&state, &app)))
}

async fn update_app(
    State(state): State<AppState>,
    Path((account_id, integration_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_account(&state, &account_id)?;
    let input: AppInput = parse_json(&body)?;
    let found = state
        .oauth
        .lock()
        .expect("oauth lock")
        .update_app(&integration_id, input)
        .map_err(ApiError::invalid_parameter)?;
    if !found {
        return Err(app_not_found(&integration_id));
    }
    Ok(Json(json!({})))
}

async fn delete_app(
    State(state): State<AppState>,
    Path((account_id, integration_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_account(&state, &account_id)?;
    if !state
        .oauth
        .lock()
        .expect("oauth lock")
        .delete_app(&integration_id)
    {
        return Err(app_not_found(&integration_id));
    }
    Ok(Json(json!({})))
}

// ----- authorize and consent ---------------------------------------------------------------

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}\
label{{display:block;margin:.3em 0}}button{{margin-right:1em;padding:.4em 1.2em}}</style>\
</head><body>{body}</body></html>\n",
        title = escape_html(title),
    )
}

/// An error the browser sees as a page (never a redirect to an untrusted URL).
fn error_page(message: &str) -> Response {
    let body = format!(
        "<h1>Authorization error</h1><p id=\"error\">{}</p>",
        escape_html(message)
    );
    (
        StatusCode::BAD_REQUEST,
        Html(page("Authorization error", &body)),
    )
        .into_response()
}

fn redirect_with(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("The redirect_uri is not a valid URL.");
    };
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                pairs.append_pair(k, v);
            }
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn authorize(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let request: AuthorizeRequest =
        match serde_urlencoded::from_str(query.as_deref().unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => return error_page(&format!("Malformed authorization request: {e}")),
        };
    let begun = state
        .oauth
        .lock()
        .expect("oauth lock")
        .begin_authorization(&request);
    let (token, consent) = match begun {
        Ok(ok) => ok,
        Err(AuthorizeError::Page(message)) => return error_page(&message),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            return redirect_with(
                &redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(&description)),
                    ("state", state.as_deref()),
                ],
            );
        }
    };
    let users: Vec<(String, String)> = {
        let scim = state.scim.lock().expect("scim lock");
        let list = scim
            .list(
                crate::scim::state::Kind::User,
                &crate::scim::state::ListQuery {
                    filter: Some("active eq true".into()),
                    ..Default::default()
                },
            )
            .unwrap_or_default();
        list["Resources"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let id = r["id"].as_str().unwrap_or_default().to_owned();
                        let name = r["userName"].as_str().unwrap_or_default();
                        let label = match r["displayName"].as_str() {
                            Some(d) if d != name => format!("{d} ({name})"),
                            _ => name.to_owned(),
                        };
                        (id, label)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let user_choices: String = users
        .iter()
        .enumerate()
        .map(|(i, (id, label))| {
            format!(
                "<label><input type=\"radio\" name=\"user_id\" value=\"{id}\"{checked}> {label}</label>",
                id = escape_html(id),
                label = escape_html(label),
                checked = if i == 0 { " checked" } else { "" },
            )
        })
        .collect();
    let scopes: String = consent
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape_html(s)))
        .collect();
    let body = format!(
        "<h1>Authorize {app}</h1>\
<p><strong>{app}</strong> (client <code>{client}</code>) asks to access this workspace with:</p>\
<ul id=\"scopes\">{scopes}</ul>\
<form method=\"post\" action=\"/oidc/v1/authorize\" id=\"consent\">\
<input type=\"hidden\" name=\"consent_token\" value=\"{token}\">\
<fieldset><legend>Sign in as</legend>{user_choices}</fieldset>\
<p><button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p>\
</form><p><small>Redirects to <code>{redirect}</code></small></p>",
        app = escape_html(&consent.app_name),
        client = escape_html(&consent.client_id),
        token = escape_html(token.expose_secret()),
        redirect = escape_html(&consent.redirect_uri),
    );
    let mut response = Html(page("Authorize application", &body)).into_response();
    let cookie = format!(
        "{CONSENT_COOKIE}={}; Path=/oidc/v1/authorize; HttpOnly; SameSite=Strict; Max-Age=600",
        token.expose_secret()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The consent form's fields.
#[derive(Debug, Default, Deserialize)]
struct ConsentForm {
    consent_token: Option<String>,
    user_id: Option<String>,
    decision: Option<String>,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

async fn consent_decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ConsentForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return error_page(&format!("Malformed consent form: {e}")),
    };
    let Some(token) = form.consent_token.filter(|t| !t.is_empty()) else {
        return error_page("The consent form has no consent_token.");
    };
    if cookie_value(&headers, CONSENT_COOKIE).as_deref() != Some(token.as_str()) {
        return error_page(
            "The consent form was not sent from the page this emulator showed (token mismatch).",
        );
    }
    let allow = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return error_page("The consent form's decision must be 'allow' or 'deny'."),
    };
    let user_id = if allow {
        let Some(user_id) = form.user_id.filter(|u| !u.is_empty()) else {
            return error_page("Choose a user to sign in as.");
        };
        let active = state
            .scim
            .lock()
            .expect("scim lock")
            .user(&user_id)
            .is_some_and(|u| u.active);
        if !active {
            return error_page(&format!("There is no active user with id {user_id}."));
        }
        Some(user_id)
    } else {
        None
    };
    let settings = state.settings().oauth;
    let mut oauth = state.oauth.lock().expect("oauth lock");
    let Some(consent) = oauth.take_consent(&token) else {
        return error_page("This consent request expired or was already answered. Start again.");
    };
    let mut response = match user_id {
        Some(user_id) => {
            let code = oauth.issue_code(&consent, &user_id, &settings);
            redirect_with(
                &consent.redirect_uri,
                &[
                    ("code", Some(code.expose_secret())),
                    ("state", consent.state.as_deref()),
                ],
            )
        }
        None => redirect_with(
            &consent.redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some("The user denied the request.")),
                ("state", consent.state.as_deref()),
            ],
        ),
    };
    let clear = format!("{CONSENT_COOKIE}=; Path=/oidc/v1/authorize; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

// ----- token endpoint ----------------------------------------------------------------------

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oidc\""),
            );
        }
        response
    }
}

/// Fields of a token request.
#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Client credentials from `Authorization: Basic`, else from the form.
fn client_auth(headers: &HeaderMap, form: &TokenForm) -> Result<ClientAuth, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_request("Malformed Basic authorization header."))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_request("Malformed Basic authorization header."))?;
        return Ok(ClientAuth {
            client_id: Some(id.to_owned()),
            client_secret: Some(SecretString::new(secret)),
        });
    }
    Ok(ClientAuth {
        client_id: form.client_id.clone(),
        client_secret: form.client_secret.clone().map(SecretString::new),
    })
}

fn token_response(tokens: IssuedTokens) -> Response {
    let mut body = json!({
        "access_token": tokens.access_token.expose_secret(),
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
    });
    if let Some(refresh) = &tokens.refresh_token {
        body["refresh_token"] = json!(refresh.expose_secret());
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: TokenForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return OAuthError::invalid_request(format!("Malformed form body: {e}"))
                .into_response();
        }
    };
    let auth = match client_auth(&headers, &form) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let settings = state.settings().oauth;
    let mut oauth = state.oauth.lock().expect("oauth lock");
    let result = match form.grant_type.as_deref() {
        Some("authorization_code") => oauth.exchange_code(
            &auth,
            form.code.as_deref(),
            form.redirect_uri.as_deref(),
            form.code_verifier.as_deref(),
            &settings,
        ),
        Some("refresh_token") => oauth.refresh(
            &auth,
            form.refresh_token.as_deref(),
            form.scope.as_deref(),
            &settings,
        ),
        Some("client_credentials") => {
            oauth.client_credentials(&auth, form.scope.as_deref(), &settings)
        }
        Some(other) => Err(OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: format!("Unsupported grant_type '{other}'."),
        }),
        None => Err(OAuthError::invalid_request("Missing grant_type.")),
    };
    match result {
        Ok(tokens) => token_response(tokens),
        Err(e) => e.into_response(),
    }
}
