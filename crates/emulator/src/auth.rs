//! Who is calling: bearer personal access tokens (OAuth access tokens join them later).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Rejects requests to `/api/` paths without a valid bearer token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let known = match token {
        Some(t) => state.tokens.read().map(|s| s.contains(t)).unwrap_or(false),
        None => false,
    };
    if known {
        next.run(request).await
    } else {
        ApiError::unauthenticated(
            "Credential was not sent or was of an unsupported type for this API.",
        )
        .into_response()
    }
}
