//! The action catalog from the shell: `brickwire actions`, `brickwire actions show ID`,
//! `brickwire run ID --input JSON|@file|-` and `brickwire api METHOD PATH`.
//!
//! `run` takes its workspace from the connection flags (unified auth: `--host`/`--token`,
//! `DATABRICKS_*`, `--profile`, including profiles of `brickwire auth login`), or from a linked
//! account of `brickwire serve` with `--account ID|NAME [--data-dir DIR]`.
//!
//! Wiring (one line in main.rs): add `#[command(flatten)] Actions(actions_cmd::ActionsCommand)`
//! to the top-level subcommand enum and dispatch it with `actions_cmd::run(cmd).await`.
//!
//! Exit codes: 0 success; 1 the action failed (the error shape of
//! [`brickwire_connector::ActionError`] as JSON on stderr); 2 usage errors (unknown action,
//! unreadable `--input`, missing host or token).

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use brickwire_api::SecretString;
use brickwire_client::Client;
use brickwire_connector::{ActionError, Catalog, Group};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

/// The catalog subcommands.
#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// List the actions of the catalog, or show one with its input schema.
    Actions(ActionsArgs),
    /// Run one action with a JSON input and print its output as JSON.
    Run(RunArgs),
    /// Call any REST API of the workspace (the HTTP Request action).
    Api(ApiArgs),
}

/// `brickwire actions [--group G] [-o json|table] [show ID]`.
#[derive(Debug, Args)]
pub struct ActionsArgs {
    #[command(subcommand)]
    pub show: Option<ActionsShow>,
    /// Only the actions of this group (e.g. `Clusters`, `SQL`; case-insensitive).
    #[arg(long)]
    pub group: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `brickwire actions show ID`.
#[derive(Debug, Subcommand)]
pub enum ActionsShow {
    /// Print one action: id, title, group, description, retry safety, input schema and an
    /// example input.
    Show {
        /// The action id, e.g. `query-catalogs`.
        id: String,
    },
}

/// How `brickwire actions` prints the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per action.
    Table,
    /// A JSON array.
    Json,
}

/// Where the workspace and its credentials come from: these flags, then the `DATABRICKS_*`
/// environment, then a profile of `~/.databrickscfg` (unified auth, as the Databricks CLI).
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Workspace URL, e.g. `https://dbc-1234.cloud.databricks.com` (else `DATABRICKS_HOST`).
    #[arg(long)]
    pub host: Option<String>,
    /// Personal access token (else `DATABRICKS_TOKEN`; prefer the environment or a profile,
    /// since command lines are visible to other users).
    #[arg(long)]
    pub token: Option<String>,
    /// Profile of `~/.databrickscfg` to use (else `DATABRICKS_CONFIG_PROFILE`).
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
}

/// `brickwire run ID --input JSON|@file|-`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The action id, e.g. `retrieve-catalog` (see `brickwire actions`).
    pub id: String,
    /// The input: inline JSON, `@path` to read a file, or `-` for standard input.
    #[arg(long, short = 'i', default_value = "{}")]
    pub input: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub account: AccountArgs,
}

/// A linked account of `brickwire serve` to run with, instead of [`ConnectionArgs`].
#[derive(Debug, Default, Args)]
pub struct AccountArgs {
    /// Run with a linked account of `brickwire serve` (its id or unique name) instead.
    #[arg(long, conflicts_with_all = ["host", "token", "profile"])]
    pub account: Option<String>,
    /// The data directory of `brickwire serve` (with `--account`; else `BRICKWIRE_DATA_DIR`,
    /// else `./brickwire-data`).
    #[arg(long, env = crate::accounts_cmd::DATA_DIR_ENV, value_name = "DIR", requires = "account")]
    pub data_dir: Option<std::path::PathBuf>,
}

/// `brickwire api METHOD PATH [--json BODY|@file] [--query k=v]... [--paginate]`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// GET, POST, PUT, PATCH, DELETE or HEAD.
    pub method: String,
    /// A path on the workspace starting with `/api/`; a `?a=b` query string is accepted.
    pub path: String,
    /// JSON body: inline, `@path`, or `-` for standard input.
    #[arg(long)]
    pub json: Option<String>,
    /// Query parameter `key=value` (repeatable).
    #[arg(long = "query", short = 'q')]
    pub query: Vec<String>,
    /// Follow `next_page_token` / SCIM pages and concatenate the list (GET only).
    #[arg(long)]
    pub paginate: bool,
    /// Print status, headers and body instead of the body alone.
    #[arg(long)]
    pub include: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub account: AccountArgs,
}

/// A usage error: exit code 2 with a message on stderr.
pub(crate) struct Usage(pub(crate) String);

/// Runs one of the catalog subcommands and returns the process exit code.
pub async fn run(command: ActionsCommand) -> ExitCode {
    let outcome = match command {
        ActionsCommand::Actions(args) => list_actions(&args),
        ActionsCommand::Run(args) => run_action(args).await,
        ActionsCommand::Api(args) => api(args).await,
    };
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{}", e.to_json());
            ExitCode::from(1)
        }
        Err(Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

type Outcome = Result<Result<(), ActionError>, Usage>;

fn list_actions(args: &ActionsArgs) -> Outcome {
    let catalog = Catalog::global();
    if let Some(ActionsShow::Show { id }) = &args.show {
        let action = catalog
            .get(id)
            .ok_or_else(|| Usage(format!("no action `{id}`; see `brickwire actions`")))?;
        print_json(&action.describe());
        return Ok(Ok(()));
    }
    let group = match &args.group {
        Some(name) => Some(Group::parse(name).ok_or_else(|| {
            let names: Vec<_> = Group::ALL.iter().map(|g| g.as_str()).collect();
            Usage(format!("no group `{name}`; groups: {}", names.join(", ")))
        })?),
        None => None,
    };
    let actions: Vec<_> = catalog
        .actions()
        .iter()
        .filter(|a| group.is_none_or(|g| a.group() == g))
        .collect();
    match args.output {
        OutputFormat::Json => {
            // the whole description of each action, so a tool generating forms or agent tools
            // needs this one call
            let list: Vec<Value> = actions.iter().map(|a| a.describe()).collect();
            print_json(&Value::Array(list));
        }
        OutputFormat::Table => {
            let width = actions.iter().map(|a| a.id().len()).max().unwrap_or(2);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:width$}  {:10}  {:5}  DESCRIPTION",
                "ID", "GROUP", "RETRY"
            );
            for a in actions {
                let retry = if a.retry_safe() { "yes" } else { "no" };
                let _ = writeln!(
                    out,
                    "{:width$}  {:10}  {:5}  {}",
                    a.id(),
                    a.group().as_str(),
                    retry,
                    a.description()
                );
            }
        }
    }
    Ok(Ok(()))
}

async fn run_action(args: RunArgs) -> Outcome {
    let catalog = Catalog::global();
    let action = catalog
        .get(&args.id)
        .ok_or_else(|| Usage(format!("no action `{}`; see `brickwire actions`", args.id)))?;
    let input = read_json(&args.input, "--input")?;
    // validate before asking for credentials, so a bad input is reported as such
    if let Err(e) = action.validate(&input) {
        return Ok(Err(e));
    }
    let result = run_on(action.id(), input, &args.connection, &args.account).await?;
    Ok(result.map(|out| print_json(&out)))
}

/// Runs catalog action `id` on the workspace of `connection`, or with the linked account of
/// `account` (recording its use, see [`crate::accounts_cmd::after_action`]).
async fn run_on(
    id: &str,
    input: Value,
    connection: &ConnectionArgs,
    account: &AccountArgs,
) -> Result<Result<Value, ActionError>, Usage> {
    let Some(reference) = &account.account else {
        let client = connect(connection)?;
        return Ok(Catalog::global().run(&client, id, input).await);
    };
    let data_dir = account
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::accounts_cmd::DEFAULT_DATA_DIR.into());
    let opened = match crate::accounts_cmd::open_account(&data_dir, reference).await {
        Ok(opened) => opened,
        Err(Ok(usage)) => return Err(Usage(usage)),
        Err(Err(action_error)) => return Ok(Err(action_error)),
    };
    let result = Catalog::global().run(&opened.client, id, input).await;
    crate::accounts_cmd::after_action(&opened, &result).await;
    Ok(result)
}

async fn api(args: ApiArgs) -> Outcome {
    let (path, mut query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_query_string(q)),
        None => (args.path.clone(), serde_json::Map::new()),
    };
    for pair in &args.query {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Usage(format!("--query `{pair}` is not key=value")))?;
        push_query(&mut query, k, v);
    }
    let mut input = json!({
        "method": args.method.to_ascii_uppercase(),
        "path": path,
        "paginate": args.paginate,
    });
    if !query.is_empty() {
        input["query"] = Value::Object(query);
    }
    if let Some(body) = &args.json {
        input["json"] = read_json(body, "--json")?;
    }
    let result = run_on("http-request", input, &args.connection, &args.account)
        .await?
        .map(|out| {
            if args.include {
                print_json(&out)
            } else {
                match &out["body"] {
                    Value::String(s) => println!("{s}"),
                    Value::Null => {}
                    body => print_json(body),
                }
            }
        });
    Ok(result)
}

fn push_query(query: &mut serde_json::Map<String, Value>, key: &str, value: &str) {
    let value = Value::String(value.to_owned());
    match query.get_mut(key) {
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => *existing = Value::Array(vec![existing.take(), value]),
        None => {
            query.insert(key.to_owned(), value);
        }
    }
}

fn parse_query_string(raw: &str) -> serde_json::Map<String, Value> {
    let mut query = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        push_query(&mut query, &k, &v);
    }
    query
}

/// Reads `raw` as inline JSON, `@file` or `-` (standard input).
pub(crate) fn read_json(raw: &str, flag: &str) -> Result<Value, Usage> {
    let text = if raw == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Usage(format!("{flag}: cannot read standard input: {e}")))?;
        s
    } else if let Some(path) = raw.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("{flag}: cannot read {path}: {e}")))?
    } else {
        raw.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| Usage(format!("{flag} is not valid JSON: {e}")))
}

/// A client for the workspace. Today: `--host`/`--token` or `DATABRICKS_HOST`/
/// `DATABRICKS_TOKEN`; after the unified config lands this becomes
/// `brickwire_client::Config { host, token, profile, .. }.client()`.
pub(crate) fn connect(args: &ConnectionArgs) -> Result<Client, Usage> {
    let config = brickwire_client::Config {
        host: args.host.clone().filter(|h| !h.trim().is_empty()),
        token: args
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(SecretString::new),
        profile: args.profile.clone(),
        ..Default::default()
    };
    config.client().map_err(|e| Usage(e.to_string()))
}

/// Prints JSON: pretty on a terminal, one line otherwise.
fn print_json(value: &Value) {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ActionsCommand,
    }

    fn parse(args: &[&str]) -> ActionsCommand {
        Cli::try_parse_from(std::iter::once("brickwire").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn the_subcommands_parse() {
        let ActionsCommand::Run(run) = parse(&[
            "run",
            "get-cluster-info",
            "--input",
            "{\"cluster_id\":\"c\"}",
            "--host",
            "https://h",
            "--token",
            "t",
        ]) else {
            panic!("expected run");
        };
        assert_eq!(run.id, "get-cluster-info");
        assert_eq!(run.connection.host.as_deref(), Some("https://h"));
        let ActionsCommand::Actions(a) = parse(&["actions", "--group", "sql", "-o", "json"]) else {
            panic!("expected actions");
        };
        assert_eq!(a.output, OutputFormat::Json);
        assert!(matches!(
            parse(&["actions", "show", "query-catalogs"]),
            ActionsCommand::Actions(ActionsArgs {
                show: Some(ActionsShow::Show { .. }),
                ..
            })
        ));
        let ActionsCommand::Api(api) = parse(&[
            "api",
            "get",
            "/api/2.1/clusters/list?a=1",
            "-q",
            "b=2",
            "--paginate",
        ]) else {
            panic!("expected api");
        };
        assert!(api.paginate);
    }

    #[test]
    fn query_strings_and_repeated_keys_become_json() {
        let mut q = parse_query_string("a=1&tags=x&tags=y%20z");
        push_query(&mut q, "tags", "w");
        assert_eq!(
            Value::Object(q),
            json!({"a": "1", "tags": ["x", "y z", "w"]})
        );
    }

    #[test]
    fn inputs_are_inline_json_or_files() {
        assert_eq!(
            read_json("{\"a\":1}", "--input").ok(),
            Some(json!({"a": 1}))
        );
        let dir = std::env::temp_dir().join(format!("bw-actions-{}", std::process::id()));
        std::fs::write(&dir, "{\"b\": 2}").unwrap();
        let from_file = read_json(&format!("@{}", dir.display()), "--input").ok();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(from_file, Some(json!({"b": 2})));
        assert!(read_json("{bad", "--input").is_err());
        assert!(read_json("@/nonexistent/file.json", "--input").is_err());
    }

    #[tokio::test]
    async fn usage_errors_exit_2_and_action_errors_exit_1() {
        let connection = || ConnectionArgs {
            host: Some("http://127.0.0.1:9".into()),
            token: Some("t".into()),
            profile: None,
        };
        let unknown = ActionsCommand::Run(RunArgs {
            id: "no-such-action".into(),
            input: "{}".into(),
            connection: connection(),
            account: AccountArgs::default(),
        });
        assert_eq!(run(unknown).await, ExitCode::from(2));
        // invalid input is an action error, reported before any connection is made
        let invalid = ActionsCommand::Run(RunArgs {
            id: "get-cluster-info".into(),
            input: "{}".into(),
            connection: ConnectionArgs {
                host: None,
                token: None,
                profile: None,
            },
            account: AccountArgs::default(),
        });
        assert_eq!(run(invalid).await, ExitCode::from(1));
        let no_host = ActionsCommand::Run(RunArgs {
            id: "get-cluster-info".into(),
            input: "{\"cluster_id\": \"c\"}".into(),
            connection: ConnectionArgs {
                host: None,
                token: Some("t".into()),
                profile: None,
            },
            account: AccountArgs::default(),
        });
        assert_eq!(run(no_host).await, ExitCode::from(2));
    }
}
