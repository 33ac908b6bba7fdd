//! `/api/v1/linked-accounts/{id}/mcp-tokens[...]`: create (the token is shown once), list and
//! revoke the MCP tokens of a linked account.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use brickwire_mcp::ToolFilter;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TOKEN_PREFIX;
use super::store::{McpToken, McpTokenId, McpTokenStore, NewMcpToken};
use crate::crypto::{random_token, token_hash};
use crate::server::AppState;
use crate::server::error::{ApiError, ApiPath, MaybeJson};
use crate::server::routes::{Endpoint, schema};
use crate::server::time::rfc3339;
use crate::store::LinkedAccountId;

/// The body of `POST /api/v1/linked-accounts/{id}/mcp-tokens` (every field optional).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMcpToken {
    /// A name for people: which agent or machine holds it (default `mcp`).
    #[serde(default)]
    pub name: Option<String>,
    /// Only the tools of these groups (catalogs, clusters, groups, jobs, schemas, sql,
    /// tables, users, volumes, warehouses, workspace, http); absent or empty for all.
    #[serde(default)]
    pub toolsets: Option<Vec<String>>,
    /// Only the tools that change nothing (default false).
    #[serde(default)]
    pub read_only: bool,
}

/// An MCP token's metadata.
#[derive(Debug, Serialize, JsonSchema)]
pub struct McpTokenView {
    /// Its id (`mcpt_...`), to revoke it.
    pub id: String,
    /// The linked account whose tools it opens.
    pub linked_account_id: String,
    /// A name for people.
    pub name: String,
    /// Its toolsets; `null` for every one.
    pub toolsets: Option<Vec<String>>,
    /// Only tools that change nothing.
    pub read_only: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

/// The answer of creating a token: its metadata, the token (shown this once) and where to use it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct McpTokenCreated {
    /// The token's metadata.
    #[serde(flatten)]
    pub metadata: McpTokenView,
    /// The token: send it as `Authorization: Bearer <token>` to `mcp_url`. It is not stored
    /// and cannot be shown again.
    pub token: String,
    /// The Streamable HTTP endpoint.
    pub mcp_url: String,
}

/// The answer of the list route.
#[derive(Debug, Serialize, JsonSchema)]
pub struct McpTokenList {
    /// The account's tokens, revoked ones included, oldest first.
    pub mcp_tokens: Vec<McpTokenView>,
}

fn view(token: &McpToken) -> McpTokenView {
    McpTokenView {
        id: token.id.as_str().to_owned(),
        linked_account_id: token.linked_account_id.as_str().to_owned(),
        name: token.name.clone(),
        toolsets: token.toolsets.clone(),
        read_only: token.read_only,
        created_at: rfc3339(token.created_at),
        revoked_at: token.revoked_at.map(rfc3339),
    }
}

fn tokens(state: &AppState) -> Result<&dyn McpTokenStore, ApiError> {
    state
        .mcp_tokens()
        .map(|s| s.as_ref())
        .ok_or_else(|| ApiError::not_found("this service does not serve MCP"))
}

/// `POST /api/v1/linked-accounts/{id}/mcp-tokens`.
pub async fn create(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<CreateMcpToken>,
) -> Result<(StatusCode, Json<McpTokenCreated>), ApiError> {
    let body = body.unwrap_or_default();
    let name = body.name.unwrap_or_else(|| "mcp".to_owned());
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    let filter = ToolFilter::new(body.toolsets.as_deref().unwrap_or_default(), body.read_only)
        .map_err(|message| ApiError::invalid("toolsets", message))?;
    let token = random_token(TOKEN_PREFIX);
    let stored = tokens(&state)?
        .insert_mcp_token(NewMcpToken {
            linked_account_id: LinkedAccountId::new(id),
            name,
            toolsets: filter.toolset_names(),
            read_only: filter.read_only,
            token_hash: token_hash(token.expose_secret()),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(McpTokenCreated {
            metadata: view(&stored),
            token: token.expose_secret().to_owned(),
            mcp_url: state.public_link(super::http::MCP_PATH),
        }),
    ))
}

/// `GET /api/v1/linked-accounts/{id}/mcp-tokens`.
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<McpTokenList>, ApiError> {
    let all = tokens(&state)?
        .list_mcp_tokens(LinkedAccountId::new(id))
        .await?;
    Ok(Json(McpTokenList {
        mcp_tokens: all.iter().map(view).collect(),
    }))
}

/// `DELETE /api/v1/linked-accounts/{id}/mcp-tokens/{token_id}`: revokes the token at once.
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath((id, token_id)): ApiPath<(String, String)>,
) -> Result<Json<McpTokenView>, ApiError> {
    let revoked = tokens(&state)?
        .revoke_mcp_token(LinkedAccountId::new(id), McpTokenId::new(token_id))
        .await?;
    Ok(Json(view(&revoked)))
}

/// The MCP token routes, joined into the service's route table.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::POST,
        path: "/linked-accounts/{id}/mcp-tokens",
        operation_id: "createMcpToken",
        summary: "Create an MCP token for this account's tools at /mcp (shown once)",
        tag: "mcp",
        query: &[],
        request: Some(schema::<CreateMcpToken>),
        request_optional: true,
        success: StatusCode::CREATED,
        response: Some(schema::<McpTokenCreated>),
        handler: || post(create),
    },
    Endpoint {
        method: Method::GET,
        path: "/linked-accounts/{id}/mcp-tokens",
        operation_id: "listMcpTokens",
        summary: "List the account's MCP tokens (metadata only), revoked ones included",
        tag: "mcp",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<McpTokenList>),
        handler: || get(list),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/linked-accounts/{id}/mcp-tokens/{token_id}",
        operation_id: "revokeMcpToken",
        summary: "Revoke an MCP token at once",
        tag: "mcp",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<McpTokenView>),
        handler: || delete(revoke),
    },
];
