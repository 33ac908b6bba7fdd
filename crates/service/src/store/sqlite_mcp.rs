//! The SQLite implementation of [`McpTokenStore`] (table `mcp_tokens`, migration 6), on the
//! same database as [`SqliteStore`] (a child module of `sqlite.rs` for its helpers).

use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row};

use super::{SqliteStore, corrupt, from_ms, to_ms};
use crate::mcp::store::{McpToken, McpTokenId, McpTokenStore, NewMcpToken};
use crate::store::LinkedAccountId;
use crate::{Error, Result};

pub(in crate::store) const COLUMNS: &str =
    "id, linked_account_id, name, toolsets, read_only, created_at, revoked_at";

pub(in crate::store) type TokenRow = (
    String,
    String,
    String,
    Option<String>,
    bool,
    i64,
    Option<i64>,
);

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

pub(in crate::store) fn into_token(row: TokenRow) -> Result<McpToken> {
    let (id, account, name, toolsets, read_only, created_at, revoked_at) = row;
    let toolsets = toolsets
        .map(|text| {
            serde_json::from_str::<Vec<String>>(&text)
                .map_err(|e| corrupt(format!("stored MCP token toolsets are not a list: {e}")))
        })
        .transpose()?;
    Ok(McpToken {
        id: McpTokenId::new(id),
        linked_account_id: LinkedAccountId::new(account),
        name,
        toolsets,
        read_only,
        created_at: from_ms(created_at),
        revoked_at: revoked_at.map(from_ms),
    })
}

fn account_exists(conn: &Connection, account: &LinkedAccountId) -> Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM linked_accounts WHERE id = ?1)",
        [account.as_str()],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(Error::not_found("linked account", account.as_str()))
    }
}

fn token_of(conn: &Connection, account: &LinkedAccountId, id: &McpTokenId) -> Result<McpToken> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM mcp_tokens WHERE id = ?1 AND linked_account_id = ?2"),
            [id.as_str(), account.as_str()],
            token_row,
        )
        .optional()?
        .ok_or_else(|| Error::not_found("MCP token", id.as_str()))?;
    into_token(row)
}

impl McpTokenStore for SqliteStore {
    fn insert_mcp_token(&self, new: NewMcpToken) -> BoxFuture<'_, Result<McpToken>> {
        Box::pin(self.write(move |tx, inner| {
            account_exists(tx, &new.linked_account_id)?;
            let id = McpTokenId::generate();
            let toolsets = new
                .toolsets
                .as_ref()
                .map(|t| serde_json::to_string(t).expect("a list of strings serializes"));
            tx.execute(
                "INSERT INTO mcp_tokens (id, linked_account_id, name, token_hash, toolsets,
                     read_only, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    id.as_str(),
                    new.linked_account_id.as_str(),
                    new.name,
                    new.token_hash.as_slice(),
                    toolsets,
                    new.read_only,
                    to_ms(inner.clock.now()),
                ],
            )?;
            token_of(tx, &new.linked_account_id, &id)
        }))
    }

    fn list_mcp_tokens(&self, account: LinkedAccountId) -> BoxFuture<'_, Result<Vec<McpToken>>> {
        Box::pin(self.read(move |conn, _| {
            account_exists(conn, &account)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM mcp_tokens WHERE linked_account_id = ?1
                 ORDER BY created_at, id"
            ))?;
            let rows = stmt
                .query_map([account.as_str()], token_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(into_token).collect()
        }))
    }

    fn revoke_mcp_token(
        &self,
        account: LinkedAccountId,
        id: McpTokenId,
    ) -> BoxFuture<'_, Result<McpToken>> {
        Box::pin(self.write(move |tx, inner| {
            tx.execute(
                "UPDATE mcp_tokens SET revoked_at = ?1
                 WHERE id = ?2 AND linked_account_id = ?3 AND revoked_at IS NULL",
                rusqlite::params![to_ms(inner.clock.now()), id.as_str(), account.as_str()],
            )?;
            token_of(tx, &account, &id)
        }))
    }

    fn mcp_token_by_hash(&self, hash: [u8; 32]) -> BoxFuture<'_, Result<Option<McpToken>>> {
        Box::pin(self.read(move |conn, _| {
            let row = conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM mcp_tokens
                         WHERE token_hash = ?1 AND revoked_at IS NULL"
                    ),
                    [hash.as_slice()],
                    token_row,
                )
                .optional()?;
            row.map(into_token).transpose()
        }))
    }
}
