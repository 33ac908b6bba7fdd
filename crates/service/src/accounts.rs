//! The linked-account runtime: one shared [`brickwire_client::Client`] per linked account,
//! built from its stored credential. Start at [`AccountClients::client`].
//!
//! Every request on an account goes through the same `Client`, so concurrent actions share
//! its connection pool and its token cache (for OAuth, one refresh at a time in the process:
//! the client crate single-flights it). Each refresh runs through `StoreRefreshGuard`, which
//! makes it one at a time across every process on the database and stores the rotated refresh
//! token before the next refresh can start. The clients of all accounts on one workspace share
//! one rate limit and one connection pool ([`SharedTransport`]), since the workspace's limits
//! count all of them. The cache entry remembers the credential version it was built from; the
//! provider's own refreshes move that version forward, so only an outside change, such as a
//! reconnection, rebuilds the client.
//!
//! When an OAuth refresh fails for good (the token endpoint refuses the refresh token with a
//! 4xx such as `invalid_grant`), the account is marked `needs_reconnect`; from then on
//! [`AccountClients::client`] answers [`AccountClientError::NeedsReconnect`] until the account
//! is re-linked.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brickwire_api::SecretString;
use brickwire_client::credentials::{
    Clock, CredentialsProvider, DEFAULT_REFRESH_MARGIN, OAuthRefreshCredentials, OAuthTokenSet,
    PatCredentials, RefreshGuard, SystemClock, TokenCache, TokenEndpoint, TokenExchange,
};
use brickwire_client::{AuthError, AuthFailure, Client, ClientOptions, SharedTransport};
use futures::future::BoxFuture;

use crate::store::{
    AccountStatus, Credential, CredentialRefresh, LinkedAccountId, OAuthCredential, Store,
};

/// Why no client could be made for an account.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountClientError {
    /// No such linked account.
    #[error("linked account {0} not found")]
    NotFound(LinkedAccountId),
    /// Its OAuth refresh failed for good; the end user must connect again.
    #[error("linked account {0} needs to be reconnected: its OAuth refresh token no longer works")]
    NeedsReconnect(LinkedAccountId),
    /// The store failed (or a credential did not decrypt).
    #[error("{0}")]
    Store(#[source] crate::Error),
    /// The client could not be built (bad options).
    #[error("{0}")]
    Client(#[source] brickwire_client::Error),
}

/// Options of [`AccountClients`].
#[derive(Debug, Clone)]
pub struct AccountClientsOptions {
    /// Transport settings of every account's client (timeouts, rate limit per account).
    pub client: ClientOptions,
    /// The clock of the OAuth token caches (injectable so tests can expire tokens).
    pub clock: Arc<dyn Clock>,
    /// How long before expiry an access token is refreshed (at most half its lifetime).
    pub refresh_margin: Duration,
    /// Timeout of one token-endpoint request (discovery and refresh).
    pub token_timeout: Duration,
}

impl Default for AccountClientsOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            clock: Arc::new(SystemClock),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            token_timeout: Duration::from_secs(30),
        }
    }
}

/// Hands out one cached client per linked account. Cheap to clone (shared state).
///
/// ```no_run
/// # async fn demo(clients: brickwire_service::AccountClients,
/// #               id: brickwire_service::store::LinkedAccountId) {
/// let client = clients.client(&id).await.unwrap();
/// let out = brickwire_connector::run_action(&client, "list-clusters", serde_json::json!({})).await;
/// # }
/// ```
#[derive(Clone)]
pub struct AccountClients {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    options: AccountClientsOptions,
    http: reqwest::Client,
    cache: Mutex<HashMap<LinkedAccountId, Cached>>,
    /// One transport per workspace URL, shared by the clients of every account on it.
    workspaces: Mutex<HashMap<String, SharedTransport>>,
    /// Serializes building, so concurrent first uses of an account share one client.
    build: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    client: Client,
    /// The credential version this client's provider knows (moved by its own rotations).
    version: Arc<AtomicU64>,
}

impl fmt::Debug for AccountClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.cache.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("AccountClients")
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl AccountClients {
    /// A runtime over `store`.
    pub fn new(store: Arc<dyn Store>, options: AccountClientsOptions) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(brickwire_client::client::user_agent())
            .connect_timeout(options.token_timeout)
            .timeout(options.token_timeout)
            .build()
            .expect("a reqwest client with timeouts builds");
        Self {
            inner: Arc::new(Inner {
                store,
                options,
                http,
                cache: Mutex::new(HashMap::new()),
                workspaces: Mutex::new(HashMap::new()),
                build: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The clock of the token caches (the service's clock).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.options.clock
    }

    /// The store this runtime reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The client of linked account `id`: the cached one while the stored credential is the
    /// one it was built from, else a new one. Fails with
    /// [`AccountClientError::NeedsReconnect`] for an account whose refresh failed for good.
    pub async fn client(&self, id: &LinkedAccountId) -> Result<Client, AccountClientError> {
        let account = match self.inner.store.linked_account(id.clone()).await {
            Ok(account) => account,
            Err(e) if e.is_not_found() => {
                self.forget(id);
                return Err(AccountClientError::NotFound(id.clone()));
            }
            Err(e) => return Err(AccountClientError::Store(e)),
        };
        if account.status == AccountStatus::NeedsReconnect {
            return Err(AccountClientError::NeedsReconnect(id.clone()));
        }
        if let Some(client) = self.cached(id, account.credential_version) {
            return Ok(client);
        }
        let _building = self.inner.build.lock().await;
        if let Some(client) = self.cached(id, account.credential_version) {
            return Ok(client);
        }
        let stored = self
            .inner
            .store
            .linked_account_credential(id.clone())
            .await
            .map_err(|e| match e {
                e if e.is_not_found() => AccountClientError::NotFound(id.clone()),
                e => AccountClientError::Store(e),
            })?;
        let version = Arc::new(AtomicU64::new(stored.version));
        let credentials: Arc<dyn CredentialsProvider> = match stored.credential {
            Credential::ApiKey { token } => Arc::new(PatCredentials::new(&token)),
            Credential::OAuth(oauth) => {
                let cache = TokenCache::new(
                    self.inner.options.clock.clone(),
                    self.inner.options.refresh_margin,
                );
                let provider = OAuthRefreshCredentials::new(
                    oauth.to_token_set(),
                    oauth.client_id.clone(),
                    TokenEndpoint::discover(account.workspace_host.clone(), None, None),
                    self.inner.http.clone(),
                )
                .with_cache(cache)
                .with_refresh_guard(Arc::new(StoreRefreshGuard {
                    store: self.inner.store.clone(),
                    account: id.clone(),
                    client_id: oauth.client_id,
                    version: version.clone(),
                    clock: self.inner.options.clock.clone(),
                }));
                Arc::new(WatchedRefresh {
                    inner: provider,
                    store: self.inner.store.clone(),
                    account: id.clone(),
                    marked: AtomicBool::new(false),
                })
            }
        };
        let transport = self
            .workspace_transport(&account.workspace_host)
            .map_err(AccountClientError::Client)?;
        let client = Client::builder(account.workspace_host.clone(), credentials)
            .options(self.inner.options.client.clone())
            .shared_transport(transport)
            .build()
            .map_err(AccountClientError::Client)?;
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.clone(),
                Cached {
                    client: client.clone(),
                    version,
                },
            );
        Ok(client)
    }

    /// Drops the cached client of `id` (after the account is deleted or re-linked).
    pub fn forget(&self, id: &LinkedAccountId) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The transport of the workspace at `host`, made on first use.
    fn workspace_transport(&self, host: &url::Url) -> brickwire_client::Result<SharedTransport> {
        let mut workspaces = self
            .inner
            .workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(transport) = workspaces.get(host.as_str()) {
            return Ok(transport.clone());
        }
        let transport = SharedTransport::new(&self.inner.options.client)?;
        workspaces.insert(host.as_str().to_owned(), transport.clone());
        Ok(transport)
    }

    fn cached(&self, id: &LinkedAccountId, stored_version: u64) -> Option<Client> {
        let cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.get(id)?;
        // The entry knows every version its own provider wrote; a higher stored version was
        // written by someone else (a reconnection) and needs a new client.
        (stored_version <= entry.version.load(Ordering::SeqCst)).then(|| entry.client.clone())
    }
}

/// Refreshes an account's OAuth tokens through the store, one process at a time per account
/// ([`Store::refresh_linked_account_credential`]): a process that waited for another's refresh
/// uses the tokens it stored instead of spending the refresh token again, so a fleet of
/// replicas makes one refresh per expiry, and the rotated refresh token is stored before any
/// other refresh starts.
struct StoreRefreshGuard {
    store: Arc<dyn Store>,
    account: LinkedAccountId,
    client_id: String,
    /// The credential version this process's client is built from (moved by each refresh).
    version: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
}

impl RefreshGuard for StoreRefreshGuard {
    fn refresh(
        &self,
        stale: SecretString,
        exchange: TokenExchange,
    ) -> BoxFuture<'static, brickwire_client::Result<OAuthTokenSet>> {
        let store = self.store.clone();
        let account = self.account.clone();
        let client_id = self.client_id.clone();
        let version = self.version.clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            let refresh: CredentialRefresh = Box::new(move |current: Credential| {
                Box::pin(async move {
                    let Credential::OAuth(current) = current else {
                        return Err(no_longer_oauth());
                    };
                    // Another process refreshed while this one waited: use its tokens (if
                    // they are near expiry, the next refresh replaces them as usual).
                    let usable = current.expires_at.is_none_or(|at| at > clock.now());
                    if usable && current.access_token != stale {
                        return Ok(None);
                    }
                    let Some(refresh_token) = current.refresh_token.clone() else {
                        return Err(brickwire_client::Error::Auth(AuthError::new(
                            AuthFailure::NoRefreshToken,
                            "the OAuth access token expired and there is no refresh token: log in again",
                        )));
                    };
                    let tokens = exchange(refresh_token).await?;
                    Ok(Some(Credential::OAuth(OAuthCredential::from_token_set(
                        &client_id, &tokens,
                    ))))
                })
            });
            let stored = store
                .refresh_linked_account_credential(account.clone(), refresh)
                .await
                .map_err(|e| {
                    brickwire_client::Error::Auth(AuthError::other(format!(
                        "could not store the refreshed OAuth tokens of {account}: {e}"
                    )))
                })??;
            version.fetch_max(stored.version, Ordering::SeqCst);
            match stored.credential {
                Credential::OAuth(oauth) => Ok(oauth.to_token_set()),
                Credential::ApiKey { .. } => Err(no_longer_oauth()),
            }
        })
    }
}

fn no_longer_oauth() -> brickwire_client::Error {
    brickwire_client::Error::Auth(AuthError::other("the linked account no longer uses OAuth"))
}

/// Whether a credentials error means the refresh token will never work again: the token
/// endpoint answered 4xx other than 429 (`invalid_grant`, `invalid_client`, ...) or there is no
/// refresh token ([`AuthError::needs_new_login`]). Transport failures, timeouts, 429 and 5xx
/// are transient.
pub fn refresh_failed_for_good(error: &brickwire_client::Error) -> bool {
    error.auth().is_some_and(AuthError::needs_new_login)
}

/// Wraps an account's refreshing provider: a refresh that fails for good marks the account.
struct WatchedRefresh {
    inner: OAuthRefreshCredentials,
    store: Arc<dyn Store>,
    account: LinkedAccountId,
    marked: AtomicBool,
}

impl fmt::Debug for WatchedRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedRefresh")
            .field("account", &self.account)
            .field("inner", &self.inner)
            .finish()
    }
}

impl CredentialsProvider for WatchedRefresh {
    fn auth_type(&self) -> &'static str {
        self.inner.auth_type()
    }

    fn authorization<'a>(
        &'a self,
        rejected: Option<&'a SecretString>,
    ) -> BoxFuture<'a, brickwire_client::Result<SecretString>> {
        Box::pin(async move {
            let result = self.inner.authorization(rejected).await;
            if let Err(error) = &result
                && refresh_failed_for_good(error)
                && !self.marked.swap(true, Ordering::SeqCst)
            {
                tracing::warn!(
                    account = %self.account,
                    %error,
                    "OAuth refresh failed for good; the account needs to be reconnected"
                );
                if let Err(e) = self
                    .store
                    .set_linked_account_status(self.account.clone(), AccountStatus::NeedsReconnect)
                    .await
                {
                    tracing::error!(account = %self.account, error = %e, "cannot mark the account");
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_the_refresh_token_are_final() {
        let auth = |reason, m: &str| brickwire_client::Error::Auth(AuthError::new(reason, m));
        let token_endpoint = |status, error: &str| AuthFailure::TokenEndpoint {
            status,
            error: Some(error.to_owned()),
            description: None,
        };
        assert!(refresh_failed_for_good(&auth(
            token_endpoint(400, "invalid_grant"),
            "token request to http://x/oidc/v1/token failed with HTTP 400: invalid_grant: gone"
        )));
        assert!(refresh_failed_for_good(&auth(
            token_endpoint(401, "invalid_client"),
            "token request to http://x/t failed with HTTP 401: invalid_client"
        )));
        assert!(refresh_failed_for_good(&auth(
            AuthFailure::NoRefreshToken,
            "the OAuth access token expired and there is no refresh token: log in again"
        )));
        assert!(!refresh_failed_for_good(&auth(
            token_endpoint(503, "temporarily_unavailable"),
            "token request to http://x/t failed with HTTP 503: busy"
        )));
        assert!(!refresh_failed_for_good(&auth(
            token_endpoint(429, "slow_down"),
            "token request to http://x/t failed with HTTP 429: slow down"
        )));
        assert!(!refresh_failed_for_good(&auth(
            AuthFailure::Discovery,
            "cannot discover the OAuth endpoints of http://x"
        )));
        assert!(!refresh_failed_for_good(&brickwire_client::Error::Timeout(
            "t".into()
        )));
    }

    #[test]
    fn the_decision_reads_the_reason_not_the_message() {
        // A message that reads like a refusal decides nothing: only the typed reason does.
        let lookalike = brickwire_client::Error::Auth(AuthError::other(
            "could not store the refreshed OAuth tokens of acc-1: failed with HTTP 400; \
             there is no refresh token",
        ));
        assert!(!refresh_failed_for_good(&lookalike));
        let quiet = brickwire_client::Error::Auth(AuthError::new(
            AuthFailure::TokenEndpoint {
                status: 400,
                error: None,
                description: None,
            },
            "x",
        ));
        assert!(refresh_failed_for_good(&quiet));
    }
}
