//! The service's storage interface: the [`Store`] trait and the entities it keeps (app settings,
//! linked accounts, connect sessions, operator API keys), and [`ServiceStore`], everything the
//! service keeps (with triggers, flows and MCP tokens) behind one handle. [`sqlite::SqliteStore`]
//! implements it in `<data-dir>/brickwire.db`; [`postgres::PgStore`] in a PostgreSQL database
//! that several replicas share.
//!
//! # Why the trait is async
//! The trait returns boxed futures so the PostgreSQL backend (tokio-postgres) implements it
//! without blocking the runtime, and so `Arc<dyn Store>` works. The SQLite
//! backend is synchronous underneath and runs each call on `spawn_blocking`. A call that was
//! started keeps running to its commit even if the caller's future is dropped, so a cancelled
//! request never leaves half a write; the blocking pool is the only place SQLite blocks.
//!
//! OAuth refreshes of linked accounts go through [`Store::refresh_linked_account_credential`],
//! so a rotated refresh token is durable before any other refresh of the account starts, in
//! this process or another replica.
//!
//! # Secrets
//! Secret fields are encrypted by the store itself (see [`crate::crypto`]) with associated data
//! naming the row and field; callers pass and receive [`SecretString`]s. Listing and reading
//! accounts never decrypts: only [`Store::linked_account_credential`] does. Session tokens, OAuth
//! states and API keys are stored only as SHA-256 hashes.

use std::fmt;
use std::time::SystemTime;

use brickwire_api::SecretString;
use brickwire_client::credentials::OAuthTokenSet;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Result;
use crate::scopes::ScopeSettings;

pub mod migrations;
pub mod postgres;
pub mod sqlite;

pub use postgres::{DATABASE_URL_ENV, PgStore, PgStoreOptions};

/// A process's hold on a piece of shared work (a flow run, a subscription's polls or its
/// deliveries): who (a random id per engine) and until when, unless renewed. Another process
/// takes over work whose lease expired, and writes of leased work check the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The engine holding it.
    pub owner: String,
    /// When it ends unless renewed.
    pub expires_at: std::time::SystemTime,
}
pub use sqlite::{DB_FILE, SqliteStore, SqliteStoreOptions};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of generated identifiers.
            pub const PREFIX: &'static str = $prefix;

            /// A new random identifier.
            pub fn generate() -> Self {
                Self(crate::crypto::random_id($prefix))
            }

            /// Wraps an identifier received from a caller.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Shared with the trigger entities (`crate::triggers::model`).
pub(crate) use id_type;

id_type!(
    /// The identifier of a linked account, e.g. `la_3f9a...`.
    LinkedAccountId,
    "la_"
);
id_type!(
    /// The identifier of a connect session, e.g. `cs_3f9a...` (not its secret token).
    ConnectSessionId,
    "cs_"
);
id_type!(
    /// The identifier of an operator API key record.
    OperatorApiKeyId,
    "key_"
);

/// The operator's app settings for Databricks OAuth.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppSettings {
    /// The OAuth client id of the Databricks app connection.
    pub oauth_client_id: Option<String>,
    /// The default workspace URL (a connect session may name its own).
    pub workspace_url: Option<Url>,
    /// The scopes to request.
    pub scopes: ScopeSettings,
    /// When the settings were last saved; `None` until the first save.
    pub updated_at: Option<SystemTime>,
}

/// How a linked account authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// A personal access token.
    ApiKey,
    /// OAuth 2.0 U2M tokens from a PKCE flow.
    #[serde(rename = "oauth")]
    OAuth,
}

impl AuthType {
    /// The stored and wire name: `api_key` or `oauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::ApiKey => "api_key",
            AuthType::OAuth => "oauth",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "api_key" => Some(AuthType::ApiKey),
            "oauth" => Some(AuthType::OAuth),
            _ => None,
        }
    }
}

/// Whether a linked account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Its credential works (as far as the service knows).
    Active,
    /// Refresh failed for good; the end user must connect again.
    NeedsReconnect,
}

impl AccountStatus {
    /// The stored and wire name: `active` or `needs_reconnect`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReconnect => "needs_reconnect",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AccountStatus::Active),
            "needs_reconnect" => Some(AccountStatus::NeedsReconnect),
            _ => None,
        }
    }
}

/// A linked account's metadata (no secret: see [`Store::linked_account_credential`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// Its identifier.
    pub id: LinkedAccountId,
    /// A name for people.
    pub display_name: String,
    /// The end user's own reference id, as the operator's product knows them.
    pub end_user_ref: Option<String>,
    /// API key or OAuth.
    pub auth_type: AuthType,
    /// The workspace URL, e.g. `https://dbc-123.cloud.databricks.com`.
    pub workspace_host: Url,
    /// Active, or needing reconnection.
    pub status: AccountStatus,
    /// When it was linked.
    pub created_at: SystemTime,
    /// When it was last used for an action.
    pub last_used_at: Option<SystemTime>,
    /// Increases with every credential update (for optimistic concurrency).
    pub credential_version: u64,
}

/// An OAuth token set as stored for a linked account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCredential {
    /// The OAuth client id the tokens were issued to (refresh must use the same).
    pub client_id: String,
    /// The access token.
    pub access_token: SecretString,
    /// The token type, normally `Bearer`.
    pub token_type: String,
    /// The refresh token, if granted.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: Option<SystemTime>,
    /// The granted scopes, as the server listed them.
    pub scope: Option<String>,
}

impl OAuthCredential {
    /// The stored form of a token set from the client crate.
    pub fn from_token_set(client_id: impl Into<String>, tokens: &OAuthTokenSet) -> Self {
        Self {
            client_id: client_id.into(),
            access_token: tokens.access_token.clone(),
            token_type: tokens.token_type.clone(),
            refresh_token: tokens.refresh_token.clone(),
            expires_at: tokens.expires_at,
            scope: tokens.scope.clone(),
        }
    }

    /// The token set the client crate's `OAuthRefreshCredentials` starts from.
    pub fn to_token_set(&self) -> OAuthTokenSet {
        OAuthTokenSet {
            access_token: self.access_token.clone(),
            token_type: self.token_type.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at: self.expires_at,
            scope: self.scope.clone(),
        }
    }
}

/// The secret part of a linked account; stored encrypted as one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A personal access token.
    ApiKey {
        /// The token (`dapi...`).
        token: SecretString,
    },
    /// OAuth tokens.
    OAuth(OAuthCredential),
}

impl Credential {
    /// The auth type this credential implies.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Credential::ApiKey { .. } => AuthType::ApiKey,
            Credential::OAuth(_) => AuthType::OAuth,
        }
    }
}

/// A decrypted credential and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// The credential.
    pub credential: Credential,
    /// Pass this as `expected_version` to update it without overwriting a concurrent update.
    pub version: u64,
}

/// What [`Store::refresh_linked_account_credential`] runs on the stored credential while no
/// other refresh of the account can run: a new credential to store, `None` to keep the stored
/// one (another process refreshed already), or the refresh's error.
pub type CredentialRefresh = Box<
    dyn FnOnce(
            Credential,
        ) -> BoxFuture<
            'static,
            std::result::Result<Option<Credential>, brickwire_client::Error>,
        > + Send,
>;

/// The credential stored after [`Store::refresh_linked_account_credential`], or the refresh's
/// error.
pub type RefreshOutcome = std::result::Result<StoredCredential, brickwire_client::Error>;

/// What [`Store::insert_linked_account`] needs.
#[derive(Debug, Clone)]
pub struct NewLinkedAccount {
    /// A name for people (1 to 200 characters).
    pub display_name: String,
    /// The end user's own reference id.
    pub end_user_ref: Option<String>,
    /// The workspace URL.
    pub workspace_host: Url,
    /// The credential (its kind sets the auth type).
    pub credential: Credential,
}

/// Filters of [`Store::list_linked_accounts`].
#[derive(Debug, Clone, Default)]
pub struct LinkedAccountFilter {
    /// Only accounts of this end user.
    pub end_user_ref: Option<String>,
}

/// A connect session (no secret: the token is shown once at creation, the verifier only when
/// the session is consumed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSession {
    /// Its identifier.
    pub id: ConnectSessionId,
    /// The end user's own reference id, copied to the account it creates.
    pub end_user_ref: Option<String>,
    /// The display name for the account it creates.
    pub display_name: Option<String>,
    /// The workspace to connect (may be set later by the end user on the connect page).
    pub workspace_url: Option<Url>,
    /// Whether an OAuth flow was started (a state and verifier are stored).
    pub oauth_started: bool,
    /// When it was created.
    pub created_at: SystemTime,
    /// After this it cannot be used.
    pub expires_at: SystemTime,
    /// When it was used; `Some` means it can never be used again.
    pub consumed_at: Option<SystemTime>,
    /// The account it created (or re-linked), once recorded.
    pub linked_account_id: Option<LinkedAccountId>,
    /// The existing account this session re-links (a reconnection), if any: using the session
    /// replaces that account's credential instead of creating a new account.
    pub reconnect_account_id: Option<LinkedAccountId>,
}

impl ConnectSession {
    /// Whether it was used.
    pub fn is_consumed(&self) -> bool {
        self.consumed_at.is_some()
    }

    /// Whether it is expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }
}

/// The default lifetime of a connect session.
pub const DEFAULT_CONNECT_SESSION_MINUTES: u32 = 15;
/// The longest lifetime of a connect session.
pub const MAX_CONNECT_SESSION_MINUTES: u32 = 24 * 60;

/// What [`Store::create_connect_session`] needs.
#[derive(Debug, Clone)]
pub struct NewConnectSession {
    /// The end user's own reference id.
    pub end_user_ref: Option<String>,
    /// The display name for the account it creates.
    pub display_name: Option<String>,
    /// The workspace, if the operator knows it.
    pub workspace_url: Option<Url>,
    /// Minutes until it expires (1 to [`MAX_CONNECT_SESSION_MINUTES`]).
    pub expires_in_minutes: u32,
    /// Re-link this existing account instead of creating one (must exist).
    pub reconnect_account_id: Option<LinkedAccountId>,
}

/// A new connect session and its single-use token (stored only hashed: show it once).
#[derive(Debug, Clone)]
pub struct CreatedConnectSession {
    /// The session.
    pub session: ConnectSession,
    /// The token of the connect link.
    pub token: SecretString,
}

/// What [`Store::start_connect_session_oauth`] stores before redirecting to the consent page.
#[derive(Debug, Clone)]
pub struct OAuthStart {
    /// The workspace the flow runs against (replaces the session's, if given).
    pub workspace_url: Option<Url>,
    /// The `state` parameter (stored hashed; the callback looks the session up by it).
    pub oauth_state: SecretString,
    /// The PKCE code verifier (stored encrypted).
    pub pkce_verifier: SecretString,
}

/// How to find a connect session to consume.
#[derive(Debug, Clone)]
pub enum ConnectSessionKey {
    /// By the token of its connect link (the API key path).
    Token(SecretString),
    /// By the OAuth `state` (the OAuth callback).
    OAuthState(SecretString),
}

/// A connect session that was just consumed, with what the OAuth callback needs.
#[derive(Debug, Clone)]
pub struct ConsumedConnectSession {
    /// The session, now consumed.
    pub session: ConnectSession,
    /// The PKCE verifier, if an OAuth flow was started.
    pub pkce_verifier: Option<SecretString>,
}

/// Where an operator API key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeySource {
    /// Generated at first start and shown once.
    Generated,
    /// From `BRICKWIRE_API_KEY`.
    Environment,
}

impl ApiKeySource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ApiKeySource::Generated => "generated",
            ApiKeySource::Environment => "environment",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "generated" => Some(ApiKeySource::Generated),
            "environment" => Some(ApiKeySource::Environment),
            _ => None,
        }
    }
}

/// A stored operator API key: its hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorApiKey {
    /// Its identifier.
    pub id: OperatorApiKeyId,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// Where it came from.
    pub source: ApiKeySource,
    /// When it was stored.
    pub created_at: SystemTime,
}

/// Everything `brickwire serve` stores, behind one handle: the account store and the trigger,
/// flow and MCP token stores, on one database. Either backend is a [`SharedStore`].
pub trait ServiceStore:
    Store + crate::triggers::TriggerStore + crate::flows::FlowStore + crate::mcp::McpTokenStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Whether the database answers and carries every migration of this build (`/readyz`).
    fn check_ready(&self) -> BoxFuture<'_, Result<()>>;

    /// The SQLite store underneath, for what only SQLite has (WAL checkpoints, the file).
    fn as_sqlite(&self) -> Option<&SqliteStore> {
        None
    }
}

/// The service's store, whichever backend.
pub type SharedStore = std::sync::Arc<dyn ServiceStore>;

/// The storage of `brickwire serve`. See the module docs for the async and secret rules.
///
/// Errors: missing rows are [`crate::Error::NotFound`]; bad input
/// [`crate::Error::InvalidInput`]; lost optimistic updates [`crate::Error::Conflict`].
pub trait Store: Send + Sync + fmt::Debug {
    /// The app settings (defaults if never saved).
    fn app_settings(&self) -> BoxFuture<'_, Result<AppSettings>>;

    /// Saves the app settings; `updated_at` is set by the store. Returns what was stored.
    fn put_app_settings(&self, settings: AppSettings) -> BoxFuture<'_, Result<AppSettings>>;

    /// Stores a new linked account (status active) with its credential encrypted.
    fn insert_linked_account(
        &self,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>>;

    /// One linked account's metadata.
    fn linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<LinkedAccount>>;

    /// Linked accounts, oldest first.
    fn list_linked_accounts(
        &self,
        filter: LinkedAccountFilter,
    ) -> BoxFuture<'_, Result<Vec<LinkedAccount>>>;

    /// Renames a linked account.
    fn rename_linked_account(
        &self,
        id: LinkedAccountId,
        display_name: String,
    ) -> BoxFuture<'_, Result<LinkedAccount>>;

    /// Deletes a linked account and its credential.
    fn delete_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>>;

    /// Sets a linked account's status (e.g. `NeedsReconnect` after a refresh failed for good).
    fn set_linked_account_status(
        &self,
        id: LinkedAccountId,
        status: AccountStatus,
    ) -> BoxFuture<'_, Result<()>>;

    /// Records that the account was used now.
    fn touch_linked_account(&self, id: LinkedAccountId) -> BoxFuture<'_, Result<()>>;

    /// Decrypts a linked account's credential.
    fn linked_account_credential(
        &self,
        id: LinkedAccountId,
    ) -> BoxFuture<'_, Result<StoredCredential>>;

    /// Replaces a linked account's credential in one transaction: checks `expected_version`
    /// (if given) against the stored one, writes the new encrypted blob, bumps the version and
    /// sets the status to active. Use it to store rotated OAuth tokens and to reconnect. The
    /// credential's kind must match the account's auth type. Returns the new version.
    fn update_linked_account_credential(
        &self,
        id: LinkedAccountId,
        expected_version: Option<u64>,
        credential: Credential,
    ) -> BoxFuture<'_, Result<u64>>;

    /// Runs `refresh` on the stored credential and stores what it returns (`Some`) before
    /// anyone else can run a refresh of this account: on a shared database the account's row
    /// stays locked (`SELECT ... FOR UPDATE` in one transaction) from the read through the
    /// write, so replicas refresh one at a time and each sees the credential the last one
    /// stored. The embedded store (one process, whose account clients refresh one at a time)
    /// reads, refreshes, and writes with a version check. Returns the credential stored now,
    /// or `refresh`'s own error.
    fn refresh_linked_account_credential(
        &self,
        id: LinkedAccountId,
        refresh: CredentialRefresh,
    ) -> BoxFuture<'_, Result<RefreshOutcome>> {
        Box::pin(async move {
            let stored = self.linked_account_credential(id.clone()).await?;
            match refresh(stored.credential.clone()).await {
                Err(e) => Ok(Err(e)),
                Ok(None) => Ok(Ok(stored)),
                Ok(Some(credential)) => {
                    let version = self
                        .update_linked_account_credential(
                            id,
                            Some(stored.version),
                            credential.clone(),
                        )
                        .await?;
                    Ok(Ok(StoredCredential {
                        credential,
                        version,
                    }))
                }
            }
        })
    }

    /// Creates a connect session and its single-use token.
    fn create_connect_session(
        &self,
        session: NewConnectSession,
    ) -> BoxFuture<'_, Result<CreatedConnectSession>>;

    /// A connect session by id.
    fn connect_session(&self, id: ConnectSessionId) -> BoxFuture<'_, Result<ConnectSession>>;

    /// A connect session by its link token, without consuming it (to render the connect page).
    /// Consumed and expired sessions are returned too: check them.
    fn connect_session_by_token(
        &self,
        token: SecretString,
    ) -> BoxFuture<'_, Result<ConnectSession>>;

    /// Stores the OAuth state and PKCE verifier of a session that is still usable (a second
    /// start replaces the first, so only the latest authorization URL works).
    fn start_connect_session_oauth(
        &self,
        id: ConnectSessionId,
        start: OAuthStart,
    ) -> BoxFuture<'_, Result<ConnectSession>>;

    /// Marks a session consumed, exactly once even under concurrency: the one winner gets it
    /// (with the PKCE verifier); everyone else gets `ConnectSessionConsumed`, and after expiry
    /// `ConnectSessionExpired`.
    fn consume_connect_session(
        &self,
        key: ConnectSessionKey,
    ) -> BoxFuture<'_, Result<ConsumedConnectSession>>;

    /// Consumes a session by `key` and inserts `account` in one transaction, so an API key
    /// submitted twice links one account. The session records the account's id. A reconnect
    /// session (see [`ConnectSession::reconnect_account_id`]) re-links its account instead, as
    /// [`Store::relink_linked_account`] does, keeping the account's id and name.
    fn link_account_with_connect_session(
        &self,
        key: ConnectSessionKey,
        account: NewLinkedAccount,
    ) -> BoxFuture<'_, Result<LinkedAccount>>;

    /// Replaces an account's credential, auth type and workspace in one transaction (a
    /// reconnection, which may switch between API key and OAuth): bumps the credential version
    /// and sets the status to active. Keeps id, name, end user reference and creation time.
    fn relink_linked_account(
        &self,
        id: LinkedAccountId,
        workspace_host: Url,
        credential: Credential,
    ) -> BoxFuture<'_, Result<LinkedAccount>>;

    /// Records the account a consumed session created (the OAuth path).
    fn record_connect_session_result(
        &self,
        id: ConnectSessionId,
        account: LinkedAccountId,
    ) -> BoxFuture<'_, Result<()>>;

    /// Deletes sessions that expired before `before`. Returns how many.
    fn prune_connect_sessions(&self, before: SystemTime) -> BoxFuture<'_, Result<u64>>;

    /// The stored operator API keys (hashes).
    fn operator_api_keys(&self) -> BoxFuture<'_, Result<Vec<OperatorApiKey>>>;

    /// Stores `key` only if no operator key exists yet (atomic). Returns whether it was stored.
    fn insert_first_operator_api_key(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<bool>>;

    /// Makes `key` the only operator key (the environment's key replaces all others).
    fn replace_operator_api_keys(&self, key: OperatorApiKey) -> BoxFuture<'_, Result<()>>;
}
