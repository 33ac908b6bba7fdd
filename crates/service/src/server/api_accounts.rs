//! `/api/v1/linked-accounts[...]`: list, get, rename, delete, link by API key, and create a
//! reconnect link. Only metadata is ever returned; credentials stay in the store.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use brickwire_api::SecretString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api_sessions::{ConnectSessionCreated, CreateConnectSession, check_end_user_ref};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, MaybeJson};
use super::time::rfc3339;
use crate::link::{LinkInto, VerifiedApiKey, check_workspace_url};
use crate::store::{LinkedAccount, LinkedAccountFilter, LinkedAccountId};

/// A linked account's metadata.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LinkedAccountView {
    /// Its id (`la_...`).
    pub id: String,
    /// A name for people.
    pub display_name: String,
    /// The end user's id in the operator's product.
    pub end_user_ref: Option<String>,
    /// `api_key` or `oauth`.
    pub auth_type: String,
    /// The workspace URL.
    pub workspace_host: String,
    /// `active` or `needs_reconnect`.
    pub status: String,
    /// When it was linked (RFC 3339).
    pub created_at: String,
    /// When an action last ran on it (RFC 3339).
    pub last_used_at: Option<String>,
}

/// The answer of the list route.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LinkedAccountList {
    /// The accounts, oldest first.
    pub linked_accounts: Vec<LinkedAccountView>,
}

/// Query of the list route.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the accounts of this end user.
    #[serde(default)]
    pub end_user_ref: Option<String>,
}

/// The body of `PATCH /api/v1/linked-accounts/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameAccount {
    /// The new name (1 to 200 characters).
    pub display_name: String,
}

/// The body of `POST /api/v1/linked-accounts`: link a workspace with a personal access token.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyAccount {
    /// A name for people (default: the workspace host).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The end user's id in the operator's product.
    #[serde(default)]
    pub end_user_ref: Option<String>,
    /// The workspace URL: https, or http on loopback only.
    pub workspace_url: String,
    /// The personal access token; verified against the workspace before it is stored, and
    /// never returned.
    #[schemars(with = "String")]
    pub token: SecretString,
}

/// The body of `POST /api/v1/linked-accounts/{id}/reconnect`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectBody {
    /// Minutes until the link expires (1 to 1440, default 15).
    #[serde(default)]
    pub expires_in_minutes: Option<u32>,
}

pub(super) fn view(account: &LinkedAccount) -> LinkedAccountView {
    LinkedAccountView {
        id: account.id.to_string(),
        display_name: account.display_name.clone(),
        end_user_ref: account.end_user_ref.clone(),
        auth_type: account.auth_type.as_str().to_owned(),
        workspace_host: account
            .workspace_host
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        status: account.status.as_str().to_owned(),
        created_at: rfc3339(account.created_at),
        last_used_at: account.last_used_at.map(rfc3339),
    }
}

/// `GET /api/v1/linked-accounts[?end_user_ref=]`.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<LinkedAccountList>, ApiError> {
    let accounts = state
        .store()
        .list_linked_accounts(LinkedAccountFilter {
            end_user_ref: query.end_user_ref,
        })
        .await?;
    Ok(Json(LinkedAccountList {
        linked_accounts: accounts.iter().map(view).collect(),
    }))
}

/// `GET /api/v1/linked-accounts/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LinkedAccountView>, ApiError> {
    let account = state
        .store()
        .linked_account(LinkedAccountId::new(id))
        .await?;
    Ok(Json(view(&account)))
}

/// `PATCH /api/v1/linked-accounts/{id}`: rename.
pub async fn rename(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RenameAccount>,
) -> Result<Json<LinkedAccountView>, ApiError> {
    let account = state
        .store()
        .rename_linked_account(LinkedAccountId::new(id), body.display_name)
        .await?;
    Ok(Json(view(&account)))
}

/// `DELETE /api/v1/linked-accounts/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = LinkedAccountId::new(id);
    state.store().delete_linked_account(id.clone()).await?;
    state.accounts().forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/linked-accounts`: link by API key (verified first).
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApiKeyAccount>,
) -> Result<(StatusCode, Json<LinkedAccountView>), ApiError> {
    let host = check_workspace_url(&body.workspace_url)?;
    let end_user_ref = check_end_user_ref(body.end_user_ref)?;
    let account = VerifiedApiKey::verify(state.http(), host, body.token)
        .await?
        .store(
            state.store().as_ref(),
            LinkInto::NewAccount,
            body.display_name,
            end_user_ref,
        )
        .await?;
    tracing::info!(account = %account.id, auth_type = "api_key", "linked an account");
    Ok((StatusCode::CREATED, Json(view(&account))))
}

/// `POST /api/v1/linked-accounts/{id}/reconnect`: a connect session that re-links this
/// account (same id) by API key or OAuth.
pub async fn reconnect(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReconnectBody>,
) -> Result<(StatusCode, Json<ConnectSessionCreated>), ApiError> {
    let body = body.unwrap_or_default();
    let created =
        reconnect_session(&state, &LinkedAccountId::new(id), body.expires_in_minutes).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A connect session bound to `account`, for its workspace.
pub(super) async fn reconnect_session(
    state: &AppState,
    account: &LinkedAccountId,
    expires_in_minutes: Option<u32>,
) -> Result<ConnectSessionCreated, ApiError> {
    let current = state.store().linked_account(account.clone()).await?;
    super::api_sessions::create_session(
        state,
        CreateConnectSession {
            end_user_ref: current.end_user_ref.clone(),
            display_name: Some(current.display_name.clone()),
            workspace_url: Some(current.workspace_host.to_string()),
            expires_in_minutes,
        },
        Some(account.clone()),
    )
    .await
}
