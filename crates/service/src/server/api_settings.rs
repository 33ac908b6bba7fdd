//! `GET/PUT /api/v1/app-settings`: the operator's Databricks OAuth settings (client id,
//! default workspace, scopes) and the callback URL to paste into the Databricks app connection.

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ApiJson};
use super::time::rfc3339;
use crate::link::check_workspace_url;
use crate::scopes::{OFFERED_SCOPES, ScopeSettings};
use crate::store::AppSettings;

/// The app settings as the API shows them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AppSettingsView {
    /// The OAuth client id of the Databricks app connection (null until set).
    pub oauth_client_id: Option<String>,
    /// The default workspace URL for OAuth (a connect session may name its own).
    pub workspace_url: Option<String>,
    /// The scope lists.
    pub scopes: ScopesView,
    /// Every scope the authorization request asks for, in order.
    pub effective_scopes: Vec<String>,
    /// The redirect URL to register in the Databricks app connection.
    pub callback_url: String,
    /// When the settings were last saved (RFC 3339), null if never.
    pub updated_at: Option<String>,
}

/// The three scope lists.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScopesView {
    /// Scopes the connector always requests (read-only).
    pub mandatory: Vec<String>,
    /// Scopes chosen from `offered`.
    pub additional: Vec<String>,
    /// Scopes typed in by the operator (sent as they are: the app connection must allow them).
    pub custom: Vec<String>,
    /// The scopes Databricks offers (read-only).
    pub offered: Vec<String>,
}

/// The body of `PUT /api/v1/app-settings`: replaces the settings. The read-only fields of the
/// GET answer (`callback_url`, `effective_scopes`, `updated_at`, `scopes.offered`) are accepted
/// and ignored, so a GET answer can be edited and sent back.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAppSettings {
    /// The OAuth client id (null or empty clears it).
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    /// The default workspace URL: https, or http on loopback only (null clears it).
    #[serde(default)]
    pub workspace_url: Option<String>,
    /// The scopes (absent: the defaults).
    #[serde(default)]
    pub scopes: Option<PutScopes>,
    #[serde(default)]
    #[schemars(skip)]
    #[allow(dead_code)]
    callback_url: Option<IgnoredAny>,
    #[serde(default)]
    #[schemars(skip)]
    #[allow(dead_code)]
    effective_scopes: Option<IgnoredAny>,
    #[serde(default)]
    #[schemars(skip)]
    #[allow(dead_code)]
    updated_at: Option<IgnoredAny>,
}

/// The scope lists of a PUT.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutScopes {
    /// Must be the connector's mandatory list if given (it cannot be changed).
    #[serde(default)]
    pub mandatory: Option<Vec<String>>,
    /// Each one of `all-apis`, `sql`, `offline_access`, `openid`, `email`, `profile`.
    #[serde(default)]
    pub additional: Vec<String>,
    /// Custom scopes (RFC 6749 scope tokens).
    #[serde(default)]
    pub custom: Vec<String>,
    #[serde(default)]
    #[schemars(skip)]
    #[allow(dead_code)]
    offered: Option<IgnoredAny>,
}

pub(super) fn view(state: &AppState, settings: &AppSettings) -> AppSettingsView {
    AppSettingsView {
        oauth_client_id: settings.oauth_client_id.clone(),
        workspace_url: settings
            .workspace_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        scopes: ScopesView {
            mandatory: settings.scopes.mandatory().to_vec(),
            additional: settings.scopes.additional().to_vec(),
            custom: settings.scopes.custom().to_vec(),
            offered: OFFERED_SCOPES.iter().map(|s| s.to_string()).collect(),
        },
        effective_scopes: settings.scopes.requested(),
        callback_url: state.callback_url(),
        updated_at: settings.updated_at.map(rfc3339),
    }
}

/// `GET /api/v1/app-settings`.
pub async fn get(State(state): State<AppState>) -> Result<Json<AppSettingsView>, ApiError> {
    let settings = state.store().app_settings().await?;
    Ok(Json(view(&state, &settings)))
}

/// `PUT /api/v1/app-settings`.
pub async fn put(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PutAppSettings>,
) -> Result<Json<AppSettingsView>, ApiError> {
    let workspace_url = body
        .workspace_url
        .filter(|u| !u.trim().is_empty())
        .map(|u| check_workspace_url(&u))
        .transpose()?;
    let scopes = match body.scopes {
        None => ScopeSettings::default(),
        Some(scopes) => {
            let parsed = ScopeSettings::new(scopes.additional, scopes.custom)?;
            if let Some(mandatory) = scopes.mandatory
                && mandatory != parsed.mandatory()
            {
                return Err(ApiError::invalid(
                    "scopes.mandatory",
                    format!(
                        "the mandatory scopes are set by the connector and cannot be changed \
                         (they are {}); put other scopes in `additional` or `custom`",
                        parsed.mandatory().join(", ")
                    ),
                ));
            }
            parsed
        }
    };
    let saved = state
        .store()
        .put_app_settings(AppSettings {
            oauth_client_id: body.oauth_client_id,
            workspace_url,
            scopes,
            updated_at: None,
        })
        .await?;
    Ok(Json(view(&state, &saved)))
}
