//! Who is calling: bearer personal access tokens and OAuth access tokens issued by this emulator.
//!
//! [`require_token`] guards every `/api/` path. A valid token puts the calling [`Principal`] into
//! the request's extensions, where routes (SCIM `/Me`, for one) read it. Unknown or expired
//! tokens get 401, or the legacy 403 `Invalid access token.` when
//! `oauth.legacy_invalid_token_403` is set.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::oauth::state::TokenCheck;
use crate::scim::state::ADMIN_USER_ID;
use crate::state::AppState;

/// The identity a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A SCIM user, by id (the owner of a personal access token, or the user who consented
    /// to an OAuth authorization-code grant).
    User {
        /// SCIM user id.
        id: String,
    },
    /// An OAuth client acting as itself (client-credentials grant).
    ServicePrincipal {
        /// The OAuth client id, which Databricks calls the application id.
        application_id: String,
        /// The app connection's name.
        display_name: String,
    },
}

/// Rejects requests to `/api/` paths without a valid bearer token and records the caller.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match token {
        Some(t) => authenticate(&state, t),
        None => {
            Err("Credential was not sent or was of an unsupported type for this API.".to_owned())
        }
    };
    match principal {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(message) => {
            if state.settings().oauth.legacy_invalid_token_403 {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::LegacyInvalidToken,
                    "Invalid access token.",
                )
                .into_response()
            } else {
                ApiError::unauthenticated(message).into_response()
            }
        }
    }
}

/// Resolves a bearer token to its principal, or says why it is not accepted.
pub fn authenticate(state: &AppState, token: &str) -> Result<Principal, String> {
    let is_pat = state
        .tokens
        .read()
        .map(|s| s.contains(token))
        .unwrap_or(false);
    if is_pat {
        return Ok(Principal::User {
            id: ADMIN_USER_ID.to_owned(),
        });
    }
    let check = state
        .oauth
        .lock()
        .expect("oauth lock")
        .check_access_token(token);
    match check {
        TokenCheck::Valid(Principal::User { id }) => {
            // A user deleted or deactivated since consenting loses access at once.
            let active = state
                .scim
                .lock()
                .expect("scim lock")
                .user(&id)
                .is_some_and(|u| u.active);
            if active {
                Ok(Principal::User { id })
            } else {
                Err("The user of this token is not active.".to_owned())
            }
        }
        TokenCheck::Valid(principal) => Ok(principal),
        TokenCheck::Expired => Err("Token is expired.".to_owned()),
        TokenCheck::Unknown => Err("Invalid access token.".to_owned()),
    }
}
