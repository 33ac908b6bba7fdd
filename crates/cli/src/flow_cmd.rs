//! `brickwire flow ...`: validate a flow definition, run it locally (no service: an in-memory
//! journal and the workspace of a profile, `--host/--token` or a linked account, each step
//! printed as it goes), and deploy, list, inspect and replay flows in the data directory of
//! `brickwire serve`.
//!
//! The store commands work on the service's SQLite store directly. A running service notices a
//! deployed or changed flow within its reload period (30 s) and picks queued runs (a replay)
//! up at its next tick (1 s); `POST /api/v1/flows` is the immediate way.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use brickwire_client::Client;
use brickwire_connector::{ActionError, ErrorCode};
use brickwire_flows::definition::Format;
use brickwire_flows::{
    ActionRunner, CompiledFlow, Executor, ExecutorOptions, FlowError, MemoryJournal, RunContext,
    RunJournal, RunOutcome, StepRecord, StepStatus, ValidationError,
};
use brickwire_service::SharedStore;
use brickwire_service::flows::api::{check_definition, rfc3339, run_view, step_view};
use brickwire_service::flows::{
    Flow, FlowId, FlowRun, FlowRunId, RunFilter, RunStatus, replay_run,
};
use clap::{Args, Subcommand, ValueEnum};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::accounts_cmd::{DataDirArgs, open_account};
use crate::actions_cmd::{AccountArgs, ConnectionArgs, Usage, connect, read_json};
use crate::failure::{Failure, exit_code};

/// `brickwire flow ...`.
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Check a definition (JSON or YAML) against the catalog; print every problem with its path.
    Validate(ValidateArgs),
    /// Run a definition here and now, without the service, printing each step as it goes.
    Run(RunArgs),
    /// Store a definition in the service's data directory (new flow, or a new version).
    Deploy(DeployArgs),
    /// List the flows of the data directory.
    List(ListArgs),
    /// List runs, newest first.
    Runs(RunsArgs),
    /// Show a run with every step attempt (input, output or error, duration).
    Show(RunRefArgs),
    /// Queue a new run of a failed or cancelled run from its failed step.
    Replay(RunRefArgs),
    /// Let a flow's trigger start runs.
    Enable(FlowRefArgs),
    /// Stop a flow's trigger from starting runs.
    Disable(FlowRefArgs),
}

/// How results print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// `brickwire flow validate FILE`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The definition (`.json` is JSON, anything else YAML).
    pub file: PathBuf,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `brickwire flow run FILE --input JSON|@file|-`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The definition (`.json` is JSON, anything else YAML).
    pub file: PathBuf,
    /// The trigger's event (`$event`): inline JSON, `@path`, or `-` for standard input.
    #[arg(long, short = 'i', default_value = "{}")]
    pub input: String,
    /// Output format: step lines, or one JSON document with the outcome and every attempt.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub account: AccountArgs,
}

/// `brickwire flow deploy FILE [--flow-id ID]`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The definition (`.json` is JSON, anything else YAML).
    pub file: PathBuf,
    /// Store it as the next version of this flow instead of a new flow.
    #[arg(long)]
    pub flow_id: Option<String>,
    /// Create the flow disabled.
    #[arg(long, conflicts_with = "flow_id")]
    pub disabled: bool,
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `brickwire flow list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// `brickwire flow runs [--flow ID] [--status S]`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this flow.
    #[arg(long)]
    pub flow: Option<String>,
    /// Only runs in this status (queued, running, succeeded, failed, cancelled, interrupted).
    #[arg(long)]
    pub status: Option<String>,
    /// The most runs to list (1 to 500).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// A run id and the data directory.
#[derive(Debug, Args)]
pub struct RunRefArgs {
    /// The run's id (`run_...`).
    pub run_id: String,
    #[command(flatten)]
    pub dir: DataDirArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// A flow id and the data directory.
#[derive(Debug, Args)]
pub struct FlowRefArgs {
    /// The flow's id (`flow_...`).
    pub flow_id: String,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

/// Runs a `flow` subcommand; returns the exit code.
pub async fn run(command: FlowCommand) -> ExitCode {
    exit_code(match command {
        FlowCommand::Validate(args) => validate_cmd(&args),
        FlowCommand::Run(args) => run_local(args).await,
        FlowCommand::Deploy(args) => deploy(&args).await,
        FlowCommand::List(args) => list(&args).await,
        FlowCommand::Runs(args) => runs(&args).await,
        FlowCommand::Show(args) => show(&args).await,
        FlowCommand::Replay(args) => replay(&args).await,
        FlowCommand::Enable(args) => set_enabled(&args, true).await,
        FlowCommand::Disable(args) => set_enabled(&args, false).await,
    })
}

impl From<Usage> for Failure {
    fn from(Usage(message): Usage) -> Self {
        Failure::Usage(message)
    }
}

/// Reads and validates a definition file; every problem in one failure.
fn load(file: &Path) -> Result<Result<CompiledFlow, Vec<ValidationError>>, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
    let value: Value = match Format::from_path(file) {
        Format::Json => serde_json::from_str(&text)
            .map_err(|e| Failure::Failed(format!("{}: not JSON: {e}", file.display())))?,
        Format::Yaml => serde_norway::from_str(&text)
            .map_err(|e| Failure::Failed(format!("{}: not YAML: {e}", file.display())))?,
    };
    Ok(check_definition(value))
}

fn problems_text(problems: &[ValidationError]) -> String {
    let mut out = format!(
        "{} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

fn invalid(file: &Path, problems: &[ValidationError]) -> Failure {
    Failure::Failed(format!(
        "{} is not a valid flow: {}",
        file.display(),
        problems_text(problems)
    ))
}

fn validate_cmd(args: &ValidateArgs) -> Result<(), Failure> {
    let checked = load(&args.file)?;
    match (&checked, args.output) {
        (Ok(flow), OutputFormat::Text) => {
            println!(
                "{}: valid ({} top-level steps)",
                args.file.display(),
                flow.definition.steps.len()
            );
        }
        (Ok(_), OutputFormat::Json) => print_json(&json!({"valid": true, "problems": []})),
        (Err(problems), OutputFormat::Json) => print_json(&json!({
            "valid": false,
            "problems": problems.iter().map(|p| json!({"path": p.path, "message": p.message})).collect::<Vec<_>>(),
        })),
        (Err(_), OutputFormat::Text) => {}
    }
    checked.map(|_| ()).map_err(|p| invalid(&args.file, &p))
}

/// Runs actions for a local run: the workspace given on the command line for steps that name
/// no account (or the flow's), other accounts from the data directory's linked accounts.
struct LocalRunner {
    default: Client,
    /// The account name the default client stands for (the flow's `account`).
    default_name: Option<String>,
    data_dir: PathBuf,
    opened: tokio::sync::Mutex<HashMap<String, Client>>,
}

impl LocalRunner {
    async fn client(&self, account: Option<&str>) -> Result<Client, ActionError> {
        let Some(name) = account.filter(|a| Some(*a) != self.default_name.as_deref()) else {
            return Ok(self.default.clone());
        };
        let mut opened = self.opened.lock().await;
        if let Some(client) = opened.get(name) {
            return Ok(client.clone());
        }
        let client = match open_account(&self.data_dir, name).await {
            Ok(account) => account.client,
            Err(Ok(message)) => {
                return Err(ActionError::new(
                    ErrorCode::ConfigError,
                    format!("the step names account `{name}`, which is not the flow's: {message}"),
                ));
            }
            Err(Err(e)) => return Err(e),
        };
        opened.insert(name.to_owned(), client.clone());
        Ok(client)
    }
}

impl ActionRunner for LocalRunner {
    fn run<'a>(
        &'a self,
        account: Option<&'a str>,
        action: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async move {
            let client = self.client(account).await?;
            brickwire_connector::run_action(&client, action, input).await
        })
    }
}

/// A journal in memory that prints each attempt as it is written.
struct PrintingJournal {
    inner: MemoryJournal,
    print: bool,
}

impl RunJournal for PrintingJournal {
    fn records(&self) -> BoxFuture<'_, Result<Vec<StepRecord>, FlowError>> {
        self.inner.records()
    }

    fn write(&self, record: StepRecord) -> BoxFuture<'_, Result<(), FlowError>> {
        if self.print {
            eprintln!("{}", step_line(&record));
        }
        self.inner.write(record)
    }
}

/// One line for an attempt: `insert #1 running execute-statement`, `insert #1 succeeded in 12 ms`.
fn step_line(r: &StepRecord) -> String {
    let what = r.action.as_deref().unwrap_or(r.kind.as_str());
    let took = r
        .finished_at
        .and_then(|f| f.duration_since(r.started_at).ok())
        .map(|d| format!(" in {} ms", d.as_millis()))
        .unwrap_or_default();
    match r.status {
        StepStatus::Running => format!("  {} #{} running {what}", r.path, r.attempt),
        StepStatus::Succeeded => format!(
            "  {} #{} succeeded{took}: {}",
            r.path,
            r.attempt,
            truncated(r.output.as_ref().unwrap_or(&Value::Null), 160)
        ),
        StepStatus::Failed => format!(
            "  {} #{} failed{took}: {}{}",
            r.path,
            r.attempt,
            r.error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            if r.resume_at.is_some() {
                " (retrying)"
            } else {
                ""
            }
        ),
        StepStatus::Abandoned => format!("  {} #{} abandoned", r.path, r.attempt),
    }
}

fn truncated(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}... ({} bytes)", text.len())
}

async fn run_local(args: RunArgs) -> Result<(), Failure> {
    let flow = load(&args.file)?.map_err(|p| invalid(&args.file, &p))?;
    let event = read_json(&args.input, "--input")?;
    let data_dir = args.account.data_dir.clone().unwrap_or_else(|| {
        std::env::var_os(crate::accounts_cmd::DATA_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(crate::accounts_cmd::DEFAULT_DATA_DIR))
    });
    let default = match &args.account.account {
        Some(reference) => match open_account(&data_dir, reference).await {
            Ok(opened) => opened.client,
            Err(Ok(message)) => return Err(Failure::Usage(message)),
            Err(Err(e)) => return Err(Failure::Failed(e.message)),
        },
        None => connect(&args.connection)?,
    };
    let runner = Arc::new(LocalRunner {
        default,
        default_name: flow.definition.account.clone(),
        data_dir,
        opened: tokio::sync::Mutex::new(HashMap::new()),
    });
    let json_output = args.output == OutputFormat::Json;
    let journal = PrintingJournal {
        inner: MemoryJournal::new(),
        print: !json_output,
    };
    let run_id = format!("local_{:016x}", rand::random::<u64>());
    let ctx = RunContext {
        run_id: run_id.clone(),
        flow_id: "local".into(),
        flow_version: 0,
        event,
        created_at: SystemTime::now(),
    };
    let name = flow.definition.name.clone();
    let executor = Executor::new(Arc::new(flow), runner, ExecutorOptions::default());
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling the run (Ctrl-C)");
            on_ctrl_c.cancel();
        }
    });
    if !json_output {
        eprintln!("run {run_id} of `{name}`");
    }
    let outcome = executor.execute(&ctx, &journal, &cancel).await;
    let steps = journal.inner.snapshot();
    let (status, detail) = outcome_json(&outcome);
    if json_output {
        print_json(&json!({
            "run_id": run_id,
            "status": status,
            "outcome": detail,
            "steps": steps.iter().map(step_view).collect::<Vec<_>>(),
        }));
    } else {
        match &outcome {
            RunOutcome::Succeeded { output } => {
                println!("succeeded: {}", truncated(output, 2000))
            }
            other => println!("{status}: {}", describe_outcome(other)),
        }
    }
    match outcome {
        RunOutcome::Succeeded { .. } => Ok(()),
        other => Err(Failure::Failed(format!(
            "the run {status}: {}",
            describe_outcome(&other)
        ))),
    }
}

fn outcome_json(outcome: &RunOutcome) -> (&'static str, Value) {
    match outcome {
        RunOutcome::Succeeded { output } => ("succeeded", json!({"output": output})),
        RunOutcome::Failed { error } => ("failed", json!({"error": error})),
        RunOutcome::Interrupted { path, reason } => {
            ("interrupted", json!({"path": path, "reason": reason}))
        }
        RunOutcome::Cancelled => ("cancelled", json!({})),
    }
}

fn describe_outcome(outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Succeeded { .. } => "every step completed".into(),
        RunOutcome::Failed { error } => error.to_string(),
        RunOutcome::Interrupted { path, reason } => format!("step `{path}`: {reason}"),
        RunOutcome::Cancelled => "cancelled".into(),
    }
}

/// Opens the service's store; the directory must exist already (a typo is an error, not a new
/// empty store).
async fn open_store(dir: &Path) -> Result<SharedStore, Failure> {
    crate::accounts_cmd::open_store(dir, false).await
}

fn store_failure(e: brickwire_service::Error) -> Failure {
    match e {
        brickwire_service::Error::NotFound { .. }
        | brickwire_service::Error::InvalidInput { .. } => Failure::Usage(e.to_string()),
        other => Failure::Failed(other.to_string()),
    }
}

fn flow_json(flow: &Flow) -> Value {
    json!({
        "id": flow.id,
        "name": flow.name,
        "enabled": flow.enabled,
        "version": flow.version,
        "trigger_type": flow.trigger_type,
        "updated_at": rfc3339(flow.updated_at),
    })
}

async fn deploy(args: &DeployArgs) -> Result<(), Failure> {
    let flow = load(&args.file)?.map_err(|p| invalid(&args.file, &p))?;
    let definition =
        serde_json::to_value(&flow.definition).map_err(|e| Failure::Failed(e.to_string()))?;
    let store = open_store(&args.dir.data_dir).await?;
    let stored = match &args.flow_id {
        Some(id) => store.update_flow(FlowId::new(id.clone()), definition).await,
        None => store.insert_flow(definition, !args.disabled).await,
    }
    .map_err(store_failure)?;
    match args.output {
        OutputFormat::Json => print_json(&flow_json(&stored)),
        OutputFormat::Text => println!(
            "deployed {} `{}` version {} ({}; a running service picks it up within 30 s)",
            stored.id,
            stored.name,
            stored.version,
            if stored.enabled {
                "enabled"
            } else {
                "disabled"
            }
        ),
    }
    Ok(())
}

async fn list(args: &ListArgs) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir).await?;
    let flows = store.list_flows().await.map_err(store_failure)?;
    match args.output {
        OutputFormat::Json => print_json(&Value::Array(flows.iter().map(flow_json).collect())),
        OutputFormat::Text => {
            if flows.is_empty() {
                eprintln!("No flows in {}.", args.dir.data_dir.display());
            }
            for f in &flows {
                println!(
                    "{}  v{:<3} {:<8} {:<8} {}",
                    f.id,
                    f.version,
                    f.trigger_type,
                    if f.enabled { "enabled" } else { "disabled" },
                    f.name
                );
            }
        }
    }
    Ok(())
}

async fn runs(args: &RunsArgs) -> Result<(), Failure> {
    let status = match &args.status {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Failure::Usage(format!(
                "--status: `{s}` is not one of queued, running, succeeded, failed, cancelled, interrupted"
            ))
        })?),
    };
    if !(1..=500).contains(&args.limit) {
        return Err(Failure::Usage(format!(
            "--limit: expected 1 to 500, got {}",
            args.limit
        )));
    }
    let store = open_store(&args.dir.data_dir).await?;
    let runs = store
        .list_runs(RunFilter {
            flow_id: args.flow.clone().map(FlowId::new),
            status,
            limit: Some(args.limit),
            ..RunFilter::default()
        })
        .await
        .map_err(store_failure)?;
    let now = SystemTime::now();
    match args.output {
        OutputFormat::Json => print_json(&json!(
            runs.iter().map(|r| run_view(r, now)).collect::<Vec<_>>()
        )),
        OutputFormat::Text => {
            if runs.is_empty() {
                eprintln!("No runs.");
            }
            for r in &runs {
                println!("{}", run_line(r, now));
            }
        }
    }
    Ok(())
}

fn run_line(r: &FlowRun, now: SystemTime) -> String {
    let view = run_view(r, now);
    format!(
        "{}  {:<11} {:<7} v{:<3} {}  {}{}",
        r.id,
        r.status.as_str(),
        r.trigger,
        r.flow_version,
        view.created_at,
        view.duration_ms
            .map(|d| format!("{d} ms"))
            .unwrap_or_default(),
        r.error
            .as_ref()
            .map(|e| format!("  {e}"))
            .unwrap_or_default()
    )
}

async fn show(args: &RunRefArgs) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir).await?;
    let id = FlowRunId::new(args.run_id.clone());
    let run = store.run(id.clone()).await.map_err(store_failure)?;
    let steps = store.run_steps(id).await.map_err(store_failure)?;
    let now = SystemTime::now();
    match args.output {
        OutputFormat::Json => {
            let mut view = serde_json::to_value(run_view(&run, now)).unwrap_or_default();
            view["steps"] = json!(steps.iter().map(step_view).collect::<Vec<_>>());
            print_json(&view);
        }
        OutputFormat::Text => {
            println!("{}", run_line(&run, now));
            println!("  event: {}", truncated(&run.event, 400));
            for s in &steps {
                println!("{}", step_line(s));
                if let Some(input) = &s.input {
                    println!("      input: {}", truncated(input, 400));
                }
            }
        }
    }
    Ok(())
}

async fn replay(args: &RunRefArgs) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir).await?;
    let new = replay_run(store.as_ref(), FlowRunId::new(args.run_id.clone()))
        .await
        .map_err(store_failure)?;
    match args.output {
        OutputFormat::Json => print_json(&json!(run_view(&new, SystemTime::now()))),
        OutputFormat::Text => println!(
            "queued {} replaying {} (a running service starts it within a second)",
            new.id, args.run_id
        ),
    }
    Ok(())
}

async fn set_enabled(args: &FlowRefArgs, enabled: bool) -> Result<(), Failure> {
    let store = open_store(&args.dir.data_dir).await?;
    let flow = store
        .set_flow_enabled(FlowId::new(args.flow_id.clone()), enabled)
        .await
        .map_err(store_failure)?;
    println!(
        "{} `{}` is {}",
        flow.id,
        flow.name,
        if flow.enabled { "enabled" } else { "disabled" }
    );
    Ok(())
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
