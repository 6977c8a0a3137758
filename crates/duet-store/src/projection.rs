//! The derived tables (`tasks`, `messages`, `agents`): how one event changes them, applied in
//! the same transaction as the event's append, and the full rebuild from the log.
//!
//! Applying also checks the event against what is known (the task exists, a state change starts
//! from the current state, a message is settled once), so a refused event is never appended.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::StoreErrorKind;
use crate::event::{Event, NewEvent};
use duet_core::lifecycle::StateKind;

/// Why an event could not be applied.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// The event contradicts the store; nothing is written.
    Refused(StoreErrorKind),
    Sql(rusqlite::Error),
    /// A projection row holds something this binary cannot read.
    Corrupt(String),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        ApplyError::Sql(e)
    }
}

/// Updates the derived tables for the event stored at `seq`.
pub(crate) fn apply(tx: &Transaction<'_>, seq: i64, new: &NewEvent) -> Result<(), ApplyError> {
    let kind = new.event.kind();
    let at = new.at_ms;
    let Some(task_id) = new.task_id.as_deref() else {
        return match new.event {
            Event::Note { .. } => Ok(()),
            _ => Err(ApplyError::Refused(StoreErrorKind::MissingTaskId {
                event_kind: kind.to_owned(),
            })),
        };
    };

    if let Event::TaskQueued { title } = &new.event {
        let inserted = tx
            .prepare_cached(
                "INSERT INTO tasks (id, title, state, queued_at_ms, updated_at_ms, last_event_seq)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![task_id, title, StateKind::Queued.as_str(), at, seq])?;
        if inserted == 0 {
            return Err(ApplyError::Refused(StoreErrorKind::TaskAlreadyQueued {
                task_id: task_id.to_owned(),
            }));
        }
        return Ok(());
    }

    // Every other task event needs the task and touches it.
    let current: Option<String> = tx
        .prepare_cached("SELECT state FROM tasks WHERE id = ?1")?
        .query_row([task_id], |row| row.get(0))
        .optional()?;
    let Some(current) = current else {
        return Err(ApplyError::Refused(StoreErrorKind::UnknownTask {
            event_kind: kind.to_owned(),
            task_id: task_id.to_owned(),
        }));
    };
    tx.prepare_cached("UPDATE tasks SET updated_at_ms = ?2, last_event_seq = ?3 WHERE id = ?1")?
        .execute(params![task_id, at, seq])?;

    match &new.event {
        Event::TaskQueued { .. } | Event::Note { .. } | Event::PlanReviewed { .. } => {}
        Event::TokensCounted {
            role,
            record,
            usage,
        } => {
            let usage = serde_json::to_string(usage)
                .map_err(|e| ApplyError::Corrupt(format!("token counts: {e}")))?;
            tx.prepare_cached(
                "INSERT INTO token_records (task_id, role, record, usage, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (task_id, role, record)
                 DO UPDATE SET usage = excluded.usage, updated_seq = excluded.updated_seq",
            )?
            .execute(params![task_id, role, record, usage, seq])?;
        }
        Event::TaskStateChanged { from, to, reason } => {
            let actual: StateKind = current.parse().map_err(|_| {
                ApplyError::Corrupt(format!("state `{current}` of task `{task_id}`"))
            })?;
            if actual != *from {
                return Err(ApplyError::Refused(StoreErrorKind::StateMismatch {
                    task_id: task_id.to_owned(),
                    claimed: *from,
                    actual,
                }));
            }
            tx.prepare_cached("UPDATE tasks SET state = ?2, reason = ?3 WHERE id = ?1")?
                .execute(params![task_id, to.as_str(), reason])?;
        }
        Event::AgentLaunched {
            role,
            agent,
            session_id,
        } => {
            tx.prepare_cached(
                "INSERT INTO agents (task_id, role, agent, session_id, running, exit_code,
                                     turns_ended, launched_seq, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, 1, NULL, 0, ?5, ?5)
                 ON CONFLICT (task_id, role) DO UPDATE SET
                     agent = excluded.agent, session_id = excluded.session_id, running = 1,
                     exit_code = NULL, turns_ended = 0, launched_seq = excluded.launched_seq,
                     updated_seq = excluded.updated_seq",
            )?
            .execute(params![task_id, role, agent, session_id, seq])?;
        }
        // Turn and exit facts about an agent the store never saw launched are still logged;
        // they just have no agent row to update (hooks may report for an adopted session).
        Event::TurnEnded { role } => {
            tx.prepare_cached(
                "UPDATE agents SET turns_ended = turns_ended + 1, updated_seq = ?3
                 WHERE task_id = ?1 AND role = ?2",
            )?
            .execute(params![task_id, role, seq])?;
        }
        Event::AgentExited { role, exit_code } => {
            tx.prepare_cached(
                "UPDATE agents SET running = 0, exit_code = ?3, updated_seq = ?4
                 WHERE task_id = ?1 AND role = ?2",
            )?
            .execute(params![task_id, role, exit_code, seq])?;
        }
        Event::MessageAccepted { id, from, to, text } => {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO messages (id, task_id, sender, recipient, text, state,
                                           accepted_seq, accepted_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'accepted', ?6, ?7)
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, task_id, from, to, text, seq, at])?;
            if inserted == 0 {
                return Err(ApplyError::Refused(StoreErrorKind::DuplicateMessage {
                    message_id: id.clone(),
                }));
            }
        }
        Event::MessageDelivered { id } => settle_message(tx, seq, new, id, "delivered", None)?,
        Event::MessageSuppressed { id, reason } => {
            settle_message(tx, seq, new, id, "suppressed", Some(reason))?
        }
        Event::ReviewSubmitted { round, verdict, .. } => {
            tx.prepare_cached(
                "UPDATE tasks SET round = max(round, ?2), last_verdict = ?3 WHERE id = ?1",
            )?
            .execute(params![task_id, round, verdict.as_str()])?;
        }
        Event::CommitSeen { sha } => {
            tx.prepare_cached("UPDATE tasks SET head_sha = ?2 WHERE id = ?1")?
                .execute(params![task_id, sha])?;
        }
        Event::CiResult { sha, passed, .. } => {
            tx.prepare_cached("UPDATE tasks SET ci_sha = ?2, ci_passed = ?3 WHERE id = ?1")?
                .execute(params![task_id, sha, passed])?;
        }
        // A started run only touches the task; a cancelled one says nothing about the code.
        Event::CiRunStarted { .. } => {}
        Event::CiRunFinished { sha, status, .. } => {
            if status != "cancelled" {
                tx.prepare_cached("UPDATE tasks SET ci_sha = ?2, ci_passed = ?3 WHERE id = ?1")?
                    .execute(params![task_id, sha, status == "passed"])?;
            }
        }
    }
    Ok(())
}

/// Records the one and only outcome of an accepted message.
fn settle_message(
    tx: &Transaction<'_>,
    seq: i64,
    new: &NewEvent,
    id: &str,
    outcome: &str,
    reason: Option<&String>,
) -> Result<(), ApplyError> {
    let event_kind = new.event.kind().to_owned();
    let row: Option<(String, String)> = tx
        .prepare_cached("SELECT task_id, state FROM messages WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((owner, state)) = row else {
        return Err(ApplyError::Refused(StoreErrorKind::UnknownMessage {
            event_kind,
            message_id: id.to_owned(),
        }));
    };
    if new.task_id.as_deref() != Some(owner.as_str()) {
        return Err(ApplyError::Refused(StoreErrorKind::MessageOfOtherTask {
            event_kind,
            message_id: id.to_owned(),
            owner,
        }));
    }
    if state != "accepted" {
        return Err(ApplyError::Refused(StoreErrorKind::MessageSettled {
            event_kind,
            message_id: id.to_owned(),
            state,
        }));
    }
    tx.prepare_cached(
        "UPDATE messages SET state = ?2, reason = ?3, settled_seq = ?4, settled_at_ms = ?5
         WHERE id = ?1",
    )?
    .execute(params![id, outcome, reason, seq, new.at_ms])?;
    Ok(())
}

/// Empties the derived tables (children first, for the foreign keys).
pub(crate) fn clear(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DELETE FROM token_records; DELETE FROM agents; DELETE FROM messages; DELETE FROM tasks;",
    )
}
