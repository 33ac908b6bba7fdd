//! `brickwire accounts list|add|remove`: the linked accounts of `brickwire serve`, straight
//! from its data directory, and [`open_account`], which `brickwire run --account` uses to run
//! an action with a linked account's credentials.
//!
//! The data directory is `--data-dir`, else `BRICKWIRE_DATA_DIR`, else `./brickwire-data`, the
//! same default as `brickwire serve`. Its secrets are encrypted under the master key
//! (`BRICKWIRE_MASTER_KEY` or `master.key` in the directory), as the service keeps them.
//!
//! `add` links an account by personal access token. The token comes from `--token-env VAR` or
//! standard input (a `--token` flag also works but warns: command lines end up in shell history
//! and process lists). The URL is checked (https, or http on loopback only) and the token is
//! tried against the workspace (`GET /api/2.0/preview/scim/v2/Me`) before anything is stored;
//! a wrong token, a host that is not a Databricks workspace, and an unreachable host are three
//! distinct errors.
//!
//! Exit codes: 0 success; 1 the operation failed (token refused, unknown id, ...); 2 usage.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brickwire_api::SecretString;
use brickwire_client::Client;
use brickwire_client::credentials::SystemClock;
use brickwire_client::credentials::format_rfc3339;
use brickwire_connector::{ActionError, ErrorCode};
use brickwire_service::accounts::{AccountClientError, AccountClients, AccountClientsOptions};
use brickwire_service::link;
use brickwire_service::store::{
    AccountStatus, LinkedAccount, LinkedAccountFilter, LinkedAccountId,
};
use brickwire_service::{SharedStore, StartupEnv, Store, open_store as open_store_at};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::failure::{Failure, exit_code};

/// The data directory when neither `--data-dir` nor `BRICKWIRE_DATA_DIR` is given.
pub const DEFAULT_DATA_DIR: &str = "brickwire-data";
/// How long verifying a token may take (the workspace may be far away).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variable that names the data directory.
pub const DATA_DIR_ENV: &str = "BRICKWIRE_DATA_DIR";

/// `brickwire accounts ...`.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List the linked accounts.
    List(ListArgs),
    /// Link an account by personal access token (verified against the workspace first).
    Add(AddArgs),
    /// Remove a linked account and its stored credential.
    Remove(RemoveArgs),
}

/// Where the service's store is.
#[derive(Debug, Clone, Args)]
pub struct DataDirArgs {
    /// The data directory of `brickwire serve`.
    #[arg(long, env = DATA_DIR_ENV, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// How `list` and `add` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
}

/// `brickwire accounts list [-o table|json] [--end-user-ref REF]`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the accounts of this end user.
    #[arg(long)]
    pub end_user_ref: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// `brickwire accounts add --host URL (--token-env VAR | stdin) [--name N] [--end-user-ref R]`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Workspace URL, e.g. `https://dbc-1234.cloud.databricks.com`.
    #[arg(long)]
    pub host: String,
    /// Read the personal access token from this environment variable (else standard input).
    #[arg(long, value_name = "VAR", conflicts_with = "token")]
    pub token_env: Option<String>,
    /// The token itself; discouraged, since command lines are visible in shell history and to
    /// other users.
    #[arg(long, value_parser = secret)]
    pub token: Option<SecretString>,
    /// A name for people (default: the workspace user name).
    #[arg(long)]
    pub name: Option<String>,
    /// The end user's reference id in your product.
    #[arg(long)]
    pub end_user_ref: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::new(raw))
}

/// `brickwire accounts remove ID`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The linked account id (`la_...`, see `brickwire accounts list`).
    pub id: String,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// Runs an `accounts` subcommand and returns the exit code.
pub async fn run(command: AccountsCommand) -> ExitCode {
    let outcome = match command {
        AccountsCommand::List(args) => list(&args).await,
        AccountsCommand::Add(args) => add(&args).await,
        AccountsCommand::Remove(args) => remove(&args).await,
    };
    exit_code(outcome)
}

/// Opens the store of `dir`, or the PostgreSQL database named by `BRICKWIRE_DATABASE_URL` (as
/// `brickwire serve --database-url` does). `create` is for `add`; the other commands want an
/// existing directory, so a typo in `--data-dir` is an error rather than a new empty store.
pub(crate) async fn open_store(dir: &Path, create: bool) -> Result<SharedStore, Failure> {
    let database_url = std::env::var(brickwire_service::store::DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .map(SecretString::new);
    if database_url.is_none() && !create && !dir.join(brickwire_service::store::DB_FILE).exists() {
        return Err(Failure::Usage(format!(
            "no brickwire data in {} (use --data-dir or {DATA_DIR_ENV} to point at the data \
             directory of `brickwire serve`, or {} at its database)",
            dir.display(),
            brickwire_service::store::DATABASE_URL_ENV
        )));
    }
    let started = open_store_at(
        dir,
        database_url.as_ref(),
        &StartupEnv::from_process(),
        Arc::new(SystemClock),
    )
    .await
    .map_err(|e| Failure::Failed(format!("cannot open {}: {e}", dir.display())))?;
    if let Some(key) = &started.generated_api_key {
        // The store was just created: the operator key exists only now and only here.
        eprintln!(
            "Created a new data directory {}. Its operator API key for `brickwire serve` is shown \
             only this once:\n  {}",
            dir.display(),
            key.expose_secret()
        );
    }
    Ok(started.store)
}

fn time(t: SystemTime) -> String {
    // whole seconds are enough for people
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format_rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn account_json(a: &LinkedAccount) -> Value {
    json!({
        "id": a.id.as_str(),
        "display_name": a.display_name,
        "end_user_ref": a.end_user_ref,
        "auth_type": a.auth_type.as_str(),
        "workspace_host": a.workspace_host.as_str().trim_end_matches('/'),
        "status": a.status.as_str(),
        "created_at": time(a.created_at),
        "last_used_at": a.last_used_at.map(time),
    })
}

fn print_table(accounts: &[LinkedAccount]) {
    let rows: Vec<[String; 7]> = accounts
        .iter()
        .map(|a| {
            [
                a.id.to_string(),
                a.display_name.clone(),
                a.auth_type.as_str().to_owned(),
                a.status.as_str().to_owned(),
                a.workspace_host.as_str().trim_end_matches('/').to_owned(),
                a.end_user_ref.clone().unwrap_or_else(|| "-".into()),
                a.last_used_at.map_or_else(|| "never".into(), time),
            ]
        })
        .collect();
    let header = [
        "ID",
        "NAME",
        "AUTH",
        "STATUS",
        "HOST",
        "END USER",
        "LAST USED",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:w$}  "));
            }
        }
        text
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir, false).await?;
    let accounts = store
        .list_linked_accounts(LinkedAccountFilter {
            end_user_ref: args.end_user_ref.clone(),
        })
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(
                accounts.iter().map(account_json).collect()
            ))
            .unwrap_or_default()
        ),
        OutputFormat::Table if accounts.is_empty() => {
            eprintln!("No linked accounts in {}.", args.dir.data_dir.display());
        }
        OutputFormat::Table => print_table(&accounts),
    }
    Ok(())
}

/// The token of `add`: from `--token-env`, `--token` (with a warning) or standard input.
fn read_token(args: &AddArgs) -> Result<SecretString, Failure> {
    let token = if let Some(var) = &args.token_env {
        std::env::var(var)
            .map_err(|_| Failure::Usage(format!("--token-env {var}: the variable is not set")))?
    } else if let Some(token) = &args.token {
        eprintln!(
            "warning: --token puts the token in your shell history and the process list; \
             prefer --token-env VAR or standard input"
        );
        token.expose_secret().to_owned()
    } else {
        let mut stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("Personal access token (input is visible; end with Enter): ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            stdin
                .read_line(&mut line)
                .map_err(|e| Failure::Usage(format!("cannot read the token: {e}")))?;
            line
        } else {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read the token: {e}")))?;
            text
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Failure::Usage(
            "no token given: set --token-env VAR or pipe the token on standard input".into(),
        ));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(Failure::Usage(
            "the token contains whitespace: give exactly one personal access token".into(),
        ));
    }
    Ok(SecretString::new(token))
}

async fn add(args: &AddArgs) -> Result<(), Failure> {
    let host = link::check_workspace_url(&args.host)
        .map_err(|e| Failure::Usage(format!("--host: {e}")))?;
    let token = read_token(args)?;
    let http = link::verification_http_client(VERIFY_TIMEOUT);
    let verified = link::VerifiedApiKey::verify(&http, host, token)
        .await
        .map_err(|e| Failure::Failed(format!("nothing was stored: {e}")))?;
    let user = verified.user_name().to_owned();
    // Opened only now, so a refused token creates no data directory.
    let store = open_store(&args.dir.data_dir, true).await?;
    let display_name = args
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.clone());
    let account = verified
        .store(
            store.as_ref(),
            link::LinkInto::NewAccount,
            Some(display_name),
            args.end_user_ref.clone().filter(|r| !r.is_empty()),
        )
        .await
        .map_err(|e| Failure::Failed(format!("cannot store the account: {e}")))?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&account_json(&account)).unwrap_or_default()
        ),
        OutputFormat::Table => println!(
            "Linked account {} (`{}`, {user} on {}).",
            account.id,
            account.display_name,
            account.workspace_host.as_str().trim_end_matches('/')
        ),
    }
    Ok(())
}

async fn remove(args: &RemoveArgs) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir, false).await?;
    match store
        .delete_linked_account(LinkedAccountId::new(&args.id))
        .await
    {
        Ok(()) => {
            println!("Removed linked account {}.", args.id);
            Ok(())
        }
        Err(brickwire_service::Error::NotFound { .. }) => Err(Failure::Failed(format!(
            "no linked account `{}` in {} (see `brickwire accounts list`)",
            args.id,
            args.dir.data_dir.display()
        ))),
        Err(e) => Err(Failure::Failed(e.to_string())),
    }
}

/// A linked account opened for running actions.
pub struct OpenedAccount {
    /// A client with the account's credentials.
    pub client: Client,
    /// The account.
    pub account: LinkedAccount,
    /// The store it is in (to record use and status).
    pub store: Arc<dyn Store>,
}

/// Finds `reference` (an id, or a unique display name) in the store of `data_dir` and builds
/// a client with its credentials: a PAT as is, OAuth tokens with refresh, each rotated token
/// set stored at once (through the store, as the service does).
///
/// `Err(Ok(message))` is a usage error (no such store or account); `Err(Err(e))` an action
/// error (the account needs reconnecting, its credential cannot be read).
pub async fn open_account(
    data_dir: &Path,
    reference: &str,
) -> Result<OpenedAccount, Result<String, ActionError>> {
    let store = open_store(data_dir, false).await.map_err(|e| match e {
        Failure::Usage(m) | Failure::Failed(m) => Ok(m),
    })?;
    let account = find_account(store.as_ref(), reference, data_dir)
        .await
        .map_err(Ok)?;
    if account.status == AccountStatus::NeedsReconnect {
        return Err(Err(needs_reconnect(&account)));
    }
    // The same runtime as the service: PAT as is, OAuth with refresh, each rotated token set
    // stored at once, and a refresh refused for good marks the account needs_reconnect.
    let clients = AccountClients::new(store.clone(), AccountClientsOptions::default());
    let client = clients.client(&account.id).await.map_err(|e| match e {
        AccountClientError::NeedsReconnect(_) => Err(needs_reconnect(&account)),
        other => Err(ActionError::new(
            ErrorCode::Unauthenticated,
            format!("cannot use linked account {}: {other}", account.id),
        )),
    })?;
    Ok(OpenedAccount {
        client,
        account,
        store,
    })
}

async fn find_account(
    store: &dyn Store,
    reference: &str,
    data_dir: &Path,
) -> Result<LinkedAccount, String> {
    match store.linked_account(LinkedAccountId::new(reference)).await {
        Ok(account) => return Ok(account),
        Err(brickwire_service::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.to_string()),
    }
    let all = store
        .list_linked_accounts(LinkedAccountFilter::default())
        .await
        .map_err(|e| e.to_string())?;
    let named: Vec<&LinkedAccount> = all.iter().filter(|a| a.display_name == reference).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no linked account with id or name `{reference}` in {} (see `brickwire accounts list`)",
            data_dir.display()
        )),
        many => Err(format!(
            "{} linked accounts are named `{reference}` ({}); give the id instead",
            many.len(),
            many.iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn needs_reconnect(account: &LinkedAccount) -> ActionError {
    ActionError::new(
        ErrorCode::Unauthenticated,
        format!(
            "linked account {} (`{}`) needs to reconnect: its OAuth refresh failed for good. \
             Link it again (connect page of `brickwire serve`, or `brickwire accounts add`)",
            account.id, account.display_name
        ),
    )
}

/// After an action on an account: records its use. (A refresh refused for good has already
/// marked the account as needing reconnection, inside its credentials provider.)
pub async fn after_action(opened: &OpenedAccount, result: &Result<Value, ActionError>) {
    let _ = opened
        .store
        .touch_linked_account(opened.account.id.clone())
        .await;
    if let Err(e) = result
        && e.code == ErrorCode::Unauthenticated
        && let Ok(account) = opened.store.linked_account(opened.account.id.clone()).await
        && account.status == AccountStatus::NeedsReconnect
    {
        eprintln!(
            "linked account {} is now marked as needing to reconnect",
            opened.account.id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_dir_is_the_services() {
        use clap::Parser as _;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            command: AccountsCommand,
        }
        // The environment may name a directory; only check the default when it does not.
        if std::env::var_os(DATA_DIR_ENV).is_none() {
            let Cli {
                command: AccountsCommand::List(args),
            } = Cli::try_parse_from(["b", "list"]).unwrap()
            else {
                panic!("list");
            };
            assert_eq!(args.dir.data_dir, PathBuf::from("brickwire-data"));
        }
        let Cli {
            command: AccountsCommand::Add(args),
        } = Cli::try_parse_from([
            "b",
            "add",
            "--host",
            "h",
            "--token-env",
            "V",
            "--data-dir",
            "d",
        ])
        .unwrap()
        else {
            panic!("add");
        };
        assert_eq!(args.dir.data_dir, PathBuf::from("d"));
        assert!(
            Cli::try_parse_from([
                "b",
                "add",
                "--host",
                "h",
                "--token-env",
                "V",
                "--token",
                "t"
            ])
            .is_err()
        );
    }
}
