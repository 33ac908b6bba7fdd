//! Statements and their results, with no HTTP: the lifecycle (PENDING -> RUNNING -> SUCCEEDED |
//! FAILED | CANCELED, SUCCEEDED -> CLOSED when the result expires), the executed results, and
//! the grants behind external links.
//!
//! Execution itself lives in [`super::run`]; this module only records what happened. Every
//! transition goes through [`State`] so that a cancel and a completion racing each other resolve
//! under one lock: whichever comes first wins, the other is ignored.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::model::{
    Disposition, Format, ResultManifest, ResultSchema, ServiceError, StatementHead, StatementState,
    StatementStatus,
};
use super::result::ResultSet;
use crate::error::{ApiError, ErrorCode};

/// The header every external link fetch must carry (its value is per link).
pub const LINK_HEADER: &str = "x-brickwire-link-key";

/// Settings of this service, changeable through the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Most rows in one result chunk.
    pub chunk_row_count: u64,
    /// About how many bytes (Arrow size) one result chunk holds at most.
    pub chunk_byte_count: u64,
    /// Largest INLINE result; a bigger one fails the statement (Databricks: 25 MiB).
    pub inline_byte_limit: u64,
    /// `byte_limit` applied to EXTERNAL_LINKS results when none is sent (Databricks: 100 GiB).
    pub external_links_byte_limit: u64,
    /// How long an external link works, in seconds (Databricks: at most 15 minutes).
    pub link_lifetime_secs: u64,
    /// How long a succeeded result stays fetchable before the statement is CLOSED, in seconds.
    pub result_lifetime_secs: u64,
    /// Results whose Arrow size exceeds this many bytes move to a temp file (Arrow IPC).
    pub spill_threshold_bytes: u64,
    /// How long a statement is kept after reaching a terminal state, in seconds; later it is
    /// unknown (404), as Databricks purges statements after 12 hours.
    pub statement_retention_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            chunk_row_count: 100_000,
            chunk_byte_count: 16 * 1024 * 1024,
            inline_byte_limit: 25 * 1024 * 1024,
            external_links_byte_limit: 100 * 1024 * 1024 * 1024,
            link_lifetime_secs: 15 * 60,
            result_lifetime_secs: 60 * 60,
            statement_retention_secs: 12 * 60 * 60,
            spill_threshold_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `status.error`.
    pub error: ServiceError,
    /// `status.sql_state`.
    pub sql_state: Option<String>,
}

/// One submitted statement.
#[derive(Debug)]
pub struct Statement {
    /// Statement id (UUID-shaped, like Databricks').
    pub id: String,
    /// The warehouse it runs on.
    pub warehouse_id: String,
    /// INLINE or EXTERNAL_LINKS.
    pub disposition: Disposition,
    /// Result format.
    pub format: Format,
    /// Current state.
    pub state: StatementState,
    /// Set when FAILED.
    pub failure: Option<Failure>,
    /// Set when SUCCEEDED.
    pub result: Option<Arc<ResultSet>>,
    /// When it reached a terminal state (epoch ms).
    pub finished_at: Option<i64>,
    task: Option<AbortHandle>,
    changes: watch::Sender<StatementState>,
}

impl Statement {
    /// A new PENDING statement.
    pub fn new(warehouse_id: &str, disposition: Disposition, format: Format) -> Self {
        Self {
            id: new_statement_id(),
            warehouse_id: warehouse_id.to_owned(),
            disposition,
            format,
            state: StatementState::Pending,
            failure: None,
            result: None,
            finished_at: None,
            task: None,
            changes: watch::Sender::new(StatementState::Pending),
        }
    }

    /// `statement_id`, `status` and, when SUCCEEDED, `manifest`.
    pub fn head(&self) -> StatementHead {
        StatementHead {
            statement_id: self.id.clone(),
            status: StatementStatus {
                state: self.state.clone(),
                error: self.failure.as_ref().map(|f| f.error.clone()),
                sql_state: self.failure.as_ref().and_then(|f| f.sql_state.clone()),
            },
            manifest: self.result.as_ref().map(|r| self.manifest(r)),
        }
    }

    fn manifest(&self, result: &ResultSet) -> ResultManifest {
        let external = self.disposition == Disposition::ExternalLinks;
        let columns = result
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(position, f)| {
                let (type_name, type_text) = crate::sql::databricks_type(f.data_type());
                let (precision, scale) = match f.data_type() {
                    arrow::datatypes::DataType::Decimal32(p, s)
                    | arrow::datatypes::DataType::Decimal64(p, s)
                    | arrow::datatypes::DataType::Decimal128(p, s)
                    | arrow::datatypes::DataType::Decimal256(p, s) => (Some(*p), Some(*s)),
                    _ => (None, None),
                };
                super::model::ColumnInfo {
                    name: f.name().clone(),
                    position,
                    type_name: type_name.to_owned(),
                    type_text,
                    type_precision: precision,
                    type_scale: scale,
                }
            })
            .collect::<Vec<_>>();
        ResultManifest {
            format: self.format.clone(),
            schema: ResultSchema {
                column_count: columns.len(),
                columns,
            },
            total_chunk_count: result.chunks.len(),
            total_row_count: result.total_rows,
            total_byte_count: external
                .then(|| result.chunks.iter().filter_map(|c| c.byte_count).sum()),
            chunks: result.chunks.clone(),
            truncated: result.truncated,
        }
    }
}

/// `01f0xxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`: random, shaped like Databricks statement ids.
fn new_statement_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "01f0{}-{}-{}-{}-{}",
        &hex[4..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What an external link grants: one chunk of one statement, until it expires.
#[derive(Debug, Clone)]
pub struct LinkGrant {
    /// The statement.
    pub statement_id: String,
    /// The chunk.
    pub chunk_index: usize,
    /// Epoch ms from which the link is refused.
    pub expires_at: i64,
    /// The value [`LINK_HEADER`] must carry.
    pub key: String,
}

/// Why an external link fetch is refused (all answered 403, as object stores do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// An `Authorization` header was sent along with the presigned URL.
    AuthorizationSent,
    /// Unknown link, or its statement's result is gone.
    Unknown,
    /// Past its expiration.
    Expired,
    /// The required header is missing or wrong.
    HeaderMismatch,
}

/// A chunk to serve: the result, which chunk, in which format.
#[derive(Debug, Clone)]
pub struct ChunkRef {
    /// The statement id.
    pub statement_id: String,
    /// The whole result.
    pub result: Arc<ResultSet>,
    /// The chunk's index.
    pub chunk_index: usize,
    /// INLINE or EXTERNAL_LINKS.
    pub disposition: Disposition,
    /// Encoding.
    pub format: Format,
}

/// The service's state.
#[derive(Debug, Default)]
pub struct State {
    statements: HashMap<String, Statement>,
    links: HashMap<String, LinkGrant>,
}

impl State {
    /// Records a new statement; returns its id.
    pub fn insert(&mut self, statement: Statement) -> String {
        let id = statement.id.clone();
        self.statements.insert(id.clone(), statement);
        id
    }

    /// The statement `id`, closing it first if its result has expired at `now`, or forgetting
    /// it if it has been terminal for longer than the retention.
    pub fn get(&mut self, id: &str, now: i64, settings: &Settings) -> Result<&Statement, ApiError> {
        let not_found = || ApiError::not_found(format!("Statement {id} does not exist."));
        let retention = (settings.statement_retention_secs as i64).saturating_mul(1000);
        let purged = self.statements.get(id).is_some_and(|s| {
            s.state.is_terminal()
                && s.finished_at
                    .is_some_and(|t| now >= t.saturating_add(retention))
        });
        if purged {
            self.statements.remove(id);
        }
        let s = self.statements.get_mut(id).ok_or_else(not_found)?;
        let lifetime = (settings.result_lifetime_secs as i64).saturating_mul(1000);
        if s.state == StatementState::Succeeded
            && s.finished_at
                .is_some_and(|t| now >= t.saturating_add(lifetime))
        {
            s.state = StatementState::Closed;
            s.result = None;
            s.changes.send_replace(StatementState::Closed);
        }
        Ok(s)
    }

    /// A receiver that sees every state change of `id`.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<StatementState>> {
        self.statements.get(id).map(|s| s.changes.subscribe())
    }

    /// Remembers the task executing `id`, so cancel can stop it.
    pub fn attach_task(&mut self, id: &str, task: AbortHandle) {
        if let Some(s) = self.statements.get_mut(id) {
            if s.state.is_terminal() {
                task.abort();
            } else {
                s.task = Some(task);
            }
        }
    }

    fn transition(&mut self, id: &str, to: StatementState, now: i64) -> Option<&mut Statement> {
        let s = self.statements.get_mut(id)?;
        if s.state.is_terminal() {
            return None;
        }
        if to.is_terminal() {
            s.finished_at = Some(now);
        }
        s.state = to.clone();
        s.changes.send_replace(to);
        Some(s)
    }

    /// Whether the task executing `id` is still alive (it ends soon after a cancel).
    pub fn is_executing(&self, id: &str) -> bool {
        self.statements
            .get(id)
            .and_then(|s| s.task.as_ref())
            .is_some_and(|t| !t.is_finished())
    }

    /// PENDING -> RUNNING.
    pub fn start(&mut self, id: &str, now: i64) {
        self.transition(id, StatementState::Running, now);
    }

    /// -> SUCCEEDED with `result`, unless already terminal (e.g. canceled meanwhile).
    pub fn succeed(&mut self, id: &str, result: ResultSet, now: i64) {
        if let Some(s) = self.transition(id, StatementState::Succeeded, now) {
            s.result = Some(Arc::new(result));
        }
    }

    /// -> FAILED, unless already terminal.
    pub fn fail(&mut self, id: &str, failure: Failure, now: i64) {
        if let Some(s) = self.transition(id, StatementState::Failed, now) {
            s.failure = Some(failure);
        }
    }

    /// Stops a PENDING or RUNNING statement (its task is aborted) and marks it CANCELED.
    /// A terminal statement is left as it is, as Databricks silently loses that race.
    pub fn cancel(&mut self, id: &str, now: i64) -> Result<(), ApiError> {
        let s = self
            .statements
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(format!("Statement {id} does not exist.")))?;
        if !s.state.is_terminal()
            && let Some(task) = &s.task
        {
            task.abort();
        }
        self.transition(id, StatementState::Canceled, now);
        Ok(())
    }

    /// Chunk `chunk_index` of a SUCCEEDED statement.
    pub fn chunk(
        &mut self,
        id: &str,
        chunk_index: usize,
        now: i64,
        settings: &Settings,
    ) -> Result<ChunkRef, ApiError> {
        let s = self.get(id, now, settings)?;
        let Some(result) = &s.result else {
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                ErrorCode::InvalidState,
                format!(
                    "Statement {id} is {:?}; its result is not available.",
                    s.state
                ),
            ));
        };
        if chunk_index >= result.chunks.len() {
            return Err(ApiError::invalid_parameter(format!(
                "chunk_index {chunk_index} is out of range: the result has {} chunks.",
                result.chunks.len()
            )));
        }
        Ok(ChunkRef {
            statement_id: s.id.clone(),
            result: result.clone(),
            chunk_index,
            disposition: s.disposition.clone(),
            format: s.format.clone(),
        })
    }

    /// Issues a link to a chunk, valid for `lifetime_secs` from `now`; returns its token.
    /// Expired grants are forgotten on the way.
    pub fn grant_link(
        &mut self,
        statement_id: &str,
        chunk_index: usize,
        now: i64,
        lifetime_secs: u64,
    ) -> (String, LinkGrant) {
        self.links.retain(|_, g| g.expires_at > now);
        let token = random_hex(24);
        let grant = LinkGrant {
            statement_id: statement_id.to_owned(),
            chunk_index,
            expires_at: now.saturating_add((lifetime_secs as i64).saturating_mul(1000)),
            key: random_hex(16),
        };
        self.links.insert(token.clone(), grant.clone());
        (token, grant)
    }

    /// Checks a fetch of link `token` and returns the chunk it grants.
    pub fn redeem_link(
        &mut self,
        token: &str,
        key: Option<&str>,
        authorization_sent: bool,
        now: i64,
        settings: &Settings,
    ) -> Result<ChunkRef, LinkRefusal> {
        if authorization_sent {
            return Err(LinkRefusal::AuthorizationSent);
        }
        let grant = self.links.get(token).cloned().ok_or(LinkRefusal::Unknown)?;
        if now >= grant.expires_at {
            return Err(LinkRefusal::Expired);
        }
        if key != Some(grant.key.as_str()) {
            return Err(LinkRefusal::HeaderMismatch);
        }
        self.chunk(&grant.statement_id, grant.chunk_index, now, settings)
            .map_err(|_| LinkRefusal::Unknown)
    }
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// `2026-11-28T12:00:00.000Z` for epoch milliseconds.
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    fn empty_result() -> ResultSet {
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        super::super::result::Collector::new(schema, None, None)
            .finish(10, 10)
            .unwrap()
    }

    fn one_row_result() -> ResultSet {
        let batch = arrow::array::RecordBatch::try_from_iter([(
            "id",
            Arc::new(arrow::array::Int64Array::from(vec![1])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut c = super::super::result::Collector::new(batch.schema(), None, None);
        c.push(batch).unwrap();
        c.finish(10, 1000).unwrap()
    }

    #[test]
    fn iso8601_formats_epoch_millis() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn statement_ids_look_like_databricks_ones() {
        let id = new_statement_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, new_statement_id());
    }

    #[test]
    fn cancel_after_success_is_ignored_and_success_after_cancel_too() {
        let mut st = State::default();
        let a = st.insert(Statement::new("w", Disposition::Inline, Format::JsonArray));
        st.succeed(&a, empty_result(), 1);
        st.cancel(&a, 2).unwrap();
        assert_eq!(
            st.get(&a, 3, &settings()).unwrap().state,
            StatementState::Succeeded
        );

        let b = st.insert(Statement::new("w", Disposition::Inline, Format::JsonArray));
        st.start(&b, 1);
        st.cancel(&b, 2).unwrap();
        st.succeed(&b, empty_result(), 3);
        let s = st.get(&b, 4, &settings()).unwrap();
        assert_eq!(s.state, StatementState::Canceled);
        assert!(s.result.is_none());
    }

    #[test]
    fn succeeded_statement_closes_when_its_result_expires() {
        let mut st = State::default();
        let id = st.insert(Statement::new("w", Disposition::Inline, Format::JsonArray));
        st.succeed(&id, empty_result(), 1_000);
        let s = settings();
        let before = 1_000 + 3_600_000 - 1;
        assert_eq!(
            st.get(&id, before, &s).unwrap().state,
            StatementState::Succeeded
        );
        let s2 = st.get(&id, before + 1, &s).unwrap();
        assert_eq!(s2.state, StatementState::Closed);
        assert!(s2.head().manifest.is_none());
    }

    #[test]
    fn terminal_statements_are_forgotten_after_the_retention() {
        let mut st = State::default();
        let id = st.insert(Statement::new("w", Disposition::Inline, Format::JsonArray));
        st.fail(
            &id,
            Failure {
                error: ServiceError {
                    error_code: "BAD_REQUEST".into(),
                    message: "no".into(),
                },
                sql_state: None,
            },
            0,
        );
        let s = settings();
        let retention = 12 * 3_600_000;
        assert_eq!(
            st.get(&id, retention - 1, &s).unwrap().state,
            StatementState::Failed
        );
        let gone = st.get(&id, retention, &s).unwrap_err();
        assert_eq!(gone.status, http::StatusCode::NOT_FOUND);
        assert!(st.watch(&id).is_none());
    }

    #[test]
    fn links_expire_and_need_their_key_and_no_authorization() {
        let mut st = State::default();
        let id = st.insert(Statement::new("w", Disposition::ExternalLinks, Format::Csv));
        st.succeed(&id, one_row_result(), 0);
        let (token, grant) = st.grant_link(&id, 0, 1_000, 60);
        let s = settings();
        let key = Some(grant.key.as_str());
        assert_eq!(
            st.redeem_link(&token, key, true, 1_001, &s).unwrap_err(),
            LinkRefusal::AuthorizationSent
        );
        assert_eq!(
            st.redeem_link(&token, Some("wrong"), false, 1_001, &s)
                .unwrap_err(),
            LinkRefusal::HeaderMismatch
        );
        assert_eq!(
            st.redeem_link(&token, key, false, 61_000, &s).unwrap_err(),
            LinkRefusal::Expired
        );
        assert_eq!(
            st.redeem_link("nope", key, false, 1_001, &s).unwrap_err(),
            LinkRefusal::Unknown
        );
        let chunk = st.redeem_link(&token, key, false, 60_999, &s).unwrap();
        assert_eq!(
            (chunk.statement_id.as_str(), chunk.chunk_index),
            (id.as_str(), 0)
        );
    }
}
