//! SQL Statement Execution (`/api/2.0/sql/statements`): execute, get, result chunks, cancel;
//! the statement waiter; and result paging over chunks ([`Statements::chunks`],
//! [`Statements::rows`]).
//!
//! A SQL error is not an HTTP error: it comes back as `200` with `status.state = FAILED`.

use brickwire_api::Empty;
use brickwire_api::statements::{ExecuteStatementRequest, ResultData, StatementResponse};

use crate::client::{ApiRequest, Client};
use crate::error::Result;
use crate::pagination::{Cursor, Page, Paginator};
use crate::services::{path_segment, to_json};
use crate::waiter::{self, WaitOptions};

/// The path prefix of the Statement Execution API.
pub const BASE: &str = "/api/2.0/sql/statements";

/// Pure request builders, one per operation.
pub mod request {
    use super::*;

    /// `POST /api/2.0/sql/statements`.
    pub fn execute(statement: &ExecuteStatementRequest) -> ApiRequest {
        ApiRequest::post(BASE).json(to_json(statement))
    }

    /// `GET /{statement_id}`.
    pub fn get(statement_id: &str) -> ApiRequest {
        ApiRequest::get(format!("{BASE}/{}", path_segment(statement_id)))
    }

    /// `GET /{statement_id}/result/chunks/{chunk_index}`.
    pub fn get_chunk(statement_id: &str, chunk_index: i64) -> ApiRequest {
        ApiRequest::get(format!(
            "{BASE}/{}/result/chunks/{chunk_index}",
            path_segment(statement_id)
        ))
    }

    /// `POST /{statement_id}/cancel`; cancelling twice is harmless.
    pub fn cancel(statement_id: &str) -> ApiRequest {
        ApiRequest::post(format!("{BASE}/{}/cancel", path_segment(statement_id))).idempotent(true)
    }
}

/// The Statement Execution API of one client: `client.statements()`.
#[derive(Debug, Clone)]
pub struct Statements {
    client: Client,
}

impl Statements {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Submits a statement; with `wait_timeout` it may come back finished.
    pub async fn execute(&self, statement: &ExecuteStatementRequest) -> Result<StatementResponse> {
        self.client.call(request::execute(statement)).await
    }

    /// Gets a statement's status (and, once `SUCCEEDED`, manifest and first chunk).
    pub async fn get(&self, statement_id: &str) -> Result<StatementResponse> {
        self.client.call(request::get(statement_id)).await
    }

    /// Gets one result chunk.
    pub async fn get_chunk(&self, statement_id: &str, chunk_index: i64) -> Result<ResultData> {
        self.client
            .call(request::get_chunk(statement_id, chunk_index))
            .await
    }

    /// Asks a statement to cancel (it may lose the race: poll for a terminal state).
    pub async fn cancel(&self, statement_id: &str) -> Result<()> {
        self.client
            .call::<Empty>(request::cancel(statement_id))
            .await
            .map(drop)
    }

    /// Waits until the statement is terminal and returns it; `FAILED` is returned, not an error.
    pub async fn wait_terminal(
        &self,
        statement_id: &str,
        options: &WaitOptions,
    ) -> Result<StatementResponse> {
        waiter::poll_until(
            &format!("statement {statement_id}"),
            options,
            || self.get(statement_id),
            waiter::statement_terminal,
        )
        .await
    }

    /// Waits until the statement `SUCCEEDED`; `FAILED`, `CANCELED` and `CLOSED` become
    /// [`crate::Error::OperationFailed`] with the statement's error message.
    pub async fn wait_succeeded(
        &self,
        statement_id: &str,
        options: &WaitOptions,
    ) -> Result<StatementResponse> {
        waiter::poll_until(
            &format!("statement {statement_id}"),
            options,
            || self.get(statement_id),
            waiter::statement_succeeded,
        )
        .await
    }

    /// The result chunks of a finished statement, one per page, following `next_chunk_index`.
    /// `first` is the chunk already in hand (the response's `result`); without it, the walk
    /// starts by fetching chunk 0.
    pub fn chunks(&self, statement_id: &str, first: Option<ResultData>) -> Paginator<ResultData> {
        let client = self.client.clone();
        let statement_id = statement_id.to_owned();
        Paginator::new(move |cursor: Option<Cursor>| {
            let client = client.clone();
            let statement_id = statement_id.clone();
            let first = first.clone();
            async move {
                let chunk = match (cursor, first) {
                    (None, Some(first)) => first,
                    (cursor, _) => {
                        let index = cursor.and_then(|c| c.as_index()).unwrap_or(0);
                        client
                            .call::<ResultData>(request::get_chunk(&statement_id, index))
                            .await?
                    }
                };
                let next = chunk.next_chunk();
                Ok(Page::from_chunk(vec![chunk], next))
            }
        })
    }

    /// The rows (`INLINE` + `JSON_ARRAY`) of a finished statement across all chunks, starting
    /// with the response's own `result`.
    pub fn rows(&self, response: &StatementResponse) -> Paginator<Vec<Option<String>>> {
        let chunks = self.chunks(
            response.statement_id.as_deref().unwrap_or_default(),
            response.result.clone(),
        );
        Paginator::new(move |cursor| {
            let chunks = chunks.clone();
            async move {
                let page = chunks.page(cursor).await?;
                let next = page.next;
                let rows = page
                    .items
                    .into_iter()
                    .flat_map(|chunk| chunk.data_array)
                    .collect();
                Ok(Page { items: rows, next })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RequestBody;
    use brickwire_api::statements::{Disposition, OnWaitTimeout, StatementParameter};
    use http::Method;
    use serde_json::json;

    #[test]
    fn execute_body() {
        let r = request::execute(&ExecuteStatementRequest {
            statement: "SELECT :x".into(),
            warehouse_id: "wh".into(),
            parameters: vec![StatementParameter {
                name: "x".into(),
                value: Some("1".into()),
                type_name: Some("INT".into()),
            }],
            wait_timeout: Some("0s".into()),
            on_wait_timeout: Some(OnWaitTimeout::Continue),
            disposition: Some(Disposition::Inline),
            ..ExecuteStatementRequest::default()
        });
        assert_eq!(
            (r.method, r.path.as_str()),
            (Method::POST, "/api/2.0/sql/statements")
        );
        assert!(!r.idempotent);
        assert_eq!(
            r.body,
            Some(RequestBody::Json(json!({
                "statement": "SELECT :x", "warehouse_id": "wh",
                "parameters": [{"name": "x", "value": "1", "type": "INT"}],
                "disposition": "INLINE", "wait_timeout": "0s", "on_wait_timeout": "CONTINUE"
            })))
        );
    }

    #[test]
    fn get_chunk_and_cancel_paths() {
        assert_eq!(request::get("s-1").path, "/api/2.0/sql/statements/s-1");
        let c = request::get_chunk("s-1", 3);
        assert_eq!(
            (c.method, c.path.as_str()),
            (Method::GET, "/api/2.0/sql/statements/s-1/result/chunks/3")
        );
        let x = request::cancel("s-1");
        assert_eq!(
            (x.method, x.path.as_str()),
            (Method::POST, "/api/2.0/sql/statements/s-1/cancel")
        );
        // a POST without fields sends `{}`, as the SDK does
        assert_eq!(x.body, Some(RequestBody::Json(serde_json::json!({}))));
    }
}
