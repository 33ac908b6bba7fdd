//! The account store end to end on both backends: CRUD of every entity, atomic credential
//! rotation, single-use connect sessions under concurrency (across several stores on the same
//! data: processes or replicas), expiry, the master key check and the operator API key.
//!
//! Each test listed in `on_both_backends!` is an `async fn(Fixture)` run twice, as
//! `sqlite::NAME` (a temporary data directory) and `postgres::NAME` (a throwaway database on
//! the server in `BRICKWIRE_TEST_DATABASE_URL`; skipped when it is not set, see `backends`).
//! What only one backend has is tested on it alone: the SQLite files (modes, plaintext scan of
//! the database and WAL, upgrade of an old file, start-up from a data directory), and on
//! PostgreSQL a plaintext scan of every table, migrations under concurrent replica start-ups
//! and the master key check between replicas starting with different keys.

use crate::backends;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::credentials::{Clock, ManualClock, OAuthTokenSet};
use brickwire_service::api_key::{bootstrap_operator_api_key, hash_api_key};
use brickwire_service::crypto::{Aad, Cipher, MasterKey, token_hash};
use brickwire_service::scopes::ScopeSettings;
use brickwire_service::store::migrations;
use brickwire_service::store::*;
use brickwire_service::{Error, StartupEnv, open_data_dir, open_data_dir_with_clock};
use url::Url;

const T0: Duration = Duration::from_secs(1_800_000_000);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH + T0))
}

async fn open(dir: &std::path::Path, key: &MasterKey, clock: Arc<ManualClock>) -> SqliteStore {
    open_sqlite(dir, key, clock).await.unwrap()
}

fn host() -> Url {
    Url::parse("https://dbc-1234.cloud.databricks.com").unwrap()
}

fn pat_account(name: &str, token: &str) -> NewLinkedAccount {
    NewLinkedAccount {
        display_name: name.into(),
        end_user_ref: Some("user-42".into()),
        workspace_host: host(),
        credential: Credential::ApiKey {
            token: SecretString::new(token),
        },
    }
}

fn oauth(access: &str, refresh: &str) -> Credential {
    Credential::OAuth(OAuthCredential {
        client_id: "brickwire-app".into(),
        access_token: SecretString::new(access),
        token_type: "Bearer".into(),
        refresh_token: Some(SecretString::new(refresh)),
        expires_at: Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(3600)),
        scope: Some("all-apis offline_access".into()),
    })
}

fn session(minutes: u32) -> NewConnectSession {
    NewConnectSession {
        end_user_ref: Some("user-42".into()),
        display_name: Some("Acme prod".into()),
        workspace_url: None,
        expires_in_minutes: minutes,
        reconnect_account_id: None,
    }
}

/// A store of one backend on fresh data, and what a test needs to reach the same data again.
struct Fixture {
    target: Target,
    key: MasterKey,
    clock: Arc<ManualClock>,
    store: SharedStore,
}

enum Target {
    /// The data directory.
    Sqlite(tempfile::TempDir),
    /// The URL of the throwaway database.
    Postgres(SecretString),
}

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let clock = clock();
        let store = Arc::new(open(dir.path(), &key, clock.clone()).await);
        Self {
            target: Target::Sqlite(dir),
            key,
            clock,
            store,
        }
    }

    /// `None` (skip) when no PostgreSQL test server is configured.
    async fn postgres() -> Option<Self> {
        let url = backends::fresh_postgres_url().await?;
        let key = MasterKey::generate();
        let clock = clock();
        let store = Arc::new(connect_pg(&url, &key, clock.clone()).await.unwrap());
        Some(Self {
            target: Target::Postgres(url),
            key,
            clock,
            store,
        })
    }

    /// Another store on the same data opened with `key`: a second process on the SQLite file,
    /// a second replica on the PostgreSQL database. It shares the fixture's clock.
    async fn open_again(&self, key: &MasterKey) -> Result<SharedStore, Error> {
        Ok(match &self.target {
            Target::Sqlite(dir) => {
                Arc::new(open_sqlite(dir.path(), key, self.clock.clone()).await?)
            }
            Target::Postgres(url) => Arc::new(connect_pg(url, key, self.clock.clone()).await?),
        })
    }

    /// Another store on the same data with the same key.
    async fn another(&self) -> SharedStore {
        self.open_again(&self.key).await.unwrap()
    }

    /// Runs `sql` directly on the database, behind the store's back (to tamper with rows).
    async fn execute_raw(&self, sql: &str) {
        match &self.target {
            Target::Sqlite(dir) => rusqlite::Connection::open(dir.path().join(DB_FILE))
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Target::Postgres(url) => pg_client(url).await.batch_execute(sql).await.unwrap(),
        }
    }
}

async fn open_sqlite(
    dir: &std::path::Path,
    key: &MasterKey,
    clock: Arc<ManualClock>,
) -> Result<SqliteStore, Error> {
    let mut options = SqliteStoreOptions::in_data_dir(dir);
    options.clock = clock;
    SqliteStore::open_with(options, key).await
}

async fn connect_pg(
    url: &SecretString,
    key: &MasterKey,
    clock: Arc<ManualClock>,
) -> Result<PgStore, Error> {
    let options = PgStoreOptions {
        url: url.clone(),
        clock,
        max_connections: 8,
    };
    PgStore::connect(options, key).await
}

use backends::pg_client;

/// Generates `sqlite::NAME` and `postgres::NAME`, each running the body `NAME(Fixture)` on a
/// fresh store of its backend (the PostgreSQL one skips without a test server).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Fixture::sqlite().await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(fixture) = super::Fixture::postgres().await {
                        super::$name(fixture).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    app_settings_round_trip_with_defaults_first,
    linked_account_crud,
    rotated_tokens_are_stored_atomically_and_a_stale_writer_loses,
    connect_session_crud_and_oauth_start,
    an_api_key_submitted_twice_links_one_account,
    an_api_key_submitted_concurrently_links_one_account,
    fifty_concurrent_consumers_one_winner,
    sessions_expire_after_their_minutes,
    a_wrong_master_key_is_a_clear_error_at_open,
    a_blob_swapped_between_rows_does_not_decrypt,
    a_reconnect_session_relinks_the_same_account_once,
    operator_api_key_is_stored_once_when_replicas_start_together,
    mcp_tokens_are_stored_hashed_scoped_and_revocable,
);

async fn app_settings_round_trip_with_defaults_first(f: Fixture) {
    let store = f.store.clone();
    let initial = store.app_settings().await.unwrap();
    assert_eq!(initial, AppSettings::default());
    assert_eq!(initial.scopes.requested(), ["offline_access", "all-apis"]);

    let saved = store
        .put_app_settings(AppSettings {
            oauth_client_id: Some(" client-123 ".into()),
            workspace_url: Some(host()),
            scopes: ScopeSettings::new(vec!["sql".into()], vec!["custom:read".into()]).unwrap(),
            updated_at: None,
        })
        .await
        .unwrap();
    assert_eq!(saved.oauth_client_id.as_deref(), Some("client-123"));
    assert_eq!(saved.updated_at, Some(SystemTime::UNIX_EPOCH + T0));
    assert_eq!(store.app_settings().await.unwrap(), saved);
    assert_eq!(saved.scopes.scope_param(), "offline_access sql custom:read");

    let err = store
        .put_app_settings(AppSettings {
            oauth_client_id: Some("has space".into()),
            ..AppSettings::default()
        })
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

async fn linked_account_crud(f: Fixture) {
    let clock = f.clock.clone();
    let store = f.store.clone();

    let pat = store
        .insert_linked_account(pat_account("Acme", "dapi-pat-1"))
        .await
        .unwrap();
    assert!(pat.id.as_str().starts_with("la_"));
    assert_eq!(pat.auth_type, AuthType::ApiKey);
    assert_eq!(pat.status, AccountStatus::Active);
    assert_eq!(pat.created_at, SystemTime::UNIX_EPOCH + T0);
    assert_eq!(pat.last_used_at, None);
    assert_eq!(pat.workspace_host, host());

    clock.advance(Duration::from_secs(1));
    let other = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "Other".into(),
            end_user_ref: Some("user-7".into()),
            workspace_host: host(),
            credential: oauth("at-1", "rt-1"),
        })
        .await
        .unwrap();
    assert_eq!(other.auth_type, AuthType::OAuth);

    assert_eq!(store.linked_account(pat.id.clone()).await.unwrap(), pat);
    let all = store
        .list_linked_accounts(LinkedAccountFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|a| &a.id).collect::<Vec<_>>(),
        [&pat.id, &other.id]
    );
    let mine = store
        .list_linked_accounts(LinkedAccountFilter {
            end_user_ref: Some("user-7".into()),
        })
        .await
        .unwrap();
    assert_eq!(mine, vec![other.clone()]);

    let renamed = store
        .rename_linked_account(pat.id.clone(), "Acme prod".into())
        .await
        .unwrap();
    assert_eq!(renamed.display_name, "Acme prod");
    assert!(
        store
            .rename_linked_account(pat.id.clone(), "  ".into())
            .await
            .unwrap_err()
            .is_invalid_input()
    );

    clock.advance(Duration::from_secs(60));
    store.touch_linked_account(pat.id.clone()).await.unwrap();
    store
        .set_linked_account_status(pat.id.clone(), AccountStatus::NeedsReconnect)
        .await
        .unwrap();
    let reread = store.linked_account(pat.id.clone()).await.unwrap();
    assert_eq!(
        reread.last_used_at,
        Some(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(61))
    );
    assert_eq!(reread.status, AccountStatus::NeedsReconnect);

    let credential = store
        .linked_account_credential(pat.id.clone())
        .await
        .unwrap();
    assert_eq!(credential.version, 1);
    assert_eq!(
        credential.credential,
        Credential::ApiKey {
            token: SecretString::new("dapi-pat-1")
        }
    );
    let oauth_credential = store
        .linked_account_credential(other.id.clone())
        .await
        .unwrap();
    assert_eq!(oauth_credential.credential, oauth("at-1", "rt-1"));

    store.delete_linked_account(pat.id.clone()).await.unwrap();
    assert!(
        store
            .linked_account(pat.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .delete_linked_account(pat.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .linked_account_credential(pat.id.clone())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .touch_linked_account(LinkedAccountId::new("la_missing"))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn oauth_credential_converts_to_and_from_the_client_token_set() {
    let set = OAuthTokenSet {
        access_token: SecretString::new("at"),
        token_type: "Bearer".into(),
        refresh_token: Some(SecretString::new("rt")),
        expires_at: Some(SystemTime::UNIX_EPOCH + T0),
        scope: Some("all-apis".into()),
    };
    let stored = OAuthCredential::from_token_set("cid", &set);
    let back = stored.to_token_set();
    assert_eq!(back.access_token, set.access_token);
    assert_eq!(back.refresh_token, set.refresh_token);
    assert_eq!(back.expires_at, set.expires_at);
    assert_eq!(stored.client_id, "cid");
}

async fn rotated_tokens_are_stored_atomically_and_a_stale_writer_loses(f: Fixture) {
    let store = f.store.clone();
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "OAuth".into(),
            end_user_ref: None,
            workspace_host: host(),
            credential: oauth("at-0", "rt-0"),
        })
        .await
        .unwrap();
    store
        .set_linked_account_status(account.id.clone(), AccountStatus::NeedsReconnect)
        .await
        .unwrap();

    // 20 writers that all read version 1 race to store their rotation, half of them through
    // a second store on the same data (another process or replica): exactly one wins.
    let stores = [store.clone(), f.another().await];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = stores[i % stores.len()].clone();
        let id = account.id.clone();
        tasks.push(tokio::spawn(async move {
            let result = store
                .update_linked_account_credential(
                    id,
                    Some(1),
                    oauth(&format!("at-{i}"), &format!("rt-{i}")),
                )
                .await;
            (i, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(version)) => {
                assert_eq!(version, 2);
                winners.push(i);
            }
            (
                _,
                Err(Error::Conflict {
                    expected: 1,
                    found: 2,
                    ..
                }),
            ) => {}
            (_, Err(e)) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let w = winners[0];
    let stored = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    // The access and refresh token stored are the winner's pair, never a mix.
    assert_eq!(
        stored.credential,
        oauth(&format!("at-{w}"), &format!("rt-{w}"))
    );
    let reread = store.linked_account(account.id.clone()).await.unwrap();
    assert_eq!(
        reread.status,
        AccountStatus::Active,
        "a new credential reactivates"
    );
    assert_eq!(reread.credential_version, 2);

    // Without an expected version the update always applies (reconnect).
    assert_eq!(
        store
            .update_linked_account_credential(account.id.clone(), None, oauth("at-x", "rt-x"))
            .await
            .unwrap(),
        3
    );
    // The credential's kind must match the account's.
    let err = store
        .update_linked_account_credential(
            account.id.clone(),
            None,
            Credential::ApiKey {
                token: SecretString::new("dapi"),
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(
        store
            .linked_account_credential(account.id)
            .await
            .unwrap()
            .credential,
        oauth("at-x", "rt-x")
    );
}

async fn connect_session_crud_and_oauth_start(f: Fixture) {
    let store = f.store.clone();
    let created = store.create_connect_session(session(10)).await.unwrap();
    let s = &created.session;
    assert!(s.id.as_str().starts_with("cs_"));
    assert_eq!(s.created_at, SystemTime::UNIX_EPOCH + T0);
    assert_eq!(
        s.expires_at,
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(600)
    );
    assert!(!s.oauth_started && !s.is_consumed());
    assert_eq!(store.connect_session(s.id.clone()).await.unwrap(), *s);
    assert_eq!(
        store
            .connect_session_by_token(created.token.clone())
            .await
            .unwrap(),
        *s
    );
    assert!(
        store
            .connect_session_by_token(SecretString::new("bwcs_wrong"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // An OAuth start needs a workspace.
    let start = |url: Option<Url>, state: &str| OAuthStart {
        workspace_url: url,
        oauth_state: SecretString::new(state),
        pkce_verifier: SecretString::new(format!("verifier-for-{state}")),
    };
    assert!(
        store
            .start_connect_session_oauth(s.id.clone(), start(None, "st-0"))
            .await
            .unwrap_err()
            .is_invalid_input()
    );
    store
        .start_connect_session_oauth(s.id.clone(), start(Some(host()), "st-1"))
        .await
        .unwrap();
    // A second start replaces the first: the old state no longer finds the session.
    let started = store
        .start_connect_session_oauth(s.id.clone(), start(None, "st-2"))
        .await
        .unwrap();
    assert!(started.oauth_started);
    assert_eq!(started.workspace_url, Some(host()));
    assert!(
        store
            .consume_connect_session(ConnectSessionKey::OAuthState(SecretString::new("st-1")))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let consumed = store
        .consume_connect_session(ConnectSessionKey::OAuthState(SecretString::new("st-2")))
        .await
        .unwrap();
    assert_eq!(
        consumed.pkce_verifier,
        Some(SecretString::new("verifier-for-st-2"))
    );
    assert!(consumed.session.is_consumed());
    // Replays by state or by token fail; so does a late OAuth start.
    assert!(matches!(
        store
            .consume_connect_session(ConnectSessionKey::OAuthState(SecretString::new("st-2")))
            .await,
        Err(Error::ConnectSessionConsumed)
    ));
    assert!(matches!(
        store
            .consume_connect_session(ConnectSessionKey::Token(created.token.clone()))
            .await,
        Err(Error::ConnectSessionConsumed)
    ));
    assert!(matches!(
        store
            .start_connect_session_oauth(s.id.clone(), start(Some(host()), "st-3"))
            .await,
        Err(Error::ConnectSessionConsumed)
    ));

    let account = store
        .insert_linked_account(pat_account("x", "dapi-x"))
        .await
        .unwrap();
    store
        .record_connect_session_result(s.id.clone(), account.id.clone())
        .await
        .unwrap();
    assert_eq!(
        store
            .connect_session(s.id.clone())
            .await
            .unwrap()
            .linked_account_id,
        Some(account.id)
    );

    for minutes in [0, MAX_CONNECT_SESSION_MINUTES + 1] {
        assert!(
            store
                .create_connect_session(session(minutes))
                .await
                .unwrap_err()
                .is_invalid_input()
        );
    }
}

async fn an_api_key_submitted_twice_links_one_account(f: Fixture) {
    let store = f.store.clone();
    let created = store.create_connect_session(session(10)).await.unwrap();
    let key = ConnectSessionKey::Token(created.token.clone());
    let account = store
        .link_account_with_connect_session(key.clone(), pat_account("Acme", "dapi-1"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .link_account_with_connect_session(key, pat_account("Acme", "dapi-1"))
            .await,
        Err(Error::ConnectSessionConsumed)
    ));
    let accounts = store
        .list_linked_accounts(LinkedAccountFilter::default())
        .await
        .unwrap();
    assert_eq!(accounts, vec![account.clone()]);
    assert_eq!(
        store
            .connect_session(created.session.id)
            .await
            .unwrap()
            .linked_account_id,
        Some(account.id)
    );
    // A failed insert (bad name) leaves the session unconsumed: the transaction rolls back.
    let again = store.create_connect_session(session(10)).await.unwrap();
    let key = ConnectSessionKey::Token(again.token.clone());
    assert!(
        store
            .link_account_with_connect_session(key.clone(), pat_account(" ", "dapi-2"))
            .await
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        !store
            .connect_session(again.session.id)
            .await
            .unwrap()
            .is_consumed()
    );
    store
        .link_account_with_connect_session(key, pat_account("ok", "dapi-2"))
        .await
        .unwrap();
}

async fn an_api_key_submitted_concurrently_links_one_account(f: Fixture) {
    // 20 submissions of the connect form at once, through two stores on the same data.
    let stores = [f.store.clone(), f.another().await];
    let created = f.store.create_connect_session(session(10)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = stores[i % stores.len()].clone();
        let key = ConnectSessionKey::Token(created.token.clone());
        tasks.push(tokio::spawn(async move {
            store
                .link_account_with_connect_session(key, pat_account("Acme", &format!("dapi-{i}")))
                .await
        }));
    }
    let mut linked = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(account) => linked.push(account),
            Err(Error::ConnectSessionConsumed) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(linked.len(), 1);
    assert_eq!(
        f.store
            .list_linked_accounts(LinkedAccountFilter::default())
            .await
            .unwrap(),
        linked
    );
    assert_eq!(
        f.store
            .connect_session(created.session.id)
            .await
            .unwrap()
            .linked_account_id,
        Some(linked[0].id.clone())
    );
}

async fn race_to_consume(stores: &[SharedStore], token: &SecretString) -> (usize, usize) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = stores[i % stores.len()].clone();
        let key = ConnectSessionKey::Token(token.clone());
        tasks.push(tokio::spawn(async move {
            store.consume_connect_session(key).await
        }));
    }
    let (mut won, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::ConnectSessionConsumed) => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    (won, refused)
}

async fn fifty_concurrent_consumers_one_winner(f: Fixture) {
    let store = f.store.clone();
    let created = store.create_connect_session(session(10)).await.unwrap();
    assert_eq!(
        race_to_consume(std::slice::from_ref(&store), &created.token).await,
        (1, 49)
    );

    // Across three stores on the same data (processes, replicas): the database arbitrates.
    let stores = [store.clone(), f.another().await, f.another().await];
    let created = store.create_connect_session(session(10)).await.unwrap();
    assert_eq!(race_to_consume(&stores, &created.token).await, (1, 49));
    // A session created through another replica is consumed once too.
    let created = stores[2].create_connect_session(session(10)).await.unwrap();
    assert_eq!(race_to_consume(&stores, &created.token).await, (1, 49));
}

async fn sessions_expire_after_their_minutes(f: Fixture) {
    let clock = f.clock.clone();
    let store = f.store.clone();
    let early = store.create_connect_session(session(10)).await.unwrap();
    let late = store.create_connect_session(session(10)).await.unwrap();
    clock.advance(Duration::from_secs(9 * 60 + 59));
    store
        .consume_connect_session(ConnectSessionKey::Token(early.token))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        store
            .consume_connect_session(ConnectSessionKey::Token(late.token.clone()))
            .await,
        Err(Error::ConnectSessionExpired)
    ));
    assert!(matches!(
        store
            .start_connect_session_oauth(
                late.session.id.clone(),
                OAuthStart {
                    workspace_url: Some(host()),
                    oauth_state: SecretString::new("s"),
                    pkce_verifier: SecretString::new("v"),
                }
            )
            .await,
        Err(Error::ConnectSessionExpired)
    ));
    // Still visible (to render "expired"), until pruned.
    assert!(
        store
            .connect_session_by_token(late.token.clone())
            .await
            .unwrap()
            .is_expired_at(clock.now())
    );
    let pruned = store
        .prune_connect_sessions(SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(601))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert!(
        store
            .connect_session_by_token(late.token)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

use backends::contains;

fn file_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(DB_FILE)
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test]
async fn no_plaintext_secret_reaches_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let started = open_data_dir(dir.path(), &StartupEnv::default())
        .await
        .unwrap();
    let store = started.store.clone();
    let api_key = started.generated_api_key.clone().unwrap();
    let pat = "dapi-KNOWNSECRET-PAT-0123456789";
    let access = "eyKNOWNSECRET-ACCESS-abcdef";
    let refresh = "KNOWNSECRET-REFRESH-ghijkl";
    let rotated = "KNOWNSECRET-ROTATED-mnopqr";
    let verifier = "KNOWNSECRET-VERIFIER-stuvwx-0123456789012345678901";
    let state = "KNOWNSECRET-STATE-yz0123";

    store
        .insert_linked_account(pat_account("pat", pat))
        .await
        .unwrap();
    let o = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "oauth".into(),
            end_user_ref: None,
            workspace_host: host(),
            credential: oauth(access, refresh),
        })
        .await
        .unwrap();
    store
        .update_linked_account_credential(o.id, Some(1), oauth(access, rotated))
        .await
        .unwrap();
    let created = store.create_connect_session(session(10)).await.unwrap();
    store
        .start_connect_session_oauth(
            created.session.id,
            OAuthStart {
                workspace_url: Some(host()),
                oauth_state: SecretString::new(state),
                pkce_verifier: SecretString::new(verifier),
            },
        )
        .await
        .unwrap();

    let secrets: Vec<&str> = vec![
        pat,
        access,
        refresh,
        rotated,
        verifier,
        state,
        "KNOWNSECRET",
        api_key.expose_secret(),
        created.token.expose_secret(),
    ];
    let check = |stage: &str| {
        let files = file_bytes(dir.path());
        // Positive control: non-secret columns of the same rows are found by the same scan.
        assert!(
            files
                .iter()
                .any(|(_, b)| contains(b, b"dbc-1234.cloud.databricks.com")),
            "{stage}: the scan does not see the rows"
        );
        for (path, bytes) in &files {
            for secret in &secrets {
                assert!(
                    !contains(bytes, secret.as_bytes()),
                    "{stage}: a secret is in plaintext in {path}"
                );
            }
        }
        files
    };
    // Before the checkpoint the writes sit in the WAL; after it, in the main file.
    let files = check("before checkpoint");
    assert!(
        files
            .iter()
            .any(|(p, b)| p.ends_with("-wal") && !b.is_empty()),
        "the WAL was scanned while it held the writes"
    );
    store.as_sqlite().unwrap().checkpoint().await.unwrap();
    check("after checkpoint");
    // And the values are really there, encrypted: they read back.
    let key = brickwire_service::crypto::MasterKey::load(dir.path(), None)
        .unwrap()
        .0;
    drop(store);
    drop(started);
    let reopened = open(dir.path(), &key, clock()).await;
    assert_eq!(
        reopened
            .list_linked_accounts(LinkedAccountFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn a_wrong_master_key_is_a_clear_error_at_open(f: Fixture) {
    let store = f.store.clone();
    store
        .insert_linked_account(pat_account("a", "dapi-a"))
        .await
        .unwrap();
    drop(store);
    let err = f.open_again(&MasterKey::generate()).await.unwrap_err();
    assert!(matches!(err, Error::WrongMasterKey), "{err}");
    assert!(err.to_string().contains("BRICKWIRE_MASTER_KEY"));
    // The right key still opens the data.
    let again = f.open_again(&f.key).await.unwrap();
    assert_eq!(
        again
            .list_linked_accounts(LinkedAccountFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_blob_swapped_between_rows_does_not_decrypt(f: Fixture) {
    let store = f.store.clone();
    let a = store
        .insert_linked_account(pat_account("a", "dapi-a"))
        .await
        .unwrap();
    let b = store
        .insert_linked_account(pat_account("b", "dapi-b"))
        .await
        .unwrap();
    f.execute_raw(&format!(
        "UPDATE linked_accounts SET credential = (SELECT credential FROM linked_accounts WHERE id = '{b}') WHERE id = '{a}'",
        a = a.id,
        b = b.id
    ))
    .await;
    let err = store
        .linked_account_credential(a.id.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decrypt {
                field: "credential",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("dapi"));
    // The untouched row still reads.
    store.linked_account_credential(b.id).await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let started = open_data_dir(&dir, &StartupEnv::default()).await.unwrap();
    assert!(matches!(
        started.key_source,
        brickwire_service::crypto::KeySource::KeyFile { created: true, .. }
    ));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("master.key")), 0o600);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
}

#[tokio::test]
async fn an_old_database_file_upgrades_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let path = dir.path().join(DB_FILE);
    // A data directory written by a build that knew only migration 1, with an account in it.
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(migrations::apply_up_to(&mut conn, 1).unwrap(), vec![1]);
        let cipher = Cipher::new(&key);
        let blob = cipher.seal(
            &Aad::field("linked_accounts", "la_old", "credential"),
            br#"{"type":"api_key","token":"dapi-old"}"#,
        );
        conn.execute(
            "INSERT INTO linked_accounts (id, display_name, end_user_ref, auth_type,
                 workspace_host, status, created_at, credential)
             VALUES ('la_old', 'Old', NULL, 'api_key', 'https://old.example.com/', 'active', 5, ?1)",
            [blob],
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path(), &key).await.unwrap();
    let old = store
        .linked_account(LinkedAccountId::new("la_old"))
        .await
        .unwrap();
    assert_eq!(old.display_name, "Old");
    assert_eq!(
        store
            .linked_account_credential(old.id)
            .await
            .unwrap()
            .credential,
        Credential::ApiKey {
            token: SecretString::new("dapi-old")
        }
    );
    store.create_connect_session(session(5)).await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        migrations::current_version(&conn).unwrap(),
        migrations::latest_version()
    );
    // Opening again applies nothing.
    let store = SqliteStore::open(dir.path(), &key).await.unwrap();
    drop(store);
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, migrations::latest_version());
}

#[tokio::test]
async fn operator_api_key_is_generated_once_or_taken_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let first = open_data_dir_with_clock(dir.path(), &StartupEnv::default(), clock.clone())
        .await
        .unwrap();
    let generated = first.generated_api_key.clone().expect("shown once");
    assert!(generated.expose_secret().starts_with("bwk_"));
    assert!(first.api_keys.verify(generated.expose_secret()));
    assert!(!first.api_keys.verify("bwk_wrong"));
    let stored = first.store.operator_api_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, ApiKeySource::Generated);
    assert_ne!(
        stored[0].key_hash.as_slice(),
        generated.expose_secret().as_bytes()
    );
    drop(first);

    // A restart keeps the key and shows nothing.
    let second = open_data_dir_with_clock(dir.path(), &StartupEnv::default(), clock.clone())
        .await
        .unwrap();
    assert!(second.generated_api_key.is_none());
    assert!(second.api_keys.verify(generated.expose_secret()));
    drop(second);

    // The environment's key replaces it.
    let env_key = SecretString::new("operator-key-from-the-environment");
    let env = StartupEnv {
        master_key: None,
        api_key: Some(env_key.clone()),
    };
    let third = open_data_dir_with_clock(dir.path(), &env, clock.clone())
        .await
        .unwrap();
    assert!(third.generated_api_key.is_none());
    assert!(third.api_keys.verify(env_key.expose_secret()));
    assert!(!third.api_keys.verify(generated.expose_secret()));
    let stored = third.store.operator_api_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, ApiKeySource::Environment);
    drop(third);

    let short = StartupEnv {
        master_key: None,
        api_key: Some(SecretString::new("short")),
    };
    let err = open_data_dir_with_clock(dir.path(), &short, clock)
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(!err.to_string().contains("short"));
}

#[tokio::test]
async fn a_master_key_from_the_environment_opens_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let env = StartupEnv {
        master_key: Some(key.to_base64()),
        api_key: None,
    };
    let started = open_data_dir(dir.path(), &env).await.unwrap();
    assert_eq!(
        started.key_source,
        brickwire_service::crypto::KeySource::Environment
    );
    assert!(!dir.path().join("master.key").exists());
    started
        .store
        .insert_linked_account(pat_account("a", "dapi-a"))
        .await
        .unwrap();
    drop(started);
    let wrong = StartupEnv {
        master_key: Some(MasterKey::generate().to_base64()),
        api_key: None,
    };
    assert!(matches!(
        open_data_dir(dir.path(), &wrong).await.unwrap_err(),
        Error::WrongMasterKey
    ));
    open_data_dir(dir.path(), &env).await.unwrap();
}

#[tokio::test]
async fn debug_of_secret_bearing_types_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let started = open_data_dir(dir.path(), &StartupEnv::default())
        .await
        .unwrap();
    let store = started.store.clone();
    let created = store.create_connect_session(session(10)).await.unwrap();
    store
        .start_connect_session_oauth(
            created.session.id.clone(),
            OAuthStart {
                workspace_url: Some(host()),
                oauth_state: SecretString::new("SECRET-state"),
                pkce_verifier: SecretString::new("SECRET-verifier"),
            },
        )
        .await
        .unwrap();
    let consumed = store
        .consume_connect_session(ConnectSessionKey::OAuthState(SecretString::new(
            "SECRET-state",
        )))
        .await
        .unwrap();
    let a = store
        .insert_linked_account(pat_account("a", "SECRET-pat"))
        .await
        .unwrap();
    let stored = store.linked_account_credential(a.id).await.unwrap();
    let key = MasterKey::generate();
    let printed = [
        format!("{started:?}"),
        format!("{created:?}"),
        format!("{consumed:?}"),
        format!("{stored:?}"),
        format!("{:?}", oauth("SECRET-at", "SECRET-rt")),
        format!("{:?}", pat_account("n", "SECRET-pat")),
        format!(
            "{:?}",
            OAuthStart {
                workspace_url: None,
                oauth_state: SecretString::new("SECRET-s"),
                pkce_verifier: SecretString::new("SECRET-v"),
            }
        ),
        format!(
            "{:?}",
            ConnectSessionKey::Token(SecretString::new("SECRET-t"))
        ),
        format!("{key:?} {:?}", Cipher::new(&key)),
        format!(
            "{:?}",
            StartupEnv {
                master_key: Some(key.to_base64()),
                api_key: Some(SecretString::new("SECRET-api-key")),
            }
        ),
    ];
    let key_b64 = key.to_base64();
    for text in &printed {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains(key_b64.expose_secret()), "{text}");
        assert!(!text.contains(created.token.expose_secret()), "{text}");
        assert!(
            !text.contains(started.generated_api_key.as_ref().unwrap().expose_secret()),
            "{text}"
        );
    }
    assert!(printed[1].contains("[redacted]"));
}

async fn a_reconnect_session_relinks_the_same_account_once(f: Fixture) {
    let store = f.store.clone();
    let account = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "Acme".into(),
            end_user_ref: Some("user-42".into()),
            workspace_host: host(),
            credential: oauth("at-0", "rt-0"),
        })
        .await
        .unwrap();
    store
        .set_linked_account_status(account.id.clone(), AccountStatus::NeedsReconnect)
        .await
        .unwrap();

    // A reconnect session must name an existing account.
    let mut missing = session(15);
    missing.reconnect_account_id = Some(LinkedAccountId::new("la_missing"));
    assert!(
        store
            .create_connect_session(missing)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let mut reconnect = session(15);
    reconnect.reconnect_account_id = Some(account.id.clone());
    let created = store.create_connect_session(reconnect).await.unwrap();
    assert_eq!(
        created.session.reconnect_account_id.as_ref(),
        Some(&account.id)
    );
    // Re-linked by API key: same id, name and creation time; new auth type, host, credential.
    let other_host = Url::parse("https://dbc-5678.cloud.databricks.com").unwrap();
    let relinked = store
        .link_account_with_connect_session(
            ConnectSessionKey::Token(created.token.clone()),
            NewLinkedAccount {
                display_name: "ignored".into(),
                end_user_ref: None,
                workspace_host: other_host.clone(),
                credential: Credential::ApiKey {
                    token: SecretString::new("dapi-new"),
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(relinked.id, account.id);
    assert_eq!(relinked.display_name, "Acme");
    assert_eq!(relinked.created_at, account.created_at);
    assert_eq!(relinked.auth_type, AuthType::ApiKey);
    assert_eq!(relinked.workspace_host, other_host);
    assert_eq!(relinked.status, AccountStatus::Active);
    assert_eq!(relinked.credential_version, account.credential_version + 1);
    let stored = store
        .linked_account_credential(account.id.clone())
        .await
        .unwrap();
    assert_eq!(
        stored.credential,
        Credential::ApiKey {
            token: SecretString::new("dapi-new")
        }
    );
    let used = store
        .connect_session(created.session.id.clone())
        .await
        .unwrap();
    assert_eq!(used.linked_account_id.as_ref(), Some(&account.id));
    assert_eq!(
        store
            .list_linked_accounts(Default::default())
            .await
            .unwrap()
            .len(),
        1
    );

    // Back to OAuth through relink_linked_account (the OAuth callback's path).
    let back = store
        .relink_linked_account(account.id.clone(), host(), oauth("at-1", "rt-1"))
        .await
        .unwrap();
    assert_eq!(back.auth_type, AuthType::OAuth);
    assert_eq!(back.credential_version, account.credential_version + 2);
    assert!(
        store
            .relink_linked_account(LinkedAccountId::new("la_nope"), host(), oauth("a", "b"))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn mcp_tokens_are_stored_hashed_scoped_and_revocable(f: Fixture) {
    use brickwire_service::mcp::{McpTokenId, NewMcpToken};
    let (store, clock) = (f.store.clone(), f.clock.clone());
    let account = store
        .insert_linked_account(pat_account("mcp", "dapi-mcp-secret"))
        .await
        .unwrap();
    let new = |hash: u8, toolsets: Option<Vec<String>>| NewMcpToken {
        linked_account_id: account.id.clone(),
        name: format!("agent-{hash}"),
        toolsets,
        read_only: hash % 2 == 1,
        token_hash: [hash; 32],
    };
    let first = store
        .insert_mcp_token(new(1, Some(vec!["sql".into(), "jobs".into()])))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let second = store.insert_mcp_token(new(2, None)).await.unwrap();
    assert_eq!(
        first.toolsets,
        Some(vec!["sql".to_owned(), "jobs".to_owned()])
    );
    assert!(first.read_only && !second.read_only && second.toolsets.is_none());
    let found = store.mcp_token_by_hash([1; 32]).await.unwrap().unwrap();
    assert_eq!(found, first);
    assert!(store.mcp_token_by_hash([9; 32]).await.unwrap().is_none());
    // the same hash twice is refused (tokens are random; a collision is a bug)
    assert!(store.insert_mcp_token(new(1, None)).await.is_err());

    let revoked = store
        .revoke_mcp_token(account.id.clone(), first.id.clone())
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.mcp_token_by_hash([1; 32]).await.unwrap().is_none());
    // revoking again keeps the first revocation time
    let again = store
        .revoke_mcp_token(account.id.clone(), first.id.clone())
        .await
        .unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let listed = store.list_mcp_tokens(account.id.clone()).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| &t.id).collect::<Vec<_>>(),
        [&first.id, &second.id]
    );
    assert!(matches!(
        store
            .revoke_mcp_token(account.id.clone(), McpTokenId::new("mcpt_nope"))
            .await,
        Err(Error::NotFound { .. })
    ));
    // tokens go with their account
    store
        .delete_linked_account(account.id.clone())
        .await
        .unwrap();
    assert!(store.mcp_token_by_hash([2; 32]).await.unwrap().is_none());
    assert!(matches!(
        store.list_mcp_tokens(account.id.clone()).await,
        Err(Error::NotFound { .. })
    ));
    let orphan = NewMcpToken {
        token_hash: [3; 32],
        ..new(3, None)
    };
    assert!(matches!(
        store.insert_mcp_token(orphan).await,
        Err(Error::NotFound { .. })
    ));
}

async fn operator_api_key_is_stored_once_when_replicas_start_together(f: Fixture) {
    let stores = [f.store.clone(), f.another().await, f.another().await];
    let start_all = |env_key: Option<SecretString>| {
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = stores[i % stores.len()].clone();
                let clock = f.clock.clone();
                let env_key = env_key.clone();
                tokio::spawn(async move {
                    bootstrap_operator_api_key(store.as_ref(), env_key.as_ref(), clock.as_ref())
                        .await
                        .unwrap()
                })
            })
            .collect();
        async move {
            let mut boots = Vec::new();
            for task in tasks {
                boots.push(task.await.unwrap());
            }
            boots
        }
    };

    // Starting together on empty data, exactly one start generates (and shows) a key, and
    // every start accepts that key.
    let boots = start_all(None).await;
    let generated: Vec<_> = boots.iter().filter_map(|b| b.generated.clone()).collect();
    assert_eq!(generated.len(), 1);
    let generated = &generated[0];
    assert!(
        boots
            .iter()
            .all(|b| b.keys.verify(generated.expose_secret()))
    );
    let stored = f.store.operator_api_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, ApiKeySource::Generated);
    assert_eq!(stored[0].key_hash, hash_api_key(generated));
    // Once a key exists no other is stored.
    let late = OperatorApiKey {
        id: OperatorApiKeyId::generate(),
        key_hash: [7; 32],
        source: ApiKeySource::Generated,
        created_at: f.clock.now(),
    };
    assert!(!f.store.insert_first_operator_api_key(late).await.unwrap());

    // The environment's key replaces it, also when every start brings it at once.
    let env_key = SecretString::new("operator-key-from-the-environment");
    let boots = start_all(Some(env_key.clone())).await;
    assert!(boots.iter().all(|b| b.generated.is_none()));
    assert!(boots.iter().all(|b| b.keys.verify(env_key.expose_secret())));
    let stored = f.store.operator_api_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, ApiKeySource::Environment);
    assert_eq!(stored[0].key_hash, hash_api_key(&env_key));
    assert!(
        !brickwire_service::api_key::OperatorApiKeys::load(f.store.as_ref())
            .await
            .unwrap()
            .verify(generated.expose_secret())
    );
    // A restart without it keeps the environment's key and generates nothing.
    let boots = start_all(None).await;
    assert!(boots.iter().all(|b| b.generated.is_none()));
    assert!(boots.iter().all(|b| b.keys.verify(env_key.expose_secret())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_starting_together_apply_each_migration_once() {
    let Some(url) = backends::fresh_postgres_url().await else {
        return;
    };
    let key = MasterKey::generate();
    let started = futures::future::join_all((0..4).map(|_| connect_pg(&url, &key, clock()))).await;
    let stores: Vec<PgStore> = started.into_iter().map(Result::unwrap).collect();
    let latest = migrations::latest_version();
    for store in &stores {
        assert_eq!(store.schema_version().await.unwrap(), latest);
        store.check_ready().await.unwrap();
    }
    let client = pg_client(&url).await;
    let versions: Vec<i64> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>());
    let key_checks: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM store_meta WHERE name = 'key_check'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(key_checks, 1);
    // A later start applies nothing; the replicas see each other's writes.
    let later = connect_pg(&url, &key, clock()).await.unwrap();
    assert_eq!(
        later.migrate_and_check_key(latest).await.unwrap(),
        Vec::<i64>::new()
    );
    let account = stores[0]
        .insert_linked_account(pat_account("a", "dapi-a"))
        .await
        .unwrap();
    assert_eq!(
        later.linked_account(account.id.clone()).await.unwrap(),
        account
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_starting_together_with_different_keys_cannot_both_start() {
    let Some(url) = backends::fresh_postgres_url().await else {
        return;
    };
    let keys = [MasterKey::generate(), MasterKey::generate()];
    let (a, b) = tokio::join!(
        connect_pg(&url, &keys[0], clock()),
        connect_pg(&url, &keys[1], clock())
    );
    let (winner, loser) = match (a, b) {
        (Ok(_), Err(Error::WrongMasterKey)) => (&keys[0], &keys[1]),
        (Err(Error::WrongMasterKey), Ok(_)) => (&keys[1], &keys[0]),
        (a, b) => panic!("expected one start to fail with WrongMasterKey: {a:?} {b:?}"),
    };
    connect_pg(&url, winner, clock()).await.unwrap();
    let err = connect_pg(&url, loser, clock()).await.unwrap_err();
    assert!(matches!(err, Error::WrongMasterKey), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_no_plaintext_secret_reaches_the_tables() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let Target::Postgres(url) = &f.target else {
        unreachable!()
    };
    let store = f.store.clone();
    let boot = bootstrap_operator_api_key(store.as_ref(), None, f.clock.as_ref())
        .await
        .unwrap();
    let api_key = boot.generated.clone().unwrap();
    let pat = "dapi-KNOWNSECRET-PAT-0123456789";
    let access = "eyKNOWNSECRET-ACCESS-abcdef";
    let refresh = "KNOWNSECRET-REFRESH-ghijkl";
    let rotated = "KNOWNSECRET-ROTATED-mnopqr";
    let verifier = "KNOWNSECRET-VERIFIER-stuvwx-0123456789012345678901";
    let state = "KNOWNSECRET-STATE-yz0123";
    let consumed_verifier = "KNOWNSECRET-CONSUMED-VERIFIER-0123456789012345678";
    let consumed_state = "KNOWNSECRET-CONSUMED-STATE-4567";

    store
        .put_app_settings(AppSettings {
            oauth_client_id: Some("client-123".into()),
            workspace_url: Some(host()),
            ..AppSettings::default()
        })
        .await
        .unwrap();
    store
        .insert_linked_account(pat_account("pat", pat))
        .await
        .unwrap();
    let o = store
        .insert_linked_account(NewLinkedAccount {
            display_name: "oauth".into(),
            end_user_ref: None,
            workspace_host: host(),
            credential: oauth(access, refresh),
        })
        .await
        .unwrap();
    store
        .update_linked_account_credential(o.id.clone(), Some(1), oauth(access, rotated))
        .await
        .unwrap();
    let created = store.create_connect_session(session(10)).await.unwrap();
    store
        .start_connect_session_oauth(
            created.session.id.clone(),
            OAuthStart {
                workspace_url: Some(host()),
                oauth_state: SecretString::new(state),
                pkce_verifier: SecretString::new(verifier),
            },
        )
        .await
        .unwrap();
    // A session that went through the OAuth callback keeps only its hashes and sealed blob.
    let used = store.create_connect_session(session(10)).await.unwrap();
    store
        .start_connect_session_oauth(
            used.session.id.clone(),
            OAuthStart {
                workspace_url: Some(host()),
                oauth_state: SecretString::new(consumed_state),
                pkce_verifier: SecretString::new(consumed_verifier),
            },
        )
        .await
        .unwrap();
    let consumed = store
        .consume_connect_session(ConnectSessionKey::OAuthState(SecretString::new(
            consumed_state,
        )))
        .await
        .unwrap();
    assert_eq!(
        consumed.pkce_verifier,
        Some(SecretString::new(consumed_verifier))
    );

    let cells = backends::postgres_cells(url).await;
    // Positive controls: the scan sees text columns and BYTEA columns of the same rows.
    assert!(
        cells
            .iter()
            .any(|(_, b)| contains(b, b"dbc-1234.cloud.databricks.com")),
        "the scan does not see the text columns"
    );
    assert!(
        cells
            .iter()
            .any(|(_, b)| b.as_slice() == token_hash(created.token.expose_secret())),
        "the scan does not see the token hash"
    );
    assert!(
        cells
            .iter()
            .any(|(_, b)| b.as_slice() == hash_api_key(&api_key)),
        "the scan does not see the operator key hash"
    );
    let secrets: Vec<&str> = vec![
        pat,
        access,
        refresh,
        rotated,
        verifier,
        state,
        consumed_verifier,
        consumed_state,
        "KNOWNSECRET",
        api_key.expose_secret(),
        created.token.expose_secret(),
        used.token.expose_secret(),
    ];
    for (cell, bytes) in &cells {
        for secret in &secrets {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "a secret is in plaintext in {cell}"
            );
        }
    }
    // And the values are really there, encrypted: another replica reads them back.
    let replica = f.another().await;
    assert_eq!(
        replica.linked_account_credential(o.id).await.unwrap(),
        StoredCredential {
            credential: oauth(access, rotated),
            version: 2
        }
    );
}
