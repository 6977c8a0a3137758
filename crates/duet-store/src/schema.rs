//! The database schema and its versioned migrations. The version lives in SQLite's
//! `user_version`; each migration runs in its own IMMEDIATE transaction together with the
//! version bump, so a crash leaves the database at the previous version, never half-migrated.

use rusqlite::{Connection, TransactionBehavior};

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Append new ones; never edit a released one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "event log and task, message, agent projections",
        sql: r#"
        -- The facts. Append-only: the triggers below refuse UPDATE and DELETE.
        CREATE TABLE events (
            seq     INTEGER PRIMARY KEY,
            at_ms   INTEGER NOT NULL,
            task_id TEXT,
            kind    TEXT NOT NULL,
            payload TEXT NOT NULL CHECK (json_valid(payload))
        ) STRICT;
        CREATE INDEX events_by_task ON events (task_id, seq) WHERE task_id IS NOT NULL;
        CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
        CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;

        -- Derived from events (see projection.rs); rebuildable at any time.
        CREATE TABLE tasks (
            id             TEXT PRIMARY KEY,
            title          TEXT,
            state          TEXT NOT NULL,
            reason         TEXT,
            round          INTEGER NOT NULL DEFAULT 0,
            head_sha       TEXT,
            last_verdict   TEXT,
            ci_sha         TEXT,
            ci_passed      INTEGER,
            queued_at_ms   INTEGER NOT NULL,
            updated_at_ms  INTEGER NOT NULL,
            last_event_seq INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE messages (
            id            TEXT PRIMARY KEY,
            task_id       TEXT NOT NULL REFERENCES tasks (id),
            sender        TEXT NOT NULL,
            recipient     TEXT NOT NULL,
            text          TEXT NOT NULL,
            state         TEXT NOT NULL CHECK (state IN ('accepted', 'delivered', 'suppressed')),
            reason        TEXT,
            accepted_seq  INTEGER NOT NULL,
            accepted_at_ms INTEGER NOT NULL,
            settled_seq   INTEGER,
            settled_at_ms INTEGER
        ) STRICT;
        CREATE INDEX messages_by_task ON messages (task_id, accepted_seq);

        CREATE TABLE agents (
            task_id       TEXT NOT NULL REFERENCES tasks (id),
            role          TEXT NOT NULL,
            agent         TEXT NOT NULL,
            session_id    TEXT,
            running       INTEGER NOT NULL,
            exit_code     INTEGER,
            turns_ended   INTEGER NOT NULL DEFAULT 0,
            launched_seq  INTEGER NOT NULL,
            updated_seq   INTEGER NOT NULL,
            PRIMARY KEY (task_id, role)
        ) STRICT;
    "#,
    },
    Migration {
        version: 2,
        name: "pair snapshots for restarting the daemon",
        sql: r#"
        -- The state a running pair's controller needs to go on after a restart (tokens, session
        -- ids, protocol state). Not a fact: replaced in the same transaction as the events that
        -- changed it, so it never disagrees with the log.
        CREATE TABLE pair_snapshots (
            task_id    TEXT PRIMARY KEY REFERENCES tasks (id),
            last_seq   INTEGER NOT NULL,
            snapshot   TEXT NOT NULL CHECK (json_valid(snapshot))
        ) STRICT;
    "#,
    },
    Migration {
        version: 3,
        name: "engine state (the merge queue's)",
        sql: r#"
        -- State of the engine that belongs to no single pair (the merge queue), by name. Like a
        -- pair snapshot: replaced in the same transaction as the events that changed it.
        CREATE TABLE engine_state (
            name       TEXT PRIMARY KEY,
            last_seq   INTEGER NOT NULL,
            state      TEXT NOT NULL CHECK (json_valid(state))
        ) STRICT;
    "#,
    },
    Migration {
        version: 4,
        name: "token counts per agent record",
        sql: r#"
        -- The latest counts of each agent record (claude transcript, codex rollout) of a task,
        -- from its `tokens_counted` events: usage is the record's counts by model (JSON).
        CREATE TABLE token_records (
            task_id    TEXT NOT NULL REFERENCES tasks (id),
            role       TEXT NOT NULL,
            record     TEXT NOT NULL,
            usage      TEXT NOT NULL CHECK (json_valid(usage)),
            updated_seq INTEGER NOT NULL,
            PRIMARY KEY (task_id, role, record)
        ) STRICT;
    "#,
    },
];

/// The schema version this binary writes and reads.
pub(crate) fn current_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub(crate) fn read_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Why migrating stopped.
#[derive(Debug)]
pub(crate) enum MigrateError {
    ReadVersion(rusqlite::Error),
    TooNew {
        found: u32,
        supported: u32,
    },
    Step {
        migration: Migration,
        source: rusqlite::Error,
    },
}

/// Brings the database up to the last of `migrations`. Safe against concurrent openers: each
/// step re-reads the version inside its write transaction and skips what is already done.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), MigrateError> {
    let supported = migrations.last().map_or(0, |m| m.version);
    let found = read_version(conn).map_err(MigrateError::ReadVersion)?;
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    for migration in migrations.iter().filter(|m| m.version > found) {
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if read_version(&tx)? >= migration.version {
                return Ok(()); // another process got here first
            }
            tx.execute_batch(migration.sql)?;
            // user_version lives in the database header and commits with the transaction.
            tx.pragma_update(None, "user_version", migration.version)?;
            tx.commit()
        };
        step(conn).map_err(|source| MigrateError::Step {
            migration: *migration,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |row| row.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn migrations_are_numbered_one_up_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
    }

    #[test]
    fn a_failing_migration_rolls_back_entirely_and_keeps_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let migrations = [
            Migration {
                version: 1,
                name: "one",
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                name: "two",
                sql: "CREATE TABLE b (x INTEGER); CREATE TABLE a (x INTEGER);",
            },
        ];
        let err = migrate(&mut conn, &migrations).unwrap_err();
        assert!(
            matches!(err, MigrateError::Step { migration, .. } if migration.version == 2),
            "{err:?}"
        );
        assert_eq!(read_version(&conn).unwrap(), 1);
        assert!(table_exists(&conn, "a"));
        assert!(
            !table_exists(&conn, "b"),
            "first statement of the failed step must roll back"
        );

        // Fixing the step and migrating again applies only the missing one.
        let fixed = [
            migrations[0],
            Migration {
                version: 2,
                name: "two",
                sql: "CREATE TABLE b (x INTEGER);",
            },
        ];
        migrate(&mut conn, &fixed).unwrap();
        assert_eq!(read_version(&conn).unwrap(), 2);
        assert!(table_exists(&conn, "b"));
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
        let err = migrate(&mut conn, MIGRATIONS).unwrap_err();
        assert!(matches!(
            err,
            MigrateError::TooNew {
                found: 7,
                supported
            } if supported == current_version()
        ));
        assert!(!table_exists(&conn, "events"));
    }
}
