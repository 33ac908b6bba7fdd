//! The operator key check in front of every `/api/v1` route: `Authorization: Bearer <key>`,
//! compared in constant time by [`crate::api_key::OperatorApiKeys::verify`].

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// Middleware: passes the request on only with a valid operator key.
pub async fn require_operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    match presented {
        None => ApiError::operator_unauthenticated(
            "missing operator API key: send `Authorization: Bearer <key>` (the key printed at \
             the first start of brickwire serve, or BRICKWIRE_API_KEY)",
        )
        .into_response(),
        Some(key) if state.api_keys().verify(key) => next.run(req).await,
        Some(_) => {
            ApiError::operator_unauthenticated("the operator API key is not valid").into_response()
        }
    }
}
