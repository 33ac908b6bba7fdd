//! OAuth machine-to-machine credentials (a service principal's client id and secret).
//!
//! Each token is one client-credentials request: `Authorization: Basic base64(id:secret)` and
//! the form `grant_type=client_credentials&scope=all-apis`. There is no refresh token; the
//! [`TokenCache`] simply asks for a new access token before the old one expires.

use brickwire_api::SecretString;
use futures::future::BoxFuture;

use super::CredentialsProvider;
use super::oauth::{ClientAuth, TokenEndpoint, request_token};
use super::token_cache::{CachedToken, TokenCache};
use crate::Result;

/// OAuth M2M (`oauth-m2m`): client credentials of a service principal.
///
/// ```no_run
/// # use brickwire_client::credentials::{OAuthM2mCredentials, TokenEndpoint};
/// # use brickwire_client::SecretString;
/// let host = url::Url::parse("https://dbc-1234.cloud.databricks.com").unwrap();
/// let provider = OAuthM2mCredentials::new(
///     "my-sp-client-id",
///     SecretString::new("dose..."),
///     TokenEndpoint::discover(host, None, None),
///     reqwest::Client::new(),
/// );
/// ```
#[derive(Debug)]
pub struct OAuthM2mCredentials {
    client_id: String,
    client_secret: SecretString,
    scope: String,
    endpoint: TokenEndpoint,
    http: reqwest::Client,
    cache: TokenCache,
}

impl OAuthM2mCredentials {
    /// A provider for `client_id`/`client_secret`, asking for the `all-apis` scope.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: SecretString,
        endpoint: TokenEndpoint,
        http: reqwest::Client,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            scope: "all-apis".to_owned(),
            endpoint,
            http,
            cache: TokenCache::default(),
        }
    }

    /// Asks for these scopes instead of `all-apis` (sent space-separated).
    pub fn with_scopes<S: AsRef<str>>(mut self, scopes: &[S]) -> Self {
        if !scopes.is_empty() {
            self.scope = scopes
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(" ");
        }
        self
    }

    /// Uses this cache (for its clock and refresh margin) instead of the default one.
    pub fn with_cache(mut self, cache: TokenCache) -> Self {
        self.cache = cache;
        self
    }

    async fn fetch(&self) -> Result<CachedToken> {
        let token_url = self.endpoint.get(&self.http).await?;
        let tokens = request_token(
            &self.http,
            &token_url,
            ClientAuth::Basic {
                client_id: &self.client_id,
                client_secret: &self.client_secret,
            },
            vec![("grant_type", "client_credentials"), ("scope", &self.scope)],
            self.cache.clock().now(),
        )
        .await?;
        Ok(tokens.cached())
    }
}

impl CredentialsProvider for OAuthM2mCredentials {
    fn auth_type(&self) -> &'static str {
        "oauth-m2m"
    }

    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>> {
        Box::pin(self.cache.authorization(rejected, || self.fetch()))
    }
}
