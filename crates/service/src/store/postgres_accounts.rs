//! [`Store`] for [`PgStore`]: app settings, linked accounts and their encrypted credentials,
//! connect sessions and operator API keys, ported from the SQLite store (`sqlite.rs`) with the
//! same behaviour and errors.
//!
//! Where SQLite relies on its single writer (`BEGIN IMMEDIATE`) to make a read-check-write
//! atomic, this file locks what it checks, because several replicas write the same database:
//! - a credential update locks the account row (`SELECT ... FOR UPDATE`) before it compares
//!   the version, so of two writers that read the same version exactly one wins and the other
//!   gets [`Error::Conflict`];
//! - consuming a connect session locks the session row found by its token or OAuth state, and
//!   the `consumed_at IS NULL` guard of the update decides; a waiting consumer sees the
//!   winner's commit and gets [`Error::ConnectSessionConsumed`] (or the row is gone from its
//!   key and it gets `NotFound`, as it would have in SQLite had it come second);
//! - starting an OAuth flow locks the session, so it cannot slip in after a consume;
//! - a reconnect session holds a key-share lock on its account while it is created, so the
//!   account cannot be deleted between the check and the insert;
//! - operator key writes take a self-conflicting table lock, so two replicas starting together
//!   store one generated key, and two replacing with the same environment key leave one row.
//!
//! Secrets are sealed and opened with the SQLite store's helpers and associated data, so a
//! blob means the same in both backends.

use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use futures::future::BoxFuture;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use url::Url;

use super::super::sqlite::{
    ACCOUNT_COLUMNS, AccountRow, SESSION_COLUMNS, corrupt, finish_session, from_ms,
    open_credential, parse_url, seal_credential, to_ms, validate_display_name, verifier_aad,
};
use super::super::{
    AccountStatus, ApiKeySource, AppSettings, ConnectSession, ConnectSessionId, ConnectSessionKey,
    ConsumedConnectSession, CreatedConnectSession, Credential, CredentialRefresh, LinkedAccount,
    LinkedAccountFilter, LinkedAccountId, MAX_CONNECT_SESSION_MINUTES, NewConnectSession,
    NewLinkedAccount, OAuthStart, OperatorApiKey, OperatorApiKeyId, RefreshOutcome, Store,
    StoredCredential,
};
use super::{Inner, PgStore};
use crate::crypto::{random_token, token_hash};
use crate::scopes::ScopeSettings;
use crate::{Error, Result};

/// A row of [`ACCOUNT_COLUMNS`] (in that order) as a linked account.
fn account_from_row(row: &Row) -> Result<LinkedAccount> {
    AccountRow {
        id: row.try_get(0)?,
        display_name: row.try_get(1)?,
        end_user_ref: row.try_get(2)?,
        auth_type: row.try_get(3)?,
        workspace_host: row.try_get(4)?,
        status: row.try_get(5)?,
        created_at: row.try_get(6)?,
        last_used_at: row.try_get(7)?,
        credential_version: row.try_get(8)?,
    }
    .into_account()
}

/// A row of [`SESSION_COLUMNS`] (in that order; more columns may follow) as a connect session.
fn session_from_row(row: &Row) -> Result<ConnectSession> {
    let session = ConnectSession {
        id: ConnectSessionId::new(row.try_get::<_, String>(0)?),
        end_user_ref: row.try_get(1)?,
        display_name: row.try_get(2)?,
        workspace_url: None,
        oauth_started: row.try_get(4)?,
        created_at: from_ms(row.try_get(5)?),
        expires_at: from_ms(row.try_get(6)?),
        consumed_at: row.try_get::<_, Option<i64>>(7)?.map(from_ms),
        linked_account_id: row
            .try_get::<_, Option<String>>(8)?
            .map(LinkedAccountId::new),
        reconnect_account_id: row
            .try_get::<_, Option<String>>(9)?
            .map(LinkedAccountId::new),
    };
    finish_session((session, row.try_get(3)?))
}

/// One linked account; `lock` is appended to the query (`""`, `" FOR UPDATE"`, ...).
async fn get_account<C: GenericClient + Sync>(
    client: &C,
    id: &LinkedAccountId,
    lock: &str,
) -> Result<LinkedAccount> {
    let row = client
        .query_opt(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM linked_accounts WHERE id = $1{lock}"),
            &[&id.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
    account_from_row(&row)
}

/// One connect session by `column = $1`; `what` names it in a `NotFound` (never a token).
async fn get_session_where<C: GenericClient + Sync>(
    client: &C,
    column: &str,
    param: &(dyn ToSql + Sync),
    what: &str,
) -> Result<ConnectSession> {
    let row = client
        .query_opt(
            &format!("SELECT {SESSION_COLUMNS} FROM connect_sessions WHERE {column} = $1"),
            &[param],
        )
        .await?
        .ok_or_else(|| Error::not_found("connect session", what))?;
    session_from_row(&row)
}

/// The column a key is looked up by, the hash to look for, and what a `NotFound` says.
fn key_lookup(key: &ConnectSessionKey) -> (&'static str, [u8; 32], &'static str) {
    match key {
        ConnectSessionKey::Token(token) => {
            ("token_hash", token_hash(token.expose_secret()), "by token")
        }
        ConnectSessionKey::OAuthState(state) => (
            "oauth_state_hash",
            token_hash(state.expose_secret()),
            "by OAuth state",
        ),
    }
}

async fn insert_account<C: GenericClient + Sync>(
    client: &C,
    inner: &Inner,
    account: NewLinkedAccount,
) -> Result<LinkedAccount> {
    let display_name = validate_display_name(&account.display_name)?;
    let id = LinkedAccountId::generate();
    let now = to_ms(inner.clock.now());
    let blob = seal_credential(&inner.cipher, &id, &account.credential);
    let row = client
        .query_one(
            &format!(
                "INSERT INTO linked_accounts (id, display_name, end_user_ref, auth_type,
                     workspace_host, status, created_at, last_used_at, credential,
                     credential_version)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, NULL, $7, 1)
                 RETURNING {ACCOUNT_COLUMNS}"
            ),
            &[
                &id.as_str(),
                &display_name,
                &account.end_user_ref,
                &account.credential.auth_type().as_str(),
                &account.workspace_host.as_str(),
                &now,
                &blob,
            ],
        )
        .await?;
    account_from_row(&row)
}

/// Replaces credential, auth type and host, bumping the version, in one statement (so two
/// concurrent relinks each bump it once).
async fn relink_in<C: GenericClient + Sync>(
    client: &C,
    inner: &Inner,
    id: &LinkedAccountId,
    workspace_host: &Url,
    credential: &Credential,
) -> Result<LinkedAccount> {
    let blob = seal_credential(&inner.cipher, id, credential);
    let row = client
        .query_opt(
            &format!(
                "UPDATE linked_accounts
                 SET credential = $1, credential_version = credential_version + 1,
                     status = 'active', auth_type = $2, workspace_host = $3
                 WHERE id = $4
                 RETURNING {ACCOUNT_COLUMNS}"
            ),
            &[
                &blob,
                &credential.auth_type().as_str(),
                &workspace_host.as_str(),
                &id.as_str(),
            ],
        )
        .await?
        .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
    account_from_row(&row)
}

/// Consumes the session `key` finds, inside the caller's transaction: the row stays locked
/// until it commits, so a concurrent consumer waits and then sees it consumed.
async fn consume_in<C: GenericClient + Sync>(
    client: &C,
    inner: &Inner,
    key: &ConnectSessionKey,
) -> Result<ConsumedConnectSession> {
    let (column, hash, what) = key_lookup(key);
    let row = client
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM connect_sessions WHERE {column} = $1 FOR UPDATE"
            ),
            &[&hash.as_slice()],
        )
        .await?
        .ok_or_else(|| Error::not_found("connect session", what))?;
    let session = session_from_row(&row)?;
    let now = inner.clock.now();
    if session.is_consumed() {
        return Err(Error::ConnectSessionConsumed);
    }
    if session.is_expired_at(now) {
        return Err(Error::ConnectSessionExpired);
    }
    // The `consumed_at IS NULL` guard makes the update itself the arbiter, as in SQLite.
    let row = client
        .query_opt(
            &format!(
                "UPDATE connect_sessions SET consumed_at = $1
                 WHERE id = $2 AND consumed_at IS NULL
                 RETURNING {SESSION_COLUMNS}, pkce_verifier"
            ),
            &[&to_ms(now), &session.id.as_str()],
        )
        .await?
        .ok_or(Error::ConnectSessionConsumed)?;
    let session = session_from_row(&row)?;
    let blob: Option<Vec<u8>> = row.try_get(10)?;
    let pkce_verifier = blob
        .map(|blob| {
            inner
                .cipher
                .open_secret(&verifier_aad(&session.id), &blob)
                .map_err(|_| Error::Decrypt {
                    entity: "connect session",
                    id: session.id.to_string(),
                    field: "pkce_verifier",
                })
        })
        .transpose()?;
    Ok(ConsumedConnectSession {
        session,
        pkce_verifier,
    })
}

/// Makes concurrent operator key writes (other replicas' start-ups) wait for each other;
/// plain reads are not blocked.
async fn lock_operator_api_keys<C: GenericClient + Sync>(client: &C) -> Result<()> {
    client
        .batch_execute("LOCK TABLE operator_api_keys IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    Ok(())
}

async fn insert_api_key<C: GenericClient + Sync>(client: &C, key: &OperatorApiKey) -> Result<()> {
    client
        .execute(
            "INSERT INTO operator_api_keys (id, key_hash, source, created_at)
             VALUES ($1, $2, $3, $4)",
            &[
                &key.id.as_str(),
                &key.key_hash.as_slice(),
                &key.source.as_str(),
                &to_ms(key.created_at),
            ],
        )
        .await?;
    Ok(())
}

impl Store for PgStore {
    fn app_settings(&self) -> BoxFuture<'_, Result<AppSettings>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let Some(row) = conn
                .query_opt(
                    "SELECT oauth_client_id, workspace_url, scopes, updated_at
                     FROM app_settings WHERE id = 1",
                    &[],
                )
                .await?
            else {
                return Ok(AppSettings::default());
            };
            let scopes: String = row.try_get(2)?;
            let scopes: ScopeSettings = serde_json::from_str(&scopes)
                .map_err(|e| corrupt(format!("stored scopes do not parse: {e}")))?;
            Ok(AppSettings {
                oauth_client_id: row.try_get(0)?,
                workspace_url: row
                    .try_get::<_, Option<String>>(1)?
                    .map(|u| parse_url(&u, "workspace_url"))
                    .transpose()?,
                scopes,
                updated_at: Some(from_ms(row.try_get(3)?)),
            })
        })
    }

    fn put_app_settings(&self, settings: AppSettings) -> BoxFuture<'_, Result<AppSettings>> {
        Box::pin(async move {
            let client_id = settings
                .oauth_client_id
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty());
            if let Some(c) = &client_id
                && (c.len() > 200 || c.chars().any(|ch| ch.is_control() || ch == ' '))
            {
                return Err(Error::invalid(
                    "oauth_client_id",
                    "a client id has at most 200 characters and no spaces",
                ));
            }
            let scopes = serde_json::to_string(&settings.scopes).expect("scopes serialize");
            let now = to_ms(self.inner.clock.now());
            let conn = self.conn().await?;
            conn.execute(
                "INSERT INTO app_settings (id, oauth_client_id, workspace_url, scopes, updated_at)
                 VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET oauth_client_id = excluded.oauth_client_id,
                     workspace_url = excluded.workspace_url, scopes = excluded.scopes,
                     updated_at = excluded.updated_at",
                &[
                    &client_id,
                    &settings.workspace_url.as_ref().map(Url::as_str),
                    &scopes,
                    &now,
                ],
            )
            .await?;
            Ok(AppSettings {
                oauth_client_id: client_id,
                workspace_url: settings.workspace_url,
                scopes: settings.scopes,
                updated_at: Some(from_ms(now)),
            })
        })
    }

    fn insert_linked_account(
        &self,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            insert_account(&**conn, &self.inner, account).await
        })
    }

    fn linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_account(&**conn, &id, "").await
        })
    }

    fn list_linked_accounts(
        &self,
        filter: LinkedAccountFilter,
    ) -> BoxFuture<'_, Result<Vec<LinkedAccount>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            // COLLATE "C": ties on created_at break by id bytes, as in SQLite.
            let rows = conn
                .query(
                    &format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM linked_accounts
                         WHERE ($1::TEXT IS NULL OR end_user_ref = $1)
                         ORDER BY created_at, id COLLATE \"C\""
                    ),
                    &[&filter.end_user_ref],
                )
                .await?;
            rows.iter().map(account_from_row).collect()
        })
    }

    fn rename_linked_account(
        &self,
        id: LinkedAccountId,
        display_name: String,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(async move {
            let name = validate_display_name(&display_name)?;
            let conn = self.conn().await?;
            let row = conn
                .query_opt(
                    &format!(
                        "UPDATE linked_accounts SET display_name = $1 WHERE id = $2
                         RETURNING {ACCOUNT_COLUMNS}"
                    ),
                    &[&name, &id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
            account_from_row(&row)
        })
    }

    fn delete_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let changed = conn
                .execute("DELETE FROM linked_accounts WHERE id = $1", &[&id.as_str()])
                .await?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        })
    }

    fn set_linked_account_status(
        &self,
        id: LinkedAccountId,
        status: AccountStatus,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let changed = conn
                .execute(
                    "UPDATE linked_accounts SET status = $1 WHERE id = $2",
                    &[&status.as_str(), &id.as_str()],
                )
                .await?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        })
    }

    fn touch_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let now = to_ms(self.inner.clock.now());
            let conn = self.conn().await?;
            let changed = conn
                .execute(
                    "UPDATE linked_accounts SET last_used_at = $1 WHERE id = $2",
                    &[&now, &id.as_str()],
                )
                .await?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        })
    }

    fn linked_account_credential(
        &self,
        id: LinkedAccountId,
    ) -> BoxFuture<'_, Result<StoredCredential>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let row = conn
                .query_opt(
                    "SELECT credential, credential_version FROM linked_accounts WHERE id = $1",
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
            let blob: Vec<u8> = row.try_get(0)?;
            let version: i64 = row.try_get(1)?;
            Ok(StoredCredential {
                credential: open_credential(&self.inner.cipher, &id, &blob)?,
                version: version as u64,
            })
        })
    }

    fn refresh_linked_account_credential(
        &self,
        id: LinkedAccountId,
        refresh: CredentialRefresh,
    ) -> BoxFuture<'_, Result<RefreshOutcome>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Held until commit, across the token request: every replica's refresh of this
            // account waits here and then reads what this one stored.
            let row = tx
                .query_opt(
                    "SELECT credential, credential_version FROM linked_accounts
                     WHERE id = $1 FOR UPDATE",
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
            let blob: Vec<u8> = row.try_get(0)?;
            let version = row.try_get::<_, i64>(1)? as u64;
            let stored = StoredCredential {
                credential: open_credential(&self.inner.cipher, &id, &blob)?,
                version,
            };
            let credential = match refresh(stored.credential.clone()).await {
                Err(e) => return Ok(Err(e)),
                Ok(None) => return Ok(Ok(stored)),
                Ok(Some(credential)) => credential,
            };
            if credential.auth_type() != stored.credential.auth_type() {
                return Err(Error::invalid(
                    "credential",
                    format!("linked account {id} cannot change its auth type in a refresh"),
                ));
            }
            let blob = seal_credential(&self.inner.cipher, &id, &credential);
            tx.execute(
                "UPDATE linked_accounts
                 SET credential = $1, credential_version = $2, status = 'active'
                 WHERE id = $3",
                &[&blob, &((version + 1) as i64), &id.as_str()],
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(StoredCredential {
                credential,
                version: version + 1,
            }))
        })
    }

    fn update_linked_account_credential(
        &self,
        id: LinkedAccountId,
        expected_version: Option<u64>,
        credential: Credential,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // The row lock makes concurrent writers take turns: the second one reads the
            // version the first one wrote and loses the comparison below.
            let account = get_account(&*tx, &id, " FOR UPDATE").await?;
            if account.auth_type != credential.auth_type() {
                return Err(Error::invalid(
                    "credential",
                    format!(
                        "linked account {id} uses {}, not {}",
                        account.auth_type.as_str(),
                        credential.auth_type().as_str()
                    ),
                ));
            }
            if let Some(expected) = expected_version
                && expected != account.credential_version
            {
                return Err(Error::Conflict {
                    entity: "linked account",
                    id: id.to_string(),
                    expected,
                    found: account.credential_version,
                });
            }
            let blob = seal_credential(&self.inner.cipher, &id, &credential);
            let next = account.credential_version + 1;
            let changed = tx
                .execute(
                    "UPDATE linked_accounts
                     SET credential = $1, credential_version = $2, status = 'active'
                     WHERE id = $3 AND credential_version = $4",
                    &[
                        &blob,
                        &(next as i64),
                        &id.as_str(),
                        &(account.credential_version as i64),
                    ],
                )
                .await?;
            if changed != 1 {
                return Err(Error::Conflict {
                    entity: "linked account",
                    id: id.to_string(),
                    expected: account.credential_version,
                    found: account.credential_version + 1,
                });
            }
            tx.commit().await?;
            Ok(next)
        })
    }

    fn create_connect_session(
        &self,
        session: NewConnectSession,
    ) -> BoxFuture<'_, Result<CreatedConnectSession>> {
        Box::pin(async move {
            if session.expires_in_minutes == 0
                || session.expires_in_minutes > MAX_CONNECT_SESSION_MINUTES
            {
                return Err(Error::invalid(
                    "expires_in_minutes",
                    format!("between 1 and {MAX_CONNECT_SESSION_MINUTES}"),
                ));
            }
            let display_name = session
                .display_name
                .as_deref()
                .map(validate_display_name)
                .transpose()?;
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            if let Some(account) = &session.reconnect_account_id {
                // Keeps the account from being deleted until this session is committed.
                get_account(&*tx, account, " FOR KEY SHARE").await?;
            }
            let id = ConnectSessionId::generate();
            let token = random_token("bwcs_");
            let now = self.inner.clock.now();
            let expires = now + Duration::from_secs(u64::from(session.expires_in_minutes) * 60);
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO connect_sessions (id, token_hash, end_user_ref, display_name,
                             workspace_url, created_at, expires_at, reconnect_account_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         RETURNING {SESSION_COLUMNS}"
                    ),
                    &[
                        &id.as_str(),
                        &token_hash(token.expose_secret()).as_slice(),
                        &session.end_user_ref,
                        &display_name,
                        &session.workspace_url.as_ref().map(Url::as_str),
                        &to_ms(now),
                        &to_ms(expires),
                        &session
                            .reconnect_account_id
                            .as_ref()
                            .map(LinkedAccountId::as_str),
                    ],
                )
                .await?;
            let session = session_from_row(&row)?;
            tx.commit().await?;
            Ok(CreatedConnectSession { session, token })
        })
    }

    fn connect_session(&self, id: ConnectSessionId) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            get_session_where(&**conn, "id", &id.as_str(), id.as_str()).await
        })
    }

    fn connect_session_by_token(
        &self,
        token: SecretString,
    ) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(async move {
            let hash = token_hash(token.expose_secret());
            let conn = self.conn().await?;
            get_session_where(&**conn, "token_hash", &hash.as_slice(), "by token").await
        })
    }

    fn start_connect_session_oauth(
        &self,
        id: ConnectSessionId,
        start: OAuthStart,
    ) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Locked, so a concurrent consume either happened before (and is seen) or waits.
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM connect_sessions WHERE id = $1 FOR UPDATE"
                    ),
                    &[&id.as_str()],
                )
                .await?
                .ok_or_else(|| Error::not_found("connect session", id.as_str()))?;
            let session = session_from_row(&row)?;
            if session.is_consumed() {
                return Err(Error::ConnectSessionConsumed);
            }
            if session.is_expired_at(self.inner.clock.now()) {
                return Err(Error::ConnectSessionExpired);
            }
            let workspace_url = start.workspace_url.or(session.workspace_url);
            let Some(workspace_url) = workspace_url else {
                return Err(Error::invalid(
                    "workspace_url",
                    "an OAuth flow needs a workspace URL",
                ));
            };
            let blob = self
                .inner
                .cipher
                .seal_secret(&verifier_aad(&id), &start.pkce_verifier);
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE connect_sessions
                         SET workspace_url = $1, oauth_state_hash = $2, pkce_verifier = $3
                         WHERE id = $4
                         RETURNING {SESSION_COLUMNS}"
                    ),
                    &[
                        &workspace_url.as_str(),
                        &token_hash(start.oauth_state.expose_secret()).as_slice(),
                        &blob,
                        &id.as_str(),
                    ],
                )
                .await?;
            let session = session_from_row(&row)?;
            tx.commit().await?;
            Ok(session)
        })
    }

    fn consume_connect_session(
        &self,
        key: ConnectSessionKey,
    ) -> BoxFuture<'_, Result<ConsumedConnectSession>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let consumed = consume_in(&*tx, &self.inner, &key).await?;
            tx.commit().await?;
            Ok(consumed)
        })
    }

    fn link_account_with_connect_session(
        &self,
        key: ConnectSessionKey,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            let consumed = consume_in(&*tx, &self.inner, &key).await?;
            let account = match &consumed.session.reconnect_account_id {
                Some(id) => {
                    relink_in(
                        &*tx,
                        &self.inner,
                        id,
                        &account.workspace_host,
                        &account.credential,
                    )
                    .await?
                }
                None => insert_account(&*tx, &self.inner, account).await?,
            };
            tx.execute(
                "UPDATE connect_sessions SET linked_account_id = $1 WHERE id = $2",
                &[&account.id.as_str(), &consumed.session.id.as_str()],
            )
            .await?;
            tx.commit().await?;
            Ok(account)
        })
    }

    fn relink_linked_account(
        &self,
        id: LinkedAccountId,
        workspace_host: Url,
        credential: Credential,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            relink_in(&**conn, &self.inner, &id, &workspace_host, &credential).await
        })
    }

    fn record_connect_session_result(
        &self,
        id: ConnectSessionId,
        account: LinkedAccountId,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let changed = conn
                .execute(
                    "UPDATE connect_sessions SET linked_account_id = $1 WHERE id = $2",
                    &[&account.as_str(), &id.as_str()],
                )
                .await?;
            if changed == 0 {
                return Err(Error::not_found("connect session", id.as_str()));
            }
            Ok(())
        })
    }

    fn prune_connect_sessions(&self, before: SystemTime) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            Ok(conn
                .execute(
                    "DELETE FROM connect_sessions WHERE expires_at < $1",
                    &[&to_ms(before)],
                )
                .await?)
        })
    }

    fn operator_api_keys(&self) -> BoxFuture<'_, Result<Vec<OperatorApiKey>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let rows = conn
                .query(
                    "SELECT id, key_hash, source, created_at FROM operator_api_keys
                     ORDER BY created_at, id COLLATE \"C\"",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let hash: Vec<u8> = row.try_get(1)?;
                    let source: String = row.try_get(2)?;
                    Ok(OperatorApiKey {
                        key_hash: hash
                            .as_slice()
                            .try_into()
                            .map_err(|_| corrupt("an operator key hash is not 32 bytes".into()))?,
                        source: ApiKeySource::parse(&source)
                            .ok_or_else(|| corrupt(format!("unknown key source {source}")))?,
                        id: OperatorApiKeyId::new(row.try_get::<_, String>(0)?),
                        created_at: from_ms(row.try_get(3)?),
                    })
                })
                .collect()
        })
    }

    fn insert_first_operator_api_key(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            lock_operator_api_keys(&*tx).await?;
            let count: i64 = tx
                .query_one("SELECT COUNT(*) FROM operator_api_keys", &[])
                .await?
                .try_get(0)?;
            if count > 0 {
                return Ok(false);
            }
            insert_api_key(&*tx, &key).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn replace_operator_api_keys(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await?;
            // Under the lock the DELETE sees a concurrent replacement's committed row, so two
            // replicas replacing with the same key leave one row instead of a unique violation.
            lock_operator_api_keys(&*tx).await?;
            tx.execute("DELETE FROM operator_api_keys", &[]).await?;
            insert_api_key(&*tx, &key).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
