//! The one error type of the service's storage layer, classified so the REST layer can map each
//! variant to a status without parsing messages. No variant ever carries a secret.

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the store, the crypto layer or the operator key set-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such row (`entity` is e.g. `linked account`).
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of thing looked up.
        entity: &'static str,
        /// The identifier asked for (never a token: token lookups say `by token`).
        id: String,
    },
    /// The connect session was already used (single use).
    #[error("the connect session was already used")]
    ConnectSessionConsumed,
    /// The connect session expired before it was used.
    #[error("the connect session expired")]
    ConnectSessionExpired,
    /// An optimistic update lost: the row changed since it was read (e.g. another replica stored
    /// a rotated refresh token first). Reload and retry.
    #[error("{entity} {id} changed concurrently (expected version {expected}, found {found})")]
    Conflict {
        /// The kind of thing updated.
        entity: &'static str,
        /// Its identifier.
        id: String,
        /// The version the caller read.
        expected: u64,
        /// The version in the store.
        found: u64,
    },
    /// Leased work was taken over by another process (this one's lease expired before it was
    /// renewed): the write is refused, and this process must stop working on it.
    #[error("{entity} {id} is no longer leased to this process (another one took it over)")]
    LeaseLost {
        /// The kind of leased work (`run`).
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// Input that breaks a rule of the store (a bad scope, an empty name, ...).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The field at fault, as the REST API names it.
        field: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The master key does not open this data directory's secrets.
    #[error(
        "the master key does not match the one this data directory was encrypted with; \
         check BRICKWIRE_MASTER_KEY or the master.key file in the data directory"
    )]
    WrongMasterKey,
    /// The master key could not be loaded or parsed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// One stored secret does not decrypt although the master key is right: its bytes were
    /// altered or moved from another row or field.
    #[error("the {field} of {entity} {id} does not decrypt: the stored value was altered or moved")]
    Decrypt {
        /// The kind of row.
        entity: &'static str,
        /// Its identifier.
        id: String,
        /// The encrypted field.
        field: &'static str,
    },
    /// The database was written by a newer brickwire.
    #[error(
        "the database schema is at version {found}, newer than the {supported} this brickwire \
         knows; upgrade brickwire"
    )]
    SchemaTooNew {
        /// The highest version applied to the database.
        found: i64,
        /// The highest version this build knows.
        supported: i64,
    },
    /// A file-system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The database backend failed (SQLite today). Its message names SQL, never values.
    #[error("database: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Whether the error means "no such thing" (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether the caller sent something invalid (HTTP 400).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            entity,
            id: id.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Backend(Box::new(e))
    }
}
