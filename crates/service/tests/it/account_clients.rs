//! `AccountClients`: one client per linked account, and one rate limit and connection pool per
//! workspace shared by the clients of every account on it.

use std::sync::Arc;

use brickwire_api::SecretString;
use brickwire_service::store::{Credential, LinkedAccountId, NewLinkedAccount};
use brickwire_service::{AccountClients, AccountClientsOptions, StartupEnv, Store, open_data_dir};

async fn link(store: &Arc<dyn Store>, host: &str, token: &str) -> LinkedAccountId {
    store
        .insert_linked_account(NewLinkedAccount {
            display_name: format!("{token} on {host}"),
            end_user_ref: None,
            workspace_host: host.parse().unwrap(),
            credential: Credential::ApiKey {
                token: SecretString::new(token),
            },
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn accounts_on_one_workspace_share_its_rate_limit_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let started = open_data_dir(dir.path(), &StartupEnv::default())
        .await
        .unwrap();
    let store: Arc<dyn Store> = started.store;
    let alice = link(&store, "https://dbc-1.cloud.databricks.com", "dapi-alice").await;
    let bob = link(&store, "https://dbc-1.cloud.databricks.com", "dapi-bob").await;
    let carol = link(&store, "https://dbc-2.cloud.databricks.com", "dapi-carol").await;
    let clients = AccountClients::new(store, AccountClientsOptions::default());

    let a = clients.client(&alice).await.unwrap();
    let b = clients.client(&bob).await.unwrap();
    let c = clients.client(&carol).await.unwrap();
    assert!(a.shares_rate_limit_with(&b), "two accounts, one workspace");
    assert!(
        !a.shares_rate_limit_with(&c),
        "another workspace has its own limit"
    );
    // The same account gets its cached client back.
    let again = clients.client(&alice).await.unwrap();
    assert!(again.shares_rate_limit_with(&a));
    // A rebuilt client (after forget) still shares the workspace's limit.
    clients.forget(&alice);
    let rebuilt = clients.client(&alice).await.unwrap();
    assert!(rebuilt.shares_rate_limit_with(&b));
}
