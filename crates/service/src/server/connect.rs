//! The end user's connect page, reached through a connect session's single-use link:
//! `GET /connect/{token}` offers an API key form and "Connect with Databricks";
//! `POST /connect/{token}/api-key` verifies and links a token; `POST /connect/{token}/oauth`
//! starts the PKCE flow and redirects (303) to the workspace's consent page.
//!
//! Stable element ids (browser tests drive them): `#api-key-form` with inputs
//! `name=workspace_url`, `name=token` and submit `#api-key-submit`; `#oauth-form` with an
//! optional `name=workspace_url` and submit `#oauth-submit`. Results use `#result` (see
//! [`super::html`]).
//!
//! The token in the path is the only credential of these routes: it is unguessable, stored
//! hashed, and a session can link one account only. Verification failures leave the session
//! usable so the end user can correct a typo.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use brickwire_api::SecretString;
use brickwire_api::html::escape_html;
use brickwire_client::credentials::{discover_oidc_endpoints, pkce_challenge};
use serde::Deserialize;
use url::Url;

use super::AppState;
use super::html;
use crate::crypto::random_token;
use crate::link::{LinkInto, VerifiedApiKey, check_workspace_url};
use crate::store::{ConnectSession, ConnectSessionKey, OAuthStart};

/// The connect page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connect/{token}", get(page))
        .route("/connect/{token}/api-key", post(api_key))
        .route("/connect/{token}/oauth", post(oauth_start))
}

/// Loads a usable session by its link token, or the error page to show instead.
pub(super) async fn usable_session(
    state: &AppState,
    token: &SecretString,
) -> Result<ConnectSession, Response> {
    let session = match state.store().connect_session_by_token(token.clone()).await {
        Ok(session) => session,
        Err(e) if e.is_not_found() => {
            return Err(html::error(
                StatusCode::NOT_FOUND,
                "Link not valid",
                "This connect link is not valid. Ask for a new link.",
                &[],
                None,
            ));
        }
        Err(e) => return Err(internal(e)),
    };
    if session.is_consumed() {
        return Err(html::error(
            StatusCode::GONE,
            "Link already used",
            "This connect link was already used. Each link works once; ask for a new one.",
            &[],
            None,
        ));
    }
    if session.is_expired_at(state.accounts().clock().now()) {
        return Err(html::error(
            StatusCode::GONE,
            "Link expired",
            "This connect link has expired. Ask for a new one.",
            &[],
            None,
        ));
    }
    Ok(session)
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "connect page failed");
    html::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The service could not complete this step. Try again in a moment.",
        &[],
        None,
    )
}

fn page_path(token: &SecretString) -> String {
    format!("/connect/{}", token.expose_secret())
}

/// `GET /connect/{token}`.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let token = SecretString::new(token);
    let session = match usable_session(&state, &token).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let settings = match state.store().app_settings().await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let base = page_path(&token);
    let session_workspace = session
        .workspace_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned());
    let workspace_input = match &session_workspace {
        Some(url) => format!(
            "<input type=\"url\" id=\"api-key-workspace-url\" name=\"workspace_url\" \
             value=\"{}\" readonly>",
            escape_html(url)
        ),
        None => "<input type=\"url\" id=\"api-key-workspace-url\" name=\"workspace_url\" \
                 placeholder=\"https://dbc-1234abcd-5678.cloud.databricks.com\" required>"
            .to_owned(),
    };
    let oauth_workspace = if session.workspace_url.is_none() && settings.workspace_url.is_none() {
        "<label for=\"oauth-workspace-url\">Workspace URL</label>\
         <input type=\"url\" id=\"oauth-workspace-url\" name=\"workspace_url\" \
         placeholder=\"https://dbc-1234abcd-5678.cloud.databricks.com\" required>"
            .to_owned()
    } else {
        let url = session
            .workspace_url
            .as_ref()
            .or(settings.workspace_url.as_ref())
            .map(|u| u.as_str().trim_end_matches('/'))
            .unwrap_or_default();
        format!(
            "<p class=\"muted\">Workspace: <code>{}</code></p>",
            escape_html(url)
        )
    };
    let oauth_button = if settings.oauth_client_id.is_some() {
        "<button type=\"submit\" id=\"oauth-submit\">Connect with Databricks</button>".to_owned()
    } else {
        "<button type=\"submit\" id=\"oauth-submit\" disabled>Connect with Databricks</button>\
         <p class=\"muted\" id=\"oauth-unavailable\">OAuth is not set up for this service yet; \
         use an access token.</p>"
            .to_owned()
    };
    let heading = match (&session.reconnect_account_id, &session.display_name) {
        (Some(_), Some(name)) => format!("Reconnect {}", escape_html(name)),
        (Some(_), None) => "Reconnect your Databricks workspace".to_owned(),
        (None, _) => "Connect your Databricks workspace".to_owned(),
    };
    let body = format!(
        "<h1>{heading}</h1>\
         <p class=\"muted\">Choose how this service should access your workspace.</p>\
         <div class=\"choices\">\
         <section class=\"card\" id=\"api-key\"><h2>Use a personal access token</h2>\
         <div class=\"split\">\
         <form id=\"api-key-form\" method=\"post\" action=\"{base}/api-key\" autocomplete=\"off\">\
         <label for=\"api-key-workspace-url\">Workspace URL</label>{workspace_input}\
         <label for=\"api-key-token\">Access token</label>\
         <input type=\"password\" id=\"api-key-token\" name=\"token\" placeholder=\"dapi...\" required>\
         <button type=\"submit\" id=\"api-key-submit\">Connect with token</button></form>\
         <div id=\"pat-steps\"><p><strong>Create a token in Databricks:</strong></p><ol>\
         <li>Open your workspace and click your user name (top right), then <em>Settings</em>.</li>\
         <li>Go to <em>Developer</em> &rarr; <em>Access tokens</em> and click <em>Manage</em>.</li>\
         <li>Click <em>Generate new token</em>, add a comment and a lifetime, then <em>Generate</em>.</li>\
         <li>Copy the token (it starts with <code>dapi</code>; it is shown only once) and paste it here.</li>\
         </ol></div></div></section>\
         <section class=\"card\" id=\"oauth\"><h2>Sign in with Databricks</h2>\
         <p>You will be sent to your workspace's sign-in and consent page, then back here.</p>\
         <form id=\"oauth-form\" method=\"post\" action=\"{base}/oauth\">{oauth_workspace}{oauth_button}</form>\
         </section></div>",
        base = escape_html(&base),
    );
    html::respond(StatusCode::OK, html::page("Connect Databricks", &body))
}

#[derive(Debug, Default, Deserialize)]
struct ApiKeyForm {
    #[serde(default)]
    workspace_url: Option<String>,
    #[serde(default)]
    token: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize)]
struct OAuthForm {
    #[serde(default)]
    workspace_url: Option<String>,
}

fn bad_form(retry: &str, message: &str) -> Response {
    html::error(
        StatusCode::BAD_REQUEST,
        "Could not connect",
        message,
        &[],
        Some(retry),
    )
}

/// `POST /connect/{token}/api-key`.
async fn api_key(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let token = SecretString::new(token);
    let retry = page_path(&token);
    let session = match usable_session(&state, &token).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let Ok(form) = serde_urlencoded::from_bytes::<ApiKeyForm>(&body) else {
        return bad_form(
            &retry,
            "The form could not be read; send workspace_url and token.",
        );
    };
    let host = match &session.workspace_url {
        Some(url) => url.clone(),
        None => match check_workspace_url(form.workspace_url.as_deref().unwrap_or_default()) {
            Ok(url) => url,
            Err(e) => return bad_form(&retry, &e.to_string()),
        },
    };
    let Some(pat) = form.token.filter(|t| !t.expose_secret().trim().is_empty()) else {
        return bad_form(&retry, "Paste the access token into the token field.");
    };
    let verified = match VerifiedApiKey::verify(state.http(), host, pat).await {
        Ok(verified) => verified,
        Err(e) => {
            let (status, _) = e.to_action_error();
            return html::error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "Could not connect",
                &e.to_string(),
                &[],
                Some(&retry),
            );
        }
    };
    let linked = verified
        .store(
            state.store().as_ref(),
            LinkInto::ConnectSession(ConnectSessionKey::Token(token)),
            session.display_name.clone(),
            session.end_user_ref.clone(),
        )
        .await;
    match linked {
        Ok(account) => {
            tracing::info!(account = %account.id, auth_type = "api_key", "linked an account from the connect page");
            state.accounts().forget(&account.id);
            html::success(&account, session.reconnect_account_id.is_some())
        }
        Err(crate::Error::ConnectSessionConsumed | crate::Error::ConnectSessionExpired) => {
            html::error(
                StatusCode::GONE,
                "Link already used",
                "This connect link was used or expired meanwhile. Ask for a new one.",
                &[],
                None,
            )
        }
        Err(e) => internal(e),
    }
}

/// `POST /connect/{token}/oauth`: PKCE verifier and state are stored with the session (the
/// verifier encrypted, the state hashed), then the browser goes to the consent page.
async fn oauth_start(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let token = SecretString::new(token);
    let retry = page_path(&token);
    let session = match usable_session(&state, &token).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let form = serde_urlencoded::from_bytes::<OAuthForm>(&body).unwrap_or_default();
    let settings = match state.store().app_settings().await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let Some(client_id) = settings.oauth_client_id.clone() else {
        return html::error(
            StatusCode::BAD_REQUEST,
            "OAuth is not set up",
            "This service has no OAuth client id yet, so it cannot sign you in with Databricks. \
             Use an access token instead, or ask the operator to set up OAuth.",
            &[],
            Some(&retry),
        );
    };
    let typed = form.workspace_url.filter(|u| !u.trim().is_empty());
    let workspace = match (&session.workspace_url, typed, &settings.workspace_url) {
        (Some(url), _, _) => url.clone(),
        (None, Some(typed), _) => match check_workspace_url(&typed) {
            Ok(url) => url,
            Err(e) => return bad_form(&retry, &e.to_string()),
        },
        (None, None, Some(url)) => url.clone(),
        (None, None, None) => return bad_form(&retry, "Enter your workspace URL."),
    };
    let endpoints = match discover_oidc_endpoints(state.http(), &workspace, None, None).await {
        Ok(e) => e,
        Err(e) => {
            return html::error(
                StatusCode::BAD_GATEWAY,
                "Could not reach the workspace",
                &format!("The workspace's sign-in endpoints could not be found: {e}"),
                &["The workspace URL is right and the workspace is up.".to_owned()],
                Some(&retry),
            );
        }
    };
    let Some(authorize) = endpoints.authorization_endpoint else {
        return html::error(
            StatusCode::BAD_GATEWAY,
            "Could not reach the workspace",
            "The workspace does not announce an authorization endpoint.",
            &[],
            Some(&retry),
        );
    };
    let verifier = random_token("");
    let oauth_state = random_token("");
    let started = state
        .store()
        .start_connect_session_oauth(
            session.id.clone(),
            OAuthStart {
                workspace_url: Some(workspace),
                oauth_state: oauth_state.clone(),
                pkce_verifier: verifier.clone(),
            },
        )
        .await;
    if let Err(e) = started {
        return match e {
            crate::Error::ConnectSessionConsumed | crate::Error::ConnectSessionExpired => {
                bad_form(&retry, &e.to_string())
            }
            e => internal(e),
        };
    }
    let location = authorization_url(
        &authorize,
        &client_id,
        &state.callback_url(),
        &settings.scopes.scope_param(),
        &oauth_state,
        &pkce_challenge(&verifier),
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location.as_str()) {
        Ok(v) => {
            response.headers_mut().insert(header::LOCATION, v);
        }
        Err(e) => return internal(e),
    }
    // The state is bound to this browser: the callback accepts it only with this cookie, so an
    // authorization URL handed to someone else cannot complete this session.
    let remaining = session
        .expires_at
        .duration_since(state.accounts().clock().now())
        .map_or(60, |d| d.as_secs().max(60));
    let secure = if state.public_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{OAUTH_STATE_COOKIE}={}; Path={}; Max-Age={remaining}; HttpOnly; SameSite=Lax{secure}",
        oauth_state.expose_secret(),
        super::CALLBACK_PATH
    );
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
        Err(e) => return internal(e),
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The cookie that binds an OAuth `state` to the browser that started the sign-in.
pub const OAUTH_STATE_COOKIE: &str = "brickwire_oauth_state";

/// The authorization request URL (RFC 6749 4.1.1 with RFC 7636 S256).
pub fn authorization_url(
    endpoint: &Url,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &SecretString,
    challenge: &str,
) -> Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", state.expose_secret())
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url
}
