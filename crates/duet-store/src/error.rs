//! The store's error type: one `StoreError` carrying the database path, a `StoreErrorKind` saying
//! what failed, and the underlying cause.

use std::path::{Path, PathBuf};

use duet_core::lifecycle::StateKind;

/// Anything that went wrong opening, migrating, writing or reading the state database.
#[derive(Debug, thiserror::Error)]
#[error("failed to {kind} (database {})", path.display())]
pub struct StoreError {
    path: PathBuf,
    kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    pub(crate) fn new(path: &Path, kind: StoreErrorKind) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
            source: None,
        }
    }

    /// Like `with_source`, but names the commonest cause of an unreadable file precisely.
    pub(crate) fn from_sqlite(path: &Path, kind: StoreErrorKind, source: rusqlite::Error) -> Self {
        let kind = match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreErrorKind::NotADatabase,
            _ => kind,
        };
        Self::with_source(path, kind, source)
    }

    pub(crate) fn with_source(
        path: &Path,
        kind: StoreErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
            source: Some(Box::new(source)),
        }
    }

    /// What failed.
    pub fn kind(&self) -> &StoreErrorKind {
        &self.kind
    }

    /// The database file the operation was working on.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What failed. Each message reads as the continuation of "failed to ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreErrorKind {
    #[error("create the directory for the state database")]
    CreateDir,
    #[error("open the state database: it does not exist (nothing has been recorded yet)")]
    NotFound,
    #[error("open the state database")]
    Open,
    #[error("open the state database: the file is not a SQLite database")]
    NotADatabase,
    #[error("configure the database connection ({setting})")]
    Configure { setting: String },
    #[error("read the schema version")]
    ReadSchemaVersion,
    #[error(
        "open the state database: its schema version {found} is newer than this duet supports \
         ({supported}); use a newer duet"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error(
        "read the state database: its schema version {found} is older than this duet's \
         ({expected}); open it once for writing (e.g. `duet run`) to migrate it"
    )]
    SchemaOutdated { found: u32, expected: u32 },
    #[error("apply migration {version} ({name})")]
    Migrate { version: u32, name: String },
    #[error("write: the database was opened read-only")]
    ReadOnly,
    #[error("write the event log")]
    Write,
    #[error("encode event `{event_kind}` as JSON")]
    Encode { event_kind: String },
    #[error("append event `{event_kind}`: it needs a task id")]
    MissingTaskId { event_kind: String },
    #[error("queue task `{task_id}`: it is already in the store")]
    TaskAlreadyQueued { task_id: String },
    #[error("append event `{event_kind}`: task `{task_id}` is not in the store (never queued)")]
    UnknownTask { event_kind: String, task_id: String },
    #[error(
        "append a state change of task `{task_id}` from `{claimed}`: the store has it in state \
         `{actual}`"
    )]
    StateMismatch {
        task_id: String,
        claimed: StateKind,
        actual: StateKind,
    },
    #[error("append event `{event_kind}`: message `{message_id}` was never accepted")]
    UnknownMessage {
        event_kind: String,
        message_id: String,
    },
    #[error("append event `{event_kind}`: message `{message_id}` belongs to task `{owner}`")]
    MessageOfOtherTask {
        event_kind: String,
        message_id: String,
        owner: String,
    },
    #[error("accept message `{message_id}`: a message with this id was already accepted")]
    DuplicateMessage { message_id: String },
    #[error("append event `{event_kind}`: message `{message_id}` is already {state}")]
    MessageSettled {
        event_kind: String,
        message_id: String,
        state: String,
    },
    #[error("read the database")]
    Query,
    #[error("decode {what}")]
    Decode { what: String },
    #[error("rebuild the derived tables from the event log")]
    Rebuild,
}
