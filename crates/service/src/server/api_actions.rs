//! The action catalog over HTTP: `GET /api/v1/actions[/{id}]` describe the actions with their
//! input schemas; `POST /api/v1/linked-accounts/{id}/actions/{action_id}` runs one on a linked
//! account through its shared client and answers `{"output": ...}` or the error shape.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use brickwire_connector::{Catalog, ErrorCode};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::AppState;
use super::ReconnectLink;
use super::error::{ApiError, ApiPath, body_bytes, parse_json};
use crate::accounts::AccountClientError;
use crate::store::{AccountStatus, ConnectSessionId, LinkedAccountId};

/// The answer of `GET /api/v1/actions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionList {
    /// Each action: `id`, `title`, `group`, `description`, `retry_safe`, `read_only`,
    /// `destructive`, `input_schema` (JSON Schema) and `example_input`.
    pub actions: Vec<Value>,
}

/// The answer of a successful action run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionOutput {
    /// What the action returned (Databricks' JSON).
    pub output: Value,
}

/// `GET /api/v1/actions`.
pub async fn list() -> Json<ActionList> {
    Json(ActionList {
        actions: Catalog::global()
            .actions()
            .iter()
            .map(|a| a.describe())
            .collect(),
    })
}

fn unknown_action(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownAction,
        format!("no action `{id}` in the catalog; GET /api/v1/actions lists them"),
    )
}

/// `GET /api/v1/actions/{id}`.
pub async fn get(ApiPath(id): ApiPath<String>) -> Result<Json<Value>, ApiError> {
    Catalog::global()
        .get(&id)
        .map(|a| Json(a.describe()))
        .ok_or_else(|| unknown_action(&id))
}

/// `POST /api/v1/linked-accounts/{id}/actions/{action_id}`: the body is the action's input (an
/// empty body is `{}`).
pub async fn run(
    State(state): State<AppState>,
    ApiPath((id, action_id)): ApiPath<(String, String)>,
    req: Request,
) -> Result<Json<ActionOutput>, ApiError> {
    let action = Catalog::global()
        .get(&action_id)
        .ok_or_else(|| unknown_action(&action_id))?;
    let bytes = body_bytes(req, &state).await?;
    let input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        parse_json(&bytes)?
    };
    if !input.is_object() {
        return Err(ApiError::invalid(
            "",
            "the action input must be a JSON object",
        ));
    }
    let id = LinkedAccountId::new(id);
    let client = match state.accounts().client(&id).await {
        Ok(client) => client,
        Err(AccountClientError::NeedsReconnect(_)) => {
            return Err(needs_reconnect(&state, &id).await);
        }
        Err(e) => return Err(e.into()),
    };
    state.touch(&id).await;
    match action.run(&client, input).await {
        Ok(output) => Ok(Json(ActionOutput { output })),
        Err(e) if e.code == ErrorCode::Unauthenticated => {
            // A refresh that failed for good has just marked the account: say how to fix it.
            match state.store().linked_account(id.clone()).await {
                Ok(account) if account.status == AccountStatus::NeedsReconnect => {
                    Err(needs_reconnect(&state, &id).await)
                }
                _ => Err(ApiError::from_action(e)),
            }
        }
        Err(e) => Err(ApiError::from_action(e)),
    }
}

/// 401 `UNAUTHENTICATED` with a reconnect link for the account: the one handed out before while
/// its session is unused and valid, else a new one (so failing calls do not pile up sessions).
async fn needs_reconnect(state: &AppState, id: &LinkedAccountId) -> ApiError {
    let mut links = state.reconnect_links().lock().await;
    let mut reusable = None;
    if let Some(link) = links.get(id) {
        let now = state.accounts().clock().now();
        match state.store().connect_session(link.session.clone()).await {
            Ok(s) if !s.is_consumed() && !s.is_expired_at(now + Duration::from_secs(60)) => {
                reusable = Some(link.clone());
            }
            _ => {}
        }
    }
    let link = match reusable {
        Some(link) => link,
        None => match super::api_accounts::reconnect_session(state, id, None).await {
            Ok(created) => {
                let link = ReconnectLink {
                    session: ConnectSessionId::new(created.session.id),
                    url: created.connect_url,
                    expires_at: created.session.expires_at,
                };
                links.insert(id.clone(), link.clone());
                link
            }
            Err(e) => return e,
        },
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        format!(
            "linked account {id} needs to be reconnected: its OAuth refresh token no longer \
             works (expired or revoked). Send the end user this link to connect the same \
             account again (single use, expires {}): {}",
            link.expires_at, link.url
        ),
    )
}
