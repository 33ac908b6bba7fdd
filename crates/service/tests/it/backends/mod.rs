//! The store backends a test suite runs against: SQLite in a temporary directory and
//! PostgreSQL in a throwaway database on the server named by `BRICKWIRE_TEST_DATABASE_URL`
//! (`scripts/test.sh` starts one and sets it).
//!
//! Without that variable the PostgreSQL half of a suite is skipped with a note on stderr,
//! unless `BRICKWIRE_REQUIRE_POSTGRES=1` (set by `scripts/test.sh`), where it fails: CI never
//! passes by skipping.
#![allow(dead_code)]

use std::str::FromStr;

use brickwire_api::SecretString;

/// The variable naming a PostgreSQL server (any database on it) where tests may create databases.
pub const TEST_DATABASE_URL_ENV: &str = "BRICKWIRE_TEST_DATABASE_URL";

/// A new empty database on the test server, dropped by nobody (the test server is throwaway).
/// `None` when no server is configured and PostgreSQL is not required.
pub async fn fresh_postgres_url() -> Option<SecretString> {
    let Ok(admin_url) = std::env::var(TEST_DATABASE_URL_ENV) else {
        if std::env::var("BRICKWIRE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("{TEST_DATABASE_URL_ENV} is not set but BRICKWIRE_REQUIRE_POSTGRES=1");
        }
        eprintln!("skipping the PostgreSQL backend: {TEST_DATABASE_URL_ENV} is not set");
        return None;
    };
    let config = tokio_postgres::Config::from_str(&admin_url).expect("a PostgreSQL URL");
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    tokio::spawn(connection);
    let name = format!("bw_test_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    let mut url = url::Url::parse(&admin_url).expect("the test server URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(SecretString::new(url.to_string()))
}

/// A plain connection to a test database, beside the store (to read or tamper with rows).
pub async fn pg_client(url: &SecretString) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url.expose_secret(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
}

/// Every non-null value of every column of every table in the database at `url`, as bytes
/// (BYTEA as stored, any other type as its text form), each named `table.column`: what a
/// plaintext scan looks through.
pub async fn postgres_cells(url: &SecretString) -> Vec<(String, Vec<u8>)> {
    let client = pg_client(url).await;
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text
             FROM information_schema.columns WHERE table_schema = 'public'
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .await
        .expect("list the columns");
    let mut cells = Vec::new();
    for column in &columns {
        let (table, name, data_type): (String, String, String) =
            (column.get(0), column.get(1), column.get(2));
        let bytea = data_type == "bytea";
        let select = if bytea {
            format!("SELECT \"{name}\" FROM \"{table}\" WHERE \"{name}\" IS NOT NULL")
        } else {
            format!("SELECT \"{name}\"::text FROM \"{table}\" WHERE \"{name}\" IS NOT NULL")
        };
        for row in client.query(&select, &[]).await.expect("scan a column") {
            let bytes = if bytea {
                row.get::<_, Vec<u8>>(0)
            } else {
                row.get::<_, String>(0).into_bytes()
            };
            cells.push((format!("{table}.{name}"), bytes));
        }
    }
    cells
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
