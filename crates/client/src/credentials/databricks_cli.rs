//! `databricks-cli` credentials: a login from the Databricks CLI's token cache, refreshed like
//! any U2M session, and shared safely with other processes that use the same cache.
//!
//! Start at [`DatabricksCliCredentials`]. The inner [`OAuthRefreshCredentials`] does the
//! refreshing and writes every rotated token set back to the cache. What this wrapper adds is
//! the multi-process rule: when two processes hold the same single-use refresh token, only the
//! first refresh succeeds. The loser's refresh fails, so before reporting that failure it reads
//! the cache again; if another process stored a different refresh token meanwhile, it carries
//! on from those tokens instead of failing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brickwire_api::SecretString;
use futures::future::BoxFuture;

use super::CredentialsProvider;
use super::cli_token_cache::CliTokenCache;
use super::oauth::OAuthTokenSet;
use super::refresh::{OAuthRefreshCredentials, TokenRefreshCallback};
use crate::{Error, Result};

/// Builds the inner provider from a token set (client id, endpoint and HTTP client fixed).
pub type RefreshBuilder =
    Box<dyn Fn(OAuthTokenSet) -> Result<OAuthRefreshCredentials> + Send + Sync>;

/// How often, and how far apart, the cache is re-read after a failed refresh: the process
/// that won the refresh writes the cache just after its token response arrives.
const REREADS: u32 = 3;
const REREAD_DELAY: Duration = Duration::from_millis(150);

/// The credentials of a `brickwire auth login` / `databricks auth login` (auth type
/// `databricks-cli`); built by [`crate::config::ResolvedConfig::databricks_cli_credentials`].
pub struct DatabricksCliCredentials {
    cache: CliTokenCache,
    /// Where to look the login up, in order.
    read_keys: Vec<String>,
    /// Where refreshed tokens are written.
    write_keys: Vec<String>,
    build: RefreshBuilder,
    /// The command that logs in again, for errors that need it.
    login_hint: String,
    inner: Mutex<Arc<OAuthRefreshCredentials>>,
    /// The refresh token the inner provider holds now (updated on every rotation).
    refresh_token: Arc<Mutex<Option<SecretString>>>,
}

impl std::fmt::Debug for DatabricksCliCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabricksCliCredentials")
            .field("cache", &self.cache)
            .field("read_keys", &self.read_keys)
            .field("write_keys", &self.write_keys)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl DatabricksCliCredentials {
    /// Credentials starting from `tokens` (as loaded from `cache` under `read_keys`), writing
    /// refreshed tokens under `write_keys`; `build` makes the refreshing provider.
    /// `login_hint` is the command that logs in again, named when a refresh is refused.
    pub fn new(
        cache: CliTokenCache,
        read_keys: Vec<String>,
        write_keys: Vec<String>,
        tokens: OAuthTokenSet,
        build: RefreshBuilder,
        login_hint: String,
    ) -> Result<Self> {
        let refresh_token = Arc::new(Mutex::new(None));
        let inner = Self::make(&cache, &write_keys, &build, &refresh_token, tokens)?;
        Ok(Self {
            cache,
            read_keys,
            write_keys,
            build,
            login_hint,
            inner: Mutex::new(Arc::new(inner)),
            refresh_token,
        })
    }

    /// The token cache this provider reads and writes.
    pub fn cache(&self) -> &CliTokenCache {
        &self.cache
    }

    fn make(
        cache: &CliTokenCache,
        write_keys: &[String],
        build: &RefreshBuilder,
        refresh_token: &Arc<Mutex<Option<SecretString>>>,
        tokens: OAuthTokenSet,
    ) -> Result<OAuthRefreshCredentials> {
        *refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = tokens.refresh_token.clone();
        let cache = cache.clone();
        let keys = write_keys.to_vec();
        let seen = refresh_token.clone();
        let callback: TokenRefreshCallback = Arc::new(move |tokens: &OAuthTokenSet| {
            *seen.lock().unwrap_or_else(|e| e.into_inner()) = tokens.refresh_token.clone();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            if let Err(error) = cache.store(&keys, tokens) {
                tracing::error!(%error, "could not write refreshed tokens to the token cache");
            }
        });
        Ok(build(tokens)?.on_refresh(callback))
    }

    fn current(&self) -> Arc<OAuthRefreshCredentials> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tokens another process stored since this one loaded or refreshed, if any.
    fn newer_in_cache(&self) -> Option<OAuthTokenSet> {
        let keys: Vec<&str> = self.read_keys.iter().map(String::as_str).collect();
        let (_, tokens) = self.cache.load(&keys).ok().flatten()?;
        let ours = self
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (tokens.refresh_token.is_some() && tokens.refresh_token != ours).then_some(tokens)
    }

    async fn authorize(&self, rejected: Option<&SecretString>) -> Result<SecretString> {
        let inner = self.current();
        let error = match inner.authorization(rejected).await {
            Ok(header) => return Ok(header),
            Err(error) => error,
        };
        for attempt in 0..REREADS {
            if attempt > 0 {
                tokio::time::sleep(REREAD_DELAY).await;
            }
            if let Some(tokens) = self.newer_in_cache() {
                tracing::info!("another process refreshed this login; using its tokens");
                let replacement = Arc::new(Self::make(
                    &self.cache,
                    &self.write_keys,
                    &self.build,
                    &self.refresh_token,
                    tokens,
                )?);
                *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = replacement.clone();
                return replacement.authorization(rejected).await;
            }
        }
        Err(match error {
            // The login itself is gone (refresh token expired, revoked or spent).
            Error::Auth(auth) => {
                Error::Auth(auth.with_hint(format_args!("log in again: `{}`", self.login_hint)))
            }
            other => other,
        })
    }
}

impl CredentialsProvider for DatabricksCliCredentials {
    fn auth_type(&self) -> &'static str {
        "databricks-cli"
    }

    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, Result<SecretString>> {
        Box::pin(self.authorize(rejected))
    }
}
