//! The action catalog over HTTP: `GET /api/v1/actions[/{id}]` describe the actions with their
//! input schemas; `POST /api/v1/linked-accounts/{id}/actions/{action_id}` runs one on a linked
//! account through its shared client and answers `{"output": ...}` or the error shape.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use brickwire_connector::{Catalog, ErrorCode};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::AppState;
use super::error::{ApiError, body_bytes, parse_json};
use crate::accounts::AccountClientError;
use crate::store::{AccountStatus, LinkedAccountId};

/// The answer of `GET /api/v1/actions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionList {
    /// Each action: `id`, `title`, `group`, `description`, `retry_safe`, `input_schema`
    /// (JSON Schema) and `example_input`.
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
pub async fn get(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Catalog::global()
        .get(&id)
        .map(|a| Json(a.describe()))
        .ok_or_else(|| unknown_action(&id))
}

/// `POST /api/v1/linked-accounts/{id}/actions/{action_id}`: the body is the action's input (an
/// empty body is `{}`).
pub async fn run(
    State(state): State<AppState>,
    Path((id, action_id)): Path<(String, String)>,
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
    if let Err(e) = state.store().touch_linked_account(id.clone()).await {
        tracing::warn!(account = %id, error = %e, "cannot record the account's last use");
    }
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

/// 401 `UNAUTHENTICATED` with a fresh reconnect link for the account.
async fn needs_reconnect(state: &AppState, id: &LinkedAccountId) -> ApiError {
    match super::api_accounts::reconnect_session(state, id, None).await {
        Ok(created) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            format!(
                "linked account {id} needs to be reconnected: its OAuth refresh token no longer \
                 works (expired or revoked). Send the end user this link to connect the same \
                 account again (single use, expires {}): {}",
                created.session.expires_at, created.connect_url
            ),
        ),
        Err(e) => e,
    }
}
