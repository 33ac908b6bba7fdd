//! The table of operator REST routes under `/api/v1`. [`api_router`] and
//! [`super::openapi::document`] are both built from [`all_endpoints`], so every route is documented
//! and every documented route exists.
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET, PUT | `/api/v1/app-settings` | OAuth client id, default workspace, scopes, callback URL |
//! | POST | `/api/v1/connect-sessions` | a single-use connect link for an end user |
//! | GET | `/api/v1/connect-sessions/{id}` | its status and the account it linked |
//! | GET, POST | `/api/v1/linked-accounts` | list (`?end_user_ref=`); link by API key |
//! | GET, PATCH, DELETE | `/api/v1/linked-accounts/{id}` | metadata; rename; delete |
//! | POST | `/api/v1/linked-accounts/{id}/reconnect` | a connect link that re-links the account |
//! | POST | `/api/v1/linked-accounts/{id}/actions/{action_id}` | run an action |
//! | GET | `/api/v1/actions`, `/api/v1/actions/{id}` | the catalog with input schemas |
//! | GET | `/api/v1/openapi.json` | the OpenAPI 3.1 document |
//! | ... | `/api/v1/flows...`, `/api/v1/flow-runs...` | flows: [`crate::flows::api`] |
//! | POST, GET, DELETE | `/api/v1/linked-accounts/{id}/mcp-tokens[/{token_id}]` | MCP tokens: [`crate::mcp::api`] |
//! | ... | `/api/v1/subscriptions...` | trigger subscriptions, cursors, events: [`crate::triggers::api`] |

use std::collections::BTreeMap;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use brickwire_connector::ErrorCode;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::error::ApiError;
use super::{AppState, api_accounts, api_actions, api_sessions, api_settings, auth, openapi};

/// Where the operator API lives.
pub const API_PREFIX: &str = "/api/v1";

/// Builds the schema of a request or response body.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One route of the operator API.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path below [`API_PREFIX`], with `{param}` placeholders.
    pub path: &'static str,
    /// The OpenAPI `operationId`.
    pub operation_id: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// The OpenAPI tag.
    pub tag: &'static str,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// The request body's schema, if it takes one.
    pub request: Option<SchemaFn>,
    /// Whether the request body may be left out.
    pub request_optional: bool,
    /// The success status.
    pub success: StatusCode,
    /// The success body's schema (`None` for an empty body).
    pub response: Option<SchemaFn>,
    /// Builds the handler (a non-capturing closure such as `|| get(handler_fn)`).
    pub handler: fn() -> MethodRouter<AppState>,
}

impl Endpoint {
    /// The full path, e.g. `/api/v1/linked-accounts/{id}`.
    pub fn full_path(&self) -> String {
        format!("{API_PREFIX}{}", self.path)
    }
}

pub(crate) fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn any_object(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "The action's input; its JSON Schema is `input_schema` in GET /api/v1/actions/{id}."
    })
}

fn action_description(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "An action: id, title, group, description, retry_safe, input_schema, example_input."
    })
}

fn openapi_document(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "object", "description": "An OpenAPI 3.1 document."})
}

/// Every operator route.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/app-settings",
        operation_id: "getAppSettings",
        summary: "The OAuth app settings, with the callback URL to register in Databricks",
        tag: "app settings",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_settings::AppSettingsView>),
        handler: || get(api_settings::get),
    },
    Endpoint {
        method: Method::PUT,
        path: "/app-settings",
        operation_id: "putAppSettings",
        summary: "Replace the OAuth app settings (client id, default workspace, scopes)",
        tag: "app settings",
        query: &[],
        request: Some(schema::<api_settings::PutAppSettings>),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_settings::AppSettingsView>),
        handler: || put(api_settings::put),
    },
    Endpoint {
        method: Method::POST,
        path: "/connect-sessions",
        operation_id: "createConnectSession",
        summary: "Create a single-use connect link for an end user",
        tag: "connect sessions",
        query: &[],
        request: Some(schema::<api_sessions::CreateConnectSession>),
        request_optional: false,
        success: StatusCode::CREATED,
        response: Some(schema::<api_sessions::ConnectSessionCreated>),
        handler: || post(api_sessions::create),
    },
    Endpoint {
        method: Method::GET,
        path: "/connect-sessions/{id}",
        operation_id: "getConnectSession",
        summary: "A connect session's status and the account it linked",
        tag: "connect sessions",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_sessions::ConnectSessionView>),
        handler: || get(api_sessions::get),
    },
    Endpoint {
        method: Method::GET,
        path: "/linked-accounts",
        operation_id: "listLinkedAccounts",
        summary: "List linked accounts, oldest first",
        tag: "linked accounts",
        query: &[("end_user_ref", "Only the accounts of this end user")],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_accounts::LinkedAccountList>),
        handler: || get(api_accounts::list),
    },
    Endpoint {
        method: Method::POST,
        path: "/linked-accounts",
        operation_id: "createLinkedAccount",
        summary: "Link a workspace with a personal access token (verified before it is stored)",
        tag: "linked accounts",
        query: &[],
        request: Some(schema::<api_accounts::CreateApiKeyAccount>),
        request_optional: false,
        success: StatusCode::CREATED,
        response: Some(schema::<api_accounts::LinkedAccountView>),
        handler: || post(api_accounts::create),
    },
    Endpoint {
        method: Method::GET,
        path: "/linked-accounts/{id}",
        operation_id: "getLinkedAccount",
        summary: "A linked account's metadata",
        tag: "linked accounts",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_accounts::LinkedAccountView>),
        handler: || get(api_accounts::get),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/linked-accounts/{id}",
        operation_id: "renameLinkedAccount",
        summary: "Rename a linked account",
        tag: "linked accounts",
        query: &[],
        request: Some(schema::<api_accounts::RenameAccount>),
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_accounts::LinkedAccountView>),
        handler: || patch(api_accounts::rename),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/linked-accounts/{id}",
        operation_id: "deleteLinkedAccount",
        summary: "Delete a linked account and its credential",
        tag: "linked accounts",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::NO_CONTENT,
        response: None,
        handler: || delete(api_accounts::delete),
    },
    Endpoint {
        method: Method::POST,
        path: "/linked-accounts/{id}/reconnect",
        operation_id: "reconnectLinkedAccount",
        summary: "Create a connect link that re-links this account (same id)",
        tag: "linked accounts",
        query: &[],
        request: Some(schema::<api_accounts::ReconnectBody>),
        request_optional: true,
        success: StatusCode::CREATED,
        response: Some(schema::<api_sessions::ConnectSessionCreated>),
        handler: || post(api_accounts::reconnect),
    },
    Endpoint {
        method: Method::POST,
        path: "/linked-accounts/{id}/actions/{action_id}",
        operation_id: "runAction",
        summary: "Run an action of the catalog on a linked account",
        tag: "actions",
        query: &[],
        request: Some(any_object),
        request_optional: true,
        success: StatusCode::OK,
        response: Some(schema::<api_actions::ActionOutput>),
        handler: || post(api_actions::run),
    },
    Endpoint {
        method: Method::GET,
        path: "/actions",
        operation_id: "listActions",
        summary: "The action catalog with input schemas",
        tag: "actions",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(schema::<api_actions::ActionList>),
        handler: || get(api_actions::list),
    },
    Endpoint {
        method: Method::GET,
        path: "/actions/{id}",
        operation_id: "getAction",
        summary: "One action with its input schema and an example input",
        tag: "actions",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(action_description),
        handler: || get(api_actions::get),
    },
    Endpoint {
        method: Method::GET,
        path: "/openapi.json",
        operation_id: "getOpenApi",
        summary: "This OpenAPI document",
        tag: "meta",
        query: &[],
        request: None,
        request_optional: false,
        success: StatusCode::OK,
        response: Some(openapi_document),
        handler: || get(openapi::serve),
    },
];

/// Every operator route: [`ENDPOINTS`] plus those of other modules of this crate (flows, MCP
/// tokens, triggers). To add a module's routes, give it its own `ENDPOINTS` table and chain it
/// here and in [`served_endpoints`]; the router, the key check, the OpenAPI document and the
/// tests pick it up.
pub fn all_endpoints() -> impl Iterator<Item = &'static Endpoint> {
    ENDPOINTS
        .iter()
        .chain(crate::flows::api::ENDPOINTS.iter())
        .chain(crate::mcp::api::ENDPOINTS.iter())
        .chain(crate::triggers::api::ENDPOINTS.iter())
}

/// The routes `state` serves: [`all_endpoints`] less the flow, MCP token and trigger routes
/// when it has no flows, MCP token store or trigger engine.
fn served_endpoints(state: &AppState) -> impl Iterator<Item = &'static Endpoint> {
    let flows: &'static [Endpoint] = if state.flows().is_some() {
        crate::flows::api::ENDPOINTS
    } else {
        &[]
    };
    let mcp: &'static [Endpoint] = if state.mcp_tokens().is_some() {
        crate::mcp::api::ENDPOINTS
    } else {
        &[]
    };
    let triggers: &'static [Endpoint] = if state.triggers().is_some() {
        crate::triggers::api::ENDPOINTS
    } else {
        &[]
    };
    ENDPOINTS
        .iter()
        .chain(flows.iter())
        .chain(mcp.iter())
        .chain(triggers.iter())
}

/// The operator API (nested at [`API_PREFIX`]), every route behind the operator key check;
/// unknown paths answer 404 and wrong methods 405, both in the error shape (after the key
/// check, so nothing is revealed without a key).
pub fn api_router(state: AppState) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for endpoint in served_endpoints(&state) {
        let handler = (endpoint.handler)();
        let merged = match by_path.remove(endpoint.path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        by_path.insert(endpoint.path, merged);
    }
    let mut api = Router::new();
    for (path, handler) in by_path {
        api = api.route(path, handler);
    }
    let api = api
        .fallback(|| async {
            ApiError::not_found("no such route; GET /api/v1/openapi.json lists them")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidInput,
                "this route does not take this method; GET /api/v1/openapi.json lists them",
            )
        })
        .layer(from_fn_with_state(state.clone(), auth::require_operator))
        .with_state(state);
    Router::new().nest(API_PREFIX, api)
}
