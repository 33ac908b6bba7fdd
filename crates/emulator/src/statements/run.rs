//! Executing statements: each runs on its own tokio task, waits (PENDING) while its warehouse
//! starts, runs (RUNNING) through the SQL engine, and keeps the produced Arrow batches.
//!
//! Cancelling aborts the task; dropping the engine's stream stops the query's own tasks too.

use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use futures::StreamExt;

use super::encode::ChunkBody;
use super::model::{Disposition, Format, ServiceError, UNKNOWN_VALUE};
use super::result::{Collector, Pull, ResultSet};
use super::state::{Failure, Statement};
use crate::error::ErrorCode;
use crate::sql::{self, QueryParam, SqlError};
use crate::state::{Workspace, now_ms};

/// How often a PENDING statement looks whether its warehouse is running.
const WAREHOUSE_POLL: Duration = Duration::from_millis(50);

/// A validated statement to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// SQL text.
    pub statement: String,
    /// Warehouse id.
    pub warehouse_id: String,
    /// Default catalog.
    pub catalog: Option<String>,
    /// Default schema.
    pub schema: Option<String>,
    /// Named parameters.
    pub parameters: Vec<QueryParam>,
    /// Rows kept at most.
    pub row_limit: Option<u64>,
    /// Bytes kept at most.
    pub byte_limit: Option<u64>,
    /// INLINE or EXTERNAL_LINKS.
    pub disposition: Disposition,
    /// Result format.
    pub format: Format,
}

/// Records a PENDING statement and starts executing it once its warehouse is running; returns
/// its id.
pub fn submit(ws: Arc<Workspace>, job: Job) -> String {
    let warehouse_id = job.warehouse_id.clone();
    submit_when(ws, job, move |ws: &Workspace| {
        ws.warehouses
            .lock()
            .expect("warehouses lock")
            .is_running(&warehouse_id)
    })
}

/// [`submit`] with the "may it run yet" check given, so tests can hold a statement PENDING.
fn submit_when<F>(ws: Arc<Workspace>, job: Job, ready: F) -> String
where
    F: Fn(&Workspace) -> bool + Send + 'static,
{
    let statement = Statement::new(
        &job.warehouse_id,
        job.disposition.clone(),
        job.format.clone(),
    );
    let id = ws
        .statements
        .lock()
        .expect("statements lock")
        .insert(statement);
    let task = tokio::spawn(run(ws.clone(), id.clone(), job, ready));
    ws.statements
        .lock()
        .expect("statements lock")
        .attach_task(&id, task.abort_handle());
    id
}

/// Waits until `id` reaches a terminal state or `timeout` passes; true if it finished.
pub async fn wait(ws: &Workspace, id: &str, timeout: Duration) -> bool {
    let Some(mut changes) = ws.statements.lock().expect("statements lock").watch(id) else {
        return false;
    };
    tokio::time::timeout(timeout, changes.wait_for(|s| s.is_terminal()))
        .await
        .is_ok_and(|r| r.is_ok())
}

async fn run<F: Fn(&Workspace) -> bool>(ws: Arc<Workspace>, id: String, job: Job, ready: F) {
    while !ready(&ws) {
        tokio::time::sleep(WAREHOUSE_POLL).await;
    }
    ws.statements
        .lock()
        .expect("statements lock")
        .start(&id, now_ms());
    let outcome = execute(&ws, &job).await;
    let mut statements = ws.statements.lock().expect("statements lock");
    match outcome {
        Ok(result) => statements.succeed(&id, result, now_ms()),
        Err(e) => statements.fail(
            &id,
            Failure {
                error: ServiceError {
                    error_code: e.error_code.to_string(),
                    message: e.message,
                },
                sql_state: e.sql_state,
            },
            now_ms(),
        ),
    }
}

fn engine_error(e: DataFusionError) -> SqlError {
    let code = match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => ErrorCode::ResourceExhausted,
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => ErrorCode::BadRequest,
        _ => ErrorCode::InternalError,
    };
    SqlError {
        error_code: code,
        message: e.to_string(),
        sql_state: None,
    }
}

async fn execute(ws: &Workspace, job: &Job) -> Result<ResultSet, SqlError> {
    let settings = ws.settings().statements;
    let mut stream = sql::execute(
        ws,
        job.catalog.as_deref(),
        job.schema.as_deref(),
        &job.statement,
        &job.parameters,
    )
    .await?;
    let byte_limit = match job.disposition {
        Disposition::ExternalLinks => {
            Some(job.byte_limit.unwrap_or(settings.external_links_byte_limit))
        }
        Disposition::Inline => job.byte_limit,
        Disposition::Other(_) => unreachable!("{UNKNOWN_VALUE}"),
    };
    let mut collector = Collector::new(stream.schema(), job.row_limit, byte_limit)
        .spill_above(settings.spill_threshold_bytes);
    while let Some(batch) = stream.next().await {
        let pull = collector
            .push(batch.map_err(engine_error)?)
            .map_err(|e| engine_error(e.into()))?;
        if job.disposition == Disposition::Inline && collector.bytes() > settings.inline_byte_limit
        {
            return Err(SqlError {
                error_code: ErrorCode::BadRequest,
                message: format!(
                    "The result exceeds the {} byte limit of the INLINE disposition; use \
                     disposition EXTERNAL_LINKS for large results.",
                    settings.inline_byte_limit
                ),
                sql_state: None,
            });
        }
        if pull == Pull::Done {
            break;
        }
    }
    drop(stream);
    let mut result = collector
        .finish(settings.chunk_row_count, settings.chunk_byte_count)
        .map_err(|e| engine_error(e.into()))?;
    if job.disposition == Disposition::ExternalLinks {
        let format = job.format.clone();
        // Links announce their exact size, so each chunk is encoded once into nothing.
        result = tokio::task::spawn_blocking(move || {
            count_chunk_bytes(&mut result, &format).map(|()| result)
        })
        .await
        .map_err(|e| SqlError {
            error_code: ErrorCode::InternalError,
            message: e.to_string(),
            sql_state: None,
        })?
        .map_err(|e| engine_error(e.into()))?;
    }
    Ok(result)
}

fn count_chunk_bytes(
    result: &mut ResultSet,
    format: &Format,
) -> Result<(), arrow::error::ArrowError> {
    let mut counts = Vec::with_capacity(result.chunks.len());
    for chunk in &result.chunks {
        let pieces = result.slices(chunk.row_offset, chunk.row_count)?;
        let body = ChunkBody::new(
            format.clone(),
            result.schema.clone(),
            pieces,
            chunk.chunk_index == 0,
        );
        counts.push(body.count_bytes()?);
    }
    for (chunk, n) in result.chunks.iter_mut().zip(counts) {
        chunk.byte_count = Some(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::statements::model::StatementState;

    fn job(sql: &str) -> Job {
        Job {
            statement: sql.to_owned(),
            warehouse_id: "w".to_owned(),
            catalog: None,
            schema: None,
            parameters: Vec::new(),
            row_limit: None,
            byte_limit: None,
            disposition: Disposition::Inline,
            format: Format::JsonArray,
        }
    }

    fn state_of(ws: &Workspace, id: &str) -> StatementState {
        let settings = ws.settings().statements;
        let mut statements = ws.statements.lock().unwrap();
        statements
            .get(id, now_ms(), &settings)
            .unwrap()
            .state
            .clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statement_stays_pending_until_its_warehouse_runs() {
        let ws = Arc::new(Workspace::new("http://localhost", "t"));
        let running = Arc::new(AtomicBool::new(false));
        let flag = running.clone();
        let id = submit_when(ws.clone(), job("SELECT 1"), move |_: &Workspace| {
            flag.load(Ordering::SeqCst)
        });
        assert!(!wait(&ws, &id, Duration::from_millis(300)).await);
        assert_eq!(state_of(&ws, &id), StatementState::Pending);
        running.store(true, Ordering::SeqCst);
        assert!(wait(&ws, &id, Duration::from_secs(60)).await);
        assert_eq!(state_of(&ws, &id), StatementState::Succeeded);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pending_statement_can_be_canceled() {
        let ws = Arc::new(Workspace::new("http://localhost", "t"));
        let id = submit_when(ws.clone(), job("SELECT 1"), |_: &Workspace| false);
        ws.statements.lock().unwrap().cancel(&id, now_ms()).unwrap();
        assert!(wait(&ws, &id, Duration::from_secs(60)).await);
        assert_eq!(state_of(&ws, &id), StatementState::Canceled);
    }
}
