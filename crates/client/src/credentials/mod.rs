//! Credentials providers: where the `Authorization` header of each request comes from.
//!
//! A provider hands out the header value and refreshes it when needed. Fetching a token and
//! caching it are separate concerns: OAuth providers fetch, a token cache decides when.
//!
//! Providers: [`PatCredentials`] (`pat`), [`BasicCredentials`] (`basic`),
//! [`OAuthM2mCredentials`] (`oauth-m2m`), [`OAuthRefreshCredentials`] (`external-browser`, a
//! stored U2M session, also behind `databricks-cli` with the tokens of [`CliTokenCache`]).
//! The OAuth ones share [`TokenCache`] and the discovery and token
//! request code in [`oauth`]. [`crate::config::ResolvedConfig::credentials`] picks one from
//! a configuration.

use std::fmt;

mod basic;
mod cli_token_cache;
mod databricks_cli;
mod m2m;
pub mod oauth;
mod refresh;
mod token_cache;

pub use basic::BasicCredentials;
pub use cli_token_cache::{CLI_TOKEN_CACHE_PATH, CliTokenCache, format_rfc3339, host_cache_key};
pub use databricks_cli::{DatabricksCliCredentials, RefreshBuilder};
pub use m2m::OAuthM2mCredentials;
pub use oauth::{
    OAuthTokenSet, OidcEndpoints, TokenEndpoint, discover_oidc_endpoints,
    exchange_authorization_code, pkce_challenge,
};
pub use refresh::{OAuthRefreshCredentials, RefreshGuard, TokenExchange, TokenRefreshCallback};
pub use token_cache::{
    CachedToken, Clock, DEFAULT_REFRESH_MARGIN, ManualClock, SystemClock, TokenCache,
};

use brickwire_api::SecretString;
use futures::future::BoxFuture;

use crate::Result;

/// The source of the `Authorization` header for every request of a [`crate::Client`].
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// The Databricks auth type this provider implements (`pat`, `oauth-m2m`, ...).
    fn auth_type(&self) -> &'static str;

    /// The full `Authorization` header value (e.g. `Bearer dapi...`).
    ///
    /// `rejected` is the value the server has just refused with a 401 (or a 403 saying the
    /// token is invalid): a refreshing provider refreshes once if its cached value is still that
    /// one, and concurrent callers share the single refresh.
    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>>;
}

/// A static personal access token.
#[derive(Debug, Clone)]
pub struct PatCredentials {
    header: SecretString,
}

impl PatCredentials {
    /// A provider that always sends `Authorization: Bearer <token>`.
    pub fn new(token: &SecretString) -> Self {
        Self {
            header: SecretString::new(format!("Bearer {}", token.expose_secret())),
        }
    }
}

impl CredentialsProvider for PatCredentials {
    fn auth_type(&self) -> &'static str {
        "pat"
    }

    fn authorization<'a>(
        &'a self,
        _rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>> {
        Box::pin(async move { Ok(self.header.clone()) })
    }
}
