//! [`SyncPoller`]: the [`Poller`] of the service, backed by the sync library
//! (`brickwire_sync::poll`). It turns the stored JSON (source spec, start choice, cursor) into
//! the library's types and its events into stored events keyed by their stable ids.

use brickwire_client::Client;
use brickwire_sync::{Cursor, PollOptions, SourceSpec, StartFrom, SyncError};
use futures::future::BoxFuture;
use serde_json::Value;

use super::engine::{InvalidField, PollRequest, PollResult, Poller};
use super::model::NewEvent;

/// Polls with `brickwire_sync`, in batches of `batch_size` events.
#[derive(Debug, Clone)]
pub struct SyncPoller {
    /// The most events one poll returns (a backfill continues at once with the next batch).
    pub batch_size: usize,
}

impl Default for SyncPoller {
    fn default() -> Self {
        Self {
            batch_size: brickwire_sync::poll::DEFAULT_BATCH_SIZE,
        }
    }
}

fn spec_field(e: SyncError) -> InvalidField {
    match e {
        SyncError::InvalidSpec { field, expected } => InvalidField {
            field: if field == "." || field.is_empty() {
                "source".into()
            } else {
                format!("source.{field}")
            },
            message: format!("expected {expected}"),
        },
        other => InvalidField {
            field: "source".into(),
            message: other.to_string(),
        },
    }
}

fn start_from(value: &Value) -> Result<StartFrom, InvalidField> {
    serde_json::from_value(value.clone()).map_err(|e| InvalidField {
        field: "start_from".into(),
        message: format!("expected \"beginning\", \"now\" or {{\"time\": <epoch ms>}} ({e})"),
    })
}

impl Poller for SyncPoller {
    fn validate(&self, source: &Value, start: &Value) -> Result<(), InvalidField> {
        SourceSpec::from_json(source).map_err(spec_field)?;
        start_from(start)?;
        Ok(())
    }

    fn poll<'a>(
        &'a self,
        client: &'a Client,
        request: PollRequest<'a>,
    ) -> BoxFuture<'a, Result<PollResult, String>> {
        Box::pin(async move {
            let spec = SourceSpec::from_json(request.source).map_err(|e| e.to_string())?;
            let start = start_from(request.start_from).map_err(|e| e.message)?;
            let cursor: Option<Cursor> = request
                .cursor
                .map(|c| serde_json::from_value(c.clone()))
                .transpose()
                .map_err(|e| format!("the stored cursor does not parse: {e}"))?;
            let opts = PollOptions {
                start_from: start,
                overlap: request.overlap.map(|o| o.as_millis() as i64),
                batch_size: self.batch_size,
                source_id: None,
            };
            let batch = brickwire_sync::poll(client, &spec, cursor.as_ref(), &opts)
                .await
                .map_err(|e| e.to_string())?;
            let events = batch
                .events
                .into_iter()
                .map(|e| NewEvent {
                    id: e.id.clone(),
                    body: serde_json::to_value(&e).expect("events serialize"),
                })
                .collect();
            Ok(PollResult {
                events,
                cursor: serde_json::to_value(&batch.cursor).expect("cursors serialize"),
                more: batch.more,
            })
        })
    }
}
