//! `Store`: opening the state database (WAL, durability, busy timeout, migrations), appending
//! events together with their projections in one transaction, and rebuilding the projections.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::error::{StoreError, StoreErrorKind};
use crate::event::NewEvent;
use crate::projection::{self, ApplyError};
use crate::schema::{self, MigrateError};

/// How hard a commit waits for the disk.
///
/// In WAL mode both levels survive a killed process (SIGKILL) with every committed transaction
/// intact. They differ on power loss or an OS crash: `Full` syncs the WAL on every commit, so a
/// committed event is on disk before the writer hears "ok"; `Normal` syncs only at checkpoints
/// and may lose the last commits (but never corrupts). duet acknowledges messages to agents only
/// after storing them ("nothing lost"), so the default is `Full`; see the bench for the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

/// Settings for opening a store for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    pub durability: Durability,
    /// How long a statement waits for another connection's lock before failing.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection to the state database (`.duet/state.db`).
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    read_only: bool,
}

impl Store {
    /// Opens (creating it and its directory if needed) and migrates the database for writing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, OpenOptions::default())
    }

    /// [`Store::open`] with explicit settings.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::with_source(path, StoreErrorKind::CreateDir, e))?;
        }
        let mut conn = Connection::open(path)
            .map_err(|e| StoreError::with_source(path, StoreErrorKind::Open, e))?;
        configure(&conn, path, options)?;
        schema::migrate(&mut conn, schema::MIGRATIONS).map_err(|e| migrate_error(path, e))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            read_only: false,
        })
    }

    /// Opens an existing database for reading only (`duet status`). Never creates or migrates
    /// anything; a missing database is `NotFound`, a differently versioned one a clear error.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(StoreError::new(path, StoreErrorKind::NotFound));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::with_source(path, StoreErrorKind::Open, e))?;
        conn.busy_timeout(OpenOptions::default().busy_timeout)
            .map_err(|e| configure_error(path, "busy_timeout", e))?;
        let found = schema::read_version(&conn)
            .map_err(|e| StoreError::from_sqlite(path, StoreErrorKind::ReadSchemaVersion, e))?;
        let expected = schema::current_version();
        if found > expected {
            return Err(StoreError::new(
                path,
                StoreErrorKind::SchemaTooNew {
                    found,
                    supported: expected,
                },
            ));
        }
        if found < expected {
            return Err(StoreError::new(
                path,
                StoreErrorKind::SchemaOutdated { found, expected },
            ));
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            read_only: true,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this binary reads and writes.
    pub fn schema_version() -> u32 {
        schema::current_version()
    }

    /// Appends one event and updates the derived tables, atomically. Returns its `seq`.
    pub fn append(&mut self, event: &NewEvent) -> Result<i64, StoreError> {
        let seqs = self.append_batch(std::slice::from_ref(event))?;
        Ok(seqs[0])
    }

    /// Appends events in order in one transaction: all of them are committed, or (on any error,
    /// including a refused event) none. Returns their `seq`s.
    pub fn append_batch(&mut self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        self.write_batch(events, None)
    }

    /// Appends `events` and replaces the engine state called `name` (JSON), in one transaction.
    pub fn commit_with_engine_state(
        &mut self,
        events: &[NewEvent],
        name: &str,
        state: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.write_batch(events, Some(Saved::Engine { name, state }))
    }

    /// The engine state called `name`, if one was ever saved.
    pub fn engine_state(&self, name: &str) -> Result<Option<String>, StoreError> {
        let read_error =
            |e: rusqlite::Error| StoreError::with_source(&self.path, StoreErrorKind::Query, e);
        let mut statement = self
            .conn
            .prepare_cached("SELECT state FROM engine_state WHERE name = ?1")
            .map_err(read_error)?;
        let mut rows = statement.query(params![name]).map_err(read_error)?;
        match rows.next().map_err(read_error)? {
            Some(row) => Ok(Some(row.get(0).map_err(read_error)?)),
            None => Ok(None),
        }
    }

    fn write_batch(
        &mut self,
        events: &[NewEvent],
        saved: Option<Saved<'_>>,
    ) -> Result<Vec<i64>, StoreError> {
        if self.read_only {
            return Err(StoreError::new(&self.path, StoreErrorKind::ReadOnly));
        }
        let path = self.path.clone();
        let write_error =
            |e: rusqlite::Error| StoreError::with_source(&path, StoreErrorKind::Write, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let mut seqs = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_string(&event.event).map_err(|e| {
                StoreError::with_source(
                    &path,
                    StoreErrorKind::Encode {
                        event_kind: event.event.kind().to_owned(),
                    },
                    e,
                )
            })?;
            tx.prepare_cached(
                "INSERT INTO events (at_ms, task_id, kind, payload) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    event.at_ms,
                    event.task_id,
                    event.event.kind(),
                    payload
                ])
            })
            .map_err(write_error)?;
            let seq = tx.last_insert_rowid();
            projection::apply(&tx, seq, event).map_err(|e| apply_error(&path, e))?;
            seqs.push(seq);
        }
        if let Some(saved) = saved {
            let last_seq: i64 = tx
                .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| {
                    row.get(0)
                })
                .map_err(write_error)?;
            let (sql, key, json) = match saved {
                Saved::Pair { task_id, snapshot } => (
                    "INSERT INTO pair_snapshots (task_id, last_seq, snapshot) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (task_id) DO UPDATE SET last_seq = excluded.last_seq, snapshot = excluded.snapshot",
                    task_id,
                    snapshot,
                ),
                Saved::Engine { name, state } => (
                    "INSERT INTO engine_state (name, last_seq, state) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq, state = excluded.state",
                    name,
                    state,
                ),
            };
            tx.prepare_cached(sql)
                .and_then(|mut upsert| upsert.execute(params![key, last_seq, json]))
                .map_err(write_error)?;
        }
        tx.commit().map_err(write_error)?;
        Ok(seqs)
    }

    /// Appends `events` and replaces the snapshot of `task_id`'s pair, in one transaction: after a
    /// crash the snapshot matches the log exactly. `snapshot` is JSON.
    pub fn commit_with_snapshot(
        &mut self,
        events: &[NewEvent],
        task_id: &str,
        snapshot: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.write_batch(events, Some(Saved::Pair { task_id, snapshot }))
    }

    /// Every pair snapshot, by task id.
    pub fn pair_snapshots(&self) -> Result<Vec<(String, String)>, StoreError> {
        let read_error =
            |e: rusqlite::Error| StoreError::with_source(&self.path, StoreErrorKind::Query, e);
        let mut statement = self
            .conn
            .prepare("SELECT task_id, snapshot FROM pair_snapshots ORDER BY task_id")
            .map_err(read_error)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(read_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(read_error)
    }

    /// Recomputes the derived tables from the event log, in one transaction. The result equals
    /// what the incremental updates produced; use it after a migration that changes them.
    pub fn rebuild_projections(&mut self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::new(&self.path, StoreErrorKind::ReadOnly));
        }
        let path = self.path.clone();
        let rebuild_error =
            |e: rusqlite::Error| StoreError::with_source(&path, StoreErrorKind::Rebuild, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(rebuild_error)?;
        projection::clear(&tx).map_err(rebuild_error)?;
        let records = crate::query::read_events(&tx, &path, &crate::EventFilter::all())?;
        for record in records {
            let event = NewEvent {
                at_ms: record.at_ms,
                task_id: record.task_id,
                event: record.event,
            };
            projection::apply(&tx, record.seq, &event).map_err(|e| match e {
                ApplyError::Refused(kind) => StoreError::with_source(
                    &path,
                    StoreErrorKind::Rebuild,
                    StoreError::new(&path, kind),
                ),
                other => apply_error(&path, other),
            })?;
        }
        tx.commit().map_err(rebuild_error)
    }

    /// SQLite's `PRAGMA integrity_check`: an empty list when the file is sound.
    pub fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let query_error = |e| StoreError::with_source(&self.path, StoreErrorKind::Query, e);
        let mut statement = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(query_error)?;
        let lines = statement
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(query_error)?;
        Ok(lines.into_iter().filter(|line| line != "ok").collect())
    }
}

fn configure(conn: &Connection, path: &Path, options: OpenOptions) -> Result<(), StoreError> {
    // The timeout first: switching to WAL needs a lock another opener may hold.
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| configure_error(path, "busy_timeout", e))?;
    let mode = switch_to_wal(conn, options.busy_timeout)
        .map_err(|e| configure_error(path, "journal_mode=WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::new(
            path,
            StoreErrorKind::Configure {
                setting: format!("journal_mode=WAL (got {mode})"),
            },
        ));
    }
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(|e| configure_error(path, "synchronous", e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| configure_error(path, "foreign_keys", e))?;
    Ok(())
}

/// Sets WAL mode, which is persistent in the file. Changing the journal mode needs an exclusive
/// lock and SQLite answers BUSY at once (without calling the busy handler) while another
/// connection, e.g. a concurrent first open, holds a lock; so this retries until `timeout`.
fn switch_to_wal(conn: &Connection, timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                // No event tells us when the other connection lets go; poll with a deadline.
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn configure_error(path: &Path, setting: &str, e: rusqlite::Error) -> StoreError {
    StoreError::from_sqlite(
        path,
        StoreErrorKind::Configure {
            setting: setting.to_owned(),
        },
        e,
    )
}

fn migrate_error(path: &Path, e: MigrateError) -> StoreError {
    match e {
        MigrateError::ReadVersion(source) => {
            StoreError::with_source(path, StoreErrorKind::ReadSchemaVersion, source)
        }
        MigrateError::TooNew { found, supported } => {
            StoreError::new(path, StoreErrorKind::SchemaTooNew { found, supported })
        }
        MigrateError::Step { migration, source } => StoreError::with_source(
            path,
            StoreErrorKind::Migrate {
                version: migration.version,
                name: migration.name.to_owned(),
            },
            source,
        ),
    }
}

fn apply_error(path: &Path, e: ApplyError) -> StoreError {
    match e {
        ApplyError::Refused(kind) => StoreError::new(path, kind),
        ApplyError::Sql(source) => StoreError::with_source(path, StoreErrorKind::Write, source),
        ApplyError::Corrupt(what) => StoreError::new(path, StoreErrorKind::Decode { what }),
    }
}

/// What a batch saves besides its events.
enum Saved<'a> {
    Pair { task_id: &'a str, snapshot: &'a str },
    Engine { name: &'a str, state: &'a str },
}
