//! OAuth with no HTTP: app connections (custom app integrations), pending consents,
//! authorization codes, access and refresh tokens, and the grant logic of the token endpoint.
//!
//! Every secret (client secret, code, token, consent token) is kept only as a SHA-256 hash, so
//! a state snapshot never holds a usable credential. Time comes from [`State::now_ms`], the wall
//! clock plus an offset tests move with [`State::advance_clock`]. Start at
//! [`State::begin_authorization`] and [`State::exchange_code`].

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brickwire_api::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Principal;

/// The client id of the Databricks CLI and SDKs' built-in public client.
pub const DATABRICKS_CLI_CLIENT_ID: &str = "databricks-cli";
/// The redirect URL the built-in public client listens on.
pub const DATABRICKS_CLI_REDIRECT_URL: &str = "http://localhost:8020";
/// Scopes Databricks knows.
pub const SUPPORTED_SCOPES: &[&str] = &[
    "all-apis",
    "sql",
    "offline_access",
    "openid",
    "profile",
    "email",
];
const CONSENT_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// Settings of OAuth, changeable through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Lifetime of access tokens, unless the app connection's token access policy sets one.
    pub access_token_lifetime_seconds: u64,
    /// Lifetime of refresh tokens, unless the app connection's token access policy sets one.
    pub refresh_token_lifetime_seconds: u64,
    /// Lifetime of an authorization code.
    pub authorization_code_lifetime_seconds: u64,
    /// Answer bad tokens with the legacy 403 `{"error_code":"403","message":"Invalid access
    /// token."}` instead of 401.
    pub legacy_invalid_token_403: bool,
    /// The workspace id announced by `/.well-known/databricks-config`.
    pub workspace_id: String,
    /// The account id announced by `/.well-known/databricks-config`; app-connection paths must
    /// use it.
    pub account_id: String,
    /// The cloud announced by `/.well-known/databricks-config`.
    pub cloud: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_token_lifetime_seconds: 3600,
            refresh_token_lifetime_seconds: 7 * 24 * 3600,
            authorization_code_lifetime_seconds: 120,
            legacy_invalid_token_403: false,
            workspace_id: "1234567890123456".into(),
            account_id: "00000000-0000-4000-8000-00000000e3a1".into(),
            cloud: "aws".into(),
        }
    }
}

/// Token lifetimes and rotation of an app connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenAccessPolicy {
    /// Access-token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_in_minutes: Option<u64>,
    /// Refresh-token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl_in_minutes: Option<u64>,
    /// Rotate refresh tokens: each refresh returns a new one and retires the old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_single_use_refresh_tokens: Option<bool>,
    /// Cap on a whole session of rotated refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_session_lifetime_in_minutes: Option<u64>,
}

/// An OAuth client registered in the account (a custom app integration).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppConnection {
    /// Id of the integration.
    pub integration_id: String,
    /// OAuth client id.
    pub client_id: String,
    /// SHA-256 of the client secret, for confidential clients.
    pub client_secret_sha256: Option<String>,
    /// Display name.
    pub name: String,
    /// Exact redirect URLs allowed.
    pub redirect_urls: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// Whether the client authenticates with a secret.
    pub confidential: bool,
    /// Token lifetimes and rotation.
    pub token_access_policy: TokenAccessPolicy,
    /// Scopes the user must consent to.
    pub user_authorized_scopes: Vec<String>,
    /// SCIM id of the creator.
    pub created_by: Option<String>,
    /// A published app (the built-in CLI client), not listed as a custom integration.
    pub published: bool,
}

/// What a client sent to `/oidc/v1/authorize`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    /// `response_type`, must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// Where to send the browser back.
    pub redirect_uri: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Opaque value echoed back.
    pub state: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method, must be `S256`.
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// The client or redirect URL cannot be trusted: show the error, never redirect.
    Page(String),
    /// Send the browser back to the client with `error` and `error_description`.
    Redirect {
        /// The validated redirect URL.
        redirect_uri: String,
        /// OAuth error code.
        error: &'static str,
        /// Explanation.
        description: String,
        /// The client's `state`.
        state: Option<String>,
    },
}

/// A consent waiting for the user's decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingConsent {
    /// The client.
    pub client_id: String,
    /// The app connection's name.
    pub app_name: String,
    /// Validated redirect URL.
    pub redirect_uri: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The client's `state`.
    pub state: Option<String>,
    code_challenge: String,
    expires_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    code_challenge: String,
    user_id: String,
    expires_at_ms: i64,
    used: bool,
    session: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessGrant {
    client_id: String,
    /// `None` for client credentials: the client itself.
    user_id: Option<String>,
    scopes: Vec<String>,
    expires_at_ms: i64,
    session: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshGrant {
    client_id: String,
    user_id: String,
    scopes: Vec<String>,
    expires_at_ms: i64,
    session_expires_at_ms: Option<i64>,
    rotated: bool,
    session: String,
}

/// The outcome of checking a bearer token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    /// Issued here and still valid.
    Valid(Principal),
    /// Issued here but expired.
    Expired,
    /// Never issued here, or revoked.
    Unknown,
}

/// An OAuth error answer of the token endpoint: `{error, error_description}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// 400 or 401.
    pub status: StatusCode,
    /// RFC 6749 error code.
    pub error: &'static str,
    /// Explanation.
    pub description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: SecretString,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, with `offline_access`.
    pub refresh_token: Option<SecretString>,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// A client's credentials as sent to the token endpoint (Basic header or form fields).
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    /// The client id.
    pub client_id: Option<String>,
    /// The client secret, if one was sent.
    pub client_secret: Option<SecretString>,
}

/// A new app connection, as returned once at creation.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    /// Integration id.
    pub integration_id: String,
    /// Client id.
    pub client_id: String,
    /// The secret, only for confidential clients; shown once.
    pub client_secret: Option<SecretString>,
}

/// Fields of an app-connection create or update.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AppInput {
    /// Display name.
    pub name: Option<String>,
    /// Redirect URLs.
    pub redirect_urls: Option<Vec<String>>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Confidential client.
    pub confidential: Option<bool>,
    /// Token policy.
    pub token_access_policy: Option<TokenAccessPolicy>,
    /// User-authorized scopes.
    pub user_authorized_scopes: Option<Vec<String>>,
}

/// All OAuth state of the workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    apps: BTreeMap<String, AppConnection>,
    consents: BTreeMap<String, PendingConsent>,
    codes: BTreeMap<String, CodeGrant>,
    access_tokens: BTreeMap<String, AccessGrant>,
    refresh_tokens: BTreeMap<String, RefreshGrant>,
    clock_offset_ms: i64,
}

impl Default for State {
    /// A state with the built-in public client `databricks-cli`.
    fn default() -> Self {
        let cli = AppConnection {
            integration_id: DATABRICKS_CLI_CLIENT_ID.into(),
            client_id: DATABRICKS_CLI_CLIENT_ID.into(),
            client_secret_sha256: None,
            name: "Databricks CLI".into(),
            redirect_urls: vec![DATABRICKS_CLI_REDIRECT_URL.into()],
            scopes: SUPPORTED_SCOPES.iter().map(|s| s.to_string()).collect(),
            confidential: false,
            token_access_policy: TokenAccessPolicy::default(),
            user_authorized_scopes: Vec::new(),
            created_by: None,
            published: true,
        };
        Self {
            apps: BTreeMap::from([(cli.integration_id.clone(), cli)]),
            consents: BTreeMap::new(),
            codes: BTreeMap::new(),
            access_tokens: BTreeMap::new(),
            refresh_tokens: BTreeMap::new(),
            clock_offset_ms: 0,
        }
    }
}

/// Hex SHA-256, the form every secret is stored in.
fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random secret, URL-safe.
pub fn random_secret(prefix: &str) -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `base64url(sha256(verifier))` without padding: the S256 PKCE challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn split_scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

fn secs_to_ms(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl State {
    /// The emulator's notion of now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        crate::state::now_ms() + self.clock_offset_ms
    }

    /// Moves this service's clock forward, so expiry can be tested without sleeping.
    pub fn advance_clock(&mut self, by: Duration) {
        self.clock_offset_ms += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    }

    // ----- app connections -------------------------------------------------------------

    fn validate_app(input: &AppInput) -> Result<(), String> {
        for url in input.redirect_urls.iter().flatten() {
            url::Url::parse(url).map_err(|_| format!("Invalid redirect URL: {url}"))?;
        }
        for scope in input.scopes.iter().flatten() {
            if !SUPPORTED_SCOPES.contains(&scope.as_str()) {
                return Err(format!(
                    "Unsupported scope '{scope}'. Supported scopes: {}.",
                    SUPPORTED_SCOPES.join(", ")
                ));
            }
        }
        let scopes = input.scopes.clone().unwrap_or_default();
        for scope in input.user_authorized_scopes.iter().flatten() {
            if !scopes.contains(scope) {
                return Err(format!(
                    "user_authorized_scopes must be a subset of scopes; '{scope}' is not."
                ));
            }
        }
        Ok(())
    }

    /// Registers a custom app connection. Errors are messages for `INVALID_PARAMETER_VALUE`.
    pub fn create_app(
        &mut self,
        input: AppInput,
        created_by: Option<String>,
    ) -> Result<CreatedApp, String> {
        let name = input
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or("name is required")?;
        let mut input = input;
        if input.scopes.as_ref().is_none_or(Vec::is_empty) {
            input.scopes = Some(vec!["all-apis".into()]);
        }
        Self::validate_app(&input)?;
        let confidential = input.confidential.unwrap_or(false);
        let secret = confidential.then(|| random_secret("dose"));
        let app = AppConnection {
            integration_id: random_uuid(),
            client_id: random_uuid(),
            client_secret_sha256: secret.as_ref().map(|s| digest(s.expose_secret())),
            name,
            redirect_urls: input.redirect_urls.unwrap_or_default(),
            scopes: input.scopes.unwrap_or_default(),
            confidential,
            token_access_policy: input.token_access_policy.unwrap_or_default(),
            user_authorized_scopes: input.user_authorized_scopes.unwrap_or_default(),
            created_by,
            published: false,
        };
        let created = CreatedApp {
            integration_id: app.integration_id.clone(),
            client_id: app.client_id.clone(),
            client_secret: secret,
        };
        self.apps.insert(app.integration_id.clone(), app);
        Ok(created)
    }

    /// A custom app connection by integration id.
    pub fn app(&self, integration_id: &str) -> Option<&AppConnection> {
        self.apps.get(integration_id).filter(|a| !a.published)
    }

    /// Custom app connections, oldest id order.
    pub fn apps(&self) -> Vec<&AppConnection> {
        self.apps.values().filter(|a| !a.published).collect()
    }

    /// Updates redirect URLs, scopes, policy and user-authorized scopes. `Ok(false)` when no
    /// such integration exists.
    pub fn update_app(&mut self, integration_id: &str, input: AppInput) -> Result<bool, String> {
        let Some(app) = self.apps.get(integration_id).filter(|a| !a.published) else {
            return Ok(false);
        };
        let merged = AppInput {
            name: Some(app.name.clone()),
            redirect_urls: input
                .redirect_urls
                .or_else(|| Some(app.redirect_urls.clone())),
            scopes: input.scopes.or_else(|| Some(app.scopes.clone())),
            confidential: Some(app.confidential),
            token_access_policy: input
                .token_access_policy
                .or_else(|| Some(app.token_access_policy.clone())),
            user_authorized_scopes: input
                .user_authorized_scopes
                .or_else(|| Some(app.user_authorized_scopes.clone())),
        };
        Self::validate_app(&merged)?;
        let app = self.apps.get_mut(integration_id).expect("checked");
        app.redirect_urls = merged.redirect_urls.unwrap_or_default();
        app.scopes = merged.scopes.unwrap_or_default();
        app.token_access_policy = merged.token_access_policy.unwrap_or_default();
        app.user_authorized_scopes = merged.user_authorized_scopes.unwrap_or_default();
        Ok(true)
    }

    /// Deletes an app connection and revokes everything issued to it.
    pub fn delete_app(&mut self, integration_id: &str) -> bool {
        let Some(app) = self.apps.get(integration_id).filter(|a| !a.published) else {
            return false;
        };
        let client_id = app.client_id.clone();
        self.apps.remove(integration_id);
        self.codes.retain(|_, g| g.client_id != client_id);
        self.consents.retain(|_, g| g.client_id != client_id);
        self.access_tokens.retain(|_, g| g.client_id != client_id);
        self.refresh_tokens.retain(|_, g| g.client_id != client_id);
        true
    }

    fn app_by_client_id(&self, client_id: &str) -> Option<&AppConnection> {
        self.apps.values().find(|a| a.client_id == client_id)
    }

    // ----- authorization (consent) -----------------------------------------------------

    /// Validates an authorization request. On success, records a pending consent and returns
    /// its single-use token (the page's anti-forgery token) with the consent to display.
    pub fn begin_authorization(
        &mut self,
        request: &AuthorizeRequest,
    ) -> Result<(SecretString, PendingConsent), AuthorizeError> {
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
        let app = self
            .app_by_client_id(client_id)
            .ok_or_else(|| AuthorizeError::Page(format!("Unknown OAuth client '{client_id}'.")))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| AuthorizeError::Page("The request has no redirect_uri.".into()))?;
        if !app.redirect_urls.iter().any(|u| u == redirect_uri) {
            return Err(AuthorizeError::Page(format!(
                "The redirect_uri '{redirect_uri}' is not registered for client '{client_id}'."
            )));
        }
        let redirect = |error: &'static str, description: String| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description,
            state: request.state.clone(),
        };
        if request.response_type.as_deref() != Some("code") {
            return Err(redirect(
                "unsupported_response_type",
                "Only response_type=code is supported.".into(),
            ));
        }
        let scopes = split_scopes(request.scope.as_deref().unwrap_or_default());
        if scopes.is_empty() {
            return Err(redirect("invalid_scope", "No scope was requested.".into()));
        }
        if let Some(bad) = scopes.iter().find(|s| !app.scopes.contains(s)) {
            return Err(redirect(
                "invalid_scope",
                format!("The scope '{bad}' is not allowed for this client."),
            ));
        }
        let challenge = request
            .code_challenge
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                redirect(
                    "invalid_request",
                    "PKCE is required: send code_challenge and code_challenge_method=S256.".into(),
                )
            })?;
        if request.code_challenge_method.as_deref() != Some("S256") {
            return Err(redirect(
                "invalid_request",
                "code_challenge_method must be S256.".into(),
            ));
        }
        let consent = PendingConsent {
            client_id: client_id.to_owned(),
            app_name: app.name.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: request.state.clone(),
            code_challenge: challenge.to_owned(),
            expires_at_ms: self.now_ms() + CONSENT_LIFETIME_MS,
        };
        let token = random_secret("");
        self.consents
            .insert(digest(token.expose_secret()), consent.clone());
        Ok((token, consent))
    }

    /// Takes a pending consent by its token (single use). `None` if unknown or expired.
    pub fn take_consent(&mut self, consent_token: &str) -> Option<PendingConsent> {
        let now = self.now_ms();
        self.consents.retain(|_, c| c.expires_at_ms > now);
        self.consents.remove(&digest(consent_token))
    }

    /// Issues an authorization code for a consent the user allowed.
    pub fn issue_code(
        &mut self,
        consent: &PendingConsent,
        user_id: &str,
        settings: &Settings,
    ) -> SecretString {
        let code = random_secret("");
        let grant = CodeGrant {
            client_id: consent.client_id.clone(),
            redirect_uri: consent.redirect_uri.clone(),
            scopes: consent.scopes.clone(),
            code_challenge: consent.code_challenge.clone(),
            user_id: user_id.to_owned(),
            expires_at_ms: self.now_ms() + secs_to_ms(settings.authorization_code_lifetime_seconds),
            used: false,
            session: random_uuid(),
        };
        self.codes.insert(digest(code.expose_secret()), grant);
        code
    }

    // ----- token endpoint --------------------------------------------------------------

    fn authenticate_client(&self, auth: &ClientAuth) -> Result<&AppConnection, OAuthError> {
        let client_id = auth.client_id.as_deref().ok_or_else(|| {
            OAuthError::invalid_client("Client authentication failed: no client_id.")
        })?;
        let app = self
            .app_by_client_id(client_id)
            .ok_or_else(|| OAuthError::invalid_client("Client authentication failed."))?;
        if app.confidential {
            let ok = match (&auth.client_secret, &app.client_secret_sha256) {
                (Some(sent), Some(stored)) => digest(sent.expose_secret()) == *stored,
                _ => false,
            };
            if !ok {
                return Err(OAuthError::invalid_client("Client authentication failed."));
            }
        }
        Ok(app)
    }

    fn access_ttl_seconds(app: &AppConnection, settings: &Settings) -> u64 {
        app.token_access_policy
            .access_token_ttl_in_minutes
            .map(|m| m * 60)
            .unwrap_or(settings.access_token_lifetime_seconds)
    }

    /// Forgets what can no longer be used: answered or expired codes, consents, and tokens a
    /// day past expiry (until then an expired token is still reported as expired, not unknown).
    fn prune(&mut self) {
        const GRACE_MS: i64 = 24 * 3600 * 1000;
        let now = self.now_ms();
        self.consents.retain(|_, c| c.expires_at_ms > now);
        self.codes.retain(|_, c| c.expires_at_ms + GRACE_MS > now);
        self.access_tokens
            .retain(|_, g| g.expires_at_ms + GRACE_MS > now);
        self.refresh_tokens
            .retain(|_, g| g.expires_at_ms + GRACE_MS > now);
    }

    fn mint_access(
        &mut self,
        client_id: &str,
        user_id: Option<String>,
        scopes: &[String],
        ttl_seconds: u64,
        session: &str,
    ) -> SecretString {
        self.prune();
        let token = random_secret("dapi_oauth_");
        self.access_tokens.insert(
            digest(token.expose_secret()),
            AccessGrant {
                client_id: client_id.to_owned(),
                user_id,
                scopes: scopes.to_vec(),
                expires_at_ms: self.now_ms() + secs_to_ms(ttl_seconds),
                session: session.to_owned(),
            },
        );
        token
    }

    fn mint_refresh(
        &mut self,
        client_id: &str,
        user_id: &str,
        scopes: &[String],
        ttl_seconds: u64,
        session_expires_at_ms: Option<i64>,
        session: &str,
    ) -> SecretString {
        let token = random_secret("doser_");
        let now = self.now_ms();
        let mut expires = now + secs_to_ms(ttl_seconds);
        if let Some(cap) = session_expires_at_ms {
            expires = expires.min(cap);
        }
        self.refresh_tokens.insert(
            digest(token.expose_secret()),
            RefreshGrant {
                client_id: client_id.to_owned(),
                user_id: user_id.to_owned(),
                scopes: scopes.to_vec(),
                expires_at_ms: expires,
                session_expires_at_ms,
                rotated: false,
                session: session.to_owned(),
            },
        );
        token
    }

    fn revoke_session(&mut self, session: &str) {
        self.access_tokens.retain(|_, g| g.session != session);
        self.refresh_tokens.retain(|_, g| g.session != session);
    }

    /// `grant_type=authorization_code`.
    pub fn exchange_code(
        &mut self,
        auth: &ClientAuth,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        settings: &Settings,
    ) -> Result<IssuedTokens, OAuthError> {
        let app = self.authenticate_client(auth)?.clone();
        let code = code.ok_or_else(|| OAuthError::invalid_request("Missing code."))?;
        let key = digest(code);
        let now = self.now_ms();
        let grant = self
            .codes
            .get(&key)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("Invalid authorization code."))?;
        if grant.used {
            // A replayed code revokes what it already bought (RFC 6749 §4.1.2).
            self.revoke_session(&grant.session);
            return Err(OAuthError::invalid_grant(
                "The authorization code was already used.",
            ));
        }
        if grant.expires_at_ms <= now {
            self.codes.remove(&key);
            return Err(OAuthError::invalid_grant("The authorization code expired."));
        }
        if grant.client_id != app.client_id {
            return Err(OAuthError::invalid_grant(
                "The authorization code was issued to another client.",
            ));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request.",
            ));
        }
        let verifier =
            code_verifier.ok_or_else(|| OAuthError::invalid_request("Missing code_verifier."))?;
        if s256_challenge(verifier) != grant.code_challenge {
            return Err(OAuthError::invalid_grant(
                "PKCE verification failed: code_verifier does not match code_challenge.",
            ));
        }
        self.codes.get_mut(&key).expect("present").used = true;
        let ttl = Self::access_ttl_seconds(&app, settings);
        let access = self.mint_access(
            &app.client_id,
            Some(grant.user_id.clone()),
            &grant.scopes,
            ttl,
            &grant.session,
        );
        let refresh = if grant.scopes.iter().any(|s| s == "offline_access") {
            let policy = &app.token_access_policy;
            let refresh_ttl = policy
                .refresh_token_ttl_in_minutes
                .map(|m| m * 60)
                .unwrap_or(settings.refresh_token_lifetime_seconds);
            let session_cap = policy
                .absolute_session_lifetime_in_minutes
                .filter(|_| policy.enable_single_use_refresh_tokens == Some(true))
                .map(|m| now + secs_to_ms(m * 60));
            Some(self.mint_refresh(
                &app.client_id,
                &grant.user_id,
                &grant.scopes,
                refresh_ttl,
                session_cap,
                &grant.session,
            ))
        } else {
            None
        };
        Ok(IssuedTokens {
            access_token: access,
            expires_in: ttl,
            refresh_token: refresh,
            scope: grant.scopes.join(" "),
        })
    }

    /// `grant_type=refresh_token`.
    pub fn refresh(
        &mut self,
        auth: &ClientAuth,
        refresh_token: Option<&str>,
        scope: Option<&str>,
        settings: &Settings,
    ) -> Result<IssuedTokens, OAuthError> {
        let app = self.authenticate_client(auth)?.clone();
        let token =
            refresh_token.ok_or_else(|| OAuthError::invalid_request("Missing refresh_token."))?;
        let key = digest(token);
        let now = self.now_ms();
        let grant = self
            .refresh_tokens
            .get(&key)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("Invalid refresh token."))?;
        if grant.client_id != app.client_id {
            return Err(OAuthError::invalid_grant(
                "The refresh token was issued to another client.",
            ));
        }
        if grant.rotated {
            // Reuse of a retired token means it leaked: end the whole session.
            self.revoke_session(&grant.session);
            return Err(OAuthError::invalid_grant(
                "The refresh token was already used.",
            ));
        }
        if grant.expires_at_ms <= now {
            self.refresh_tokens.remove(&key);
            return Err(OAuthError::invalid_grant("The refresh token expired."));
        }
        let scopes = match scope.map(split_scopes).filter(|s| !s.is_empty()) {
            Some(asked) => {
                if let Some(bad) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                    return Err(OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        format!("The scope '{bad}' was not granted."),
                    ));
                }
                asked
            }
            None => grant.scopes.clone(),
        };
        let ttl = Self::access_ttl_seconds(&app, settings);
        let access = self.mint_access(
            &app.client_id,
            Some(grant.user_id.clone()),
            &scopes,
            ttl,
            &grant.session,
        );
        let rotate = app.token_access_policy.enable_single_use_refresh_tokens == Some(true);
        let refresh = if rotate {
            self.refresh_tokens.get_mut(&key).expect("present").rotated = true;
            let refresh_ttl = app
                .token_access_policy
                .refresh_token_ttl_in_minutes
                .map(|m| m * 60)
                .unwrap_or(settings.refresh_token_lifetime_seconds);
            self.mint_refresh(
                &app.client_id,
                &grant.user_id,
                &grant.scopes,
                refresh_ttl,
                grant.session_expires_at_ms,
                &grant.session,
            )
        } else {
            SecretString::new(token)
        };
        Ok(IssuedTokens {
            access_token: access,
            expires_in: ttl,
            refresh_token: Some(refresh),
            scope: scopes.join(" "),
        })
    }

    /// `grant_type=client_credentials`: a confidential client acting as itself.
    pub fn client_credentials(
        &mut self,
        auth: &ClientAuth,
        scope: Option<&str>,
        settings: &Settings,
    ) -> Result<IssuedTokens, OAuthError> {
        let app = self.authenticate_client(auth)?.clone();
        if !app.confidential {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "Only confidential clients may use client_credentials.",
            ));
        }
        let asked = scope.map(split_scopes).unwrap_or_default();
        let scopes = if asked.is_empty() {
            app.scopes
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned()
                .collect()
        } else {
            if let Some(bad) = asked.iter().find(|s| !app.scopes.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("The scope '{bad}' is not allowed for this client."),
                ));
            }
            asked
        };
        let ttl = Self::access_ttl_seconds(&app, settings);
        let session = random_uuid();
        let access = self.mint_access(&app.client_id, None, &scopes, ttl, &session);
        Ok(IssuedTokens {
            access_token: access,
            expires_in: ttl,
            refresh_token: None,
            scope: scopes.join(" "),
        })
    }

    /// Checks a bearer token presented to the API.
    pub fn check_access_token(&self, token: &str) -> TokenCheck {
        let Some(grant) = self.access_tokens.get(&digest(token)) else {
            return TokenCheck::Unknown;
        };
        if grant.expires_at_ms <= self.now_ms() {
            return TokenCheck::Expired;
        }
        match &grant.user_id {
            Some(id) => TokenCheck::Valid(Principal::User { id: id.clone() }),
            None => {
                let display_name = self
                    .app_by_client_id(&grant.client_id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                TokenCheck::Valid(Principal::ServicePrincipal {
                    application_id: grant.client_id.clone(),
                    display_name,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib and base64.urlsafe_b64encode, padding stripped.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mJ0kzYIRdTS1i0TZpk8_0SdwWYjv8w"),
            "-bcvv2MrHwzWjnZWa9yRqeJKSpPy5tKOAKzNEKXSRSE"
        );
    }

    #[test]
    fn secrets_are_stored_hashed() {
        let mut s = State::default();
        let created = s
            .create_app(
                AppInput {
                    name: Some("a".into()),
                    confidential: Some(true),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        let secret = created.client_secret.unwrap();
        let snapshot = serde_json::to_string(&s).unwrap();
        assert!(!snapshot.contains(secret.expose_secret()));
        let tokens = s
            .client_credentials(
                &ClientAuth {
                    client_id: Some(created.client_id),
                    client_secret: Some(secret),
                },
                None,
                &Settings::default(),
            )
            .unwrap();
        let snapshot = serde_json::to_string(&s).unwrap();
        assert!(!snapshot.contains(tokens.access_token.expose_secret()));
        assert_eq!(tokens.scope, "all-apis");
    }

    #[test]
    fn access_tokens_expire_with_the_clock() {
        let mut s = State::default();
        let created = s
            .create_app(
                AppInput {
                    name: Some("a".into()),
                    confidential: Some(true),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        let settings = Settings {
            access_token_lifetime_seconds: 5,
            ..Default::default()
        };
        let auth = ClientAuth {
            client_id: Some(created.client_id),
            client_secret: created.client_secret,
        };
        let t = s.client_credentials(&auth, None, &settings).unwrap();
        assert!(matches!(
            s.check_access_token(t.access_token.expose_secret()),
            TokenCheck::Valid(Principal::ServicePrincipal { .. })
        ));
        s.advance_clock(Duration::from_secs(5));
        assert_eq!(
            s.check_access_token(t.access_token.expose_secret()),
            TokenCheck::Expired
        );
        assert_eq!(s.check_access_token("nope"), TokenCheck::Unknown);
    }
}
