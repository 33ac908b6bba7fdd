//! `brickwire mcp`: the action catalog as an MCP server on standard input and output, for
//! desktop agents (Claude Desktop, Cursor, ...) that start it as a subprocess.
//!
//! The workspace comes from the same flags as `brickwire run` (unified auth: `--host`/
//! `--token`, `DATABRICKS_*`, `--profile`; or `--account` of `brickwire serve`). Logs go to
//! standard error; standard output carries only MCP messages.

use std::process::ExitCode;
use std::sync::Arc;

use brickwire_connector::ActionError;
use brickwire_mcp::{Backend, Bounds, CatalogServer, FixedBackend, ToolFilter};
use clap::Args;
use futures::future::BoxFuture;
use rmcp::ServiceExt;
use rmcp::model::Extensions;
use serde_json::Value;

use crate::accounts_cmd::{OpenedAccount, after_action, open_account};
use crate::actions_cmd::{AccountArgs, ConnectionArgs, connect};

/// `brickwire mcp [connection] [--toolset a,b] [--read-only]`.
#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub account: AccountArgs,
    /// Only the tools of these groups (comma-separated or repeated): catalogs, clusters,
    /// groups, jobs, schemas, sql, tables, users, volumes, warehouses, workspace, http.
    #[arg(long = "toolset", value_delimiter = ',')]
    pub toolsets: Vec<String>,
    /// Only the tools that change nothing (queries, listings, reads).
    #[arg(long)]
    pub read_only: bool,
    /// Rows of a SQL result shown in a tool result.
    #[arg(long, default_value_t = Bounds::default().max_rows as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_rows: u64,
    /// Bytes of one tool result's text at most.
    #[arg(long, default_value_t = Bounds::default().max_output_bytes as u64, value_parser = clap::value_parser!(u64).range(1024..=16_777_216))]
    pub max_output_bytes: u64,
}

/// A linked account of `brickwire serve`, its use recorded after each call.
struct AccountBackend {
    opened: OpenedAccount,
    filter: ToolFilter,
}

impl Backend for AccountBackend {
    fn filter(&self, _extensions: &Extensions) -> Result<ToolFilter, rmcp::ErrorData> {
        Ok(self.filter.clone())
    }

    fn client<'a>(
        &'a self,
        _extensions: &'a Extensions,
    ) -> BoxFuture<'a, Result<brickwire_client::Client, ActionError>> {
        Box::pin(async { Ok(self.opened.client.clone()) })
    }

    fn after_run<'a>(
        &'a self,
        _extensions: &'a Extensions,
        result: &'a Result<Value, ActionError>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(after_action(&self.opened, result))
    }
}

/// Serves MCP on stdio until the client closes it.
pub async fn run(args: McpArgs) -> ExitCode {
    let filter = match ToolFilter::new(&args.toolsets, args.read_only) {
        Ok(f) => f,
        Err(message) => return usage(&format!("--toolset: {message}")),
    };
    let bounds = Bounds {
        max_rows: args.max_rows as usize,
        max_output_bytes: args.max_output_bytes as usize,
        ..Bounds::default()
    };
    let served = match &args.account.account {
        Some(reference) => {
            let data_dir = args
                .account
                .data_dir
                .clone()
                .unwrap_or_else(|| crate::accounts_cmd::DEFAULT_DATA_DIR.into());
            let opened = match open_account(&data_dir, reference).await {
                Ok(o) => o,
                Err(Ok(message)) => return usage(&message),
                Err(Err(e)) => return usage(&e.to_string()),
            };
            serve(CatalogServer::new(
                Arc::new(AccountBackend { opened, filter }),
                bounds,
            ))
            .await
        }
        None => {
            // a missing host or token is reported now, not on every tool call
            let client = match connect(&args.connection) {
                Ok(c) => c,
                Err(crate::actions_cmd::Usage(message)) => return usage(&message),
            };
            serve(CatalogServer::new(
                Arc::new(FixedBackend { client, filter }),
                bounds,
            ))
            .await
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: the MCP server stopped: {message}");
            ExitCode::from(1)
        }
    }
}

async fn serve<B: Backend>(server: CatalogServer<B>) -> Result<(), String> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| e.to_string())?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: McpArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "mcp",
            "--profile",
            "dev",
            "--toolset",
            "sql,warehouses",
            "--toolset",
            "jobs",
            "--read-only",
        ])
        .unwrap();
        assert_eq!(cli.args.toolsets, ["sql", "warehouses", "jobs"]);
        assert!(cli.args.read_only);
        assert_eq!(cli.args.connection.profile.as_deref(), Some("dev"));
        assert!(Cli::try_parse_from(["mcp", "--account", "a", "--host", "h"]).is_err());
        assert!(Cli::try_parse_from(["mcp", "--max-rows", "0"]).is_err());
    }
}
