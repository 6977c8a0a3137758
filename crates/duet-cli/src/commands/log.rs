//! `duet log TASK [--json]` (`--ci`: see `log_ci`): a task's history from the store, read-only: its events in order and
//! the conversation between its agents (messages with their fate, reviews with findings).

use std::path::Path;
use std::process::ExitCode;

use duet_store::{
    Event, EventFilter, EventRecord, MessageRow, MessageState, Store, StoreErrorKind, UnixMillis,
};

use crate::cli::LogArgs;
use crate::client::{backlog_ids, print_json};
use crate::command_error::{CommandError, error_chain};
use crate::suggest::closest;
use crate::workspace::Workspace;

/// A task's history as read from the store.
struct History {
    events: Vec<EventRecord>,
    messages: Vec<MessageRow>,
}

pub fn run(cwd: &Path, args: &LogArgs) -> Result<ExitCode, CommandError> {
    let ws = Workspace::discover(cwd)?;
    let (history, known) = read_history(&ws.state_db_path(), &args.task)?;
    if history.events.is_empty() {
        let mut ids = backlog_ids(&ws);
        if !ids.contains(&args.task) {
            ids.extend(known);
            let candidates: Vec<&str> = ids.iter().map(String::as_str).collect();
            let err = CommandError::user(format!("unknown task `{}`", args.task));
            return Err(match closest(&args.task, &candidates) {
                Some(close) => err.hint(format!("did you mean `{close}`?")),
                None => err.hint("run `duet status` to list the tasks"),
            });
        }
    }
    if args.ci {
        return super::log_ci::print(ws.root(), &args.task, &history.events, args.json);
    }
    if args.json {
        print_json(&to_json(&args.task, &history))?;
    } else {
        print!("{}", render(&args.task, &history));
    }
    Ok(ExitCode::SUCCESS)
}

/// The task's events and messages, and the ids of every task the store knows (for
/// suggestions). No database yet is an empty history.
fn read_history(db: &Path, task: &str) -> Result<(History, Vec<String>), CommandError> {
    let empty = History {
        events: Vec::new(),
        messages: Vec::new(),
    };
    let store = match Store::open_read_only(db) {
        Ok(store) => store,
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound) => return Ok((empty, Vec::new())),
        Err(e) => return Err(CommandError::user(error_chain(&e))),
    };
    let fail = CommandError::from;
    let history = History {
        events: store.events(&EventFilter::all().task(task)).map_err(fail)?,
        messages: store.messages(Some(task)).map_err(fail)?,
    };
    let known = store
        .task_states()
        .map_err(fail)?
        .into_iter()
        .map(|row| row.id)
        .collect();
    Ok((history, known))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub(super) fn utc_time(ms: UnixMillis) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The first line of `text`, cut to `max` characters.
fn excerpt(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut: String = first.chars().take(max).collect();
    if cut.len() < text.trim_end().len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// One event as "details" for its line.
fn describe(event: &Event) -> String {
    match event {
        Event::TaskQueued { title } => title.as_ref().map_or(String::new(), |t| format!("\"{t}\"")),
        Event::TaskStateChanged { from, to, reason } => match reason {
            Some(reason) => format!("{from} → {to}: {reason}"),
            None => format!("{from} → {to}"),
        },
        Event::AgentLaunched {
            role,
            agent,
            session_id,
        } => match session_id {
            Some(id) => format!("{role}: {agent} (session {id})"),
            None => format!("{role}: {agent}"),
        },
        Event::TurnEnded { role } => role.clone(),
        Event::AgentExited { role, exit_code } => match exit_code {
            Some(code) => format!("{role} (exit code {code})"),
            None => role.clone(),
        },
        Event::MessageAccepted { id, from, to, text } => {
            format!("{id} {from} → {to}: {}", excerpt(text, 60))
        }
        Event::MessageDelivered { id } => id.clone(),
        Event::MessageSuppressed { id, reason } => format!("{id}: {reason}"),
        Event::ReviewSubmitted {
            round,
            verdict,
            findings,
            ..
        } => format!(
            "round {round}: {}, {} finding{}",
            verdict.as_str(),
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        ),
        Event::PlanReviewed {
            round,
            verdict,
            findings,
            ..
        } => format!(
            "plan round {round}: {}, {} finding{}",
            verdict.as_str(),
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        ),
        Event::CommitSeen { sha } => short(sha).to_string(),
        Event::CiResult {
            sha,
            passed,
            summary,
        } => {
            let outcome = if *passed { "passed" } else { "failed" };
            match summary {
                Some(summary) => format!("{} {outcome}: {summary}", short(sha)),
                None => format!("{} {outcome}", short(sha)),
            }
        }
        Event::CiRunStarted { sha, check, .. } => format!("{} `{check}` started", short(sha)),
        Event::CiRunFinished {
            sha,
            check,
            status,
            summary,
            ..
        } => format!(
            "{} `{check}` {}",
            short(sha),
            summary.as_deref().unwrap_or(status)
        ),
        Event::Note { text } => excerpt(text, 100),
        Event::TokensCounted { role, usage, .. } => {
            let total = duet_core::accounting::total_counts(usage);
            format!(
                "{role}: {} tokens ({} in, {} out, {} cache read, {} cache write)",
                total.total(),
                total.input,
                total.output,
                total.cache_read,
                total.cache_write
            )
        }
    }
}

fn render(task: &str, history: &History) -> String {
    let mut out = format!("task {task}\n\nevents\n");
    if history.events.is_empty() {
        out.push_str("  (none yet: the task has not run)\n");
    }
    let kind_width = history
        .events
        .iter()
        .map(|r| r.event.kind().len())
        .max()
        .unwrap_or(0);
    for record in &history.events {
        out.push_str(&format!(
            "  {}  {:<kind_width$}  {}\n",
            utc_time(record.at_ms),
            record.event.kind(),
            describe(&record.event)
        ));
    }
    out.push_str("\nconversation\n");
    let items = conversation(history);
    if items.is_empty() {
        out.push_str("  (no messages yet)\n");
    }
    for item in items {
        match item {
            Said::Message(m) => {
                let fate = match m.state {
                    MessageState::Accepted => "not delivered yet".to_string(),
                    MessageState::Delivered => match m.settled_at_ms {
                        Some(at) => format!("delivered {}", utc_time(at)),
                        None => "delivered".to_string(),
                    },
                    MessageState::Suppressed => format!(
                        "suppressed: {}",
                        m.reason.as_deref().unwrap_or("no reason given")
                    ),
                };
                out.push_str(&format!(
                    "  {}  {} → {} ({}, {fate})\n",
                    utc_time(m.accepted_at_ms),
                    m.from,
                    m.to,
                    m.id
                ));
                for line in m.text.lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
            Said::Review(record) => {
                let Event::ReviewSubmitted {
                    round,
                    verdict,
                    findings,
                    ..
                } = &record.event
                else {
                    continue;
                };
                out.push_str(&format!(
                    "  {}  review, round {round}: {}\n",
                    utc_time(record.at_ms),
                    verdict.as_str()
                ));
                for finding in findings {
                    let place = match (&finding.file, finding.line) {
                        (Some(file), Some(line)) => format!(" {file}:{line}"),
                        (Some(file), None) => format!(" {file}"),
                        _ => String::new(),
                    };
                    out.push_str(&format!(
                        "      - [{}]{place}: {}\n",
                        finding.severity, finding.text
                    ));
                }
            }
        }
    }
    out
}

/// One entry of the conversation.
enum Said<'a> {
    Message(&'a MessageRow),
    Review(&'a EventRecord),
}

/// Messages and reviews, in the order they happened.
fn conversation(history: &History) -> Vec<Said<'_>> {
    let mut items: Vec<(i64, Said<'_>)> = history
        .messages
        .iter()
        .map(|m| (m.accepted_seq, Said::Message(m)))
        .collect();
    items.extend(
        history
            .events
            .iter()
            .filter(|r| matches!(r.event, Event::ReviewSubmitted { .. }))
            .map(|r| (r.seq, Said::Review(r))),
    );
    items.sort_by_key(|(seq, _)| *seq);
    items.into_iter().map(|(_, item)| item).collect()
}

fn to_json(task: &str, history: &History) -> serde_json::Value {
    let events: Vec<serde_json::Value> = history
        .events
        .iter()
        .map(|record| {
            let mut value = serde_json::to_value(&record.event).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("seq".into(), record.seq.into());
                object.insert("at_ms".into(), record.at_ms.into());
                object.insert("time".into(), utc_time(record.at_ms).into());
            }
            value
        })
        .collect();
    let conversation: Vec<serde_json::Value> = conversation(history)
        .into_iter()
        .map(|item| match item {
            Said::Message(m) => serde_json::json!({
                "type": "message",
                "id": m.id,
                "from": m.from,
                "to": m.to,
                "text": m.text,
                "state": m.state,
                "reason": m.reason,
                "accepted_at_ms": m.accepted_at_ms,
                "settled_at_ms": m.settled_at_ms,
            }),
            Said::Review(record) => {
                let mut value = serde_json::to_value(&record.event).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    object.remove("kind");
                    object.insert("type".into(), "review".into());
                    object.insert("at_ms".into(), record.at_ms.into());
                }
                value
            }
        })
        .collect();
    serde_json::json!({ "task": task, "events": events, "conversation": conversation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_known_instants() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03");
    }

    #[test]
    fn excerpt_cuts_long_and_multi_line_text() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("0123456789abc", 10), "0123456789…");
        assert_eq!(excerpt("one\ntwo", 10), "one…");
    }
}
