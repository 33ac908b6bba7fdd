//! The PostgreSQL [`Store`](super::Store): the same tables as the SQLite store (migrations in
//! `migrations/postgres/`), shared by any number of `brickwire serve` replicas. Start at
//! [`PgStore::connect`].
//!
//! Why tokio-postgres with deadpool-postgres and not sqlx: sqlx's SQLite driver cannot live
//! beside rusqlite (two `libsqlite3-sys` that both link sqlite3), and the SQLite store is
//! written on rusqlite; tokio-postgres is async, has no macros and no native dependency, and
//! deadpool gives a small pool that reuses connections.
//!
//! Concurrency: every write is one transaction; rows that two replicas may change at once are
//! locked (`SELECT ... FOR UPDATE`) or changed by a guarded `UPDATE ... WHERE` whose row count
//! decides, so the outcome does not depend on the isolation level (the default, READ
//! COMMITTED). A dropped future rolls its transaction back: nothing is half-written.
//!
//! Start-up: migrations and the master key check run in one transaction holding a transaction
//! advisory lock, so replicas that start together apply each migration once, in order.
//!
//! TLS is not built in yet: the connection is plain TCP or a Unix socket, and a URL asking for
//! `sslmode=require` is refused at start rather than silently downgraded.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use brickwire_api::SecretString;
use brickwire_client::credentials::{Clock, SystemClock};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

use super::migrations::{MIGRATIONS, latest_version};
use super::sqlite::{KEY_CHECK, to_ms};
use crate::crypto::{Aad, Cipher, MasterKey};
use crate::{Error, Result};

#[path = "postgres_accounts.rs"]
mod accounts;

#[path = "postgres_triggers.rs"]
mod triggers;

#[path = "postgres_flows.rs"]
mod flows;

#[path = "postgres_mcp.rs"]
mod mcp;

/// The environment variable naming the database (`postgres://...`), like `--database-url`.
pub const DATABASE_URL_ENV: &str = "BRICKWIRE_DATABASE_URL";

/// Every replica takes this transaction advisory lock before it migrates (an arbitrary constant:
/// "brickwr" in ASCII).
const MIGRATION_LOCK: i64 = 0x0062_7269_636b_7772;

/// Options of [`PgStore::connect`].
#[derive(Clone)]
pub struct PgStoreOptions {
    /// `postgres://user:password@host:port/database?...` (libpq's URL or key=value form).
    pub url: SecretString,
    /// The clock for timestamps and expiry (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// The most connections this process opens.
    pub max_connections: usize,
}

impl fmt::Debug for PgStoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStoreOptions")
            .field("url", &redacted_url(self.url.expose_secret()))
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl PgStoreOptions {
    /// Defaults for `url` with the system clock and up to 16 connections.
    pub fn new(url: SecretString) -> Self {
        Self {
            url,
            clock: Arc::new(SystemClock),
            max_connections: 16,
        }
    }
}

/// The PostgreSQL store. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) pool: Pool,
    pub(super) cipher: Cipher,
    pub(super) clock: Arc<dyn Clock>,
    /// The URL without its password, for logs and `Debug`.
    pub(super) display_url: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.inner.display_url)
            .field("cipher", &self.inner.cipher)
            .finish_non_exhaustive()
    }
}

/// A pooled connection.
pub(super) type Conn = deadpool_postgres::Object;

impl PgStore {
    /// Connects, applies missing migrations under the migration lock, and checks that `key` is
    /// the key the data was written with ([`Error::WrongMasterKey`] otherwise).
    pub async fn connect(options: PgStoreOptions, key: &MasterKey) -> Result<Self> {
        let display_url = redacted_url(options.url.expose_secret());
        let config = tokio_postgres::Config::from_str(options.url.expose_secret())
            .map_err(|e| Error::invalid("database_url", format!("not a PostgreSQL URL: {e}")))?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(Error::invalid(
                "database_url",
                "sslmode=require is not supported yet (brickwire connects without TLS); \
                 use a local socket, a private network or a TLS-terminating proxy",
            ));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .build()
            .map_err(|e| Error::Backend(Box::new(e)))?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                cipher: Cipher::new(key),
                clock: options.clock,
                display_url,
            }),
        };
        store.migrate_and_check_key(latest_version()).await?;
        Ok(store)
    }

    /// The database URL without its password.
    pub fn display_url(&self) -> &str {
        &self.inner.display_url
    }

    pub(super) async fn conn(&self) -> Result<Conn> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| Error::Backend(Box::new(e)))
    }

    /// The highest applied migration (0 for an empty database).
    pub async fn schema_version(&self) -> Result<i64> {
        let conn = self.conn().await?;
        let exists: bool = conn
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await?
            .get(0);
        if !exists {
            return Ok(0);
        }
        Ok(conn
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0))
    }

    /// Applies every migration up to `target` that the database lacks, then writes or checks
    /// the key check, all in one transaction under `MIGRATION_LOCK`. Returns the versions
    /// applied.
    pub async fn migrate_and_check_key(&self, target: i64) -> Result<Vec<i64>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if current > latest_version() {
            return Err(Error::SchemaTooNew {
                found: current,
                supported: latest_version(),
            });
        }
        let mut applied = Vec::new();
        for migration in MIGRATIONS
            .iter()
            .filter(|m| m.version > current && m.version <= target)
        {
            tx.batch_execute(migration.postgres).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[
                    &migration.version,
                    &migration.name,
                    &to_ms(SystemTime::now()),
                ],
            )
            .await?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
            applied.push(migration.version);
        }
        if target >= 1 {
            let aad = Aad::field("store_meta", "key_check", "value");
            let stored = tx
                .query_opt("SELECT value FROM store_meta WHERE name = 'key_check'", &[])
                .await?;
            match stored {
                Some(row) => {
                    let blob: Vec<u8> = row.get(0);
                    match self.inner.cipher.open(&aad, &blob) {
                        Ok(plain) if plain.as_slice() == KEY_CHECK => {}
                        _ => return Err(Error::WrongMasterKey),
                    }
                }
                None => {
                    tx.execute(
                        "INSERT INTO store_meta (name, value) VALUES ('key_check', $1)",
                        &[&self.inner.cipher.seal(&aad, KEY_CHECK)],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Whether the database answers and has every migration of this build (for `/readyz`).
    pub async fn check_ready(&self) -> Result<()> {
        let found = self.schema_version().await?;
        if found != latest_version() {
            return Err(Error::Backend(
                format!(
                    "the schema is at version {found}, this build needs {}",
                    latest_version()
                )
                .into(),
            ));
        }
        Ok(())
    }
}

impl super::ServiceStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn check_ready(&self) -> futures::future::BoxFuture<'_, Result<()>> {
        Box::pin(PgStore::check_ready(self))
    }
}

/// `url` with any password replaced by `***` (URL form) or dropped (key=value form).
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => url
            .split_whitespace()
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Backend(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_reaches_the_display_url() {
        let shown = redacted_url("postgres://bw:s3cret@db.internal:5432/brickwire");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
        let shown = redacted_url("host=db user=bw password=s3cret dbname=brickwire");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("dbname=brickwire"), "{shown}");
    }
}
