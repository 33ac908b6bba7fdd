//! `brickwire sql "STATEMENT" --warehouse ID`: runs one SQL statement and streams its whole
//! result to a file or stdout as CSV, a JSON array, NDJSON or one Arrow IPC stream.
//!
//! How it works, and why:
//! - The statement is submitted with `disposition = EXTERNAL_LINKS` and always
//!   `format = ARROW_STREAM`, whatever the output format. Arrow is the most compact encoding
//!   Databricks offers (integers travel as 8 bytes, not as decimal text), it carries the column
//!   types (so JSON output has real numbers and booleans) and keeps NULL apart from the empty
//!   string, and every chunk is a self-describing IPC stream, so there is one decode path and no
//!   per-chunk CSV header to guess about. Conversion to the output format is cheap next to the
//!   download and runs on its own thread.
//! - It is submitted with `wait_timeout = 0s` (so the statement id is known at once and Ctrl-C
//!   can always cancel it), then polled until terminal with short, growing delays.
//! - Chunks are downloaded concurrently (at most `--concurrency` in flight, in order of index)
//!   and handed to the writer thread strictly in order. Memory is bounded in bytes, not chunks:
//!   a chunk reserves its `byte_count` from a budget of [`BYTES_IN_FLIGHT`] before its download
//!   starts and gives it back once the writer has written it, so downloads, decoded chunks and
//!   encoded ones waiting for the writer together stay near that budget whatever the chunk size
//!   (a chunk larger than the budget runs alone), never the whole result.
//! - Each chunk is fetched on its own task. CSV and NDJSON are decoded and encoded as the
//!   chunk's bytes arrive, several chunks at once on every core, into encode buffers reused
//!   from a pool, so no download is held whole and the writer thread only copies bytes; a JSON
//!   array and an Arrow stream are decoded in place once the chunk is in and encoded by the
//!   writer (they carry state from one batch to the next).
//! - External links are pre-signed: they are fetched WITHOUT the workspace credentials, with the
//!   `http_headers` the link lists. A link that is refused (expired) is replaced by a fresh one
//!   from `GET .../result/chunks/{N}` and fetched again. Those link lookups are not paced by
//!   the client-side rate limit (the download window already bounds them); a 429 still is.
//! - Exit codes: 0 success, 1 the statement failed (Databricks' message on stderr) or any other
//!   runtime error, 2 usage errors (missing warehouse or credentials), 130 interrupted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{
    Array, BooleanArray, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray, StringViewArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use brickwire_api::SecretString;
use brickwire_api::statements::{
    Disposition, ExecuteStatementRequest, ExternalLink, Format, OnWaitTimeout, ResultData,
    ResultManifest, StatementResponse, StatementState,
};
use brickwire_client::services::statements::request;
use brickwire_client::waiter::WaitOptions;
use brickwire_client::{Client, Config};
use bytes::Bytes;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Default number of chunk downloads in flight.
pub const DEFAULT_CONCURRENCY: usize = 6;

/// How often a link may be refreshed or a download retried before giving up on a chunk.
const MAX_CHUNK_ATTEMPTS: u32 = 5;

/// Chunks ready and waiting for the writer thread (the byte budget is what bounds memory).
const WRITER_QUEUE: usize = 4;

/// The budget of result bytes between the start of their download and their write: three
/// 100,000-row chunks of the benchmark's 3 columns (2.5 MB each as Arrow). A chunk's decoded
/// rows point into its download, and its CSV or NDJSON encoding is about as large, so memory
/// for results stays under about twice this.
pub const BYTES_IN_FLIGHT: usize = 8 << 20;

/// What a chunk reserves from the budget when neither the manifest nor its link gives its size.
const UNKNOWN_CHUNK_BYTES: usize = 4 << 20;
/// The most a chunk download reserves up front from the link's `byte_count`.
const MAX_PREALLOCATED_CHUNK: usize = 64 << 20;

/// Buffers of encoded chunks (CSV, NDJSON) kept for the next chunk instead of freed. With
/// every allocation of 512 KiB or more its own mapping (see
/// [`return_large_buffers_to_the_os`]), a fresh multi-megabyte buffer per chunk costs one page
/// fault per 4 KiB touched (docs/benchmarks.md). An encoding is handed back once it is
/// written, so the pool holds no more buffers than were in use at once.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// The most buffers a pool keeps (more than the byte budget lets be in flight).
const POOLED_BUFFERS: usize = 8;

impl BufferPool {
    /// An empty pool.
    pub const fn new() -> Self {
        Self {
            free: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer with room for at least `capacity` bytes, reused when one is free.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().expect("buffer pool lock").pop();
        match reused {
            Some(mut buffer) => {
                buffer.reserve_exact(capacity);
                buffer
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `buffer` for a later [`BufferPool::take`] (dropped when the pool is full).
    fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut free = self.free.lock().expect("buffer pool lock");
        if free.len() < POOLED_BUFFERS && buffer.capacity() > 0 {
            free.push(buffer);
        }
    }
}

/// The output encodings of `brickwire sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// CSV with one header row; NULL is an empty field, the empty string is `""`.
    Csv,
    /// One JSON array of objects, one per row (NULL as `null`).
    Json,
    /// One JSON object per line (NULL as `null`).
    Ndjson,
    /// One Arrow IPC stream.
    Arrow,
    /// Benchmarks only: every chunk is downloaded and dropped undecoded, nothing is written.
    /// `brickwire sql` against this is the raw-download limit of a workspace (see
    /// scripts/bench_sql.sh).
    #[value(hide = true)]
    Discard,
}

/// The arguments of `brickwire sql`.
#[derive(Debug, Clone, clap::Args)]
pub struct SqlArgs {
    /// The SQL statement to run.
    pub statement: String,
    /// The SQL warehouse to run it on (default: DATABRICKS_WAREHOUSE_ID or the profile's
    /// warehouse_id).
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Output encoding.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutputFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Workspace URL (default: DATABRICKS_HOST or the profile).
    #[arg(long)]
    pub host: Option<String>,
    /// Personal access token (default: DATABRICKS_TOKEN or the profile).
    #[arg(long, hide_env_values = true)]
    pub token: Option<String>,
    /// Profile of ~/.databrickscfg to use.
    #[arg(long)]
    pub profile: Option<String>,
    /// Result chunks downloaded at the same time.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = parse_concurrency)]
    pub concurrency: usize,
    /// Give up waiting for the statement after this many seconds.
    #[arg(long, default_value_t = 24 * 60 * 60)]
    pub timeout_seconds: u64,
}

fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=64) => Ok(n),
        _ => Err("must be a whole number from 1 to 64".to_owned()),
    }
}

/// Why `brickwire sql` stopped without a complete result.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The command line or configuration is unusable (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The statement ended FAILED, CANCELED or CLOSED; `message` is Databricks' own (exit 1).
    #[error("statement {statement_id} {state}: {message}")]
    Statement {
        /// The statement id.
        statement_id: String,
        /// The terminal state reached.
        state: String,
        /// Databricks' error message.
        message: String,
        /// Databricks' `error_code`, if any.
        error_code: Option<String>,
    },
    /// Interrupted; the statement (if it was submitted) was asked to cancel (exit 130).
    #[error("interrupted; statement {} canceled", statement_id.as_deref().unwrap_or("(not yet submitted)"))]
    Interrupted {
        /// The statement that was canceled, if it had an id yet.
        statement_id: Option<String>,
    },
    /// A request to the workspace failed (exit 1).
    #[error(transparent)]
    Client(#[from] brickwire_client::Error),
    /// A chunk could not be downloaded or decoded, or the output not written (exit 1).
    #[error("{0}")]
    Result(String),
}

impl SqlError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            SqlError::Usage(_) => 2,
            SqlError::Client(brickwire_client::Error::Config(_)) => 2,
            SqlError::Interrupted { .. } => 130,
            _ => 1,
        }
    }
}

fn output_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::Result(format!("cannot write the output: {e}"))
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The statement id.
    pub statement_id: String,
    /// Rows written.
    pub rows: u64,
    /// Result chunks fetched.
    pub chunks: u64,
    /// Whether Databricks truncated the result (row or byte limit).
    pub truncated: bool,
}

/// A statement to run and how to deliver its result.
#[derive(Debug, Clone)]
pub struct Query {
    /// SQL text.
    pub statement: String,
    /// Warehouse id.
    pub warehouse_id: String,
    /// Output encoding.
    pub format: OutputFormat,
    /// Chunk downloads in flight (at least 1).
    pub concurrency: usize,
    /// How long to wait for the statement to finish.
    pub timeout: Duration,
}

/// Makes glibc serve every allocation of 512 KiB or more with its own mapping, unmapped when
/// freed. Result chunks are a few megabytes each, allocated and freed on several threads; by
/// default glibc raises its mapping threshold after the first such free and then carves them
/// from per-thread arenas, which fragment, so peak RSS grew with the number of chunks
/// (measured: 53 MB at 10M rows with an 8 MB budget, 43 MB with this; docs/benchmarks.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_os() {
    // SAFETY: mallopt only changes allocator parameters; glibc documents M_MMAP_THRESHOLD as
    // settable at any time, and it takes effect for later allocations only.
    let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 10) };
    if set != 1 {
        tracing::debug!("mallopt(M_MMAP_THRESHOLD) was refused; memory may fragment");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_os() {}

/// Runs `brickwire sql` with real stdout/stderr and Ctrl-C; returns the exit code.
pub async fn run(args: SqlArgs) -> ExitCode {
    return_large_buffers_to_the_os();
    match run_args(args).await {
        Ok(summary) => {
            if summary.truncated {
                eprintln!("warning: Databricks truncated the result (row or byte limit)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run_args(args: SqlArgs) -> Result<Summary, SqlError> {
    let config = Config {
        host: args.host.clone(),
        token: args.token.clone().map(SecretString::from),
        profile: args.profile.clone(),
        ..Config::default()
    };
    let resolved = config
        .resolve()
        .map_err(|e| SqlError::Usage(e.to_string()))?;
    let warehouse_id = args
        .warehouse
        .clone()
        .or_else(|| resolved.warehouse_id.clone())
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| {
            SqlError::Usage(
                "no warehouse: pass --warehouse ID (or set DATABRICKS_WAREHOUSE_ID)".to_owned(),
            )
        })?;
    let client = resolved
        .client()
        .map_err(|e| SqlError::Usage(e.to_string()))?;
    let query = Query {
        statement: args.statement.clone(),
        warehouse_id,
        format: args.format,
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout_seconds),
    };
    let progress = if io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let interrupt = async {
        // If the handler cannot be installed, never interrupt rather than at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| SqlError::Usage(format!("cannot create {}: {e}", path.display())))?;
            let outcome = execute(&client, &query, file, progress, interrupt).await;
            if outcome.is_err() {
                // A half-written result must not pass for a whole one.
                let _ = std::fs::remove_file(path);
            }
            outcome
        }
        None => execute(&client, &query, io::stdout(), progress, interrupt).await,
    }
}

/// Runs `query` on the workspace of `client` and writes its whole result to `out`.
///
/// `progress` is advanced per chunk (use [`ProgressBar::hidden`] for none). When `interrupt`
/// completes first, the statement is canceled on the server and [`SqlError::Interrupted`]
/// returned.
pub async fn execute<W>(
    client: &Client,
    query: &Query,
    out: W,
    progress: ProgressBar,
    interrupt: impl Future<Output = ()>,
) -> Result<Summary, SqlError>
where
    W: Write + Send + 'static,
{
    let mut interrupt = pin!(interrupt);
    progress.set_message("running the statement");
    progress.enable_steady_tick(Duration::from_millis(120));
    let statements = client.statements();
    let request = ExecuteStatementRequest {
        statement: query.statement.clone(),
        warehouse_id: query.warehouse_id.clone(),
        disposition: Some(Disposition::ExternalLinks),
        format: Some(Format::ArrowStream),
        wait_timeout: Some("0s".to_owned()),
        on_wait_timeout: Some(OnWaitTimeout::Continue),
        ..ExecuteStatementRequest::default()
    };
    let submitted = tokio::select! {
        r = statements.execute(&request) => r?,
        () = &mut interrupt => return Err(SqlError::Interrupted { statement_id: None }),
    };
    let statement_id = submitted
        .statement_id
        .clone()
        .ok_or_else(|| SqlError::Result("Databricks returned no statement_id".to_owned()))?;
    let work = async {
        let finished = if submitted.state().is_some_and(StatementState::is_terminal) {
            submitted
        } else {
            statements
                .wait_terminal(&statement_id, &poll_options(query.timeout))
                .await?
        };
        deliver(client, query, &statement_id, finished, out, &progress).await
    };
    let outcome = tokio::select! {
        r = work => r,
        () = &mut interrupt => {
            progress.abandon();
            if let Err(e) = statements.cancel(&statement_id).await {
                eprintln!("warning: could not cancel statement {statement_id}: {e}");
            }
            return Err(SqlError::Interrupted { statement_id: Some(statement_id) });
        }
    };
    progress.finish_and_clear();
    outcome
}

/// Polls quickly at first, then every second at most. Delays grow linearly by `min_delay`
/// (20, 40, 60 ms, ...: ten polls in the first second, about twenty in the first five), so a
/// statement that ends within its first second is seen at most ~0.2 s late; with 100 ms steps
/// (polls at 0.1, 0.3, 0.6, 1.0, 1.5 s) one ending at 1.05 s was seen 0.45 s late, which was
/// a quarter of a 10M-row download. The polls are cheap `GET`s, paced by the client-side rate
/// limit like every other call.
fn poll_options(timeout: Duration) -> WaitOptions {
    WaitOptions {
        timeout,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(1),
        jitter: Duration::from_millis(10),
        seed: None,
    }
}

/// Checks the terminal state, then downloads and writes every chunk in order.
async fn deliver<W>(
    client: &Client,
    query: &Query,
    statement_id: &str,
    finished: StatementResponse,
    out: W,
    progress: &ProgressBar,
) -> Result<Summary, SqlError>
where
    W: Write + Send + 'static,
{
    let state = finished.state().cloned();
    if state != Some(StatementState::Succeeded) {
        let status = finished.status.clone().unwrap_or_default();
        let error = status.error.unwrap_or_default();
        return Err(SqlError::Statement {
            statement_id: statement_id.to_owned(),
            state: state.map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
            message: error
                .message
                .unwrap_or_else(|| "no error message was given".to_owned()),
            error_code: error.error_code,
        });
    }
    let manifest = finished.manifest.clone().unwrap_or_default();
    let total_chunks = manifest
        .total_chunk_count
        .unwrap_or(manifest.chunks.len() as i64)
        .max(0);
    let expected_rows: HashMap<i64, i64> = manifest
        .chunks
        .iter()
        .filter_map(|c| Some((c.chunk_index?, c.row_count?)))
        .collect();
    let total_rows = manifest
        .total_row_count
        .map(|n| format!("/{n}"))
        .unwrap_or_default();
    progress.set_length(total_chunks as u64);
    progress.set_position(0);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} chunks, {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(format!("0{total_rows} rows"));
    let mut first_links: HashMap<i64, ExternalLink> = finished
        .result
        .map(|r| r.external_links)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| Some((l.chunk_index?, l)))
        .collect();

    let chunk_bytes: HashMap<i64, i64> = manifest
        .chunks
        .iter()
        .filter_map(|c| Some((c.chunk_index?, c.byte_count?)))
        .collect();

    let fallback_schema = Arc::new(manifest_schema(&manifest));
    let (tx, rx) = tokio::sync::mpsc::channel::<ToWriter>(WRITER_QUEUE);
    let format = query.format;
    let buffers = Arc::new(BufferPool::new());
    let writer = {
        let buffers = buffers.clone();
        std::thread::spawn(move || write_all(rx, out, format, fallback_schema, &buffers))
    };

    let budget = Arc::new(Semaphore::new(BYTES_IN_FLIGHT >> 10));
    let mut chunks = Box::pin(
        futures::stream::iter(0..total_chunks)
            // Reserved in index order, one chunk after the other, so a later chunk can never hold
            // the budget an earlier one waits for (the writer frees it strictly in order).
            .then(|index| {
                let link = first_links.remove(&index);
                let size = chunk_bytes
                    .get(&index)
                    .copied()
                    .or_else(|| link.as_ref().and_then(|l| l.byte_count));
                let budget = budget.clone();
                async move {
                    let reserved = budget_units(size);
                    let permit = budget
                        .acquire_many_owned(reserved)
                        .await
                        .expect("the budget is never closed");
                    (index, link, permit)
                }
            })
            .map(|(index, link, permit)| {
                let expected = expected_rows.get(&index).map(|&r| r as u64);
                let (client, statement_id, buffers) =
                    (client.clone(), statement_id.to_owned(), buffers.clone());
                // Each chunk on its own task, so chunks decode and encode on every core as
                // their bytes arrive; aborted if the run stops (an error, Ctrl-C).
                let mut task = AbortOnDrop(tokio::spawn(async move {
                    let chunk = ChunkRequest {
                        statement_id: &statement_id,
                        index,
                        format,
                        expected_rows: expected,
                    };
                    fetch_chunk(&client, &chunk, link, &buffers).await
                }));
                async move {
                    let prepared = (&mut task.0).await.map_err(|e| {
                        SqlError::Result(format!("chunk {index} could not be decoded: {e}"))
                    })??;
                    Ok::<_, SqlError>((index, prepared, permit))
                }
            })
            .buffered(query.concurrency.max(1)),
    );
    let mut rows: u64 = 0;
    let mut done: u64 = 0;
    let mut failure = None;
    while let Some(next) = chunks.next().await {
        let (index, prepared, permit) = match next {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let n = prepared.rows;
        if let Some(&want) = expected_rows.get(&index)
            && want as u64 != n
        {
            failure = Some(SqlError::Result(format!(
                "chunk {index} has {n} rows; the manifest promised {want}"
            )));
            break;
        }
        if tx
            .send(ToWriter::Chunk(prepared.payload, permit))
            .await
            .is_err()
        {
            break; // the writer stopped: its error is reported below
        }
        rows += n;
        done += 1;
        progress.inc(1);
        progress.set_message(format!("{rows}{total_rows} rows"));
    }
    drop(chunks);
    if failure.is_none() {
        // Only a complete result gets its trailer (`]`, the Arrow end-of-stream marker).
        let _ = tx.send(ToWriter::Finish).await;
    }
    drop(tx);
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| SqlError::Result(format!("the writer thread failed: {e}")))?
        .map_err(|_| SqlError::Result("the writer thread panicked".to_owned()))?;
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    Ok(Summary {
        statement_id: statement_id.to_owned(),
        rows,
        chunks: done,
        truncated: manifest.truncated.unwrap_or(false),
    })
}

/// A spawned chunk task that is aborted when dropped (the run stopped before it was awaited).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a chunk's bytes could not be made ready for the writer.
#[derive(Debug)]
enum ChunkError {
    /// The bytes are not an Arrow IPC stream (or it ends unfinished).
    NotArrow(ArrowError),
    /// The rows decoded but could not be encoded as the output format.
    Encoding(ArrowError),
}

/// How one download attempt went.
enum Download {
    Done(Prepared),
    /// The body could not be decoded or its rows encoded: fetching it again would not help.
    Unusable(ChunkError),
    /// Refused (403 and friends): the link has expired or is no longer valid; get a new one.
    Refused(u16),
    /// A transport error or a server-side failure worth another try.
    Transient(String),
}

/// The budget units (KiB) a chunk of `size` bytes reserves: at least one, at most the whole
/// budget (so a chunk larger than the budget runs alone instead of never).
fn budget_units(size: Option<i64>) -> u32 {
    let bytes = size
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(UNKNOWN_CHUNK_BYTES)
        .min(BYTES_IN_FLIGHT);
    u32::try_from(bytes >> 10).unwrap_or(u32::MAX).max(1)
}

/// Which chunk to fetch, and what to make of it.
pub struct ChunkRequest<'a> {
    /// The statement whose result it is.
    pub statement_id: &'a str,
    /// The chunk's index.
    pub index: i64,
    /// What the chunk becomes for the writer.
    pub format: OutputFormat,
    /// The manifest's row count (the figure `discard` reports: it does not decode).
    pub expected_rows: Option<u64>,
}

/// Downloads a chunk, starting with `link` if given, decoding (and for CSV and NDJSON,
/// encoding) its rows as they arrive. A refused (expired) link is replaced by a fresh one, a
/// transient failure retried from the start, up to [`MAX_CHUNK_ATTEMPTS`]. The encoding goes
/// into a buffer from `pool`.
pub async fn fetch_chunk(
    client: &Client,
    chunk: &ChunkRequest<'_>,
    mut link: Option<ExternalLink>,
    pool: &BufferPool,
) -> Result<Prepared, SqlError> {
    let index = chunk.index;
    let mut last = String::new();
    for attempt in 1..=MAX_CHUNK_ATTEMPTS {
        let current = match link.take() {
            Some(l) => l,
            None => fresh_link(client, chunk.statement_id, index).await?,
        };
        let sink = ChunkSink::new(chunk, current.byte_count, pool);
        match download(client, &current, sink).await {
            Download::Done(prepared) => return Ok(prepared),
            Download::Unusable(ChunkError::NotArrow(e)) => {
                return Err(SqlError::Result(format!(
                    "chunk {index} is not a valid Arrow stream: {e}"
                )));
            }
            Download::Unusable(ChunkError::Encoding(e)) => {
                return Err(SqlError::Result(format!("chunk {index}: {e}")));
            }
            Download::Refused(status) => {
                tracing::debug!(index, status, "external link refused; fetching a fresh one");
                last = format!("the link was refused with HTTP {status}");
            }
            Download::Transient(why) => {
                tracing::debug!(index, attempt, why, "chunk download failed; retrying");
                last = why;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
    Err(SqlError::Result(format!(
        "chunk {index} could not be downloaded after {MAX_CHUNK_ATTEMPTS} attempts: {last}"
    )))
}

/// A chunk made ready for the writer.
pub struct Prepared {
    /// Rows in the chunk (for `discard`, the manifest's figure: it is not decoded).
    pub rows: u64,
    /// What the writer writes.
    pub payload: Payload,
}

/// What the writer receives for one chunk.
pub enum Payload {
    /// Decoded rows, for the encodings the writer keeps state for (JSON array, Arrow).
    Batches(Vec<RecordBatch>),
    /// The chunk's rows already encoded (CSV without its header, NDJSON), with their schema.
    Encoded { schema: SchemaRef, bytes: Vec<u8> },
    /// Nothing to write: an empty chunk, or `discard`.
    Nothing,
}

/// One chunk's download turned into its [`Prepared`] form. For CSV and NDJSON, piece by piece
/// as the bytes arrive: Arrow's stream decoder keeps only an unfinished message and rows are
/// encoded batch by batch, so the download is never held whole. For a JSON array and Arrow,
/// whose writer takes decoded batches, the download is collected into one buffer and decoded
/// in place at the end: batches decoded piece by piece would each pin the network buffer they
/// came in (measured: 46-47 MiB peak at 10M rows, against 36 MiB in place). Dropped unfinished
/// (a download cut short), it gives its buffer back.
struct ChunkSink<'p> {
    format: OutputFormat,
    expected_rows: Option<u64>,
    decoder: StreamDecoder,
    rows: u64,
    schema: Option<SchemaRef>,
    /// The download, for the formats decoded at the end.
    body: Vec<u8>,
    encoded: Vec<u8>,
    pool: &'p BufferPool,
}

impl<'p> ChunkSink<'p> {
    /// A sink for `chunk`; `byte_count` (the chunk's size as Arrow) sizes its encoding.
    fn new(chunk: &ChunkRequest<'_>, byte_count: Option<i64>, pool: &'p BufferPool) -> Self {
        let size = byte_count
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(MAX_PREALLOCATED_CHUNK);
        let encoded = encoded_size(chunk.format, size).map_or_else(Vec::new, |n| pool.take(n));
        let body = match chunk.format {
            OutputFormat::Json | OutputFormat::Arrow => Vec::with_capacity(size),
            OutputFormat::Csv | OutputFormat::Ndjson | OutputFormat::Discard => Vec::new(),
        };
        Self {
            format: chunk.format,
            expected_rows: chunk.expected_rows,
            decoder: StreamDecoder::new(),
            rows: 0,
            schema: None,
            body,
            encoded,
            pool,
        }
    }

    /// Takes the next piece of the download.
    fn push(&mut self, piece: Bytes) -> Result<(), ChunkError> {
        match self.format {
            OutputFormat::Discard => {}
            OutputFormat::Json | OutputFormat::Arrow => self.body.extend_from_slice(&piece),
            OutputFormat::Csv | OutputFormat::Ndjson => {
                // `decode` returns `None` once the piece is used up (an unfinished message is
                // kept for the next piece).
                let mut buffer = arrow::buffer::Buffer::from(piece);
                while let Some(batch) = self
                    .decoder
                    .decode(&mut buffer)
                    .map_err(ChunkError::NotArrow)?
                {
                    self.rows += batch.num_rows() as u64;
                    if self.schema.is_none() {
                        self.schema = Some(batch.schema());
                    }
                    encode_batch(self.format, &batch, &mut self.encoded)
                        .map_err(ChunkError::Encoding)?;
                }
            }
        }
        Ok(())
    }

    /// The chunk, once the whole download has been pushed (an unfinished stream is an error).
    fn finish(mut self) -> Result<Prepared, ChunkError> {
        if self.format == OutputFormat::Discard {
            // Undecoded: the manifest's count stands.
            return Ok(Prepared {
                rows: self.expected_rows.unwrap_or(0),
                payload: Payload::Nothing,
            });
        }
        let mut batches = Vec::new();
        if !self.body.is_empty() {
            // In place: the batches' arrays point into the download (Arrow copies a buffer
            // only where it is misaligned).
            let mut buffer = arrow::buffer::Buffer::from(std::mem::take(&mut self.body));
            while let Some(batch) = self
                .decoder
                .decode(&mut buffer)
                .map_err(ChunkError::NotArrow)?
            {
                self.rows += batch.num_rows() as u64;
                self.schema.get_or_insert_with(|| batch.schema());
                batches.push(batch);
            }
        }
        self.decoder.finish().map_err(ChunkError::NotArrow)?;
        let payload = match self.schema.take() {
            None => Payload::Nothing,
            Some(_) if !batches.is_empty() => Payload::Batches(batches),
            Some(schema) => Payload::Encoded {
                schema,
                bytes: std::mem::take(&mut self.encoded),
            },
        };
        Ok(Prepared {
            rows: self.rows,
            payload,
        })
    }
}

impl Drop for ChunkSink<'_> {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.encoded));
    }
}

/// The room to reserve for a chunk of `size` bytes (as Arrow) encoded as `format`, for the
/// formats that encode chunk by chunk (CSV without its header, NDJSON); `None` for those the
/// writer encodes with state (JSON array, Arrow).
fn encoded_size(format: OutputFormat, size: usize) -> Option<usize> {
    match format {
        OutputFormat::Csv => Some(size + size / 4),
        OutputFormat::Ndjson => Some(size * 2),
        OutputFormat::Json | OutputFormat::Arrow | OutputFormat::Discard => None,
    }
}

/// Appends `batch` to `out` as CSV lines (without the header) or NDJSON.
fn encode_batch(
    format: OutputFormat,
    batch: &RecordBatch,
    out: &mut Vec<u8>,
) -> Result<(), ArrowError> {
    match format {
        OutputFormat::Csv => encode_csv_rows(batch, out),
        OutputFormat::Ndjson => {
            let mut w = json_writer::<_, arrow::json::writer::LineDelimited>(out);
            w.write(batch)?;
            w.finish()
        }
        OutputFormat::Json | OutputFormat::Arrow | OutputFormat::Discard => Err(
            ArrowError::InvalidArgumentError(format!("{format:?} is not encoded by chunk")),
        ),
    }
}

/// One batch encoded as a CSV or NDJSON chunk.
fn encoded(format: OutputFormat, batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    encode_batch(format, batch, &mut out)?;
    Ok(out)
}

/// A new external link for chunk `index` (`GET .../result/chunks/{index}`).
async fn fresh_link(
    client: &Client,
    statement_id: &str,
    index: i64,
) -> Result<ExternalLink, SqlError> {
    // Not paced by the client-side rate limit: these lookups are bounded by the download
    // window (`--concurrency`), and pacing them at the default 15 per second made a
    // 100-chunk result wait ~7 s for links alone. A 429 from the workspace still backs off.
    let data: ResultData = client
        .call(request::get_chunk(statement_id, index).paced(false))
        .await?;
    let links = data.external_links;
    let position = links
        .iter()
        .position(|l| l.chunk_index == Some(index))
        .or((!links.is_empty()).then_some(0));
    position
        .map(|p| links.into_iter().nth(p).expect("position is in range"))
        .ok_or_else(|| SqlError::Result(format!("chunk {index} came back without a link")))
}

/// Downloads one link with [`Client::fetch_external`]: the client's pool, timeouts and retry
/// policy, the link's `http_headers`, never the workspace credentials, and no signature in any
/// message.
async fn download(client: &Client, link: &ExternalLink, mut sink: ChunkSink<'_>) -> Download {
    let Some(url) = link
        .external_link
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
    else {
        return Download::Refused(0);
    };
    let headers: Vec<(String, String)> = link
        .http_headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let stream = match client.fetch_external(&url, &headers).await {
        Ok(stream) => stream,
        Err(e) => {
            return match e.status() {
                Some(status) if (400..500).contains(&status) && status != 429 => {
                    Download::Refused(status)
                }
                _ => Download::Transient(e.to_string()),
            };
        }
    };
    let mut body = stream.body;
    while let Some(piece) = body.next().await {
        match piece {
            Ok(piece) => {
                if let Err(e) = sink.push(piece) {
                    return Download::Unusable(e);
                }
            }
            Err(e) => return Download::Transient(format!("body cut short: {e}")),
        }
    }
    match sink.finish() {
        Ok(prepared) => Download::Done(prepared),
        Err(e) => Download::Unusable(e),
    }
}

/// An Arrow schema from the manifest, for a result with no chunk to take it from.
fn manifest_schema(manifest: &ResultManifest) -> Schema {
    let columns = manifest
        .schema
        .as_ref()
        .map(|s| s.columns.as_slice())
        .unwrap_or_default();
    Schema::new(
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = c.name.clone().unwrap_or_else(|| format!("_c{i}"));
                let data_type = match c.type_name.as_deref().unwrap_or_default() {
                    "BOOLEAN" => DataType::Boolean,
                    "BYTE" | "TINYINT" => DataType::Int8,
                    "SHORT" | "SMALLINT" => DataType::Int16,
                    "INT" | "INTEGER" => DataType::Int32,
                    "LONG" | "BIGINT" => DataType::Int64,
                    "FLOAT" => DataType::Float32,
                    "DOUBLE" => DataType::Float64,
                    "DATE" => DataType::Date32,
                    "BINARY" => DataType::Binary,
                    _ => DataType::Utf8,
                };
                Field::new(name, data_type, true)
            })
            .collect::<Vec<_>>(),
    )
}

/// What the download loop hands the writer thread.
enum ToWriter {
    /// The next chunk, in order, with its share of the byte budget (given back once written).
    Chunk(Payload, OwnedSemaphorePermit),
    /// Every chunk was sent: end the output properly.
    Finish,
}

/// The writer thread: writes chunks as they arrive, in order, and finishes the output only
/// when told the result is complete (a failed download leaves it visibly cut short).
fn write_all<W: Write>(
    mut rx: tokio::sync::mpsc::Receiver<ToWriter>,
    out: W,
    format: OutputFormat,
    fallback_schema: SchemaRef,
    buffers: &BufferPool,
) -> Result<(), SqlError> {
    // Encoded chunks are larger than the buffer and go straight through it.
    let out = io::BufWriter::with_capacity(256 << 10, out);
    let mut encoder: Option<Encoder<io::BufWriter<W>>> = None;
    let mut out = Some(out);
    let mut complete = false;
    while let Some(message) = rx.blocking_recv() {
        let (payload, _reserved) = match message {
            ToWriter::Chunk(payload, reserved) => (payload, reserved),
            ToWriter::Finish => {
                complete = true;
                break;
            }
        };
        match payload {
            Payload::Batches(batches) => {
                for batch in batches {
                    encoder_for(&mut encoder, &mut out, format, batch.schema())?
                        .write(&batch)
                        .map_err(output_error)?;
                }
            }
            Payload::Encoded { schema, bytes } => {
                encoder_for(&mut encoder, &mut out, format, schema)?
                    .write_encoded(&bytes)
                    .map_err(output_error)?;
                buffers.give(bytes);
            }
            Payload::Nothing => {}
        }
    }
    if !complete {
        return match (encoder, out) {
            (Some(e), _) => e.flush(),
            (None, Some(mut w)) => w.flush().map_err(output_error),
            (None, None) => Ok(()),
        };
    }
    let encoder = match encoder {
        Some(e) => e,
        None => Encoder::new(
            format,
            out.take().expect("the output is taken once"),
            fallback_schema,
        )?,
    };
    encoder.finish()
}

/// The encoder, made over the output (with the first chunk's schema) when first needed.
fn encoder_for<'e, W: Write>(
    encoder: &'e mut Option<Encoder<W>>,
    out: &mut Option<W>,
    format: OutputFormat,
    schema: SchemaRef,
) -> Result<&'e mut Encoder<W>, SqlError> {
    if encoder.is_none() {
        let w = out.take().expect("the output is taken once");
        *encoder = Some(Encoder::new(format, w, schema)?);
    }
    Ok(encoder.as_mut().expect("set above"))
}

/// One output encoding over a writer.
enum Encoder<W: Write> {
    /// CSV: the header is written at the start, rows arrive encoded ([`encode_csv_rows`]).
    Csv(W),
    Json(arrow::json::Writer<W, arrow::json::writer::JsonArray>),
    /// NDJSON: rows arrive encoded (see [`prepare`]).
    Ndjson(W),
    Arrow(StreamWriter<W>),
    Discard(W),
}

/// Arrow's JSON writer as both JSON formats use it: NULL written as `null`, not left out.
fn json_writer<W: Write, F: arrow::json::writer::JsonFormat>(out: W) -> arrow::json::Writer<W, F> {
    arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build(out)
}

impl<W: Write> Encoder<W> {
    fn new(format: OutputFormat, mut out: W, schema: SchemaRef) -> Result<Self, SqlError> {
        Ok(match format {
            OutputFormat::Csv => {
                out.write_all(&csv_header(&schema)).map_err(output_error)?;
                Encoder::Csv(out)
            }
            OutputFormat::Json => {
                let mut w = json_writer::<_, arrow::json::writer::JsonArray>(out);
                // An empty result is still one (empty) JSON array.
                w.write_batches(&[]).map_err(output_error)?;
                Encoder::Json(w)
            }
            OutputFormat::Ndjson => Encoder::Ndjson(out),
            OutputFormat::Arrow => {
                Encoder::Arrow(StreamWriter::try_new(out, &schema).map_err(output_error)?)
            }
            OutputFormat::Discard => Encoder::Discard(out),
        })
    }

    /// Encodes and writes one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            Encoder::Csv(w) => Ok(w.write_all(&encoded(OutputFormat::Csv, batch)?)?),
            Encoder::Ndjson(w) => Ok(w.write_all(&encoded(OutputFormat::Ndjson, batch)?)?),
            Encoder::Json(w) => w.write(batch),
            Encoder::Arrow(w) => w.write(batch),
            Encoder::Discard(_) => Ok(()),
        }
    }

    /// Writes rows that [`prepare`] already encoded for this format.
    fn write_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Csv(w) | Encoder::Ndjson(w) => w.write_all(bytes),
            Encoder::Json(_) | Encoder::Arrow(_) => Err(io::Error::other(
                "encoded rows were sent to an encoding that encodes its own",
            )),
            Encoder::Discard(_) => Ok(()),
        }
    }

    /// Pushes out what was written so far, without ending the output.
    fn flush(self) -> Result<(), SqlError> {
        let mut out = match self {
            Encoder::Csv(w) | Encoder::Ndjson(w) | Encoder::Discard(w) => w,
            Encoder::Json(w) => w.into_inner(),
            Encoder::Arrow(mut w) => return w.get_mut().flush().map_err(output_error),
        };
        out.flush().map_err(output_error)
    }

    fn finish(self) -> Result<(), SqlError> {
        let mut out = match self {
            Encoder::Csv(w) | Encoder::Ndjson(w) | Encoder::Discard(w) => w,
            Encoder::Json(mut w) => {
                w.finish().map_err(output_error)?;
                let mut out = w.into_inner();
                out.write_all(b"\n").map_err(output_error)?;
                out
            }
            Encoder::Arrow(mut w) => {
                w.finish().map_err(output_error)?;
                w.into_inner().map_err(output_error)?
            }
        };
        out.flush().map_err(output_error)
    }
}

// CSV in which NULL is an empty field and the empty string is `""` (as PostgreSQL's CSV
// does), so NULLs survive a round trip; other values are quoted only when they must be.
//
// This is the hot loop of `brickwire sql`: integers are written with `itoa`, strings and
// booleans are copied straight from the Arrow buffers, and only other types (floats, dates,
// decimals, nested values) go through Arrow's display formatter.

const CSV_OPTIONS: FormatOptions<'static> = FormatOptions::new()
    .with_display_error(true)
    .with_timestamp_format(Some("%Y-%m-%dT%H:%M:%S%.f"))
    .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.f%:z"));

/// How one column's values are written.
enum CsvColumn<'a> {
    Int8(&'a Int8Array),
    Int16(&'a Int16Array),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Boolean(&'a BooleanArray),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    /// Anything else, through Arrow's display formatter (quoted when it must be).
    Formatted(ArrayFormatter<'a>),
}

impl<'a> CsvColumn<'a> {
    fn new(array: &'a dyn Array) -> Result<Self, ArrowError> {
        let any = array.as_any();
        Ok(match array.data_type() {
            DataType::Int8 => Self::Int8(any.downcast_ref().expect("Int8 array")),
            DataType::Int16 => Self::Int16(any.downcast_ref().expect("Int16 array")),
            DataType::Int32 => Self::Int32(any.downcast_ref().expect("Int32 array")),
            DataType::Int64 => Self::Int64(any.downcast_ref().expect("Int64 array")),
            DataType::Boolean => Self::Boolean(any.downcast_ref().expect("Boolean array")),
            DataType::Utf8 => Self::Utf8(any.downcast_ref().expect("Utf8 array")),
            DataType::LargeUtf8 => Self::LargeUtf8(any.downcast_ref().expect("LargeUtf8 array")),
            DataType::Utf8View => Self::Utf8View(any.downcast_ref().expect("Utf8View array")),
            _ => Self::Formatted(ArrayFormatter::try_new(array, &CSV_OPTIONS)?),
        })
    }

    /// Appends the non-NULL value at `row`.
    fn push(
        &self,
        row: usize,
        line: &mut Vec<u8>,
        cell: &mut String,
        numbers: &mut itoa::Buffer,
    ) -> Result<(), ArrowError> {
        match self {
            Self::Int8(a) => line.extend_from_slice(numbers.format(a.value(row)).as_bytes()),
            Self::Int16(a) => line.extend_from_slice(numbers.format(a.value(row)).as_bytes()),
            Self::Int32(a) => line.extend_from_slice(numbers.format(a.value(row)).as_bytes()),
            Self::Int64(a) => line.extend_from_slice(numbers.format(a.value(row)).as_bytes()),
            Self::Boolean(a) => {
                line.extend_from_slice(if a.value(row) { b"true" } else { b"false" })
            }
            Self::Utf8(a) => push_csv_cell(line, a.value(row)),
            Self::LargeUtf8(a) => push_csv_cell(line, a.value(row)),
            Self::Utf8View(a) => push_csv_cell(line, a.value(row)),
            Self::Formatted(f) => {
                cell.clear();
                write!(cell, "{}", f.value(row))
                    .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
                push_csv_cell(line, cell);
            }
        }
        Ok(())
    }
}

/// The CSV header line: the column names.
fn csv_header(schema: &Schema) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        push_csv_cell(&mut line, field.name());
    }
    line.push(b'\n');
    line
}

/// Appends the batch's rows as CSV lines to `out`.
fn encode_csv_rows(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ArrowError> {
    // A column without NULLs (the usual case) skips the per-cell validity lookup.
    let columns = batch
        .columns()
        .iter()
        .map(|c| {
            let nulls = c.nulls().filter(|n| n.null_count() > 0);
            Ok((nulls, CsvColumn::new(c.as_ref())?))
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    let mut numbers = itoa::Buffer::new();
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        for (i, (nulls, column)) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                column.push(row, out, &mut cell, &mut numbers)?;
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Appends one non-NULL CSV value, quoted when empty or when it holds `,`, `"`, CR or LF.
fn push_csv_cell(line: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if !bytes.is_empty()
        && !bytes
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        line.extend_from_slice(bytes);
        return;
    }
    line.push(b'"');
    for &b in bytes {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn sample() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as _,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a,\"b\""), Some(""), None])) as _,
            ),
        ])
        .unwrap()
    }

    /// The CSV `brickwire sql` writes for one batch: header and rows.
    fn csv_of(batch: &RecordBatch) -> String {
        let mut out = csv_header(&batch.schema());
        encode_csv_rows(batch, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_of_slices_reads_nulls_at_the_slice_offset() {
        // Chunks arrive as slices of larger batches; a column without NULLs in its slice
        // skips the validity lookup, one with NULLs must read them at the offset.
        let all = csv_of(&sample());
        let lines: Vec<&str> = all.lines().collect();
        for (offset, len) in [(0, 1), (1, 2), (2, 1), (0, 3)] {
            let sliced = csv_of(&sample().slice(offset, len));
            let want = std::iter::once(lines[0])
                .chain(lines[1 + offset..1 + offset + len].iter().copied())
                .map(|l| format!("{l}\n"))
                .collect::<String>();
            assert_eq!(sliced, want, "slice {offset}+{len}");
        }
    }

    #[test]
    fn csv_keeps_null_apart_from_empty_string_and_quotes_when_needed() {
        let batch = sample();
        assert_eq!(csv_of(&batch), "n,s\n1,\"a,\"\"b\"\"\"\n,\"\"\n3,\n");
    }

    #[test]
    fn csv_fast_paths_write_what_arrows_formatter_writes() {
        use arrow::array::{
            BooleanArray, Float64Array, Int8Array, Int16Array, Int32Array, LargeStringArray,
            StringViewArray,
        };
        let columns: Vec<(&str, Arc<dyn Array>)> = vec![
            (
                "i8",
                Arc::new(Int8Array::from(vec![Some(i8::MIN), None, Some(7)])),
            ),
            (
                "i16",
                Arc::new(Int16Array::from(vec![Some(-300), Some(0), None])),
            ),
            (
                "i32",
                Arc::new(Int32Array::from(vec![Some(i32::MAX), None, Some(-1)])),
            ),
            (
                "i64",
                Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(42), None])),
            ),
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("x\ny"), Some(""), None])),
            ),
            (
                "ls",
                Arc::new(LargeStringArray::from(vec![
                    Some("a\"b"),
                    None,
                    Some("plain"),
                ])),
            ),
            (
                "sv",
                Arc::new(StringViewArray::from(vec![
                    Some("a string longer than twelve bytes, with a comma"),
                    Some("é"),
                    None,
                ])),
            ),
            (
                "f",
                Arc::new(Float64Array::from(vec![Some(1.5), Some(1e20), None])),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let fast = csv_of(&batch);
        // The same rows with every column through Arrow's display formatter.
        let mut slow = String::new();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(row) {
                        return String::new();
                    }
                    let f = ArrayFormatter::try_new(c.as_ref(), &CSV_OPTIONS).unwrap();
                    let mut cell = Vec::new();
                    push_csv_cell(&mut cell, &f.value(row).to_string());
                    String::from_utf8(cell).unwrap()
                })
                .collect();
            slow.push_str(&cells.join(","));
            slow.push('\n');
        }
        let (header, body) = fast.split_once('\n').unwrap();
        assert_eq!(header, "i8,i16,i32,i64,b,s,ls,sv,f");
        assert_eq!(body, slow);
        assert!(
            body.starts_with("-128,-300,2147483647,-9223372036854775808,true,\"x\ny\",\"a\"\"b\"")
        );
    }

    #[test]
    fn empty_results_still_have_a_shape() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        for (format, want) in [
            (OutputFormat::Csv, "x\n"),
            (OutputFormat::Json, "[]\n"),
            (OutputFormat::Ndjson, ""),
        ] {
            let mut out = Vec::new();
            Encoder::new(format, &mut out, schema.clone())
                .unwrap()
                .finish()
                .unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{format:?}");
        }
    }

    /// A `Write` the test can read after the writer thread consumed it.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn written(format: OutputFormat, finish: bool) -> Vec<u8> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        tx.try_send(ToWriter::Chunk(Payload::Batches(vec![sample()]), permit))
            .unwrap();
        if finish {
            tx.try_send(ToWriter::Finish).unwrap();
        }
        drop(tx);
        let out = Shared::default();
        write_all(
            rx,
            out.clone(),
            format,
            sample().schema(),
            &BufferPool::new(),
        )
        .unwrap();
        out.0.lock().unwrap().clone()
    }

    #[test]
    fn only_a_complete_result_gets_its_trailer() {
        let whole = String::from_utf8(written(OutputFormat::Json, true)).unwrap();
        assert!(whole.ends_with("]\n"), "{whole}");
        let cut = String::from_utf8(written(OutputFormat::Json, false)).unwrap();
        assert!(cut.starts_with("[{\"n\":1") && !cut.contains(']'), "{cut}");

        let whole = written(OutputFormat::Arrow, true);
        let rows: usize = arrow::ipc::reader::StreamReader::try_new(io::Cursor::new(whole), None)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 3);
        let cut = written(OutputFormat::Arrow, false);
        let eos = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(!cut.ends_with(&eos), "no end-of-stream marker");
    }

    #[test]
    fn a_chunk_reserves_its_size_within_the_budget() {
        assert_eq!(budget_units(Some(2_503_752)), 2_445);
        // Unknown size: a default; never zero; never more than the whole budget, so a chunk
        // larger than the budget runs alone instead of waiting forever.
        assert_eq!(budget_units(None) as usize, UNKNOWN_CHUNK_BYTES >> 10);
        assert_eq!(budget_units(Some(0)), 1);
        assert_eq!(budget_units(Some(-5)) as usize, UNKNOWN_CHUNK_BYTES >> 10);
        assert_eq!(budget_units(Some(1 << 40)) as usize, BYTES_IN_FLIGHT >> 10);
    }

    #[test]
    fn chunks_decode_and_encode_piece_by_piece_wherever_the_pieces_split() {
        let mut body = Vec::new();
        let mut w = StreamWriter::try_new(&mut body, &sample().schema()).unwrap();
        w.write(&sample()).unwrap();
        w.write(&sample()).unwrap();
        w.finish().unwrap();
        drop(w);
        let pool = BufferPool::new();
        let sink_for = |format| {
            let chunk = ChunkRequest {
                statement_id: "s",
                index: 3,
                format,
                expected_rows: Some(99),
            };
            ChunkSink::new(&chunk, Some(body.len() as i64), &pool)
        };
        let whole_csv = encoded(OutputFormat::Csv, &sample()).unwrap().repeat(2);
        for piece in [1, 7, 64, 1000, body.len()] {
            for format in [OutputFormat::Csv, OutputFormat::Arrow] {
                let mut sink = sink_for(format);
                for part in body.chunks(piece) {
                    sink.push(Bytes::copy_from_slice(part)).unwrap();
                }
                let prepared = sink.finish().unwrap();
                assert_eq!(prepared.rows, 2 * sample().num_rows() as u64, "{piece}");
                match prepared.payload {
                    Payload::Encoded { bytes, .. } => {
                        assert_eq!(bytes, whole_csv, "{piece}");
                    }
                    Payload::Batches(batches) => {
                        assert_eq!(batches, vec![sample(), sample()], "{piece}");
                    }
                    Payload::Nothing => panic!("rows were lost at pieces of {piece} bytes"),
                }
            }
        }
        // An empty body is an empty chunk; `discard` reports the manifest's count undecoded.
        let empty = sink_for(OutputFormat::Csv).finish().unwrap();
        assert!(matches!(empty.payload, Payload::Nothing) && empty.rows == 0);
        let mut discard = sink_for(OutputFormat::Discard);
        discard.push(Bytes::from_static(b"not arrow")).unwrap();
        assert_eq!(discard.finish().unwrap().rows, 99);
        // A stream cut short is an error, not a shorter chunk.
        let mut cut = sink_for(OutputFormat::Csv);
        cut.push(Bytes::copy_from_slice(&body[..body.len() / 2]))
            .unwrap();
        assert!(matches!(cut.finish(), Err(ChunkError::NotArrow(_))));
    }

    #[test]
    fn manifest_types_map_to_arrow() {
        let manifest: ResultManifest = serde_json::from_value(serde_json::json!({
            "schema": {"columns": [
                {"name": "id", "type_name": "LONG"},
                {"name": "s", "type_name": "STRING"},
                {"type_name": "BOOLEAN"}
            ]}
        }))
        .unwrap();
        let schema = manifest_schema(&manifest);
        let got: Vec<(String, DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("id".to_owned(), DataType::Int64),
                ("s".to_owned(), DataType::Utf8),
                ("_c2".to_owned(), DataType::Boolean),
            ]
        );
    }
}
