//! The SQLite [`Store`]: one file, `<data-dir>/brickwire.db`, in WAL mode, with the schema from
//! [`super::migrations`]. Start at [`SqliteStore::open`].
//!
//! Concurrency: one writer connection behind a mutex serializes this process's writes, and every
//! write is a `BEGIN IMMEDIATE` transaction, so writes from other processes (the CLI beside a
//! running service) wait on SQLite's busy timeout instead of failing half-way. Reads use a small
//! pool of other connections, which WAL lets run beside the writer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brickwire_api::SecretString;
use brickwire_client::credentials::{Clock, SystemClock};
use futures::future::BoxFuture;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use super::{
    AccountStatus, ApiKeySource, AppSettings, AuthType, ConnectSession, ConnectSessionId,
    ConnectSessionKey, ConsumedConnectSession, CreatedConnectSession, Credential, LinkedAccount,
    LinkedAccountFilter, LinkedAccountId, MAX_CONNECT_SESSION_MINUTES, NewConnectSession,
    NewLinkedAccount, OAuthCredential, OAuthStart, OperatorApiKey, OperatorApiKeyId, Store,
    StoredCredential, migrations,
};
use crate::crypto::{Aad, Cipher, MasterKey, random_token, token_hash};
use crate::scopes::ScopeSettings;
use crate::{Error, Result};

#[path = "sqlite_triggers.rs"]
pub(super) mod triggers;

#[path = "sqlite_flows.rs"]
pub(super) mod flows;

#[path = "sqlite_mcp.rs"]
pub(super) mod mcp;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "brickwire.db";

pub(super) const KEY_CHECK: &[u8] = b"brickwire master key check v1";
const READERS: usize = 4;

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteStoreOptions {
    /// The database file.
    pub path: PathBuf,
    /// The clock for timestamps and expiry (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// How long a write waits for another process's write lock.
    pub busy_timeout: Duration,
}

impl SqliteStoreOptions {
    /// Defaults for `<data_dir>/brickwire.db` with the system clock.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(DB_FILE),
            clock: Arc::new(SystemClock),
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// The SQLite store. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    cipher: Cipher,
    clock: Arc<dyn Clock>,
    busy_timeout: Duration,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    read_permits: Semaphore,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("cipher", &self.inner.cipher)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) `<data_dir>/brickwire.db`: creates the directory with mode
    /// 0700, applies migrations, and checks that `key` is the key the data was written with
    /// ([`Error::WrongMasterKey`] otherwise).
    pub async fn open(data_dir: &Path, key: &MasterKey) -> Result<Self> {
        Self::open_with(SqliteStoreOptions::in_data_dir(data_dir), key).await
    }

    /// Opens the store with explicit options.
    pub async fn open_with(options: SqliteStoreOptions, key: &MasterKey) -> Result<Self> {
        let cipher = Cipher::new(key);
        tokio::task::spawn_blocking(move || Self::open_blocking(options, cipher))
            .await
            .map_err(|e| Error::Backend(Box::new(e)))?
    }

    fn open_blocking(options: SqliteStoreOptions, cipher: Cipher) -> Result<Self> {
        if let Some(dir) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        // Create the file ourselves with mode 0600; SQLite gives the -wal and -shm files the
        // same mode as the database file.
        if !options.path.exists() {
            match crate::crypto::write_new_private_file(&options.path, b"") {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(Error::Io {
                        context: format!("creating {}", options.path.display()),
                        source,
                    });
                }
            }
        }
        let mut writer = open_connection(&options.path, options.busy_timeout)?;
        migrations::apply(&mut writer)?;
        check_or_write_key_check(&mut writer, &cipher)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: options.path,
                cipher,
                clock: options.clock,
                busy_timeout: options.busy_timeout,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                read_permits: Semaphore::new(READERS),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Copies the WAL into the database file and truncates the WAL (`wal_checkpoint(TRUNCATE)`).
    pub async fn checkpoint(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Backend(Box::new(e)))?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .inner
            .read_permits
            .acquire()
            .await
            .map_err(|e| Error::Backend(Box::new(e)))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&inner.path, inner.busy_timeout)?,
            };
            let result = f(&conn, &inner);
            inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            result
        })
        .await
        .map_err(|e| Error::Backend(Box::new(e)))?
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer; commits if it returns `Ok`.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx, &inner)?;
            tx.commit()?;
            Ok(value)
        })
        .await
        .map_err(|e| Error::Backend(Box::new(e)))?
    }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Io {
        context: format!("creating the data directory {}", dir.display()),
        source,
    })
}

fn open_connection(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // FULL: in WAL mode NORMAL may lose the last commits on power loss, and a lost commit can
    // be a rotated single-use refresh token, which would strand the account. Writes are rare.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;",
    )?;
    Ok(conn)
}

/// On first open stores a sealed known value; later opens must be able to open it, so a wrong
/// master key fails at start with a clear error instead of on some account's first use.
fn check_or_write_key_check(conn: &mut Connection, cipher: &Cipher) -> Result<()> {
    let aad = Aad::field("store_meta", "key_check", "value");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM store_meta WHERE name = 'key_check'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(blob) => match cipher.open(&aad, &blob) {
            Ok(plain) if plain.as_slice() == KEY_CHECK => {}
            _ => return Err(Error::WrongMasterKey),
        },
        None => {
            tx.execute(
                "INSERT INTO store_meta (name, value) VALUES ('key_check', ?1)",
                [cipher.seal(&aad, KEY_CHECK)],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(super) fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

pub(super) fn corrupt(what: String) -> Error {
    Error::Backend(what.into())
}

pub(super) fn parse_url(text: &str, column: &str) -> Result<Url> {
    Url::parse(text).map_err(|e| corrupt(format!("stored {column} is not a URL: {e}")))
}

pub(super) const ACCOUNT_COLUMNS: &str = "id, display_name, end_user_ref, auth_type, workspace_host, status, \
                               created_at, last_used_at, credential_version";

pub(super) struct AccountRow {
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) end_user_ref: Option<String>,
    pub(super) auth_type: String,
    pub(super) workspace_host: String,
    pub(super) status: String,
    pub(super) created_at: i64,
    pub(super) last_used_at: Option<i64>,
    pub(super) credential_version: i64,
}

impl AccountRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            display_name: row.get(1)?,
            end_user_ref: row.get(2)?,
            auth_type: row.get(3)?,
            workspace_host: row.get(4)?,
            status: row.get(5)?,
            created_at: row.get(6)?,
            last_used_at: row.get(7)?,
            credential_version: row.get(8)?,
        })
    }

    pub(super) fn into_account(self) -> Result<LinkedAccount> {
        Ok(LinkedAccount {
            auth_type: AuthType::parse(&self.auth_type)
                .ok_or_else(|| corrupt(format!("unknown auth_type {}", self.auth_type)))?,
            status: AccountStatus::parse(&self.status)
                .ok_or_else(|| corrupt(format!("unknown status {}", self.status)))?,
            workspace_host: parse_url(&self.workspace_host, "workspace_host")?,
            id: LinkedAccountId(self.id),
            display_name: self.display_name,
            end_user_ref: self.end_user_ref,
            created_at: from_ms(self.created_at),
            last_used_at: self.last_used_at.map(from_ms),
            credential_version: self.credential_version as u64,
        })
    }
}

fn get_account(conn: &Connection, id: &LinkedAccountId) -> Result<LinkedAccount> {
    conn.query_row(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM linked_accounts WHERE id = ?1"),
        [id.as_str()],
        AccountRow::from_row,
    )
    .optional()?
    .ok_or_else(|| Error::not_found("linked account", id.as_str()))?
    .into_account()
}

pub(super) fn credential_aad(id: &LinkedAccountId) -> Aad {
    Aad::field("linked_accounts", id.as_str(), "credential")
}

pub(super) fn verifier_aad(id: &ConnectSessionId) -> Aad {
    Aad::field("connect_sessions", id.as_str(), "pkce_verifier")
}

/// The plaintext layout of a credential blob (JSON, only ever in zeroizing buffers).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CredentialOut<'a> {
    ApiKey {
        token: &'a str,
    },
    #[serde(rename = "oauth")]
    OAuth {
        client_id: &'a str,
        access_token: &'a str,
        token_type: &'a str,
        refresh_token: Option<&'a str>,
        expires_at_ms: Option<i64>,
        scope: Option<&'a str>,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CredentialIn {
    ApiKey {
        token: SecretString,
    },
    #[serde(rename = "oauth")]
    OAuth {
        client_id: String,
        access_token: SecretString,
        token_type: String,
        refresh_token: Option<SecretString>,
        expires_at_ms: Option<i64>,
        scope: Option<String>,
    },
}

pub(super) fn seal_credential(
    cipher: &Cipher,
    id: &LinkedAccountId,
    credential: &Credential,
) -> Vec<u8> {
    let out = match credential {
        Credential::ApiKey { token } => CredentialOut::ApiKey {
            token: token.expose_secret(),
        },
        Credential::OAuth(o) => CredentialOut::OAuth {
            client_id: &o.client_id,
            access_token: o.access_token.expose_secret(),
            token_type: &o.token_type,
            refresh_token: o.refresh_token.as_ref().map(|t| t.expose_secret()),
            expires_at_ms: o.expires_at.map(to_ms),
            scope: o.scope.as_deref(),
        },
    };
    let mut plain = Zeroizing::new(Vec::with_capacity(4096));
    serde_json::to_writer(&mut *plain, &out).expect("a credential serializes to JSON");
    cipher.seal(&credential_aad(id), &plain)
}

pub(super) fn open_credential(
    cipher: &Cipher,
    id: &LinkedAccountId,
    blob: &[u8],
) -> Result<Credential> {
    let decrypt_error = || Error::Decrypt {
        entity: "linked account",
        id: id.to_string(),
        field: "credential",
    };
    let plain = cipher
        .open(&credential_aad(id), blob)
        .map_err(|_| decrypt_error())?;
    let parsed: CredentialIn = serde_json::from_slice(&plain).map_err(|_| decrypt_error())?;
    Ok(match parsed {
        CredentialIn::ApiKey { token } => Credential::ApiKey { token },
        CredentialIn::OAuth {
            client_id,
            access_token,
            token_type,
            refresh_token,
            expires_at_ms,
            scope,
        } => Credential::OAuth(OAuthCredential {
            client_id,
            access_token,
            token_type,
            refresh_token,
            expires_at: expires_at_ms.map(from_ms),
            scope,
        }),
    })
}

pub(super) fn validate_display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid(
            "display_name",
            "a display name has 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

fn insert_account(
    tx: &Transaction<'_>,
    inner: &Inner,
    account: NewLinkedAccount,
) -> Result<LinkedAccount> {
    let display_name = validate_display_name(&account.display_name)?;
    let id = LinkedAccountId::generate();
    let now = to_ms(inner.clock.now());
    let blob = seal_credential(&inner.cipher, &id, &account.credential);
    tx.execute(
        "INSERT INTO linked_accounts (id, display_name, end_user_ref, auth_type, workspace_host,
             status, created_at, last_used_at, credential, credential_version)
         VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, NULL, ?7, 1)",
        rusqlite::params![
            id.as_str(),
            display_name,
            account.end_user_ref,
            account.credential.auth_type().as_str(),
            account.workspace_host.as_str(),
            now,
            blob,
        ],
    )?;
    get_account(tx, &id)
}

fn relink_in(
    tx: &Transaction<'_>,
    inner: &Inner,
    id: &LinkedAccountId,
    workspace_host: &Url,
    credential: &Credential,
) -> Result<LinkedAccount> {
    let account = get_account(tx, id)?;
    let blob = seal_credential(&inner.cipher, id, credential);
    tx.execute(
        "UPDATE linked_accounts
         SET credential = ?1, credential_version = ?2, status = 'active', auth_type = ?3,
             workspace_host = ?4
         WHERE id = ?5",
        rusqlite::params![
            blob,
            (account.credential_version + 1) as i64,
            credential.auth_type().as_str(),
            workspace_host.as_str(),
            id.as_str()
        ],
    )?;
    get_account(tx, id)
}

pub(super) const SESSION_COLUMNS: &str = "id, end_user_ref, display_name, workspace_url, \
                               oauth_state_hash IS NOT NULL, created_at, expires_at, consumed_at, \
                               linked_account_id, reconnect_account_id";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<(ConnectSession, Option<String>)> {
    let workspace_url: Option<String> = row.get(3)?;
    Ok((
        ConnectSession {
            id: ConnectSessionId(row.get(0)?),
            end_user_ref: row.get(1)?,
            display_name: row.get(2)?,
            workspace_url: None,
            oauth_started: row.get(4)?,
            created_at: from_ms(row.get(5)?),
            expires_at: from_ms(row.get(6)?),
            consumed_at: row.get::<_, Option<i64>>(7)?.map(from_ms),
            linked_account_id: row.get::<_, Option<String>>(8)?.map(LinkedAccountId),
            reconnect_account_id: row.get::<_, Option<String>>(9)?.map(LinkedAccountId),
        },
        workspace_url,
    ))
}

pub(super) fn finish_session(
    (mut session, url): (ConnectSession, Option<String>),
) -> Result<ConnectSession> {
    session.workspace_url = url.map(|u| parse_url(&u, "workspace_url")).transpose()?;
    Ok(session)
}

fn get_session_where(
    conn: &Connection,
    condition: &str,
    param: &dyn rusqlite::ToSql,
    what: &str,
) -> Result<ConnectSession> {
    let found = conn
        .query_row(
            &format!("SELECT {SESSION_COLUMNS} FROM connect_sessions WHERE {condition}"),
            [param],
            session_from_row,
        )
        .optional()?
        .ok_or_else(|| Error::not_found("connect session", what))?;
    finish_session(found)
}

fn key_lookup(key: &ConnectSessionKey) -> (&'static str, [u8; 32], &'static str) {
    match key {
        ConnectSessionKey::Token(token) => (
            "token_hash = ?1",
            token_hash(token.expose_secret()),
            "by token",
        ),
        ConnectSessionKey::OAuthState(state) => (
            "oauth_state_hash = ?1",
            token_hash(state.expose_secret()),
            "by OAuth state",
        ),
    }
}

fn consume_in(
    tx: &Transaction<'_>,
    inner: &Inner,
    key: &ConnectSessionKey,
) -> Result<ConsumedConnectSession> {
    let (condition, hash, what) = key_lookup(key);
    let session = get_session_where(tx, condition, &hash, what)?;
    let now = inner.clock.now();
    if session.is_consumed() {
        return Err(Error::ConnectSessionConsumed);
    }
    if session.is_expired_at(now) {
        return Err(Error::ConnectSessionExpired);
    }
    // The `consumed_at IS NULL` guard makes the update itself the arbiter, whatever the
    // isolation of the backend: only one statement can flip it.
    let changed = tx.execute(
        "UPDATE connect_sessions SET consumed_at = ?1 WHERE id = ?2 AND consumed_at IS NULL",
        rusqlite::params![to_ms(now), session.id.as_str()],
    )?;
    if changed != 1 {
        return Err(Error::ConnectSessionConsumed);
    }
    let blob: Option<Vec<u8>> = tx.query_row(
        "SELECT pkce_verifier FROM connect_sessions WHERE id = ?1",
        [session.id.as_str()],
        |row| row.get(0),
    )?;
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
    let session = get_session_where(tx, "id = ?1", &session.id.as_str(), session.id.as_str())?;
    Ok(ConsumedConnectSession {
        session,
        pkce_verifier,
    })
}

fn api_key_from_row(row: &Row<'_>) -> rusqlite::Result<(String, Vec<u8>, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn insert_api_key(tx: &Transaction<'_>, key: &OperatorApiKey) -> Result<()> {
    tx.execute(
        "INSERT INTO operator_api_keys (id, key_hash, source, created_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            key.id.as_str(),
            key.key_hash.as_slice(),
            key.source.as_str(),
            to_ms(key.created_at)
        ],
    )?;
    Ok(())
}

impl super::ServiceStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.read(|conn, _| {
            let found = migrations::current_version(conn)?;
            if found != migrations::latest_version() {
                return Err(Error::Backend(
                    format!(
                        "the schema is at version {found}, this build needs {}",
                        migrations::latest_version()
                    )
                    .into(),
                ));
            }
            Ok(())
        }))
    }

    fn as_sqlite(&self) -> Option<&SqliteStore> {
        Some(self)
    }
}

impl Store for SqliteStore {
    fn app_settings(&self) -> BoxFuture<'_, Result<AppSettings>> {
        Box::pin(self.read(|conn, _| {
            let row: Option<(Option<String>, Option<String>, String, i64)> = conn
                .query_row(
                    "SELECT oauth_client_id, workspace_url, scopes, updated_at
                     FROM app_settings WHERE id = 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let Some((oauth_client_id, workspace_url, scopes, updated_at)) = row else {
                return Ok(AppSettings::default());
            };
            let scopes: ScopeSettings = serde_json::from_str(&scopes)
                .map_err(|e| corrupt(format!("stored scopes do not parse: {e}")))?;
            Ok(AppSettings {
                oauth_client_id,
                workspace_url: workspace_url
                    .map(|u| parse_url(&u, "workspace_url"))
                    .transpose()?,
                scopes,
                updated_at: Some(from_ms(updated_at)),
            })
        }))
    }

    fn put_app_settings(&self, settings: AppSettings) -> BoxFuture<'_, Result<AppSettings>> {
        Box::pin(self.write(move |tx, inner| {
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
            let now = inner.clock.now();
            tx.execute(
                "INSERT INTO app_settings (id, oauth_client_id, workspace_url, scopes, updated_at)
                 VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET oauth_client_id = excluded.oauth_client_id,
                     workspace_url = excluded.workspace_url, scopes = excluded.scopes,
                     updated_at = excluded.updated_at",
                rusqlite::params![
                    client_id,
                    settings.workspace_url.as_ref().map(Url::as_str),
                    scopes,
                    to_ms(now)
                ],
            )?;
            Ok(AppSettings {
                oauth_client_id: client_id,
                workspace_url: settings.workspace_url,
                scopes: settings.scopes,
                updated_at: Some(from_ms(to_ms(now))),
            })
        }))
    }

    fn insert_linked_account(
        &self,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(self.write(move |tx, inner| insert_account(tx, inner, account)))
    }

    fn linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(self.read(move |conn, _| get_account(conn, &id)))
    }

    fn list_linked_accounts(
        &self,
        filter: LinkedAccountFilter,
    ) -> BoxFuture<'_, Result<Vec<LinkedAccount>>> {
        Box::pin(self.read(move |conn, _| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM linked_accounts
                 WHERE (?1 IS NULL OR end_user_ref = ?1) ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map([filter.end_user_ref], AccountRow::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(AccountRow::into_account).collect()
        }))
    }

    fn rename_linked_account(
        &self,
        id: LinkedAccountId,
        display_name: String,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(self.write(move |tx, _| {
            let name = validate_display_name(&display_name)?;
            let changed = tx.execute(
                "UPDATE linked_accounts SET display_name = ?1 WHERE id = ?2",
                rusqlite::params![name, id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            get_account(tx, &id)
        }))
    }

    fn delete_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            let changed = tx.execute("DELETE FROM linked_accounts WHERE id = ?1", [id.as_str()])?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        }))
    }

    fn set_linked_account_status(
        &self,
        id: LinkedAccountId,
        status: AccountStatus,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            let changed = tx.execute(
                "UPDATE linked_accounts SET status = ?1 WHERE id = ?2",
                rusqlite::params![status.as_str(), id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        }))
    }

    fn touch_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, inner| {
            let changed = tx.execute(
                "UPDATE linked_accounts SET last_used_at = ?1 WHERE id = ?2",
                rusqlite::params![to_ms(inner.clock.now()), id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("linked account", id.as_str()));
            }
            Ok(())
        }))
    }

    fn linked_account_credential(
        &self,
        id: LinkedAccountId,
    ) -> BoxFuture<'_, Result<StoredCredential>> {
        Box::pin(self.read(move |conn, inner| {
            let (blob, version): (Vec<u8>, i64) = conn
                .query_row(
                    "SELECT credential, credential_version FROM linked_accounts WHERE id = ?1",
                    [id.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| Error::not_found("linked account", id.as_str()))?;
            Ok(StoredCredential {
                credential: open_credential(&inner.cipher, &id, &blob)?,
                version: version as u64,
            })
        }))
    }

    fn update_linked_account_credential(
        &self,
        id: LinkedAccountId,
        expected_version: Option<u64>,
        credential: Credential,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.write(move |tx, inner| {
            let account = get_account(tx, &id)?;
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
            let blob = seal_credential(&inner.cipher, &id, &credential);
            let next = account.credential_version + 1;
            let changed = tx.execute(
                "UPDATE linked_accounts
                 SET credential = ?1, credential_version = ?2, status = 'active'
                 WHERE id = ?3 AND credential_version = ?4",
                rusqlite::params![
                    blob,
                    next as i64,
                    id.as_str(),
                    account.credential_version as i64
                ],
            )?;
            if changed != 1 {
                return Err(Error::Conflict {
                    entity: "linked account",
                    id: id.to_string(),
                    expected: account.credential_version,
                    found: account.credential_version + 1,
                });
            }
            Ok(next)
        }))
    }

    fn create_connect_session(
        &self,
        session: NewConnectSession,
    ) -> BoxFuture<'_, Result<CreatedConnectSession>> {
        Box::pin(self.write(move |tx, inner| {
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
            if let Some(account) = &session.reconnect_account_id {
                get_account(tx, account)?;
            }
            let id = ConnectSessionId::generate();
            let token = random_token("bwcs_");
            let now = inner.clock.now();
            let expires = now + Duration::from_secs(u64::from(session.expires_in_minutes) * 60);
            tx.execute(
                "INSERT INTO connect_sessions (id, token_hash, end_user_ref, display_name,
                     workspace_url, created_at, expires_at, reconnect_account_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    id.as_str(),
                    token_hash(token.expose_secret()).as_slice(),
                    session.end_user_ref,
                    display_name,
                    session.workspace_url.as_ref().map(Url::as_str),
                    to_ms(now),
                    to_ms(expires),
                    session
                        .reconnect_account_id
                        .as_ref()
                        .map(LinkedAccountId::as_str),
                ],
            )?;
            let session = get_session_where(tx, "id = ?1", &id.as_str(), id.as_str())?;
            Ok(CreatedConnectSession { session, token })
        }))
    }

    fn connect_session(&self, id: ConnectSessionId) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(
            self.read(move |conn, _| get_session_where(conn, "id = ?1", &id.as_str(), id.as_str())),
        )
    }

    fn connect_session_by_token(
        &self,
        token: SecretString,
    ) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(self.read(move |conn, _| {
            let hash = token_hash(token.expose_secret());
            get_session_where(conn, "token_hash = ?1", &hash, "by token")
        }))
    }

    fn start_connect_session_oauth(
        &self,
        id: ConnectSessionId,
        start: OAuthStart,
    ) -> BoxFuture<'_, Result<ConnectSession>> {
        Box::pin(self.write(move |tx, inner| {
            let session = get_session_where(tx, "id = ?1", &id.as_str(), id.as_str())?;
            if session.is_consumed() {
                return Err(Error::ConnectSessionConsumed);
            }
            if session.is_expired_at(inner.clock.now()) {
                return Err(Error::ConnectSessionExpired);
            }
            let workspace_url = start.workspace_url.or(session.workspace_url);
            let Some(workspace_url) = workspace_url else {
                return Err(Error::invalid(
                    "workspace_url",
                    "an OAuth flow needs a workspace URL",
                ));
            };
            let blob = inner
                .cipher
                .seal_secret(&verifier_aad(&id), &start.pkce_verifier);
            tx.execute(
                "UPDATE connect_sessions
                 SET workspace_url = ?1, oauth_state_hash = ?2, pkce_verifier = ?3
                 WHERE id = ?4",
                rusqlite::params![
                    workspace_url.as_str(),
                    token_hash(start.oauth_state.expose_secret()).as_slice(),
                    blob,
                    id.as_str()
                ],
            )?;
            get_session_where(tx, "id = ?1", &id.as_str(), id.as_str())
        }))
    }

    fn consume_connect_session(
        &self,
        key: ConnectSessionKey,
    ) -> BoxFuture<'_, Result<ConsumedConnectSession>> {
        Box::pin(self.write(move |tx, inner| consume_in(tx, inner, &key)))
    }

    fn link_account_with_connect_session(
        &self,
        key: ConnectSessionKey,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(self.write(move |tx, inner| {
            let consumed = consume_in(tx, inner, &key)?;
            let account = match &consumed.session.reconnect_account_id {
                Some(id) => relink_in(tx, inner, id, &account.workspace_host, &account.credential)?,
                None => insert_account(tx, inner, account)?,
            };
            tx.execute(
                "UPDATE connect_sessions SET linked_account_id = ?1 WHERE id = ?2",
                rusqlite::params![account.id.as_str(), consumed.session.id.as_str()],
            )?;
            Ok(account)
        }))
    }

    fn relink_linked_account(
        &self,
        id: LinkedAccountId,
        workspace_host: Url,
        credential: Credential,
    ) -> BoxFuture<'_, Result<LinkedAccount>> {
        Box::pin(
            self.write(move |tx, inner| relink_in(tx, inner, &id, &workspace_host, &credential)),
        )
    }

    fn record_connect_session_result(
        &self,
        id: ConnectSessionId,
        account: LinkedAccountId,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            let changed = tx.execute(
                "UPDATE connect_sessions SET linked_account_id = ?1 WHERE id = ?2",
                rusqlite::params![account.as_str(), id.as_str()],
            )?;
            if changed == 0 {
                return Err(Error::not_found("connect session", id.as_str()));
            }
            Ok(())
        }))
    }

    fn prune_connect_sessions(&self, before: SystemTime) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.write(move |tx, _| {
            let n = tx.execute(
                "DELETE FROM connect_sessions WHERE expires_at < ?1",
                [to_ms(before)],
            )?;
            Ok(n as u64)
        }))
    }

    fn operator_api_keys(&self) -> BoxFuture<'_, Result<Vec<OperatorApiKey>>> {
        Box::pin(self.read(|conn, _| {
            let mut stmt = conn.prepare(
                "SELECT id, key_hash, source, created_at FROM operator_api_keys ORDER BY created_at, id",
            )?;
            let rows = stmt
                .query_map([], api_key_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(id, hash, source, created_at)| {
                    Ok(OperatorApiKey {
                        key_hash: hash
                            .as_slice()
                            .try_into()
                            .map_err(|_| corrupt("an operator key hash is not 32 bytes".into()))?,
                        source: ApiKeySource::parse(&source)
                            .ok_or_else(|| corrupt(format!("unknown key source {source}")))?,
                        id: OperatorApiKeyId(id),
                        created_at: from_ms(created_at),
                    })
                })
                .collect()
        }))
    }

    fn insert_first_operator_api_key(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.write(move |tx, _| {
            let count: i64 =
                tx.query_row("SELECT COUNT(*) FROM operator_api_keys", [], |r| r.get(0))?;
            if count > 0 {
                return Ok(false);
            }
            insert_api_key(tx, &key)?;
            Ok(true)
        }))
    }

    fn replace_operator_api_keys(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |tx, _| {
            tx.execute("DELETE FROM operator_api_keys", [])?;
            insert_api_key(tx, &key)
        }))
    }
}
