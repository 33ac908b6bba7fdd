//! The service's MCP side: the action catalog as MCP tools over Streamable HTTP at `/mcp`
//! ([`http`]), and the per-linked-account MCP tokens that open it ([`api`] for the REST routes,
//! [`store`] for how they are kept).
//!
//! `/mcp` is stateless (no MCP session, so any replica can answer any request). A request
//! authenticates with `Authorization: Bearer <MCP token>` (scoped to one account, its toolsets,
//! read-only or not), or with the operator key plus `X-Brickwire-Linked-Account: <id>` (every
//! tool, narrowed by the optional `X-Brickwire-Toolsets` and `X-Brickwire-Read-Only` headers).

pub mod api;
pub mod http;
pub mod store;

pub use store::{McpToken, McpTokenId, McpTokenStore, NewMcpToken};

/// The prefix of MCP tokens (recognisable to secret scanners, and told apart from operator
/// keys on `/mcp`).
pub const TOKEN_PREFIX: &str = "bwmcp_";
