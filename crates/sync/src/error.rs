//! The one error of the sync library, [`SyncError`].

/// Every way a poll can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The source specification is not valid: `field` names the JSON path, `expected` says
    /// what would be accepted.
    #[error("invalid source: `{field}`: expected {expected}")]
    InvalidSpec {
        /// The field, as a JSON path (`sql.watermark_column`, `.` for the whole spec).
        field: String,
        /// What the field should have been.
        expected: String,
    },
    /// The poll options are not valid.
    #[error("invalid poll options: `{field}`: expected {expected}")]
    InvalidOptions {
        /// The option.
        field: String,
        /// What it should have been.
        expected: String,
    },
    /// The cursor was made by another source; polling with it would skip or repeat events.
    #[error("the cursor belongs to source {found}, not {expected}; reset it to change the source")]
    CursorMismatch {
        /// The id of the source being polled.
        expected: String,
        /// The id stored in the cursor.
        found: String,
    },
    /// A Databricks request failed (after the client's own retries).
    #[error(transparent)]
    Api(Box<brickwire_client::Error>),
    /// An item of a response lacks what the source needs (a key or a watermark).
    #[error("unexpected item from {source_path}: {message}")]
    Item {
        /// Where the item came from (an API path, or `sql`).
        source_path: String,
        /// What was wrong.
        message: String,
    },
    /// The SQL statement of a `sql` source did not succeed.
    #[error("the sync statement ended {state}: {message}")]
    Statement {
        /// The final state (`FAILED`, `CANCELED`, `CLOSED`).
        state: String,
        /// The statement's error message.
        message: String,
    },
}

impl From<brickwire_client::Error> for SyncError {
    fn from(e: brickwire_client::Error) -> Self {
        SyncError::Api(Box::new(e))
    }
}

impl SyncError {
    pub(crate) fn spec(field: impl Into<String>, expected: impl Into<String>) -> Self {
        SyncError::InvalidSpec {
            field: field.into(),
            expected: expected.into(),
        }
    }

    /// Whether polling again later may succeed (a retryable API error).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SyncError::Api(e) if e.is_retryable())
    }
}
