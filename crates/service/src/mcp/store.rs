//! MCP tokens as stored: [`McpToken`] and the [`McpTokenStore`] trait (SQLite in
//! `store/sqlite_mcp.rs`, migration 6). A token lets an agent use one linked account's tools
//! over `/mcp`, within its toolsets and optionally read-only; only its SHA-256 is stored, and a
//! revoked token is kept for the listing but never accepted.

use std::fmt;
use std::time::SystemTime;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::store::{LinkedAccountId, id_type};

id_type!(
    /// The id of an MCP token (`mcpt_...`), not the token itself.
    McpTokenId,
    "mcpt_"
);

/// An MCP token's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpToken {
    /// Its id.
    pub id: McpTokenId,
    /// The account whose tools it opens.
    pub linked_account_id: LinkedAccountId,
    /// A name for people (which agent or machine holds it).
    pub name: String,
    /// The toolsets (lower-case group names); `None` for every toolset.
    pub toolsets: Option<Vec<String>>,
    /// Only tools that change nothing.
    pub read_only: bool,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

/// What [`McpTokenStore::insert_mcp_token`] stores.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMcpToken {
    /// The account.
    pub linked_account_id: LinkedAccountId,
    /// A name for people.
    pub name: String,
    /// The toolsets, `None` for every one.
    pub toolsets: Option<Vec<String>>,
    /// Only tools that change nothing.
    pub read_only: bool,
    /// The SHA-256 of the token.
    pub token_hash: [u8; 32],
}

impl fmt::Debug for NewMcpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMcpToken")
            .field("linked_account_id", &self.linked_account_id)
            .field("name", &self.name)
            .field("toolsets", &self.toolsets)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Where MCP tokens are kept.
pub trait McpTokenStore: Send + Sync + fmt::Debug {
    /// Stores a new token; `NotFound` if the account does not exist.
    fn insert_mcp_token(&self, new: NewMcpToken) -> BoxFuture<'_, Result<McpToken>>;

    /// The account's tokens, revoked ones included, oldest first; `NotFound` if the account
    /// does not exist.
    fn list_mcp_tokens(&self, account: LinkedAccountId) -> BoxFuture<'_, Result<Vec<McpToken>>>;

    /// Revokes one of the account's tokens (again is a no-op); `NotFound` if it is not one.
    fn revoke_mcp_token(
        &self,
        account: LinkedAccountId,
        id: McpTokenId,
    ) -> BoxFuture<'_, Result<McpToken>>;

    /// The unrevoked token with this hash.
    fn mcp_token_by_hash(&self, hash: [u8; 32]) -> BoxFuture<'_, Result<Option<McpToken>>>;
}
