//! [`StoreClients`]: a [`ClientSource`] that builds one `Client` per linked account from its
//! stored credential and keeps it, so every subscription on the account shares its connection
//! pool and rate limiter. A new credential version (reconnect, rotation) builds a new client.
//!
//! It handles personal access tokens only; `brickwire serve` uses its
//! [`crate::accounts::AccountClients`] (OAuth refresh and token rotation too), which implements
//! [`ClientSource`] below.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use brickwire_client::credentials::PatCredentials;
use brickwire_client::{Client, ClientOptions};
use futures::future::BoxFuture;

use super::engine::ClientSource;
use crate::store::{Credential, LinkedAccountId, Store};

/// Clients built from the [`Store`]'s linked accounts, one per account.
#[derive(Debug)]
pub struct StoreClients {
    store: Arc<dyn Store>,
    options: ClientOptions,
    cache: Mutex<HashMap<LinkedAccountId, (u64, Client)>>,
    built: AtomicU64,
}

impl StoreClients {
    /// Clients over `store` with `options` (the rate limit applies per linked account).
    pub fn new(store: Arc<dyn Store>, options: ClientOptions) -> Self {
        Self {
            store,
            options,
            cache: Mutex::new(HashMap::new()),
            built: AtomicU64::new(0),
        }
    }

    /// How many clients were built so far (one per account and credential version).
    pub fn clients_built(&self) -> u64 {
        self.built.load(Ordering::SeqCst)
    }
}

impl ClientSource for StoreClients {
    fn client(&self, account: &LinkedAccountId) -> BoxFuture<'_, Result<Client, String>> {
        let account = account.clone();
        Box::pin(async move {
            let meta = self
                .store
                .linked_account(account.clone())
                .await
                .map_err(|e| e.to_string())?;
            if let Some((version, client)) = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&account)
                && *version == meta.credential_version
            {
                return Ok(client.clone());
            }
            let stored = self
                .store
                .linked_account_credential(account.clone())
                .await
                .map_err(|e| e.to_string())?;
            let token = match &stored.credential {
                Credential::ApiKey { token } => token.clone(),
                Credential::OAuth(_) => {
                    return Err("OAuth accounts need the service's account clients".into());
                }
            };
            let client = Client::with_credentials(
                meta.workspace_host.clone(),
                Arc::new(PatCredentials::new(&token)),
                self.options.clone(),
            )
            .map_err(|e| e.to_string())?;
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            // Another task may have built one meanwhile: keep the first so they share it.
            match cache.get(&account) {
                Some((version, existing)) if *version == meta.credential_version => {
                    Ok(existing.clone())
                }
                _ => {
                    self.built.fetch_add(1, Ordering::SeqCst);
                    cache.insert(account, (meta.credential_version, client.clone()));
                    Ok(client)
                }
            }
        })
    }
}

impl ClientSource for crate::accounts::AccountClients {
    fn client(&self, account: &LinkedAccountId) -> BoxFuture<'_, Result<Client, String>> {
        let account = account.clone();
        Box::pin(async move {
            crate::accounts::AccountClients::client(self, &account)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
