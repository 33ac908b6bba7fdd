//! [`AccountRunner`]: the service's [`ActionRunner`]. A flow names accounts by linked account id
//! (`la_...`) or by display name (which must be unique); each action runs through that linked
//! account's one shared client from [`AccountClients`], so flows, triggers and REST calls on a
//! workspace share its rate limit, connection pool and OAuth refresh.

use brickwire_connector::{ActionError, Catalog, ErrorCode};
use brickwire_flows::ActionRunner;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::accounts::{AccountClientError, AccountClients};
use crate::store::{LinkedAccountFilter, LinkedAccountId};

/// Runs catalog actions on linked accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AccountRunner {
    accounts: AccountClients,
}

impl AccountRunner {
    /// A runner over the service's linked-account clients.
    pub fn new(accounts: AccountClients) -> Self {
        Self { accounts }
    }

    /// The linked account an account string names: an existing id, else the one account with
    /// that display name. `NOT_FOUND` names the string; an ambiguous name is `INVALID_INPUT`.
    pub async fn resolve(&self, account: &str) -> Result<LinkedAccountId, ActionError> {
        let store = self.accounts.store();
        if account.starts_with(LinkedAccountId::PREFIX) {
            match store.linked_account(LinkedAccountId::new(account)).await {
                Ok(found) => return Ok(found.id),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(store_error(&e)),
            }
        }
        let all = store
            .list_linked_accounts(LinkedAccountFilter::default())
            .await
            .map_err(|e| store_error(&e))?;
        let mut named = all.into_iter().filter(|a| a.display_name == account);
        match (named.next(), named.next()) {
            (Some(one), None) => Ok(one.id),
            (None, _) => Err(ActionError::new(
                ErrorCode::NotFound,
                format!("no linked account `{account}` (by id or display name)"),
            )),
            (Some(_), Some(_)) => Err(ActionError::new(
                ErrorCode::InvalidInput,
                format!(
                    "more than one linked account is named `{account}`; name it by its id \
                     (la_...) in the flow"
                ),
            )),
        }
    }
}

fn store_error(e: &crate::Error) -> ActionError {
    // The store's messages name SQL or rows, never secrets; still keep them short.
    ActionError::new(
        ErrorCode::Unavailable,
        format!("the service's store failed: {e}"),
    )
}

fn client_error(account: &str, e: AccountClientError) -> ActionError {
    match e {
        AccountClientError::NotFound(_) => ActionError::new(
            ErrorCode::NotFound,
            format!("no linked account `{account}`"),
        ),
        AccountClientError::NeedsReconnect(id) => ActionError::new(
            ErrorCode::Unauthenticated,
            format!(
                "linked account {id} needs to be reconnected: its OAuth refresh token no longer \
                 works"
            ),
        ),
        AccountClientError::Store(e) => store_error(&e),
        AccountClientError::Client(e) => ActionError::new(
            ErrorCode::ConfigError,
            format!("cannot build the client of linked account `{account}`: {e}"),
        ),
    }
}

impl ActionRunner for AccountRunner {
    fn run<'a>(
        &'a self,
        account: Option<&'a str>,
        action: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async move {
            let action = Catalog::global().get(action).ok_or_else(|| {
                ActionError::new(
                    ErrorCode::UnknownAction,
                    format!("no action `{action}` in the catalog"),
                )
            })?;
            let Some(account) = account else {
                return Err(ActionError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "no linked account for `{}`: set the flow's `account` or the step's",
                        action.id()
                    ),
                ));
            };
            let id = self.resolve(account).await?;
            let client = self
                .accounts
                .client(&id)
                .await
                .map_err(|e| client_error(account, e))?;
            action.run(&client, input).await
        })
    }
}
