//! `/mcp`: the action catalog over MCP Streamable HTTP (rmcp's server, stateless and answering
//! with JSON), behind [`authenticate`], which turns the caller's MCP token (or the operator key
//! plus an account id) into an [`McpGrant`] that the tools read from the request.
//!
//! `Host` must name the public URL's host or loopback (DNS rebinding), and a request with an
//! `Origin` must come from the public URL's origin, as the MCP transport specification asks.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use brickwire_client::Client;
use brickwire_connector::{ActionError, ErrorCode};
use brickwire_mcp::{Backend, Bounds, CatalogServer, ToolFilter};
use futures::future::BoxFuture;
use rmcp::model::Extensions;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;

use super::TOKEN_PREFIX;
use crate::accounts::AccountClientError;
use crate::crypto::token_hash;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::LinkedAccountId;

/// Where the MCP endpoint is served.
pub const MCP_PATH: &str = "/mcp";
/// With the operator key: the linked account to act as.
pub const ACCOUNT_HEADER: &str = "x-brickwire-linked-account";
/// With the operator key: comma-separated toolsets (default every one).
pub const TOOLSETS_HEADER: &str = "x-brickwire-toolsets";
/// With the operator key: `true` for only the tools that change nothing.
pub const READ_ONLY_HEADER: &str = "x-brickwire-read-only";

/// Who a `/mcp` request acts as and which tools it may use.
#[derive(Debug, Clone)]
pub struct McpGrant {
    /// The linked account.
    pub account: LinkedAccountId,
    /// The tools.
    pub filter: ToolFilter,
}

/// The `/mcp` route over `state`.
pub fn routes(state: AppState) -> Router {
    let public = state.public_url();
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = public.host_str() {
        hosts.push(host.trim_matches(['[', ']']).to_owned());
    }
    let origin = public.origin().ascii_serialization();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(hosts)
        .with_allowed_origins([origin])
        .enforce_origin_validation();
    let server = CatalogServer::new(
        Arc::new(ServiceBackend {
            state: state.clone(),
        }),
        Bounds::default(),
    );
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(MCP_PATH, service)
        .layer(from_fn_with_state(state, authenticate))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Middleware: resolves the caller into an [`McpGrant`] in the request's extensions, or
/// answers 401 (no or unknown credential, revoked token), 400 (a bad header) or 404 (no
/// such account) in the service's error shape.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match grant(&state, req.headers()).await {
        Ok(grant) => {
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn grant(state: &AppState, headers: &HeaderMap) -> Result<McpGrant, ApiError> {
    let Some(presented) = bearer(headers) else {
        return Err(ApiError::operator_unauthenticated(
            "missing credentials: send `Authorization: Bearer <MCP token>` (create one with \
             POST /api/v1/linked-accounts/{id}/mcp-tokens)",
        ));
    };
    if presented.starts_with(TOKEN_PREFIX) {
        let store = state
            .mcp_tokens()
            .ok_or_else(|| ApiError::not_found("this service does not serve MCP"))?;
        let token = store
            .mcp_token_by_hash(token_hash(presented))
            .await?
            .ok_or_else(|| {
                ApiError::operator_unauthenticated("the MCP token is not valid or was revoked")
            })?;
        let toolsets = token.toolsets.unwrap_or_default();
        let filter = ToolFilter::new(&toolsets, token.read_only)
            .map_err(|e| ApiError::internal(format!("stored MCP token toolsets: {e}")))?;
        return Ok(McpGrant {
            account: token.linked_account_id,
            filter,
        });
    }
    if !state.api_keys().verify(presented) {
        return Err(ApiError::operator_unauthenticated(
            "neither an MCP token nor the operator API key",
        ));
    }
    let account = header_text(headers, ACCOUNT_HEADER).ok_or_else(|| {
        ApiError::invalid(
            ACCOUNT_HEADER,
            "required with the operator key: the id of the linked account to act as",
        )
    })?;
    let account = LinkedAccountId::new(account);
    state.store().linked_account(account.clone()).await?;
    let toolsets: Vec<&str> = header_text(headers, TOOLSETS_HEADER)
        .map(|v| v.split(',').filter(|s| !s.trim().is_empty()).collect())
        .unwrap_or_default();
    let read_only = match header_text(headers, READ_ONLY_HEADER) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::invalid(
                READ_ONLY_HEADER,
                format!("`{v}` is not true or false"),
            ));
        }
    };
    let filter = ToolFilter::new(&toolsets, read_only)
        .map_err(|message| ApiError::invalid(TOOLSETS_HEADER, message))?;
    Ok(McpGrant { account, filter })
}

/// The tools' view of the service: the grant of the request, the account's shared client.
struct ServiceBackend {
    state: AppState,
}

fn grant_of(extensions: &Extensions) -> Option<&McpGrant> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<McpGrant>())
}

impl Backend for ServiceBackend {
    fn filter(&self, extensions: &Extensions) -> Result<ToolFilter, rmcp::ErrorData> {
        grant_of(extensions)
            .map(|g| g.filter.clone())
            .ok_or_else(|| {
                rmcp::ErrorData::internal_error("the request was not authenticated", None)
            })
    }

    fn client<'a>(
        &'a self,
        extensions: &'a Extensions,
    ) -> BoxFuture<'a, Result<Client, ActionError>> {
        Box::pin(async move {
            let grant = grant_of(extensions).ok_or_else(|| {
                ActionError::new(
                    ErrorCode::Unauthenticated,
                    "the request was not authenticated",
                )
            })?;
            match self.state.accounts().client(&grant.account).await {
                Ok(client) => Ok(client),
                Err(AccountClientError::NotFound(id)) => Err(ActionError::new(
                    ErrorCode::NotFound,
                    format!("linked account {id} not found"),
                )),
                Err(AccountClientError::NeedsReconnect(id)) => Err(ActionError::new(
                    ErrorCode::Unauthenticated,
                    format!(
                        "linked account {id} needs to be reconnected: its OAuth refresh token \
                         no longer works; the operator can create a reconnect link with POST \
                         /api/v1/linked-accounts/{id}/reconnect"
                    ),
                )),
                Err(e) => {
                    tracing::error!(account = %grant.account, error = %e, "cannot open the account for MCP");
                    Err(ActionError::new(
                        ErrorCode::UpstreamError,
                        "cannot open the linked account; the service log has the details",
                    ))
                }
            }
        })
    }

    fn after_run<'a>(
        &'a self,
        extensions: &'a Extensions,
        _result: &'a Result<Value, ActionError>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(grant) = grant_of(extensions) {
                self.state.touch(&grant.account).await;
            }
        })
    }
}
