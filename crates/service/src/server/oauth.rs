//! `GET /oauth/callback`: where the workspace sends the browser back after consent. Checks that
//! the answer came back to the browser that started the sign-in (the `state` must equal the
//! `brickwire_oauth_state` cookie set with the redirect; checked before anything is consumed),
//! then the `state` itself (single use: the session is consumed by it, so a replayed, unknown or expired state
//! is refused with 400), exchanges the code with the stored PKCE verifier, stores the tokens as
//! a linked account (or re-links the account of a reconnect session), and shows a result page.
//!
//! An `error` from the workspace (`invalid_scope`, `access_denied`, ...) becomes a page that
//! says what to check; the session is left usable so the end user can try again once fixed.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use brickwire_api::SecretString;
use brickwire_client::credentials::{discover_oidc_endpoints, exchange_authorization_code};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::connect::{OAUTH_STATE_COOKIE, internal};
use super::html;
use super::{AppState, CALLBACK_PATH};
use crate::store::{ConnectSessionKey, Credential, NewLinkedAccount, OAuthCredential};

/// The callback route.
pub fn routes() -> Router<AppState> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

#[derive(Default, Deserialize)]
struct CallbackQuery {
    code: Option<SecretString>,
    state: Option<SecretString>,
    error: Option<String>,
    error_description: Option<String>,
}

fn refused(message: &str) -> Response {
    html::error(
        StatusCode::BAD_REQUEST,
        "Could not connect",
        message,
        &["Start again from the connect link you were given (or ask for a new one).".to_owned()],
        None,
    )
}

/// The `state` value of the browser's [`OAUTH_STATE_COOKIE`], if it sent one.
fn state_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == OAUTH_STATE_COOKIE)
        .map(|(_, value)| value)
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(query) = serde_urlencoded::from_str::<CallbackQuery>(query.as_deref().unwrap_or(""))
    else {
        return refused("The sign-in answer could not be read.");
    };
    if let Some(error) = query.error.as_deref() {
        return provider_error(&state, error, query.error_description.as_deref()).await;
    }
    let Some(oauth_state) = query.state.filter(|s| !s.expose_secret().is_empty()) else {
        return refused("The sign-in answer has no state parameter.");
    };
    let Some(code) = query.code.filter(|c| !c.expose_secret().is_empty()) else {
        return refused("The sign-in answer has no authorization code.");
    };
    // Checked before the session is consumed, so a foreign answer cannot burn it.
    let same_browser = state_cookie(&headers).is_some_and(|cookie| {
        bool::from(
            cookie
                .as_bytes()
                .ct_eq(oauth_state.expose_secret().as_bytes()),
        )
    });
    if !same_browser {
        return refused(
            "This sign-in answer did not come back to the browser that started it. Open the \
             connect link and finish signing in in the same browser (with cookies allowed).",
        );
    }
    let consumed = match state
        .store()
        .consume_connect_session(ConnectSessionKey::OAuthState(oauth_state))
        .await
    {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return refused(
                "This sign-in answer does not belong to any sign-in in progress (unknown or \
                 superseded state).",
            );
        }
        Err(crate::Error::ConnectSessionConsumed) => {
            return refused("This sign-in answer was already used; each one works once.");
        }
        Err(crate::Error::ConnectSessionExpired) => {
            return refused("This sign-in took too long and its connect link expired.");
        }
        Err(e) => return internal(e),
    };
    let session = consumed.session;
    let (Some(verifier), Some(workspace)) = (consumed.pkce_verifier, session.workspace_url.clone())
    else {
        return refused("No sign-in was started for this connect link.");
    };
    let settings = match state.store().app_settings().await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let Some(client_id) = settings.oauth_client_id.clone() else {
        return refused("OAuth is no longer set up for this service.");
    };
    let token_endpoint = match discover_oidc_endpoints(state.http(), &workspace, None, None).await {
        Ok(e) => e.token_endpoint,
        Err(e) => {
            return html::error(
                StatusCode::BAD_GATEWAY,
                "Could not connect",
                &format!("The workspace's token endpoint could not be found: {e}"),
                &[],
                None,
            );
        }
    };
    let tokens = match exchange_authorization_code(
        state.http(),
        &token_endpoint,
        &client_id,
        None,
        &code,
        &state.callback_url(),
        &verifier,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(session = %session.id, error = %e, "authorization code exchange failed");
            return html::error(
                StatusCode::BAD_REQUEST,
                "Could not connect",
                &format!("The workspace did not accept the sign-in: {e}"),
                &[
                    "Start again from your connect link: a sign-in answer can be used once."
                        .to_owned(),
                    format!(
                        "The app connection's redirect URL is exactly {}.",
                        state.callback_url()
                    ),
                ],
                None,
            );
        }
    };
    let credential = Credential::OAuth(OAuthCredential::from_token_set(&client_id, &tokens));
    let reconnected = session.reconnect_account_id.is_some();
    let account = match &session.reconnect_account_id {
        Some(id) => {
            let relinked = state
                .store()
                .relink_linked_account(id.clone(), workspace.clone(), credential)
                .await;
            state.accounts().forget(id);
            relinked
        }
        None => {
            state
                .store()
                .insert_linked_account(NewLinkedAccount {
                    display_name: session
                        .display_name
                        .clone()
                        .unwrap_or_else(|| crate::link::default_display_name(&workspace)),
                    end_user_ref: session.end_user_ref.clone(),
                    workspace_host: workspace.clone(),
                    credential,
                })
                .await
        }
    };
    let account = match account {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    if let Err(e) = state
        .store()
        .record_connect_session_result(session.id.clone(), account.id.clone())
        .await
    {
        tracing::error!(session = %session.id, error = %e, "cannot record the linked account");
    }
    tracing::info!(account = %account.id, auth_type = "oauth", reconnected, "linked an account");
    html::success(&account, reconnected)
}

/// The page for an `error` redirect from the workspace.
async fn provider_error(state: &AppState, error: &str, description: Option<&str>) -> Response {
    let requested = match state.store().app_settings().await {
        Ok(s) => s.scopes.requested().join(" "),
        Err(_) => String::new(),
    };
    let said = match description {
        Some(d) if !d.is_empty() => format!("Databricks answered `{error}`: {d}"),
        _ => format!("Databricks answered `{error}`."),
    };
    let (title, hints) = match error {
        "invalid_scope" => (
            "Scopes do not match",
            vec![
                format!(
                    "The scopes this service requests ({requested}) must all be allowed in the \
                     Databricks app connection (Account console > Settings > App connections)."
                ),
                "No custom scope that Databricks does not support is sent: remove unsupported \
                 custom scopes from the app settings."
                    .to_owned(),
                "Then start again from your connect link.".to_owned(),
            ],
        ),
        "access_denied" => (
            "Access was not granted",
            vec![
                "Start again from your connect link and choose Allow on the consent page."
                    .to_owned(),
            ],
        ),
        _ => (
            "Could not connect",
            vec![
                format!(
                    "The app connection's client id is the one in this service's app settings, \
                     and its redirect URL is exactly {}.",
                    state.callback_url()
                ),
                format!(
                    "The scopes this service requests ({requested}) are allowed by the app connection."
                ),
                "Then start again from your connect link.".to_owned(),
            ],
        ),
    };
    html::error(StatusCode::BAD_REQUEST, title, &said, &hints, None)
}
