//! OAuth user-to-machine credentials: an access token plus a refresh token from a U2M login.
//!
//! The access token is used until it is about to expire; then the refresh token buys a new
//! one (`grant_type=refresh_token`). Databricks may rotate refresh tokens (single-use refresh
//! tokens), so every refresh hands the new token set to a callback at once: the caller must
//! store it, or the next session starts from a dead refresh token.

use std::sync::{Arc, Mutex};

use brickwire_api::SecretString;
use futures::future::BoxFuture;

use super::CredentialsProvider;
use super::oauth::{ClientAuth, OAuthTokenSet, TokenEndpoint, request_token};
use super::token_cache::{CachedToken, TokenCache};
use crate::{Error, Result};

/// Called with the new token set after every successful refresh. `refresh_token` in it is the
/// one to store: the rotated one, or the previous one if the server did not rotate.
///
/// It runs while the provider's refresh lock is held, so no later refresh can overtake the
/// store; keep it short, and never call back into the same provider from it.
pub type TokenRefreshCallback = Arc<dyn Fn(&OAuthTokenSet) + Send + Sync>;

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
    initial: CachedToken,
    on_refresh: Option<TokenRefreshCallback>,
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
            initial,
            on_refresh: None,
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

    async fn fetch(&self) -> Result<CachedToken> {
        let Some(refresh_token) = self.current_refresh_token() else {
            return Err(Error::Auth(
                "the OAuth access token expired and there is no refresh token: log in again"
                    .to_owned(),
            ));
        };
        let token_url = self.endpoint.get(&self.http).await?;
        let http = self.http.clone();
        let client_id = self.client_id.clone();
        let client_secret = self.client_secret.clone();
        let store = self.refresh_token.clone();
        let callback = self.on_refresh.clone();
        let now = self.cache.clock().now();
        // Once the request is sent, the old refresh token may be spent (single-use tokens), so
        // the exchange runs to completion and stores its result even if the caller that
        // started it is cancelled (e.g. by a timeout).
        let exchange = tokio::spawn(async move {
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
            *store.lock().unwrap_or_else(|e| e.into_inner()) = tokens.refresh_token.clone();
            if let Some(callback) = &callback {
                callback(&tokens);
            }
            Ok::<_, Error>(tokens.cached())
        });
        exchange
            .await
            .map_err(|e| Error::Auth(format!("the token refresh task failed: {e}")))?
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
