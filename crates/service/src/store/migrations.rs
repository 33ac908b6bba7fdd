//! Numbered schema migrations, embedded from `migrations/*.sql` (SQLite) and
//! `migrations/postgres/*.sql` (the same versions in PostgreSQL's dialect; the PostgreSQL store
//! applies them, see `postgres.rs`).
//!
//! `schema_migrations` records each applied version. [`apply`] runs every missing one in its
//! own `BEGIN IMMEDIATE` transaction (so two processes starting at once cannot both apply it)
//! and is a no-op on an up-to-date database. A database newer than this build is refused.
//! To change the schema, add the next numbered file here; never edit an applied one.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{Error, Result};

/// One migration: its version, name and SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version it brings the schema to (1, 2, ...).
    pub version: i64,
    /// A short name.
    pub name: &'static str,
    /// The SQLite SQL, run as one batch.
    pub sql: &'static str,
    /// The same schema change in PostgreSQL's dialect (`migrations/postgres/`).
    pub postgres: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
        postgres: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "connect_sessions",
        sql: include_str!("migrations/0002_connect_sessions.sql"),
        postgres: include_str!("migrations/postgres/0002_connect_sessions.sql"),
    },
    Migration {
        version: 3,
        name: "reconnect_sessions",
        sql: include_str!("migrations/0003_reconnect_sessions.sql"),
        postgres: include_str!("migrations/postgres/0003_reconnect_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "triggers",
        sql: include_str!("migrations/0004_triggers.sql"),
        postgres: include_str!("migrations/postgres/0004_triggers.sql"),
    },
    Migration {
        version: 5,
        name: "flows",
        sql: include_str!("migrations/0005_flows.sql"),
        postgres: include_str!("migrations/postgres/0005_flows.sql"),
    },
    Migration {
        version: 6,
        name: "mcp_tokens",
        sql: include_str!("migrations/0006_mcp_tokens.sql"),
        postgres: include_str!("migrations/postgres/0006_mcp_tokens.sql"),
    },
    Migration {
        version: 7,
        name: "leases",
        sql: include_str!("migrations/0007_leases.sql"),
        postgres: include_str!("migrations/postgres/0007_leases.sql"),
    },
    Migration {
        version: 8,
        name: "cursor_generation",
        sql: include_str!("migrations/0008_cursor_generation.sql"),
        postgres: include_str!("migrations/postgres/0008_cursor_generation.sql"),
    },
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every migration up to `target` that the database lacks. Returns the versions applied.
pub fn apply_up_to(conn: &mut Connection, target: i64) -> Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let current = current_version(conn)?;
    if current > latest_version() {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: latest_version(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version <= target) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        tx.execute_batch(migration.sql)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, now],
        )?;
        tx.commit()?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        applied.push(migration.version);
    }
    Ok(applied)
}

/// Applies every missing migration.
pub fn apply(conn: &mut Connection) -> Result<Vec<i64>> {
    apply_up_to(conn, latest_version())
}

/// The highest applied version (0 for an empty database).
pub fn current_version(conn: &Connection) -> Result<i64> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn versions_are_numbered_one_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }

    #[test]
    fn fresh_database_gets_every_migration_and_a_rerun_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn).unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(current_version(&conn).unwrap(), 8);
        let before = tables(&conn);
        assert!(before.contains(&"connect_sessions".to_owned()));
        assert_eq!(apply(&mut conn).unwrap(), Vec::<i64>::new());
        assert_eq!(tables(&conn), before);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 8);
    }

    #[test]
    fn an_old_database_upgrades_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply_up_to(&mut conn, 1).unwrap(), vec![1]);
        assert!(!tables(&conn).contains(&"connect_sessions".to_owned()));
        conn.execute(
            "INSERT INTO operator_api_keys (id, key_hash, source, created_at)
             VALUES ('key_1', x'00', 'generated', 1)",
            [],
        )
        .unwrap();
        assert_eq!(apply(&mut conn).unwrap(), vec![2, 3, 4, 5, 6, 7, 8]);
        assert!(tables(&conn).contains(&"connect_sessions".to_owned()));
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM operator_api_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
            [],
        )
        .unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(
            matches!(err, Error::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
