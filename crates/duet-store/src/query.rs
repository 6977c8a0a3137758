//! Reading the store: the derived rows (`TaskRow`, `MessageRow`, `AgentRow`), a consistent
//! status `Snapshot`, and the event log with a filter.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::{StoreError, StoreErrorKind};
use crate::event::{Event, EventFilter, EventRecord, UnixMillis};
use crate::store::Store;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::Verdict;

/// One task as the store sees it, derived from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub title: Option<String>,
    pub state: StateKind,
    /// Why the task is in this state, when the change said so.
    pub reason: Option<String>,
    /// The highest review round submitted.
    pub round: u32,
    pub head_sha: Option<String>,
    pub last_verdict: Option<Verdict>,
    pub ci: Option<CiStatus>,
    pub queued_at_ms: UnixMillis,
    pub updated_at_ms: UnixMillis,
    pub last_event_seq: i64,
}

/// The last CI result recorded for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiStatus {
    pub sha: String,
    pub passed: bool,
}

/// Where a message is: accepted (not yet delivered), delivered, or suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Accepted,
    Delivered,
    Suppressed,
}

/// One message between the agents of a pair (or from the human).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub task_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub state: MessageState,
    pub reason: Option<String>,
    pub accepted_seq: i64,
    pub accepted_at_ms: UnixMillis,
    pub settled_seq: Option<i64>,
    pub settled_at_ms: Option<UnixMillis>,
}

/// The last known agent process of one role in a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRow {
    pub task_id: String,
    pub role: String,
    pub agent: String,
    pub session_id: Option<String>,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub turns_ended: u32,
    pub launched_seq: i64,
    pub updated_seq: i64,
}

/// The tasks as of one point in the log, read in a single transaction: `last_seq` is the last
/// event they reflect, so a reader can follow up with `events(after(last_seq))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub last_seq: i64,
    pub tasks: Vec<TaskRow>,
}

const TASK_COLUMNS: &str = "id, title, state, reason, round, head_sha, last_verdict, ci_sha, \
                            ci_passed, queued_at_ms, updated_at_ms, last_event_seq";

impl Store {
    /// Every task's token counts, from the latest count of each of its agents' records.
    pub fn task_tokens(
        &self,
    ) -> Result<std::collections::BTreeMap<String, duet_core::accounting::TaskTokens>, StoreError>
    {
        let mut statement = self
            .conn
            .prepare_cached("SELECT task_id, role, record, usage FROM token_records")
            .map_err(|e| query_error(&self.path, e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| query_error(&self.path, e))?;
        let mut out =
            std::collections::BTreeMap::<String, duet_core::accounting::TaskTokens>::new();
        for row in rows {
            let (task, role, record, usage) = row.map_err(|e| query_error(&self.path, e))?;
            let usage = serde_json::from_str(&usage).map_err(|e| {
                StoreError::new(
                    &self.path,
                    StoreErrorKind::Decode {
                        what: format!("token counts of task `{task}`: {e}"),
                    },
                )
            })?;
            out.entry(task).or_default().record(&role, &record, usage);
        }
        Ok(out)
    }

    /// Every task, ordered by id.
    pub fn task_states(&self) -> Result<Vec<TaskRow>, StoreError> {
        read_tasks(&self.conn, &self.path)
    }

    /// One task, if the store knows it.
    pub fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1");
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| query_error(&self.path, e))?;
        let row = statement
            .query_row([id], |row| Ok(task_row(row)))
            .optional()
            .map_err(|e| query_error(&self.path, e))?;
        row.transpose()
            .map_err(|what| StoreError::new(&self.path, StoreErrorKind::Decode { what }))
    }

    /// Every task and the last event seq they reflect, from one consistent read.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| query_error(&self.path, e))?;
        let last_seq = last_seq(&tx, &self.path)?;
        let tasks = read_tasks(&tx, &self.path)?;
        tx.finish().map_err(|e| query_error(&self.path, e))?;
        Ok(Snapshot { last_seq, tasks })
    }

    /// The `seq` of the last committed event, 0 for an empty log.
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        last_seq(&self.conn, &self.path)
    }

    /// Events matching `filter`, in `seq` order.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        read_events(&self.conn, &self.path, filter)
    }

    /// Messages, of one task or all, in acceptance order.
    pub fn messages(&self, task_id: Option<&str>) -> Result<Vec<MessageRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, task_id, sender, recipient, text, state, reason, accepted_seq,
                        accepted_at_ms, settled_seq, settled_at_ms
                 FROM messages WHERE ?1 IS NULL OR task_id = ?1 ORDER BY accepted_seq",
            )
            .map_err(|e| query_error(&self.path, e))?;
        let rows = statement
            .query_map([task_id], |row| {
                let state: String = row.get(5)?;
                Ok((
                    state,
                    MessageRow {
                        id: row.get(0)?,
                        task_id: row.get(1)?,
                        from: row.get(2)?,
                        to: row.get(3)?,
                        text: row.get(4)?,
                        state: MessageState::Accepted,
                        reason: row.get(6)?,
                        accepted_seq: row.get(7)?,
                        accepted_at_ms: row.get(8)?,
                        settled_seq: row.get(9)?,
                        settled_at_ms: row.get(10)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| query_error(&self.path, e))?;
        rows.into_iter()
            .map(|(state, mut message)| {
                message.state = match state.as_str() {
                    "accepted" => MessageState::Accepted,
                    "delivered" => MessageState::Delivered,
                    "suppressed" => MessageState::Suppressed,
                    other => {
                        return Err(StoreError::new(
                            &self.path,
                            StoreErrorKind::Decode {
                                what: format!("state `{other}` of message `{}`", message.id),
                            },
                        ));
                    }
                };
                Ok(message)
            })
            .collect()
    }

    /// Agents, of one task or all, ordered by task and role.
    pub fn agents(&self, task_id: Option<&str>) -> Result<Vec<AgentRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT task_id, role, agent, session_id, running, exit_code, turns_ended,
                        launched_seq, updated_seq
                 FROM agents WHERE ?1 IS NULL OR task_id = ?1 ORDER BY task_id, role",
            )
            .map_err(|e| query_error(&self.path, e))?;
        statement
            .query_map([task_id], |row| {
                Ok(AgentRow {
                    task_id: row.get(0)?,
                    role: row.get(1)?,
                    agent: row.get(2)?,
                    session_id: row.get(3)?,
                    running: row.get(4)?,
                    exit_code: row.get(5)?,
                    turns_ended: row.get(6)?,
                    launched_seq: row.get(7)?,
                    updated_seq: row.get(8)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| query_error(&self.path, e))
    }
}

fn query_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::with_source(path, StoreErrorKind::Query, e)
}

fn last_seq(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| {
        row.get(0)
    })
    .map_err(|e| query_error(path, e))
}

fn read_tasks(conn: &Connection, path: &Path) -> Result<Vec<TaskRow>, StoreError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY id");
    let mut statement = conn
        .prepare_cached(&sql)
        .map_err(|e| query_error(path, e))?;
    let rows = statement
        .query_map([], |row| Ok(task_row(row)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| query_error(path, e))?;
    rows.into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|what| StoreError::new(path, StoreErrorKind::Decode { what }))
}

/// Reads a task row; the outer error is SQLite's, the inner one names an undecodable value.
fn task_row(row: &Row<'_>) -> Result<TaskRow, String> {
    let read = || -> rusqlite::Result<_> {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(6)?,
            row.get::<_, Option<String>>(7)?,
            row.get::<_, Option<bool>>(8)?,
        ))
    };
    let (id, state, verdict, ci_sha, ci_passed) = read().map_err(|e| format!("a task row: {e}"))?;
    let state = state
        .parse::<StateKind>()
        .map_err(|e| format!("task `{id}`: {e}"))?;
    let last_verdict = match verdict.as_deref() {
        None => None,
        Some("approve") => Some(Verdict::Approve),
        Some("changes_requested") => Some(Verdict::ChangesRequested),
        Some(other) => return Err(format!("task `{id}`: unknown verdict `{other}`")),
    };
    let ci = match (ci_sha, ci_passed) {
        (Some(sha), Some(passed)) => Some(CiStatus { sha, passed }),
        _ => None,
    };
    let rest = || -> rusqlite::Result<_> {
        Ok(TaskRow {
            id: id.clone(),
            title: row.get(1)?,
            state,
            reason: row.get(3)?,
            round: row.get(4)?,
            head_sha: row.get(5)?,
            last_verdict,
            ci: ci.clone(),
            queued_at_ms: row.get(9)?,
            updated_at_ms: row.get(10)?,
            last_event_seq: row.get(11)?,
        })
    };
    rest().map_err(|e| format!("task `{id}`: {e}"))
}

pub(crate) fn read_events(
    conn: &Connection,
    path: &Path,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut sql =
        String::from("SELECT seq, at_ms, task_id, kind, payload FROM events WHERE seq > ?1");
    if filter.task_id.is_some() {
        sql.push_str(" AND task_id = ?2");
    }
    sql.push_str(" ORDER BY seq LIMIT ?3");
    let limit = filter
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut statement = conn
        .prepare_cached(&sql)
        .map_err(|e| query_error(path, e))?;
    // Unused parameters must still be bound; an unreferenced ?2 is simply ignored by SQLite.
    let rows = statement
        .query_map(
            params![filter.after_seq.unwrap_or(0), filter.task_id, limit],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            },
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| query_error(path, e))?;
    rows.into_iter()
        .map(|(seq, at_ms, task_id, kind, payload)| {
            let decode_error =
                |what: String| StoreError::new(path, StoreErrorKind::Decode { what });
            let event: Event = serde_json::from_str(&payload).map_err(|e| {
                StoreError::with_source(
                    path,
                    StoreErrorKind::Decode {
                        what: format!("event {seq} (kind `{kind}`)"),
                    },
                    e,
                )
            })?;
            if event.kind() != kind {
                return Err(decode_error(format!(
                    "event {seq}: kind column `{kind}` disagrees with payload kind `{}`",
                    event.kind()
                )));
            }
            Ok(EventRecord {
                seq,
                at_ms,
                task_id,
                event,
            })
        })
        .collect()
}
