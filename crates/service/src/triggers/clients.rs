//! The service's [`crate::accounts::AccountClients`] as the trigger engine's [`ClientSource`]:
//! every subscription on a linked account polls through that account's one shared client (and
//! all accounts of a workspace through its one rate limit), with OAuth refresh and rotation.

use brickwire_client::Client;
use futures::future::BoxFuture;

use super::engine::ClientSource;
use crate::accounts::AccountClients;
use crate::store::LinkedAccountId;

impl ClientSource for AccountClients {
    fn client(&self, account: &LinkedAccountId) -> BoxFuture<'_, Result<Client, String>> {
        let account = account.clone();
        Box::pin(async move {
            AccountClients::client(self, &account)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
