//! The `brickwire` command line: the demo, the emulator, actions, SQL, the service with its
//! linked accounts, OAuth login, incremental sync, flows and the MCP server.

mod accounts_cmd;
mod actions_cmd;
mod auth_cmd;
mod demo;
mod failure;
mod flow_cmd;
mod mcp_cmd;
mod serve_cmd;
mod sql_cmd;
mod sync_cmd;

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "brickwire", version, about = "A Databricks connector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Actions(actions_cmd::ActionsCommand),
    /// Log in to a workspace with OAuth in the browser, or print a logged-in profile's token.
    #[command(subcommand)]
    Auth(auth_cmd::AuthCommand),
    /// List, link (by personal access token) and remove the linked accounts of `brickwire serve`.
    #[command(subcommand)]
    Accounts(accounts_cmd::AccountsCommand),
    /// Tour a Databricks workspace on the embedded emulator and print a summary.
    Demo,
    /// Validate and run flows locally; deploy, list, inspect and replay them in the data dir.
    #[command(subcommand)]
    Flow(flow_cmd::FlowCommand),
    /// Serve a local emulator of a Databricks workspace until interrupted.
    Emulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: SocketAddr,
        /// Personal access token the emulator accepts.
        #[arg(long, default_value = brickwire_emulator::DEFAULT_TOKEN)]
        token: String,
        /// Keep the workspace in this directory across restarts (default: in memory only).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<std::path::PathBuf>,
    },
    /// Serve the action catalog as MCP tools on stdin/stdout, for AI agents.
    Mcp(mcp_cmd::McpArgs),
    /// Serve the REST API and connect page for linking Databricks workspaces.
    Serve(serve_cmd::ServeArgs),
    /// Run a SQL statement on a warehouse and stream its whole result (csv, json, ndjson, arrow).
    Sql(sql_cmd::SqlArgs),
    /// Print what changed in a workspace as NDJSON events, keeping a cursor in a state file.
    Sync(Box<sync_cmd::SyncArgs>),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Actions(command) => return actions_cmd::run(command).await,
        Command::Auth(command) => return auth_cmd::run(command).await,
        Command::Accounts(command) => return accounts_cmd::run(command).await,
        Command::Demo => {
            if let Err(e) = demo::run().await {
                eprintln!("error: the demo failed: {e}");
                return std::process::ExitCode::from(1);
            }
        }
        Command::Flow(command) => return flow_cmd::run(command).await,
        Command::Mcp(args) => return mcp_cmd::run(args).await,
        Command::Sql(args) => return sql_cmd::run(args).await,
        Command::Serve(args) => return serve_cmd::run(args).await,
        Command::Sync(args) => return sync_cmd::run(*args).await,
        Command::Emulator {
            listen,
            token,
            state_dir,
        } => {
            let options = brickwire_emulator::EmulatorOptions {
                listen,
                token,
                state_dir,
            };
            let emulator = match brickwire_emulator::Emulator::start(options).await {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: cannot start the emulator on {listen}: {e}");
                    return std::process::ExitCode::from(1);
                }
            };
            println!(
                "Databricks emulator at {} (send `Authorization: Bearer {}`); Ctrl-C stops it",
                emulator.base_url(),
                emulator.token()
            );
            let _ = tokio::signal::ctrl_c().await;
            emulator.stop().await;
        }
    }
    std::process::ExitCode::SUCCESS
}
