//! `brickwire sync SOURCE [options] --once | --follow`: poll a sync source and print its
//! events as NDJSON, keeping the cursor in a state file so the command can run from cron.
//!
//! Order of a batch: events are written to stdout and flushed, *then* the cursor is saved
//! (temp file, fsync, rename). A crash in between re-delivers at most that batch; event ids
//! are stable, so a consumer deduplicates on `id`. Progress goes to stderr.
//!
//! `run` is the entry point; `spec_from_args` turns the preset flags into a
//! `brickwire_sync::SourceSpec` (validated by the library, so errors name its fields).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use brickwire_client::{Client, SecretString};
use brickwire_sync::{Cursor, PollOptions, SourceSpec, StartFrom, SyncError, poll};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use crate::actions_cmd::ConnectionArgs;
use crate::failure::{Failure, exit_code};

/// The presets of `brickwire sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Job runs that finished (`--job-id` for one job).
    JobRuns,
    /// New jobs.
    Jobs,
    /// Clusters whose state changed.
    Clusters,
    /// New or changed tables (`--catalog`, `--schema`).
    Tables,
    /// New or changed users.
    Users,
    /// New or changed groups.
    Groups,
    /// Workspace objects modified under `--path`.
    WorkspaceObjects,
    /// Rows of `--query` or `--table` on `--warehouse` (`--watermark-column`, `--key-column`).
    Sql,
    /// Any list endpoint: `--path`, `--list-field`, `--key-field` [`--cursor-field`].
    Custom,
}

/// `brickwire sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The source preset (or give `--spec`).
    #[arg(value_enum)]
    pub source: Option<Preset>,
    /// The whole source spec as JSON: inline or `@file` (replaces SOURCE and its flags).
    #[arg(long, conflicts_with = "source")]
    pub spec: Option<String>,
    /// Poll until caught up, then exit.
    #[arg(long, conflicts_with = "follow", required_unless_present = "follow")]
    pub once: bool,
    /// Keep polling every `--interval` until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with `--follow`.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// Where the first poll starts: `beginning`, `now`, epoch ms, or an RFC 3339 time.
    #[arg(long, default_value = "beginning")]
    pub start_from: String,
    /// Keep the cursor in this file (created on the first batch; written atomically).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Re-read window before the watermark (ms for times; units of a numeric watermark).
    #[arg(long)]
    pub overlap: Option<i64>,
    /// The most events per batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,

    /// job-runs: only runs of this job.
    #[arg(long)]
    pub job_id: Option<i64>,
    /// tables: the catalog.
    #[arg(long)]
    pub catalog: Option<String>,
    /// tables: the schema.
    #[arg(long)]
    pub schema: Option<String>,
    /// workspace-objects: the directory; custom: the API path.
    #[arg(long)]
    pub path: Option<String>,
    /// workspace-objects: do not descend into subdirectories.
    #[arg(long)]
    pub no_recursive: bool,
    /// sql: the warehouse id.
    #[arg(long)]
    pub warehouse: Option<String>,
    /// sql: the SELECT to watch.
    #[arg(long)]
    pub query: Option<String>,
    /// sql: the table to watch (`catalog.schema.table`).
    #[arg(long)]
    pub table: Option<String>,
    /// sql: the watermark column.
    #[arg(long)]
    pub watermark_column: Option<String>,
    /// sql: the key column.
    #[arg(long)]
    pub key_column: Option<String>,
    /// sql: `timestamp` (default) or `number`.
    #[arg(long)]
    pub watermark_type: Option<String>,
    /// custom: the field of the response holding the items.
    #[arg(long)]
    pub list_field: Option<String>,
    /// custom: the field identifying an item.
    #[arg(long)]
    pub key_field: Option<String>,
    /// custom: the field holding the watermark (else content hashes).
    #[arg(long)]
    pub cursor_field: Option<String>,
    /// custom: the query parameter that takes the lower bound.
    #[arg(long)]
    pub filter_param: Option<String>,
    /// custom: `none`, `token`, `has_more` or `scim`.
    #[arg(long)]
    pub pagination: Option<String>,
    /// custom: a fixed query parameter `key=value` (repeatable).
    #[arg(long = "param")]
    pub params: Vec<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::InvalidSpec { .. } | SyncError::InvalidOptions { .. } => {
                Failure::Usage(e.to_string())
            }
            e => Failure::Failed(e.to_string()),
        }
    }
}

/// Runs `brickwire sync` and returns the exit code.
pub async fn run(args: SyncArgs) -> ExitCode {
    exit_code(sync(args).await)
}

async fn sync(args: SyncArgs) -> Result<(), Failure> {
    let spec = spec_from_args(&args)?;
    let opts = PollOptions {
        start_from: parse_start_from(&args.start_from)?,
        overlap: args.overlap,
        batch_size: args.batch_size,
        source_id: None,
    };
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        return Err(Failure::Usage(
            "--interval must be zero or more seconds".into(),
        ));
    }
    let mut cursor = match &args.state {
        Some(path) => load_state(path)?,
        None => None,
    };
    let client = connect(&args.connection)?;
    let mut stdout = std::io::stdout().lock();
    loop {
        let batch = match poll(&client, &spec, cursor.as_ref(), &opts).await {
            Ok(batch) => batch,
            Err(e) if args.follow && e.is_retryable() => {
                eprintln!("sync: poll failed, retrying after the interval: {e}");
                if wait(args.interval).await {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for event in &batch.events {
            let line = serde_json::to_string(event)
                .map_err(|e| Failure::Failed(format!("cannot encode an event: {e}")))?;
            writeln!(stdout, "{line}").map_err(|e| Failure::Failed(format!("stdout: {e}")))?;
        }
        stdout
            .flush()
            .map_err(|e| Failure::Failed(format!("stdout: {e}")))?;
        if let Some(path) = &args.state {
            save_state(path, &batch.cursor)?;
        }
        if !batch.events.is_empty() {
            eprintln!(
                "sync: {} events; watermark {}",
                batch.events.len(),
                batch
                    .cursor
                    .watermark
                    .map_or_else(|| "-".to_owned(), |w| w.to_string())
            );
        }
        cursor = Some(batch.cursor);
        if batch.more {
            continue;
        }
        if args.once || wait(args.interval).await {
            return Ok(());
        }
    }
}

/// Sleeps `seconds`; true when interrupted (Ctrl-C), so the caller stops cleanly.
async fn wait(seconds: f64) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => false,
        _ = tokio::signal::ctrl_c() => true,
    }
}

fn connect(args: &ConnectionArgs) -> Result<Client, Failure> {
    brickwire_client::Config {
        host: args.host.clone().filter(|h| !h.trim().is_empty()),
        token: args
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(SecretString::new),
        profile: args.profile.clone(),
        ..Default::default()
    }
    .client()
    .map_err(|e| Failure::Usage(e.to_string()))
}

/// `beginning`, `now`, epoch milliseconds, or an RFC 3339 time.
fn parse_start_from(raw: &str) -> Result<StartFrom, Failure> {
    match raw.trim() {
        "beginning" => Ok(StartFrom::Beginning),
        "now" => Ok(StartFrom::Now),
        other => other
            .parse::<i64>()
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(other)
                    .ok()
                    .map(|t| t.timestamp_millis())
            })
            .map(StartFrom::Time)
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "--start-from: expected beginning, now, epoch ms or an RFC 3339 time, got {other:?}"
                ))
            }),
    }
}

/// The spec from `--spec`, or from SOURCE and its flags (as the JSON the library validates).
fn spec_from_args(args: &SyncArgs) -> Result<SourceSpec, Failure> {
    let json = match (&args.spec, args.source) {
        (Some(raw), _) => read_spec(raw)?,
        (None, Some(preset)) => preset_json(preset, args)?,
        (None, None) => {
            return Err(Failure::Usage(
                "give a SOURCE (job-runs, jobs, clusters, tables, users, groups, \
                 workspace-objects, sql, custom) or --spec"
                    .into(),
            ));
        }
    };
    Ok(SourceSpec::from_json(&json)?)
}

fn read_spec(raw: &str) -> Result<Value, Failure> {
    let text = match raw.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--spec: cannot read {path}: {e}")))?,
        None => raw.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("--spec is not JSON: {e}")))
}

fn preset_json(preset: Preset, a: &SyncArgs) -> Result<Value, Failure> {
    let mut spec = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            spec.insert(key.to_owned(), v);
        }
    };
    let s = |v: &Option<String>| v.clone().map(Value::String);
    let kind = match preset {
        Preset::JobRuns => {
            put("job_id", a.job_id.map(|j| json!(j)));
            "job_runs"
        }
        Preset::Jobs => "jobs",
        Preset::Clusters => "clusters",
        Preset::Tables => {
            put("catalog", s(&a.catalog));
            put("schema", s(&a.schema));
            "tables"
        }
        Preset::Users => "users",
        Preset::Groups => "groups",
        Preset::WorkspaceObjects => {
            put("path", s(&a.path));
            put("recursive", Some(json!(!a.no_recursive)));
            "workspace_objects"
        }
        Preset::Sql => {
            put("warehouse_id", s(&a.warehouse));
            put("query", s(&a.query));
            put("table", s(&a.table));
            put("watermark_column", s(&a.watermark_column));
            put("key_column", s(&a.key_column));
            put("watermark_type", s(&a.watermark_type));
            "sql"
        }
        Preset::Custom => {
            put("path", s(&a.path));
            put("list_field", s(&a.list_field));
            put("key_field", s(&a.key_field));
            put("cursor_field", s(&a.cursor_field));
            put("filter_param", s(&a.filter_param));
            put("pagination", s(&a.pagination));
            let mut query = Map::new();
            for p in &a.params {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--param: expected key=value, got {p:?}"))
                })?;
                query.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            if !query.is_empty() {
                put("query", Some(Value::Object(query)));
            }
            "custom"
        }
    };
    spec.insert("type".into(), kind.into());
    Ok(Value::Object(spec))
}

fn load_state(path: &Path) -> Result<Option<Cursor>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Failure::Failed(format!(
                "the state file {} is not a cursor: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the cursor next to `path`, fsyncs it, and renames it over `path`, so a crash
/// leaves either the old or the new cursor, never a torn one.
fn save_state(path: &Path, cursor: &Cursor) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::Failed(format!("cannot save {}: {e}", path.display()));
    let json = serde_json::to_vec_pretty(cursor)
        .map_err(|e| Failure::Failed(format!("cannot encode the cursor: {e}")))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.unwrap_or_else(|| "state".into()),
        std::process::id()
    ));
    {
        let mut file = std::fs::File::create(&tmp).map_err(fail)?;
        file.write_all(&json).map_err(fail)?;
        file.write_all(b"\n").map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    // The rename is durable once the directory is synced (best effort: not every platform
    // opens directories).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SyncArgs,
    }

    fn parse(args: &[&str]) -> SyncArgs {
        Cli::try_parse_from(std::iter::once("sync").chain(args.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn presets_and_flags_become_specs() {
        let spec = spec_from_args(&parse(&["job-runs", "--job-id", "5", "--once"])).ok();
        assert_eq!(spec, Some(SourceSpec::JobRuns { job_id: Some(5) }));
        let spec = spec_from_args(&parse(&[
            "sql",
            "--warehouse",
            "w",
            "--table",
            "main.s.t",
            "--watermark-column",
            "ts",
            "--key-column",
            "id",
            "--watermark-type",
            "number",
            "--follow",
        ]))
        .ok()
        .unwrap();
        assert_eq!(spec.kind(), "sql");
        let Err(Failure::Usage(m)) =
            spec_from_args(&parse(&["tables", "--catalog", "main", "--once"]))
        else {
            panic!("a missing schema is a usage error");
        };
        assert!(m.contains("schema"), "{m}");
        let spec = spec_from_args(&parse(&["--spec", r#"{"type": "clusters"}"#, "--once"])).ok();
        assert_eq!(spec, Some(SourceSpec::Clusters {}));
    }

    #[test]
    fn start_points_parse() {
        assert!(matches!(parse_start_from("now"), Ok(StartFrom::Now)));
        assert!(matches!(
            parse_start_from("1700000000000"),
            Ok(StartFrom::Time(1_700_000_000_000))
        ));
        assert!(matches!(
            parse_start_from("2023-11-14T22:13:20Z"),
            Ok(StartFrom::Time(1_700_000_000_000))
        ));
        assert!(parse_start_from("yesterday").is_err());
    }

    #[test]
    fn the_state_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor.json");
        assert_eq!(load_state(&path).ok().flatten(), None);
        let cursor = Cursor {
            source: "jobs:abc".into(),
            watermark: Some(5),
            ..Cursor::default()
        };
        save_state(&path, &cursor).ok().unwrap();
        assert_eq!(load_state(&path).ok().flatten(), Some(cursor));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file stays behind");
    }
}
