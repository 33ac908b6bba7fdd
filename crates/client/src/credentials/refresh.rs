//! OAuth user-to-machine credentials: an access token plus a refresh token from a U2M login.
//!
//! The access token is used until it is about to expire; then the refresh token buys a new
//! one (`grant_type=refresh_token`). Databricks may rotate refresh tokens (single-use refresh
//! tokens), so every refresh hands the new token set to a callback at once: the caller must
//! store it, or the next session starts from a dead refresh token.
//!
//! Processes that share one stored token set (service replicas on one database) register a
//! [`RefreshGuard`] instead: each refresh then runs inside the guard, which lets one process
//! at a time exchange the stored refresh token and store the result, and hands the others the
//! token set stored meanwhile, so a fleet makes one refresh where it would make one per process.

use std::sync::{Arc, Mutex};

use brickwire_api::SecretString;
use futures::future::BoxFuture;

use super::CredentialsProvider;
use super::oauth::{ClientAuth, OAuthTokenSet, TokenEndpoint, request_token};
use super::token_cache::{CachedToken, TokenCache};
use crate::{AuthError, AuthFailure, Error, Result};

/// Called with the new token set after every successful refresh. `refresh_token` in it is the
/// one to store: the rotated one, or the previous one if the server did not rotate.
///
/// It runs while the provider's refresh lock is held, so no later refresh can overtake the
/// store; keep it short, and never call back into the same provider from it.
pub type TokenRefreshCallback = Arc<dyn Fn(&OAuthTokenSet) + Send + Sync>;

/// Trades a refresh token for a new token set at the token endpoint (one request).
pub type TokenExchange =
    Box<dyn FnOnce(SecretString) -> BoxFuture<'static, Result<OAuthTokenSet>> + Send>;

/// Serializes the refreshes of one stored token set across processes.
pub trait RefreshGuard: Send + Sync {
    /// Returns the token set to use from now on. Under a lock shared by every process using
    /// the stored token set, the guard reads it: if it holds a usable access token other than
    /// `stale` (the one this provider is replacing), another process refreshed already and that
    /// set is returned; otherwise it calls `exchange` with the stored refresh token and stores
    /// the result before releasing the lock. Errors of `exchange` come back unchanged.
    fn refresh(
        &self,
        stale: SecretString,
        exchange: TokenExchange,
    ) -> BoxFuture<'static, Result<OAuthTokenSet>>;
}

/// OAuth U2M (`external-browser`) credentials from a stored token set.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use brickwire_client::credentials::{OAuthRefreshCredentials, OAuthTokenSet, TokenEndpoint};
/// # fn load() -> OAuthTokenSet { unimplemented!() }
/// # fn store(_: &OAuthTokenSet) {}
/// let host = url::Url::parse("https://dbc-1234.cloud.databricks.com").unwrap();
/// let provider = OAuthRefreshCredentials::new(
///     load(),
///     "databricks-cli",
///     TokenEndpoint::discover(host, None, None),
///     reqwest::Client::new(),
/// )
/// .on_refresh(Arc::new(|tokens: &OAuthTokenSet| store(tokens)));
/// ```
pub struct OAuthRefreshCredentials {
    client_id: String,
    client_secret: Option<SecretString>,
    endpoint: TokenEndpoint,
    http: reqwest::Client,
    /// Shared with the refresh task, which outlives a cancelled caller.
    refresh_token: Arc<Mutex<Option<SecretString>>>,
    /// The access token in use (what a guarded refresh replaces).
    access_token: Arc<Mutex<SecretString>>,
    initial: CachedToken,
    on_refresh: Option<TokenRefreshCallback>,
    guard: Option<Arc<dyn RefreshGuard>>,
    cache: TokenCache,
}

impl std::fmt::Debug for OAuthRefreshCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRefreshCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("endpoint", &self.endpoint)
            .field("refresh_token", &self.refresh_token)
            .field("on_refresh", &self.on_refresh.as_ref().map(|_| "Fn"))
            .field("guard", &self.guard.as_ref().map(|_| "RefreshGuard"))
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl OAuthRefreshCredentials {
    /// A provider that starts from `tokens` (its access token is used while it is fresh) and
    /// refreshes as the public OAuth client `client_id` (the SDK's is `databricks-cli`).
    pub fn new(
        tokens: OAuthTokenSet,
        client_id: impl Into<String>,
        endpoint: TokenEndpoint,
        http: reqwest::Client,
    ) -> Self {
        let mut cache = TokenCache::default();
        let initial = tokens.cached();
        cache.seed(initial.clone());
        Self {
            client_id: client_id.into(),
            client_secret: None,
            endpoint,
            http,
            refresh_token: Arc::new(Mutex::new(tokens.refresh_token)),
            access_token: Arc::new(Mutex::new(tokens.access_token)),
            initial,
            on_refresh: None,
            guard: None,
            cache,
        }
    }

    /// Sends `client_secret` with each refresh (confidential OAuth apps only).
    pub fn with_client_secret(mut self, client_secret: SecretString) -> Self {
        self.client_secret = Some(client_secret);
        self
    }

    /// Registers the callback that receives every refreshed token set.
    pub fn on_refresh(mut self, callback: TokenRefreshCallback) -> Self {
        self.on_refresh = Some(callback);
        self
    }

    /// Runs every refresh inside `guard` (shared stored tokens; see [`RefreshGuard`]). The
    /// guard stores the tokens itself; an `on_refresh` callback is still called after.
    pub fn with_refresh_guard(mut self, guard: Arc<dyn RefreshGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Uses this cache (for its clock and refresh margin) instead of the default one.
    pub fn with_cache(mut self, mut cache: TokenCache) -> Self {
        cache.seed(self.initial.clone());
        self.cache = cache;
        self
    }

    fn current_refresh_token(&self) -> Option<SecretString> {
        self.refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The token-endpoint exchange of a refresh token, as a value the guard can run.
    async fn exchange(&self) -> Result<TokenExchange> {
        let token_url = self.endpoint.get(&self.http).await?;
        let http = self.http.clone();
        let client_id = self.client_id.clone();
        let client_secret = self.client_secret.clone();
        let now = self.cache.clock().now();
        Ok(Box::new(move |refresh_token: SecretString| {
            Box::pin(async move {
                let mut tokens = request_token(
                    &http,
                    &token_url,
                    ClientAuth::Form {
                        client_id: &client_id,
                        client_secret: client_secret.as_ref(),
                    },
                    vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token.expose_secret()),
                    ],
                    now,
                )
                .await?;
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = Some(refresh_token);
                }
                Ok(tokens)
            })
        }))
    }

    /// One refresh: through the guard when there is one (it picks the refresh token, the stored
    /// one, and may answer with tokens another process stored, without an exchange), else an
    /// exchange of this provider's refresh token.
    async fn fetch(&self) -> Result<CachedToken> {
        let guarded = match &self.guard {
            Some(guard) => {
                let stale = self
                    .access_token
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                guard.refresh(stale, self.exchange().await?)
            }
            None => {
                let Some(refresh_token) = self.current_refresh_token() else {
                    return Err(Error::Auth(AuthError::new(
                        AuthFailure::NoRefreshToken,
                        "the OAuth access token expired and there is no refresh token: log in \
                         again",
                    )));
                };
                self.exchange().await?(refresh_token)
            }
        };
        let store = self.refresh_token.clone();
        let access = self.access_token.clone();
        let callback = self.on_refresh.clone();
        // Once the request is sent, the old refresh token may be spent (single-use tokens), so
        // the refresh runs to completion and stores its result even if the caller that
        // started it is cancelled (e.g. by a timeout).
        let refreshed = tokio::spawn(async move {
            let tokens = guarded.await?;
            *store.lock().unwrap_or_else(|e| e.into_inner()) = tokens.refresh_token.clone();
            *access.lock().unwrap_or_else(|e| e.into_inner()) = tokens.access_token.clone();
            if let Some(callback) = &callback {
                callback(&tokens);
            }
            Ok::<_, Error>(tokens.cached())
        });
        refreshed.await.map_err(|e| {
            Error::Auth(AuthError::other(format!(
                "the token refresh task failed: {e}"
            )))
        })?
    }
}

impl CredentialsProvider for OAuthRefreshCredentials {
    fn auth_type(&self) -> &'static str {
        "external-browser"
    }

    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>> {
        Box::pin(self.cache.authorization(rejected, || self.fetch()))
    }
}
