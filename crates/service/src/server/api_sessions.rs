//! `POST /api/v1/connect-sessions` and `GET /api/v1/connect-sessions/{id}`: the single-use links
//! an operator hands to an end user to link (or re-link) a workspace.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use brickwire_api::SecretString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath};
use super::time::rfc3339;
use crate::link::check_workspace_url;
use crate::store::{
    ConnectSession, ConnectSessionId, DEFAULT_CONNECT_SESSION_MINUTES, LinkedAccountId,
    NewConnectSession,
};

/// The body of `POST /api/v1/connect-sessions`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectSession {
    /// The end user's id in the operator's product; copied to the linked account.
    #[serde(default)]
    pub end_user_ref: Option<String>,
    /// The linked account's display name (default: the workspace host).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The end user's workspace, if known (otherwise the end user types it, or the app
    /// settings' default is used for OAuth).
    #[serde(default)]
    pub workspace_url: Option<String>,
    /// Minutes until the link expires (1 to 1440, default 15).
    #[serde(default)]
    pub expires_in_minutes: Option<u32>,
}

/// A connect session as the API shows it (never its token).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectSessionView {
    /// Its id.
    pub id: String,
    /// `pending` (not used yet), `oauth_started` (sent to the consent page), `consumed` (used;
    /// an OAuth code exchange is running or failed), `completed` (an account was linked) or
    /// `expired`.
    pub status: String,
    /// The end user's id in the operator's product.
    pub end_user_ref: Option<String>,
    /// The display name for the account.
    pub display_name: Option<String>,
    /// The workspace, once known.
    pub workspace_url: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// When it was used (RFC 3339).
    pub consumed_at: Option<String>,
    /// The account it linked, once completed.
    pub linked_account_id: Option<String>,
    /// The existing account it re-links, for a reconnection.
    pub reconnect_account_id: Option<String>,
}

/// The answer to creating a connect session: the view plus the link to give the end user.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectSessionCreated {
    /// The session.
    #[serde(flatten)]
    pub session: ConnectSessionView,
    /// The single-use link for the end user; shown only here.
    pub connect_url: String,
}

pub(super) fn status(session: &ConnectSession, now: std::time::SystemTime) -> &'static str {
    if session.linked_account_id.is_some() {
        "completed"
    } else if session.is_consumed() {
        "consumed"
    } else if session.is_expired_at(now) {
        "expired"
    } else if session.oauth_started {
        "oauth_started"
    } else {
        "pending"
    }
}

pub(super) fn view(state: &AppState, session: &ConnectSession) -> ConnectSessionView {
    ConnectSessionView {
        id: session.id.to_string(),
        status: status(session, state.accounts().clock().now()).to_owned(),
        end_user_ref: session.end_user_ref.clone(),
        display_name: session.display_name.clone(),
        workspace_url: session
            .workspace_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        created_at: rfc3339(session.created_at),
        expires_at: rfc3339(session.expires_at),
        consumed_at: session.consumed_at.map(rfc3339),
        linked_account_id: session.linked_account_id.as_ref().map(|id| id.to_string()),
        reconnect_account_id: session
            .reconnect_account_id
            .as_ref()
            .map(|id| id.to_string()),
    }
}

/// Checks an end user reference: 1 to 200 characters, no control characters.
pub(super) fn check_end_user_ref(value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) => {
            Err(ApiError::invalid(
                "end_user_ref",
                "an end user reference has 1 to 200 characters and no control characters",
            ))
        }
        Some(v) => Ok(Some(v)),
    }
}

/// The link of a session token.
pub(super) fn connect_url(state: &AppState, token: &SecretString) -> String {
    state.public_link(&format!("/connect/{}", token.expose_secret()))
}

/// Creates a session (for a new account, or re-linking `reconnect`).
pub(super) async fn create_session(
    state: &AppState,
    body: CreateConnectSession,
    reconnect: Option<LinkedAccountId>,
) -> Result<ConnectSessionCreated, ApiError> {
    let workspace_url = body
        .workspace_url
        .filter(|u| !u.trim().is_empty())
        .map(|u| check_workspace_url(&u))
        .transpose()?;
    let created = state
        .store()
        .create_connect_session(NewConnectSession {
            end_user_ref: check_end_user_ref(body.end_user_ref)?,
            display_name: body.display_name,
            workspace_url,
            expires_in_minutes: body
                .expires_in_minutes
                .unwrap_or(DEFAULT_CONNECT_SESSION_MINUTES),
            reconnect_account_id: reconnect,
        })
        .await?;
    Ok(ConnectSessionCreated {
        connect_url: connect_url(state, &created.token),
        session: view(state, &created.session),
    })
}

/// `POST /api/v1/connect-sessions`.
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateConnectSession>,
) -> Result<(StatusCode, Json<ConnectSessionCreated>), ApiError> {
    let created = create_session(&state, body, None).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/connect-sessions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectSessionView>, ApiError> {
    let session = state
        .store()
        .connect_session(ConnectSessionId::new(id))
        .await?;
    Ok(Json(view(&state, &session)))
}
