//! Storing rotated OAuth tokens from the client's refresh callback, which is synchronous and
//! runs while the provider holds its refresh lock.
//!
//! [`rotation_callback`] builds the `TokenRefreshCallback` to register with
//! `OAuthRefreshCredentials::on_refresh`: each refreshed token set is written before the lock is
//! released, so no later refresh can start from a refresh token that was not stored. Writes are
//! compare-and-swap on the credential version: if the stored credential changed under us (the
//! end user reconnected, or another replica rotated first), the newer one is kept and the event
//! is logged, never overwritten.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use brickwire_client::credentials::{OAuthTokenSet, TokenRefreshCallback};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::Error;
use crate::store::{Credential, LinkedAccountId, OAuthCredential, Store};

/// A refresh callback that stores each new token set of `account` (issued to `client_id`),
/// starting from credential version `version` (as read with the tokens the provider starts
/// from). It must be called from within a Tokio runtime, as the client's refresh task is.
pub fn rotation_callback(
    store: Arc<dyn Store>,
    account: LinkedAccountId,
    client_id: String,
    version: u64,
) -> TokenRefreshCallback {
    rotation_callback_tracking(store, account, client_id, Arc::new(AtomicU64::new(version)))
}

/// [`rotation_callback`] that keeps the credential version it last wrote in `version` (which
/// starts as the version the provider's tokens were read at). The account runtime shares it to
/// tell its own rotations apart from a reconnection, which must rebuild the client.
pub fn rotation_callback_tracking(
    store: Arc<dyn Store>,
    account: LinkedAccountId,
    client_id: String,
    version: Arc<AtomicU64>,
) -> TokenRefreshCallback {
    let expected = version;
    Arc::new(move |tokens: &OAuthTokenSet| {
        let credential = Credential::OAuth(OAuthCredential::from_token_set(&client_id, tokens));
        let current = expected.load(Ordering::SeqCst);
        let write =
            store.update_linked_account_credential(account.clone(), Some(current), credential);
        match block_on_store(write) {
            Ok(next) => expected.store(next, Ordering::SeqCst),
            Err(Error::Conflict { found, .. }) => tracing::warn!(
                account = %account,
                expected = current,
                found,
                "kept a newer stored credential instead of this refresh's tokens"
            ),
            Err(e) => tracing::error!(
                account = %account,
                error = %e,
                "could not store refreshed OAuth tokens"
            ),
        }
    })
}

/// Runs a store future to completion from synchronous code inside a runtime.
fn block_on_store<T: Send>(future: impl Future<Output = T> + Send) -> T {
    let handle = Handle::current();
    match handle.runtime_flavor() {
        RuntimeFlavor::CurrentThread => {
            // block_in_place is not allowed here; drive the future from a helper thread. The
            // SQLite store only waits on the blocking pool, which does not need this thread.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| handle.block_on(future))
                    .join()
                    .expect("the store write does not panic")
            })
        }
        _ => tokio::task::block_in_place(|| handle.block_on(future)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use brickwire_api::SecretString;
    use url::Url;

    use super::*;
    use crate::crypto::MasterKey;
    use crate::store::{NewLinkedAccount, SqliteStore};

    fn tokens(access: &str, refresh: &str) -> OAuthTokenSet {
        OAuthTokenSet {
            access_token: SecretString::new(access),
            token_type: "Bearer".into(),
            refresh_token: Some(SecretString::new(refresh)),
            expires_at: Some(SystemTime::UNIX_EPOCH),
            scope: None,
        }
    }

    async fn setup() -> (tempfile::TempDir, Arc<dyn Store>, LinkedAccountId) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path(), &MasterKey::generate())
                .await
                .unwrap(),
        );
        let account = store
            .insert_linked_account(NewLinkedAccount {
                display_name: "o".into(),
                end_user_ref: None,
                workspace_host: Url::parse("https://w.example.com").unwrap(),
                credential: Credential::OAuth(OAuthCredential::from_token_set(
                    "cid",
                    &tokens("at-0", "rt-0"),
                )),
            })
            .await
            .unwrap();
        (dir, store, account.id)
    }

    async fn stored_refresh(store: &Arc<dyn Store>, id: &LinkedAccountId) -> (String, u64) {
        let stored = store.linked_account_credential(id.clone()).await.unwrap();
        match stored.credential {
            Credential::OAuth(o) => (
                o.refresh_token.unwrap().expose_secret().to_owned(),
                stored.version,
            ),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_rotation_is_stored_before_the_callback_returns() {
        let (_dir, store, id) = setup().await;
        let callback = rotation_callback(store.clone(), id.clone(), "cid".into(), 1);
        // The client calls it from inside a spawned task.
        let cb = callback.clone();
        tokio::spawn(async move { cb(&tokens("at-1", "rt-1")) })
            .await
            .unwrap();
        assert_eq!(stored_refresh(&store, &id).await, ("rt-1".into(), 2));
        let cb = callback.clone();
        tokio::spawn(async move { cb(&tokens("at-2", "rt-2")) })
            .await
            .unwrap();
        assert_eq!(stored_refresh(&store, &id).await, ("rt-2".into(), 3));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn works_on_a_current_thread_runtime_too() {
        let (_dir, store, id) = setup().await;
        let callback = rotation_callback(store.clone(), id.clone(), "cid".into(), 1);
        callback(&tokens("at-1", "rt-1"));
        assert_eq!(stored_refresh(&store, &id).await, ("rt-1".into(), 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_newer_stored_credential_is_not_overwritten() {
        let (_dir, store, id) = setup().await;
        let callback = rotation_callback(store.clone(), id.clone(), "cid".into(), 1);
        // The end user reconnects (version 2) while an old provider is still alive.
        store
            .update_linked_account_credential(
                id.clone(),
                None,
                Credential::OAuth(OAuthCredential::from_token_set(
                    "cid",
                    &tokens("at-new", "rt-new"),
                )),
            )
            .await
            .unwrap();
        let cb = callback.clone();
        tokio::spawn(async move { cb(&tokens("at-old", "rt-old")) })
            .await
            .unwrap();
        assert_eq!(stored_refresh(&store, &id).await, ("rt-new".into(), 2));
    }
}
