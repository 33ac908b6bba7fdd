//! [`McpTokenStore`] for [`PgStore`] (table `mcp_tokens`, migration 6), ported from the SQLite
//! store (`sqlite_mcp.rs`) with the same behaviour and errors; the row conversion is the SQLite
//! file's. Only a token's SHA-256 is stored (a `BYTEA`), never the token.
//!
//! Replicas share the database: inserting a token holds its account row (`FOR KEY SHARE`), so
//! an account deleted at the same time makes the insert `NotFound` rather than a foreign key
//! error; revoking is one guarded `UPDATE ... WHERE revoked_at IS NULL`, so the first
//! revocation's time is kept whoever revokes again. The listing breaks ties on `created_at` by
//! id bytes (`COLLATE "C"`), as SQLite does.
//!
//! One difference: PostgreSQL `TEXT` cannot hold a NUL character, so a NUL in a token's name is
//! stored as U+FFFD instead of failing the insert.

use futures::future::BoxFuture;
use tokio_postgres::{GenericClient, Row};

use super::super::sqlite::mcp::{COLUMNS, TokenRow, into_token};
use super::super::sqlite::to_ms;
use super::PgStore;
use super::flows::pg_text;
use crate::mcp::store::{McpToken, McpTokenId, McpTokenStore, NewMcpToken};
use crate::store::LinkedAccountId;
use crate::{Error, Result};

/// A row of [`COLUMNS`] (in that order).
fn token_row(row: &Row) -> Result<TokenRow> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    ))
}

/// `NotFound` unless the account exists; `lock` is `""` or a lock clause (`FOR KEY SHARE`).
async fn account_exists<C: GenericClient + Sync>(
    client: &C,
    account: &LinkedAccountId,
    lock: &str,
) -> Result<()> {
    client
        .query_opt(
            &format!("SELECT 1 FROM linked_accounts WHERE id = $1 {lock}"),
            &[&account.as_str()],
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::not_found("linked account", account.as_str()))
}

async fn token_of<C: GenericClient + Sync>(
    client: &C,
    account: &LinkedAccountId,
    id: &McpTokenId,
) -> Result<McpToken> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM mcp_tokens WHERE id = $1 AND linked_account_id = $2"),
            &[&id.as_str(), &account.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_found("MCP token", id.as_str()))?;
    into_token(token_row(&row)?)
}

impl PgStore {
    async fn insert_mcp_token_in(&self, new: NewMcpToken) -> Result<McpToken> {
        let id = McpTokenId::generate();
        let toolsets = new
            .toolsets
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("a list of strings serializes"));
        let now = to_ms(self.inner.clock.now());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        account_exists(&*tx, &new.linked_account_id, "FOR KEY SHARE").await?;
        tx.execute(
            "INSERT INTO mcp_tokens (id, linked_account_id, name, token_hash, toolsets,
                 read_only, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id.as_str(),
                &new.linked_account_id.as_str(),
                &pg_text(new.name.clone()),
                &new.token_hash.as_slice(),
                &toolsets,
                &new.read_only,
                &now,
            ],
        )
        .await?;
        let token = token_of(&*tx, &new.linked_account_id, &id).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn list_mcp_tokens_in(&self, account: LinkedAccountId) -> Result<Vec<McpToken>> {
        let conn = self.conn().await?;
        account_exists(&**conn, &account, "").await?;
        conn.query(
            &format!(
                "SELECT {COLUMNS} FROM mcp_tokens WHERE linked_account_id = $1
                 ORDER BY created_at, id COLLATE \"C\""
            ),
            &[&account.as_str()],
        )
        .await?
        .iter()
        .map(|row| into_token(token_row(row)?))
        .collect()
    }

    async fn revoke_mcp_token_in(
        &self,
        account: LinkedAccountId,
        id: McpTokenId,
    ) -> Result<McpToken> {
        let now = to_ms(self.inner.clock.now());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute(
            "UPDATE mcp_tokens SET revoked_at = $1
             WHERE id = $2 AND linked_account_id = $3 AND revoked_at IS NULL",
            &[&now, &id.as_str(), &account.as_str()],
        )
        .await?;
        let token = token_of(&*tx, &account, &id).await?;
        tx.commit().await?;
        Ok(token)
    }
}

impl McpTokenStore for PgStore {
    fn insert_mcp_token(&self, new: NewMcpToken) -> BoxFuture<'_, Result<McpToken>> {
        Box::pin(self.insert_mcp_token_in(new))
    }

    fn list_mcp_tokens(&self, account: LinkedAccountId) -> BoxFuture<'_, Result<Vec<McpToken>>> {
        Box::pin(self.list_mcp_tokens_in(account))
    }

    fn revoke_mcp_token(
        &self,
        account: LinkedAccountId,
        id: McpTokenId,
    ) -> BoxFuture<'_, Result<McpToken>> {
        Box::pin(self.revoke_mcp_token_in(account, id))
    }

    fn mcp_token_by_hash(&self, hash: [u8; 32]) -> BoxFuture<'_, Result<Option<McpToken>>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            conn.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM mcp_tokens
                     WHERE token_hash = $1 AND revoked_at IS NULL"
                ),
                &[&hash.as_slice()],
            )
            .await?
            .map(|row| into_token(token_row(&row)?))
            .transpose()
        })
    }
}
